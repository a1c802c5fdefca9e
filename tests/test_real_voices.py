"""Real people's voices (Debian klettres-data) and the register rule of the default transposition."""

from __future__ import annotations

import numpy as np
import pytest

from musicrnn.style import dsp, metrics, realvoices
from musicrnn.style.instant import build_profile, convert_with_info

SR = realvoices.SR


def test_the_default_transposition_is_whole_octaves_toward_the_target_at_most_one():
    st = lambda semitones: np.log(200.0) + semitones * np.log(2) / 12  # noqa: E731  a register `semitones` above 200 Hz
    cases = {0: 0, 4: 0, 5.9: 0, 6.1: 12, 10.97: 12, 20: 12, 34.65: 12, -7: -12, -30: -12}
    for apart, want in cases.items():
        assert dsp.octave_shift(st(0), st(apart)) == want, apart


def test_confident_pitch_leaves_out_octave_jumps_and_blips():
    f0 = np.full(100, 220.0)
    f0[40:43] = 440.0  # a tracker's octave jump
    f0[70] = 0.0
    f0[71] = 900.0  # a one-frame blip after an unvoiced frame
    sure = dsp.confident_f0(f0)
    assert not sure[40] and not sure[43] and not sure[71] and sure[10] and sure[80]
    assert np.all(f0[sure & (f0 > 0)] != 900.0)


@pytest.fixture(scope="module")
def people():
    if realvoices.available(("en", "tn")):
        pytest.fail("klettres-data is missing: apt install klettres-data (python3 -m musicrnn.install --test)")
    return {n: realvoices.speaker(n, seconds=3.0) for n in ("en", "tn")}  # a man's voice, a child's high voice


def test_real_speakers_give_three_disjoint_clips(people):
    for p in people.values():
        clips = (p.source, p.reference, p.held_out)
        assert all(c.dtype == np.float32 and 2.0 * SR < c.size <= 3.0 * SR and 0.85 < np.abs(c).max() <= 0.9 for c in clips)
        assert not np.array_equal(p.source[: SR // 2], p.reference[: SR // 2])
    lo, hi = (np.median(f[f > 0]) for f in (metrics.metric_f0(people[n].source, SR) for n in ("en", "tn")))
    assert lo < 180 and hi > 250  # a low and a high real voice


def test_a_real_voice_moves_an_octave_toward_a_high_one_and_keeps_its_melody(people):
    man, child = people["en"], people["tn"]
    target = build_profile(child.reference, SR)
    conv = convert_with_info(man.source, SR, target)
    assert conv.semitones == 12.0  # 1.5 octaves apart: one octave, not 20 semitones
    assert np.abs(conv.audio).max() <= 0.99 and np.isfinite(conv.audio).all()
    src, out = metrics.metric_f0(man.source, SR), metrics.metric_f0(conv.audio, SR)
    n = min(len(src), len(out))
    both = (src[:n] > 0) & (out[:n] > 0)
    ratio = 12 * np.log2(out[:n][both] / src[:n][both])
    assert np.median(np.abs(ratio - 12.0)) < 0.5  # the melody, an octave up


def test_pitch_kept_counts_frames_within_a_semitone_of_the_moved_source():
    src = np.r_[np.zeros(5), np.geomspace(200, 260, 40)]
    out = src * 2.0
    out[10:14] *= 2 ** (3 / 12)  # four frames three semitones off
    assert metrics.f0_kept(src, out, 12.0) == pytest.approx(36 / 40)
    assert metrics.f0_kept(src, out, 0.0) == 0.0


def test_a_soprano_line_keeps_its_notes_up_to_1600_hz():
    """A folk tune sung by the SoundFont's Voice Oohs (sampled singers) an octave up, 659 to
    1,318 Hz: tracked only up to 800 Hz it came out wrong in 96% of its frames."""
    import librosa

    from conftest import ROOT
    from musicrnn.codec import read_midi
    from musicrnn.codec.audio import load_audio
    from musicrnn.codec.melody import Melody, melody_from_score
    from musicrnn.codec.synth import render_melody_fluidsynth

    m = melody_from_score(read_midi(ROOT / "corpora" / "folk" / "essenFolksong" / "ballad20_49.mid"), max_seconds=6)
    up = Melody(m.onsets_s, m.offsets_s, m.pitches + 12, m.velocities, m.tempo_qpm)
    assert 650 < 440 * 2 ** ((up.pitches.min() - 69) / 12) and 440 * 2 ** ((up.pitches.max() - 69) / 12) < 1400
    y = librosa.resample(render_melody_fluidsynth(up, 22050, 53), orig_sr=22050, target_sr=SR)
    target = build_profile(load_audio(ROOT / "corpora" / "voice" / "demo-source-male.wav", sr=SR)[0], SR)
    conv = convert_with_info(y, SR, target)
    assert conv.semitones == -12.0
    assert metrics.f0_kept(metrics.pyin_f0(y, SR), metrics.pyin_f0(conv.audio, SR), -12.0) >= 0.9


def test_a_bass_line_keeps_its_notes_down_to_50_hz():
    """The same tune sung by Voice Oohs in a low bass, 52 to 104 Hz, converted up an octave
    toward the female demo voice: tracked from 71 Hz it kept 0.88 of its frames' pitch, 0.98
    now that a voice near the floor is tracked again down to 50 Hz (``dsp.register_f0``)."""
    import librosa

    from conftest import ROOT
    from musicrnn.codec import read_midi
    from musicrnn.codec.audio import load_audio
    from musicrnn.codec.melody import Melody, melody_from_score
    from musicrnn.codec.synth import render_melody_fluidsynth
    from musicrnn.style import dsp

    m = melody_from_score(read_midi(ROOT / "corpora" / "folk" / "essenFolksong" / "ballad20_49.mid"), max_seconds=6)
    down = Melody(m.onsets_s, m.offsets_s, m.pitches - 32, m.velocities, m.tempo_qpm)
    assert 50 < 440 * 2 ** ((down.pitches.min() - 69) / 12) < 55 and 440 * 2 ** ((down.pitches.max() - 69) / 12) < 110
    y = librosa.resample(render_melody_fluidsynth(down, 22050, 53), orig_sr=22050, target_sr=SR)
    f0, _ = dsp.register_f0(y, SR)
    assert f0[f0 > 0].min() < 60  # below the old 71-Hz floor: the lowest notes are tracked where they are
    target = build_profile(load_audio(ROOT / "corpora" / "voice" / "demo-target-female.wav", sr=SR)[0], SR)
    conv = convert_with_info(y, SR, target)
    assert conv.semitones == 12.0
    assert metrics.f0_kept(metrics.pyin_f0(y, SR), metrics.pyin_f0(conv.audio, SR), 12.0) >= 0.95


def test_a_voice_pack_folder_is_a_speaker_and_the_singer_set_is_a_star(tmp_path):
    """Hedgewars' layout (one folder of .ogg per voice, ``hedgewars/<pack>``), built here from
    real klettres recordings (hedgewars-data itself is 145 MB): a pack gives three disjoint
    clips; the star converts the first half toward the centre, then the centre toward the
    second half; a missing pack names its Debian package."""
    import shutil

    pack = tmp_path / "Singer"
    pack.mkdir()
    for f in sorted((realvoices.KLETTRES / "tn").glob("*/*.ogg"))[:24]:
        shutil.copy(f, pack / f"{f.parent.name}_{f.name}")
    s = realvoices.speaker("hedgewars/Singer", seconds=2.0, hedgewars=tmp_path)
    assert s.name == "hedgewars/Singer" and all(0.5 * realvoices.SR < c.size <= 2.0 * realvoices.SR
                                                 for c in (s.source, s.reference, s.held_out))
    assert not np.array_equal(s.source[:1000], s.reference[:1000])
    pairs = realvoices.star_pairs("hedgewars/Singer", ["en", "fr", "de", "tn"], seconds=1.0, hedgewars=tmp_path)
    assert [(p.source.name, p.target.name) for p in pairs] == [
        ("en", "hedgewars/Singer"), ("fr", "hedgewars/Singer"), ("hedgewars/Singer", "de"), ("hedgewars/Singer", "tn")]
    assert realvoices.available(["en", "hedgewars/Singer"], hedgewars=tmp_path) is None
    assert realvoices.available(["hedgewars/Nobody"], hedgewars=tmp_path) == "hedgewars-data"
    with pytest.raises(Exception, match="hedgewars-data"):
        realvoices.speaker("hedgewars/Nobody", hedgewars=tmp_path)
    assert realvoices.SINGER in realvoices.SETS["actors"] and "hedgewars/Robot" not in realvoices.SETS["actors"]

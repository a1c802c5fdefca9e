"""musicrnn.codec.audio (loading, frame features) and musicrnn.codec.melody (transcription).

Short synthetic signals, plus one FluidSynth and one Festival clip of a few notes.
"""

import shutil

import numpy as np
import pytest
import soundfile as sf

from musicrnn.codec import encode, read_midi, write_midi
from musicrnn.codec.audio import AudioError, FeatureConfig, a_weighted_loudness, f0, features, load_audio
from musicrnn.codec.melody import Melody, estimate_tempo, melody_to_score, transcribe, transcribe_file
from musicrnn.core.errors import SettingsError

SR = 22050
# a 5-note tune with a repeated pitch (the two 64s must come out as two notes)
TUNE = Melody(
    onsets_s=np.array([0.2, 0.6, 1.0, 1.4, 1.8]),
    offsets_s=np.array([0.58, 0.98, 1.38, 1.78, 2.3]),
    pitches=np.array([60, 64, 64, 67, 62]),
    velocities=np.full(5, 90),
    tempo_qpm=150.0,
)


def sine(hz=220.0, seconds=1.0, amp=0.5, sr=SR):
    t = np.arange(int(seconds * sr)) / sr
    return (amp * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def tones(melody: Melody, sr=SR, tail=0.3) -> np.ndarray:
    """Harmonic tones (3 partials) with a 10 ms attack and 20 ms release per note."""
    y = np.zeros(int((melody.offsets_s.max() + tail) * sr), np.float32)
    for a, b, p in zip(melody.onsets_s, melody.offsets_s, melody.pitches):
        n = int((b - a) * sr)
        t = np.arange(n) / sr
        hz = 440.0 * 2 ** ((p - 69) / 12)
        tone = sum(np.sin(2 * np.pi * k * hz * t) / k for k in (1, 2, 3))
        env = np.minimum(1.0, np.minimum(t / 0.01, (n / sr - t) / 0.02))
        i = int(a * sr)
        y[i: i + n] += (0.3 * tone * env).astype(np.float32)
    return y


def one_line(err: Exception, path) -> str:
    msg = str(err)
    assert "\n" not in msg and str(path) in msg, msg
    return msg


# --------------------------------------------------------------------------- features


@pytest.mark.parametrize("method", ["yin", "pyin"])
def test_sine_f0_is_within_one_percent_and_voiced(method):
    hz, voiced, prob = f0(sine(220.0, 1.0), FeatureConfig(f0_method=method))
    assert hz.shape == voiced.shape == prob.shape == (1 + SR // 256,)
    assert voiced[5:-5].all() and prob[5:-5].min() > 0.5
    assert abs(np.median(hz[voiced]) / 220.0 - 1) < 0.01
    assert np.all((hz == 0) | voiced)


def test_silence_is_unvoiced_and_loudness_is_finite():
    cfg = FeatureConfig(f0_method="yin")
    feats = features(np.zeros(SR // 2, np.float32), cfg)
    assert not feats.voiced.any() and np.all(feats.f0 == 0)
    assert np.all(np.isfinite(feats.loudness)) and feats.loudness.max() == -100.0
    for a in (feats.mfcc, feats.mel, feats.envelope):
        assert np.all(np.isfinite(a))


def test_loudness_follows_level_in_db():
    loud6 = a_weighted_loudness(sine(1000.0, 1.0, 10 ** (-6 / 20)), SR)
    loud12 = a_weighted_loudness(sine(1000.0, 1.0, 10 ** (-12 / 20)), SR)
    mid = slice(10, -10)
    assert np.allclose(loud6[mid] - loud12[mid], 6.0, atol=0.05)
    assert np.allclose(a_weighted_loudness(sine(1000.0, 1.0, 1.0), SR)[mid], -3.0, atol=0.2)  # full-scale 1 kHz sine
    # A-weighting: a 100 Hz tone reads about 19 dB quieter than 1 kHz at the same level
    assert 17 < np.median(loud6[mid] - a_weighted_loudness(sine(100.0, 1.0, 10 ** (-6 / 20)), SR)[mid]) < 21


def test_features_share_frames_and_skip_what_is_not_asked():
    y = sine(330.0, 1.3) + 0.01 * np.random.default_rng(0).standard_normal(int(1.3 * SR)).astype(np.float32)
    cfg = FeatureConfig(f0_method="yin")
    feats = features(y, cfg)
    t = 1 + y.size // cfg.hop
    assert feats.f0.shape == feats.voiced.shape == feats.voiced_prob.shape == feats.loudness.shape == (t,)
    assert feats.mfcc.shape == (t, cfg.n_mfcc) and feats.mel.shape == (t, cfg.n_mels)
    assert feats.envelope.shape == (t, cfg.n_fft // 2 + 1) and feats.envelope.min() > 0
    assert feats.times.shape == (t,) and feats.times[1] == pytest.approx(cfg.hop / cfg.sr)
    only = features(y, cfg, which=("loudness",))
    assert only.f0 is None and only.mfcc is None and only.mel is None and only.envelope is None
    assert np.allclose(only.loudness, feats.loudness)
    with pytest.raises(SettingsError, match="unknown feature 'pitch'"):
        features(y, cfg, which=("pitch",))


# --------------------------------------------------------------------------- loading


def test_stereo_44k_wav_loads_as_mono_22k(tmp_path):
    left, right = sine(440.0, 1.5, 0.6, 44100), sine(440.0, 1.5, 0.2, 44100)
    path = tmp_path / "stereo.wav"
    sf.write(path, np.stack([left, right], axis=1), 44100, subtype="PCM_16")
    y, sr = load_audio(path)
    assert sr == 22050 and y.dtype == np.float32 and y.ndim == 1
    assert abs(y.size - 1.5 * 22050) <= 2
    assert np.abs(y).max() == pytest.approx(0.4, abs=0.01)  # the average of the channels
    y_native, sr_native = load_audio(path, sr=None)
    assert sr_native == 44100 and y_native.size == left.size
    y_bytes, _ = load_audio(path.read_bytes())
    assert np.allclose(y_bytes, y)


@pytest.mark.parametrize("fmt,ext", [("FLAC", "flac"), ("OGG", "ogg"), ("MP3", "mp3")])
def test_compressed_formats_load(tmp_path, fmt, ext):
    path = tmp_path / f"tone.{ext}"
    sf.write(path, sine(440.0, 1.0, 0.5), SR, format=fmt)
    y, sr = load_audio(path)
    assert sr == SR and abs(y.size / sr - 1.0) < 0.1
    hz, voiced, _ = f0(y, FeatureConfig(f0_method="yin"))
    assert abs(np.median(hz[voiced]) / 440.0 - 1) < 0.01


def test_nan_and_overs_are_cleaned(tmp_path):
    y = sine(440.0, 1.0, 0.5) * 4  # peaks at 2.0
    y[100:200] = np.nan
    y[300] = np.inf
    path = tmp_path / "float.wav"
    sf.write(path, y, SR, subtype="FLOAT")
    out, _ = load_audio(path)
    assert np.all(np.isfinite(out)) and np.abs(out).max() <= 1.0
    assert np.all(out[100:200] == 0)


def test_silence_loads_without_error(tmp_path):
    path = tmp_path / "silence.wav"
    sf.write(path, np.zeros(SR), SR)
    y, _ = load_audio(path)
    assert y.size == SR and not y.any()


@pytest.mark.parametrize(
    "case,expected",
    [
        ("missing", "no such file"),
        ("folder", "is a folder"),
        ("empty", "empty file"),
        ("midi", "is a MIDI file, not audio; use it as a MIDI primer"),
        ("garbage", "not a readable audio file"),
        ("truncated", "not a readable audio file"),
        ("too_long", "is 2.0 s long; the limit is 1 s — cut it shorter"),
        ("too_short", "is only 0.20 s long; at least 0.5 s"),
    ],
)
def test_bad_inputs_raise_one_line_audio_error(tmp_path, case, expected):
    path = tmp_path / f"{case}.wav"
    kwargs = {}
    if case == "folder":
        path.mkdir()
    elif case == "empty":
        path.write_bytes(b"")
    elif case == "midi":
        path.write_bytes(b"MThd\x00\x00\x00\x06\x00\x00\x00\x01\x01\xe0")
    elif case == "garbage":
        path.write_bytes(bytes(range(256)) * 40)
    elif case == "truncated":
        sf.write(path, sine(440.0, 1.0), SR)
        path.write_bytes(path.read_bytes()[:30])
    elif case == "too_long":
        sf.write(path, sine(440.0, 2.0), SR)
        kwargs["max_seconds"] = 1.0
    elif case == "too_short":
        sf.write(path, sine(440.0, 0.2), SR)
    with pytest.raises(AudioError) as info:
        load_audio(path, **kwargs)
    assert expected in one_line(info.value, path)


def test_bytes_errors_name_the_upload():
    with pytest.raises(AudioError, match=r"^song\.mid: is a MIDI file"):
        load_audio(b"MThd\x00\x00\x00\x06", name="song.mid")
    with pytest.raises(AudioError, match="^audio bytes: empty file"):
        load_audio(b"")


# --------------------------------------------------------------------------- transcription


def check_tune(est: Melody, ref: Melody = TUNE, tol: float = 0.05):
    assert est.pitches.tolist() == ref.pitches.tolist()
    assert np.abs(est.onsets_s - ref.onsets_s).max() <= tol, est.onsets_s


@pytest.mark.parametrize("method", ["yin", "pyin"])
def test_transcribe_tones_recovers_pitches_and_onsets(method):
    check_tune(transcribe(tones(TUNE), SR, f0_method=method))


def test_transcribe_fluidsynth_clip():
    from musicrnn.codec.synth import render_melody_fluidsynth

    check_tune(transcribe(render_melody_fluidsynth(TUNE, SR, program=0), SR, f0_method="pyin"))


@pytest.mark.parametrize("voice,gap", [("kal", 0.0), ("ked", 0.1)])
def test_transcribe_festival_la_la(voice, gap):
    """Sung legato, and detached (rests between notes: each note its own phrase)."""
    if shutil.which("text2wave") is None:
        pytest.skip("Festival is not installed (Debian: apt-get install festival festvox-kallpc16k)")
    from musicrnn.codec.synth import sing_festival

    low = Melody(TUNE.onsets_s, TUNE.offsets_s - gap, TUNE.pitches - 12, TUNE.velocities, TUNE.tempo_qpm)
    y, sr = sing_festival(low, voice=voice)
    assert sr == 16000 and abs(y.size / sr - low.offsets_s[-1]) < 0.05  # Festival's clock (BPM / 50) is compensated
    check_tune(transcribe(y, sr, f0_method="pyin"), low)


def test_transcribe_festival_slow_legato_repeat_and_semitones():
    """Notes of a second, legato: a repeated note (only the "l" of a new "la" splits it)
    and semitone steps down and up. Before a long vowel Festival's "l" is a loudness
    trough longer than dip_window_s, so its recovery is measured over syllable_window_s."""
    if shutil.which("text2wave") is None:
        pytest.skip("Festival is not installed (Debian: apt-get install festival festvox-kallpc16k)")
    from musicrnn.codec.synth import sing_festival

    on = np.arange(6.0)
    slow = Melody(on, on + 1.0, np.array([53, 53, 57, 53, 52, 53]), np.full(6, 90), 60.0)
    y, sr = sing_festival(slow, voice="kal")
    # a pitch change's onset lies halfway between the glide's start and the consonant: up to ~50 ms early
    check_tune(transcribe(y, sr, f0_method="pyin"), slow, tol=0.06)


@pytest.mark.parametrize("kind", ["silence", "noise"])
def test_no_melody_is_an_error(kind):
    n = SR * 2
    noise = 0.3 * np.random.default_rng(1).standard_normal(n).astype(np.float32)
    y = np.zeros(n, np.float32) if kind == "silence" else noise
    with pytest.raises(AudioError, match=r"no sung or played melody found \(\d+ voiced frames\)"):
        transcribe(y, SR, f0_method="yin", name="clip.wav")


def test_estimate_tempo():
    qpm, beat = estimate_tempo(np.arange(16) * 0.6 + 0.25)
    assert qpm == pytest.approx(100, rel=0.03) and beat == pytest.approx(0.25, abs=0.03)
    assert estimate_tempo(np.array([0.1, 0.5])) == (120.0, 0.1)
    assert 40 <= estimate_tempo(np.arange(12) * 0.1)[0] <= 240


def test_melody_to_score_encodes_and_round_trips(tmp_path, vocab):
    est = Melody(TUNE.onsets_s + 0.13, TUNE.offsets_s + 0.13, TUNE.pitches, TUNE.velocities, 100.0, beat_s=0.13)
    score = melody_to_score(est, tpq=480, program=73)
    assert score.start.tolist()[:2] == [int(round(0.2 / 0.6 * 480)), int(round(0.6 / 0.6 * 480))]
    assert score.tempo_qpm.tolist() == [100.0] and (score.ts_num[0], score.ts_den[0]) == (4, 4)
    assert np.all(score.end > score.start) and np.all(score.program == 73)
    ids = encode(score, vocab)
    assert ids.size > 3 * score.n_notes
    back = read_midi(write_midi(score, tmp_path / "tune.mid"))
    assert back.pitch[np.argsort(back.start)].tolist() == TUNE.pitches.tolist()
    assert np.allclose(back.seconds(back.start) + est.beat_s, est.onsets_s, atol=0.002)


def test_transcribe_file_writes_midi(tmp_path):
    wav, mid = tmp_path / "hum.wav", tmp_path / "out" / "hum.mid"
    sf.write(wav, tones(TUNE), SR)
    melody, score = transcribe_file(wav, mid, f0_method="yin")
    assert melody.pitches.tolist() == TUNE.pitches.tolist()
    assert read_midi(mid).pitch.tolist() == score.pitch.tolist() == TUNE.pitches.tolist()
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(SR), SR)
    with pytest.raises(AudioError) as info:
        transcribe_file(silent, tmp_path / "none.mid", f0_method="yin")
    assert "no sung or played melody found (0 voiced frames)" in one_line(info.value, silent)
    assert not (tmp_path / "none.mid").exists()


def test_festival_names_and_clock():
    from musicrnn.codec.synth import festival_beat_divisor, festival_note_name, singing_xml

    assert festival_note_name(69) == "A5" and festival_note_name(61) == "C#5"  # octave counted from MIDI 0
    assert festival_beat_divisor() in (50.0, 60.0)
    xml = singing_xml(TUNE, 150.0, "la", divisor=50.0)
    assert '<SINGING BPM="125.000000">' in xml and xml.count("<PITCH") == 5
    assert '<REST BEATS="0.500000"></REST>' in xml  # 0.2 s before the first note at 150 qpm

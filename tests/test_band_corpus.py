"""The shipped band corpus (corpora/band): folk tunes with MMA grooves, checked on the files."""

import filecmp
import shutil
import statistics
import warnings
from collections import Counter

import pretty_midi
import pytest
import symusic

from conftest import CORPORA
from musicrnn.bandcorpus import DOWNBEAT_VELOCITY, DRUMLESS_GROOVES, METRES, BandTask, build_band, groove_for
from musicrnn.codec import check_paths

BAND = CORPORA / "band"
FILES = sorted(BAND.glob("*.mid"))


def _pm(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pretty_midi.PrettyMIDI(str(path))


@pytest.fixture(scope="module")
def scores():
    """Every shipped file, read with symusic (fast): {file name: symusic.Score}."""
    return {p.name: symusic.Score(p) for p in FILES}


def test_band_corpus_size_and_spread():
    assert 800 <= len(FILES) <= 1200
    assert sum(p.stat().st_size for p in FILES) <= 20 * 2**20
    spread = Counter(p.name.split("_", 1)[0] for p in FILES)
    assert set(spread) == {"essenFolksong", "oneills1850", "ryansMammoth", "airdsAirs"}
    assert min(spread.values()) >= 150


def test_every_file_is_a_band_with_drums_where_the_groove_has_them(scores):
    counts, with_drums = [], 0
    for name, score in scores.items():
        tracks = [t for t in score.tracks if len(t.notes)]
        counts.append(len(tracks))
        has_drums = any(t.is_drum for t in tracks)
        with_drums += has_drums
        ts = score.time_signatures
        assert len(ts) == 1 and (ts[0].numerator, ts[0].denominator) in METRES, name
        groove = groove_for(name, ts[0].numerator, ts[0].denominator)
        assert has_drums == (groove not in DRUMLESS_GROOVES), (name, groove)
        assert len(tracks) > 1 and sum(t.is_drum for t in tracks) <= 1, name
    assert statistics.median(counts) >= 3
    assert with_drums >= 0.8 * len(scores)


def test_pretty_midi_reads_a_sample_as_several_instruments():
    for path in FILES[::25]:
        pm = _pm(path)
        assert len(pm.instruments) > 1 and pm.get_end_time() <= 125, path.name
        assert sum(len(i.notes) for i in pm.instruments) > 0


def test_bass_bar_lines_align_with_the_melody(scores):
    """The accompaniment's bars start on the melody's downbeats (pickups included): the most
    common bass onset inside a bar is the melody's downbeat, within MMA's humanising (a 48th).

    abc2midi stresses the first note of every bar (velocity 105), so the melody's downbeat
    phase is the most common position of those notes in the bar."""
    checked = aligned = 0
    for name, score in scores.items():
        ts = score.time_signatures[0]
        bar = ts.numerator * 4 * score.tpq // ts.denominator
        melody = score.tracks[0].notes.numpy()
        downbeats = melody["time"][melody["velocity"] == DOWNBEAT_VELOCITY]
        phase = Counter(int(t) % bar for t in downbeats).most_common(1)[0][0]
        bass = [int(t) for tr in score.tracks if 32 <= tr.program <= 39 and not tr.is_drum
                for t in tr.notes.numpy()["time"]]
        if len(bass) < 4:
            continue
        checked += 1
        slack = score.tpq // 12
        near = Counter((t - phase + slack) % bar // (2 * slack + 1) for t in bass)
        aligned += near.most_common(1)[0][0] == 0
    assert checked >= 0.5 * len(scores)
    assert aligned >= 0.95 * checked, (aligned, checked)


def test_codec_round_trip_is_exact_on_a_sample(vocab):
    rep = check_paths(FILES[::10], vocab)
    assert rep.unreadable == 0 and rep.invalid_tokens == 0
    assert rep.matched == rep.notes > 0, rep.summary()


def test_building_three_tunes_twice_gives_the_shipped_bytes(tmp_path):
    if shutil.which("mma") is None or shutil.which("abc2midi") is None:
        pytest.skip("mma or abc2midi is not installed (Debian: apt install mma abcmidi); "
                    "the byte-for-byte rebuild check needs both")
    for run in ("a", "b"):
        (tmp_path / run).mkdir()
        stats = build_band(BandTask("airdsAirs", 3), tmp_path / run)
        assert stats["files"] == 3
    names = sorted(p.name for p in (tmp_path / "a").glob("*.mid"))
    assert names == sorted(p.name for p in (tmp_path / "b").glob("*.mid"))
    for name in names:
        assert filecmp.cmp(tmp_path / "a" / name, tmp_path / "b" / name, shallow=False), name
        assert filecmp.cmp(tmp_path / "a" / name, BAND / name, shallow=False), name


def test_grooves_repeat_bar_after_bar(vocab):
    """A groove's drum bars repeat exactly, as a band's patterns do (MMA's timing
    humanisation is off: with it on, almost no drum bar repeated an earlier one)."""
    import numpy as np

    from musicrnn.codec import encode, read_midi
    from musicrnn.tasks import musicstats as ms

    files = sorted((CORPORA / "band").glob("*.mid"))[::25]
    rates = [ms.piece_stats(encode(read_midi(f), vocab), vocab)["drum_bar_repeat_rate"] for f in files]
    assert np.nanmedian(rates) >= 0.7, rates


def test_a_string_struck_again_stops_ringing(tmp_path):
    """MMA's strums strike a sounding pitch again and end all with one note-off: each
    re-strike ends the note before it, so no comping note rings for bars on end."""
    import mido

    from musicrnn.bandcorpus import _track
    from musicrnn.codec import read_midi

    def msg(t, kind, n):
        return (t, 0, mido.Message(kind, channel=2, note=n, velocity=60 if kind == "note_on" else 0))

    track = _track("Plectrum", [msg(0, "note_on", 60), msg(480, "note_on", 60), msg(960, "note_on", 60),
                                msg(4800, "note_off", 60), msg(4800, "note_off", 60),
                                msg(0, "note_on", 64), msg(240, "note_off", 64)])
    offs = [m.note for m in track if m.type == "note_off"]
    assert offs.count(60) == 3  # two written before the re-strikes, one kept, the extra one dropped
    mid = mido.MidiFile(type=1, ticks_per_beat=480)
    mid.tracks.append(track)
    mid.save(tmp_path / "strum.mid")
    s = read_midi(tmp_path / "strum.mid")
    quarters = sorted(((s.end - s.start) / s.tpq).tolist())
    assert quarters == [0.5, 1.0, 1.0, 8.0]
    # the shipped corpus: no note rings longer than 64 quarter notes (it was up to 111)
    assert max(float(((sc.end - sc.start) / sc.tpq).max()) for sc in map(read_midi, FILES[::20])) <= 64

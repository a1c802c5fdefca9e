"""MIDI <-> tokens: round trips on real files, lenient decoding, transposition."""

import json

import numpy as np
import pretty_midi
import pytest
import symusic
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import CORPORA, music21_test_midis, run_cli
from musicrnn.codec import (
    BOS, EOS, Score, check_paths, decode, encode, iter_midi_files, midi_bytes, read_midi, transpose,
)


def corpus_sample(sub: str, n: int):
    files = iter_midi_files([CORPORA / sub])
    assert len(files) >= 300, f"corpora/{sub} should ship at least 300 files, has {len(files)}"
    return files[:: max(1, len(files) // n)][:n]


@pytest.mark.parametrize("sub,n", [("chorales", 60), ("folk", 300)])
def test_shipped_corpora_round_trip_99_percent(sub, n, vocab):
    rep = check_paths(corpus_sample(sub, n), vocab)
    assert rep.unreadable == 0
    assert rep.notes > 10 * n
    assert rep.matched / rep.notes >= 0.99, rep.summary()
    assert rep.invalid_tokens == 0


def test_third_party_multitrack_round_trip(third_party_midis, vocab):
    scores = [read_midi(p) for p in third_party_midis]
    # the files really are what the claim is about: drums, several programs, tempo changes
    assert sum(s.drum.any() for s in scores) >= 10
    assert sum(len(np.unique(s.program[~s.drum])) >= 4 for s in scores) >= 10
    assert sum(len(np.unique(np.round(s.tempo_qpm))) > 1 for s in scores) >= 3
    rep = check_paths(third_party_midis + music21_test_midis(), vocab)
    assert rep.files >= 50 and rep.unreadable == 0
    assert rep.matched / rep.notes >= 0.99, rep.summary()


def _beats(pm: pretty_midi.PrettyMIDI, seconds: float) -> float:
    return pm.time_to_tick(seconds) / pm.resolution


def test_round_trip_verified_by_independent_reader(third_party_midis, vocab, tmp_path):
    """pretty_midi (mido-based) reads both files: notes agree in beats, pitch, program, drum, velocity bin."""
    for src in third_party_midis[:4]:
        out = tmp_path / src.name
        out.write_bytes(midi_bytes(decode(encode(read_midi(src), vocab), vocab).score))
        a, b = pretty_midi.PrettyMIDI(str(src)), pretty_midi.PrettyMIDI(str(out))

        def notes(pm):
            rows = []
            for inst in pm.instruments:
                prog = 0 if inst.is_drum else inst.program
                rows += [(inst.is_drum, prog, n.pitch, _beats(pm, n.start) * 12, _beats(pm, n.end) * 12, n.velocity // 8) for n in inst.notes]
            return sorted(rows, key=lambda r: (r[0], r[1], r[2], round(r[3]), r[4]))

        na, nb = notes(a), notes(b)
        assert len(na) == len(nb)
        ok = sum(x[:3] == y[:3] and abs(x[3] - y[3]) <= 1 and abs(x[4] - y[4]) <= 1 and x[5] == y[5] for x, y in zip(na, nb))
        assert ok / len(na) >= 0.99
        # tempo kept within a bin (geometric bins ~4.3% apart: at most ~2.2% off)
        ta, tb = a.get_tempo_changes()[1], b.get_tempo_changes()[1]
        assert abs(tb[0] / ta[0] - 1) < 0.025


def test_tempo_and_metre_changes_survive(vocab):
    s = Score(
        tpq=480,
        start=np.arange(0, 480 * 20, 480), end=np.arange(0, 480 * 20, 480) + 240,
        pitch=np.full(20, 60), velocity=np.full(20, 90), program=np.full(20, 40), drum=np.zeros(20, bool),
        tempo_time=np.array([0, 480 * 8]), tempo_qpm=np.array([100.0, 150.0]),
        ts_time=np.array([0, 480 * 8]), ts_num=np.array([4, 3]), ts_den=np.array([4, 4]),
    )
    ids = encode(s, vocab)
    names = vocab.describe(ids)
    # the header declares the band (one violin), then the first bar
    assert names[:6] == ["BOS", "Program_40", "Bar", "TimeSig_4/4", "Position_0", names[5]] and names[5].startswith("Tempo_")
    assert "TimeSig_3/4" in names and names.count("Bar") == 2 + 4  # 2 bars of 4/4, 12 beats of 3/4
    d = decode(ids, vocab).score
    assert d.ts_num.tolist() == [4, 3] and d.ts_time.tolist() == [0, 480 * 8]
    assert np.allclose(d.tempo_qpm / [100.0, 150.0], 1, atol=0.025)
    assert d.start.tolist() == s.start.tolist() and d.end.tolist() == s.end.tolist()
    assert set(d.program.tolist()) == {40}


def test_long_notes_chain_durations_and_drums_keep_their_flag(vocab):
    s = Score(tpq=96, start=np.array([0, 0]), end=np.array([96 * 11, 48]), pitch=np.array([48, 38]),
              velocity=np.array([70, 120]), program=np.array([0, 0]), drum=np.array([False, True]))
    d = decode(encode(s, vocab), vocab).score
    o = np.argsort(d.drum)
    assert (d.end[o] * 96 // d.tpq).tolist() == [96 * 11, 48]
    assert d.drum[o].tolist() == [False, True]
    assert (d.velocity[o] // 8).tolist() == [70 // 8, 120 // 8]


def test_encoding_is_deterministic_and_text_is_one_printable_char_per_token(vocab, third_party_midis):
    s = read_midi(third_party_midis[0])
    ids = encode(s, vocab)
    assert np.array_equal(ids, encode(s, vocab))
    assert ids[0] == BOS and ids[-1] == EOS
    text = vocab.to_text(ids)
    assert len(text) == len(ids) and text.isprintable() and not any(c.isspace() for c in text)
    assert np.array_equal(vocab.from_text(text), ids)
    assert len(set(vocab.chars)) == len(vocab) < 600


def _parses(score) -> int:
    """Write the decoded score as MIDI bytes and parse them with two independent readers."""
    data = midi_bytes(score)
    s = symusic.Score.from_midi(data)
    import io
    pm = pretty_midi.PrettyMIDI(io.BytesIO(data))
    n_pm = sum(len(i.notes) for i in pm.instruments)
    assert n_pm == s.note_num() == score.n_notes
    return n_pm


@settings(max_examples=150, deadline=None, derandomize=True)
@given(st.lists(st.integers(min_value=-5, max_value=600), max_size=400))
def test_any_id_sequence_decodes_to_valid_midi(ids):
    from musicrnn.codec import Vocab

    v = Vocab()
    d = decode(ids, v)
    assert 0 <= d.n_invalid <= d.n_tokens <= len(ids)
    _parses(d.score)
    out_of_range = sum(1 for i in ids[: d.n_tokens] if not 0 <= i < len(v))
    assert d.n_invalid >= out_of_range


@settings(max_examples=200, deadline=None, derandomize=True)
@given(cut=st.integers(min_value=0, max_value=2000), swaps=st.lists(st.tuples(st.integers(0, 1999), st.integers(0, 528)), max_size=20))
def test_truncated_and_corrupted_real_sequences_decode(cut, swaps, third_party_midis):
    from musicrnn.codec import Vocab

    v = Vocab()
    ids = encode(read_midi(third_party_midis[1]), v)[:2000]
    # truncation alone breaks at most the one note cut in half
    assert decode(ids[:cut], v).n_invalid <= 1
    bad = ids.copy()
    for pos, tok in swaps:
        bad[pos % len(bad)] = tok
    d = decode(bad, v)
    _parses(d.score)
    # the notes survive too: each bad token loses at most about a bar's worth of them
    pp = v.offset["Pitch"]
    bar_of = np.cumsum(ids == 3)
    max_notes_a_bar = int(np.bincount(bar_of[(ids >= pp) & (ids < pp + 128)]).max())
    clean = decode(ids, v).score.n_notes
    # one bad token spoils at most about a bar (a lost Bar makes the next bar's positions
    # run backwards), never the whole piece -- except a TimeSig, which re-bars all that follows
    ts = v.family_range("TimeSig")
    if not any(tok in ts for _, tok in swaps):
        bars = np.flatnonzero(ids == 3)
        longest_bar = int(np.diff(np.append(bars, len(ids))).max())
        assert d.n_invalid <= len(swaps) * (2 * longest_bar + 2) + 1
        assert clean - d.score.n_notes <= len(swaps) * (2 * max_notes_a_bar + 1)


def test_transpose_moves_pitched_notes_keeps_drums_and_range(vocab, third_party_midis):
    src = next(p for p in third_party_midis if read_midi(p).drum.any())
    ids = encode(read_midi(src), vocab)
    base = decode(ids, vocab).score
    for k in (-7, 5, 40, -40):
        t = decode(transpose(ids, k, vocab), vocab).score
        assert np.array_equal(t.drum, base.drum) and np.array_equal(t.start, base.start)
        assert np.array_equal(t.pitch[base.drum], base.pitch[base.drum])
        p0, p1 = base.pitch[~base.drum], t.pitch[~base.drum]
        assert p1.min() >= 0 and p1.max() <= 127
        assert np.all((p1 - p0 - k) % 12 == 0)  # same pitch class shift, folded by octaves at the edges
        inside = (p0 + k >= 0) & (p0 + k <= 127)
        assert np.array_equal(p1[inside], p0[inside] + k)


def test_codec_check_cli_last_line_is_json(tmp_path, third_party_midis):
    import shutil

    for p in third_party_midis[:3]:
        shutil.copy(p, tmp_path / p.name)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "broken.mid").write_bytes(third_party_midis[0].read_bytes()[:300])
    (tmp_path / "sub" / "text.mid").write_text("this is not a MIDI file")
    r = run_cli("codec", "check", tmp_path, "-q")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert summary["files"] == 5 and summary["unreadable"] == 2
    assert summary["notes"] > 1000 and summary["matched"] == summary["notes"]
    assert "broken.mid" in r.stderr and "text.mid" in r.stderr and "Traceback" not in r.stderr

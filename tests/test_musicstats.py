"""tasks/musicstats.py: bar and 2-bar phrase repeat rates on hand-built pieces whose
answer is known, their place in the statistics that evaluate and the page show, and one
check on real folk tunes."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from conftest import CORPORA, ROOT
from musicrnn.codec import BAR, Score, Vocab, decode, encode, iter_midi_files, read_midi
from musicrnn.tasks import musicstats as ms

Q = 12  # grid steps per quarter note (the default codec's resolution); scores below use tpq = Q


def score(bars, *, bar_steps: int = 4 * Q, ts=((0, 4, 4),), dur: int = 3, drums=()) -> Score:
    """A piece from bars of (position in steps, pitch) notes, each bar ``bar_steps`` long.

    ``dur``: each note's length in steps, or a function (bar, position, pitch) -> steps.
    ``drums``: extra (time in steps, kit piece) drum hits.
    """
    start, pitch, length = [], [], []
    for b, notes in enumerate(bars):
        for pos, p in notes:
            start.append(b * bar_steps + pos)
            pitch.append(p)
            length.append(dur(b, pos, p) if callable(dur) else dur)
    drum = [False] * len(start) + [True] * len(drums)
    start += [t for t, _ in drums]
    pitch += [k for _, k in drums]
    length += [1] * len(drums)
    start, length = np.array(start, np.int64), np.array(length, np.int64)
    n = start.size
    return Score(tpq=Q, start=start, end=start + length, pitch=np.array(pitch, np.int64),
                 velocity=np.full(n, 80, np.int64), program=np.zeros(n, np.int64), drum=np.array(drum, bool),
                 tempo_time=np.array([0], np.int64), tempo_qpm=np.array([120.0]),
                 ts_time=np.array([t for t, _, _ in ts], np.int64), ts_num=np.array([n_ for _, n_, _ in ts], np.int64),
                 ts_den=np.array([d for _, _, d in ts], np.int64))


def rates(bars, vocab, **kw) -> tuple[float, float]:
    s = ms.piece_stats(encode(score(bars, **kw), vocab), vocab)
    return s["bar_repeat_rate"], s["phrase_repeat_rate"]


def nan(x) -> bool:
    return isinstance(x, float) and math.isnan(x)


# four distinct bars: a little tune on the grid (quarters, eighths, a triplet, a sixteenth run)
A1 = [(0, 67), (12, 69), (24, 71), (36, 72)]
A2 = [(0, 74), (6, 72), (12, 71), (24, 69)]
B1 = [(0, 76), (4, 74), (8, 72), (24, 71), (36, 69)]
B2 = [(0, 67), (3, 69), (6, 71), (9, 72), (24, 67)]


def test_aabb_tune(vocab):
    # A A B B with 2-bar sections: bars a1 a2 a1 a2 b1 b2 b1 b2
    bar, phrase = rates([A1, A2, A1, A2, B1, B2, B1, B2], vocab)
    assert bar == 4 / 8  # bars 3, 4, 7, 8 repeat an earlier bar
    assert phrase == 2 / 7  # of the 7 overlapping pairs, (a1 a2) and (b1 b2) come back once each


def test_no_repeats_is_zero(vocab):
    assert rates([A1, A2, B1, B2], vocab) == (0.0, 0.0)


def test_overlapping_phrases(vocab):
    # a a a: bars 2 and 3 repeat bar 1; pairs (1,2) and (2,3) are the same pair (a, a)
    assert rates([A1, A1, A1], vocab) == (2 / 3, 1 / 2)
    # a b a b a: pairs ab ba ab* ba* -> 2 of 4
    assert rates([A1, B1, A1, B1, A1], vocab) == (3 / 5, 2 / 4)


def test_empty_bars_are_not_counted(vocab):
    # silence is not repetition: empty bars count neither as repeats nor in the denominator
    assert rates([A1, [], [], B1, [], A1], vocab)[0] == 1 / 3
    assert rates([A1, [], [], [], B1], vocab)[0] == 0.0
    # an empty bar breaks a phrase: no pair of consecutive non-empty bars, so no phrase rate
    assert nan(rates([A1, [], A1, [], A1], vocab)[1])
    # a piece that starts after two silent bars
    assert rates([[], [], A1, A2, A1, A2], vocab) == (2 / 4, 1 / 3)


def test_held_notes_make_no_onsets(vocab):
    # a whole note tied over into the next bar: that bar has no onset and is not counted
    whole = [(0, 60)]
    bar, phrase = rates([whole, [], whole, []], vocab, dur=8 * Q)
    assert bar == 1 / 2 and nan(phrase)


def test_transposed_repeat_is_not_a_repeat(vocab):
    up = [(p, n + 2) for p, n in A1]
    assert rates([A1, up], vocab) == (0.0, 0.0)
    # a1 a2 a1' a2, a1' an octave up: only a2 comes back, and so no phrase does
    assert rates([A1, A2, [(p, n + 12) for p, n in A1], A2], vocab) == (1 / 4, 0.0)


def test_same_pitches_at_other_onsets_is_not_a_repeat(vocab):
    shifted = [(p + 1, n) for p, n in A1]  # one grid step later
    assert rates([A1, shifted], vocab) == (0.0, 0.0)
    swapped = [(0, 69), (12, 67), (24, 71), (36, 72)]  # same pitches and onsets, two swapped
    assert rates([A1, swapped], vocab) == (0.0, 0.0)


def test_durations_do_not_count(vocab):
    # pitches and onsets are the bar's content: the same bar played staccato is a repeat
    bar, _ = rates([A1, A1], vocab, dur=lambda b, pos, p: 1 if b == 1 else 6)
    assert bar == 1 / 2


def test_aligned_phrases_count_only_pairs_where_phrases_start(vocab):
    # A B A B: the aligned pairs (1-2, 3-4) are AB and AB, a repeat; at any offset BA is new
    s = ms.piece_stats(encode(score([A1, A2, A1, A2]), vocab), vocab)
    assert s["aligned_phrase_repeat_rate"] == 1 / 2 and s["phrase_repeat_rate"] == 1 / 3
    # X A B A B: the same repeat one bar late is not aligned (aligned pairs XA, BA; at any
    # offset XA AB BA AB: one repeat in four)
    late = ms.piece_stats(encode(score([B2, A1, A2, A1, A2]), vocab), vocab)
    assert late["aligned_phrase_repeat_rate"] == 0.0 and late["phrase_repeat_rate"] == 1 / 4
    assert nan(ms.aligned_phrase_rate([frozenset(A1)]))  # one bar: no pair


def test_a_band_is_counted_instruments_drums_and_their_repeats(vocab):
    from conftest import OPENMSX

    s = score([A1, A2, A1, A2])
    n = s.n_notes
    drums = score([[(0, 36), (24, 38)]] * 3 + [[(0, 36), (12, 42)]])  # a pattern three times, then a fill
    for k in ("start", "end", "pitch", "velocity"):
        setattr(s, k, np.concatenate([getattr(s, k), getattr(drums, k)]))
    s.program = np.concatenate([s.program[:n] * 0 + 33, np.zeros(drums.n_notes, np.int64)])  # bass + drums
    s.drum = np.concatenate([np.zeros(n, bool), np.ones(drums.n_notes, bool)])
    st = ms.piece_stats(encode(s, vocab), vocab)
    assert (st["instruments"], st["has_drums"]) == (2.0, 1.0)
    assert st["drum_bar_repeat_rate"] == 2 / 4 and st["bar_repeat_rate"] == 1 / 2  # pitched bars as before
    solo = ms.piece_stats(encode(score([A1, A2]), vocab), vocab)
    assert (solo["instruments"], solo["has_drums"]) == (1.0, 0.0) and nan(solo["drum_bar_repeat_rate"])
    # real multi-track songs: several instruments, drums, repeating drum bars
    songs = [ms.piece_stats(encode(read_midi(f), vocab), vocab) for f in sorted(OPENMSX.glob("*.mid"))[:6]]
    summary = ms.summarize(songs)
    assert summary["instruments"] > 2 and summary["has_drums"] > 0.5 and summary["drum_bar_repeat_rate"] > 0.2


def test_drums_are_ignored(vocab):
    drums = [(0, 36), (24, 38), (48, 36), (60, 38), (84, 42)]  # different drum patterns in bars 1 and 2
    assert rates([A1, A1], vocab, drums=drums)[0] == 1 / 2
    assert all(nan(r) for r in rates([[], []], vocab, drums=drums))  # drums alone: no bar counted


def test_no_notes_gives_nan_and_summarize_leaves_it_out(vocab):
    empty = ms.piece_stats(np.array([1, BAR, 2]), vocab)  # BOS Bar EOS
    assert nan(empty["bar_repeat_rate"]) and nan(empty["phrase_repeat_rate"])
    full = ms.piece_stats(encode(score([A1, A2, A1, A2]), vocab), vocab)
    s = ms.summarize([empty, full])
    assert s["bar_repeat_rate"] == 0.5 and s["phrase_repeat_rate"] == 1 / 3
    only_empty = ms.summarize([empty])
    assert nan(only_empty["bar_repeat_rate"])


def test_positions_follow_the_time_signature(vocab):
    # 3/4: bars are 36 steps; the same bar content in each bar must be found as a repeat
    waltz = [(0, 60), (12, 64), (24, 67)]
    bar, phrase = rates([waltz, waltz, waltz], vocab, bar_steps=3 * Q, ts=((0, 3, 4),))
    assert (bar, phrase) == (2 / 3, 1 / 2)
    # 4/4 for two bars, then 6/8 (36 steps a bar): the 6/8 bars line up from their own bar line
    s = score([A1, A2], ts=((0, 4, 4), (8 * Q, 6, 8)))
    jig = [(0, 72), (6, 71), (12, 69), (18, 67), (24, 65), (30, 64)]
    extra = score([jig, jig], bar_steps=3 * Q)
    s.start = np.concatenate([s.start, extra.start + 8 * Q])
    s.end = np.concatenate([s.end, extra.end + 8 * Q])
    for k in ("pitch", "velocity", "program", "drum"):
        setattr(s, k, np.concatenate([getattr(s, k), getattr(extra, k)]))
    bars = ms.bar_contents(decode(encode(s, vocab), vocab).score, vocab)
    assert bars == [frozenset(A1), frozenset(A2), frozenset(jig), frozenset(jig)]
    assert ms.repeat_rates(bars) == (1 / 4, 0.0)


def test_bar_contents_are_in_grid_steps_at_any_tpq(vocab):
    bars = ms.bar_contents(decode(encode(score([A1, B2]), vocab), vocab).score, vocab)  # decode: tpq 480
    assert bars == [frozenset(A1), frozenset(B2)]
    s = score([A1, B2])
    s.tpq, s.start, s.end = 96, s.start * 8, s.end * 8  # the same piece at 96 ticks a quarter
    assert ms.bar_contents(s, vocab) == bars


def test_garbage_tokens_never_raise(vocab):
    rng = np.random.default_rng(0)
    for _ in range(20):
        s = ms.piece_stats(rng.integers(-5, vocab.size + 5, 300), vocab)
        for m in ("bar_repeat_rate", "phrase_repeat_rate"):
            assert nan(s[m]) or 0.0 <= s[m] <= 1.0


def test_repeat_rates_reach_evaluate_and_the_page(vocab):
    from musicrnn.tasks.music import compare_stats, sample_stats
    from musicrnn.ui.generate_tab import stats_markdown

    assert {"bar_repeat_rate", "phrase_repeat_rate"} <= set(ms.METRICS)
    gen = sample_stats([encode(score([A1, A2, A1, A2]), vocab)], vocab)
    corpus = {**gen, "bar_repeat_rate": 0.25}
    rows = {m: (g, c) for m, g, c in compare_stats(gen, corpus)}
    assert rows["bar_repeat_rate"] == (0.5, 0.25) and rows["phrase_repeat_rate"] == (1 / 3, 1 / 3)
    old_corpus = {k: v for k, v in corpus.items() if not k.endswith("_repeat_rate")}  # recorded before they existed
    assert {m: c for m, _, c in compare_stats(gen, old_corpus)}["bar_repeat_rate"] is None
    table = stats_markdown({"statistics": gen, "corpus_statistics": old_corpus}, "x")
    assert "| bars that repeat an earlier bar exactly (share) | 0.500 | — |" in table
    assert "2-bar phrases that repeat an earlier one exactly (share) | 0.333 | — |" in table
    short = sample_stats([encode(score([A1]), vocab)], vocab)  # one bar: no 2-bar phrase
    assert "2-bar phrases that repeat an earlier one exactly (share) | — |" in stats_markdown(
        {"statistics": short, "corpus_statistics": None}, "x")


@pytest.mark.parametrize("name", ["folk", "chorales"])
def test_shipped_checkpoints_store_the_corpus_repeat_rates(name):
    stats = json.loads((ROOT / "checkpoints" / name / "config.json").read_text())["corpus_stats"]
    assert 0.1 < stats["bar_repeat_rate"] < 0.6 and 0.1 < stats["phrase_repeat_rate"] < stats["bar_repeat_rate"]


def test_folk_tunes_repeat_their_bars(vocab):
    files = iter_midi_files([CORPORA / "folk" / "oneills1850"])
    pick = files[:: len(files) // 8][:8]  # 8 tunes spread over the collection
    s = ms.summarize([ms.piece_stats(encode(read_midi(f), vocab), vocab) for f in pick])
    assert s["pieces"] == 8
    assert s["bar_repeat_rate"] > 0.2 and s["phrase_repeat_rate"] > 0.1


def test_evaluate_compares_samples_with_the_tunes_openings_of_their_length(vocab):
    """A 30-s sample is compared with the first 30 s of each tune, cut as a sample is cut."""
    from musicrnn.codec.tokens import Clock
    from musicrnn.tasks.music import openings, reference_stats

    files = iter_midi_files([CORPORA / "folk" / "oneills1850"])[:40]
    pieces = [encode(read_midi(f), vocab) for f in files]
    cut = openings(pieces, vocab, 10.0)
    for whole, part in zip(pieces, cut):
        assert part[0] == whole[0] and part[-1] == whole[-1]  # BOS ... EOS
        assert np.array_equal(part[:-1], whole[:len(part) - 1])  # a prefix of the tune
        clock = Clock(vocab)
        for t in part[1:-1].tolist():
            clock.feed(t)
        assert decode(part, vocab).score.n_notes and clock.seconds < 10.0  # every onset before the cut
    longer = [p for p, c in zip(pieces, cut) if len(c) < len(p)]
    assert len(longer) > 30  # most tunes run past 10 s
    assert all(np.array_equal(a, b) for a, b in zip(openings(pieces, vocab, 1e6), pieces))  # long enough: whole
    # repetition grows with length: the openings repeat less than the whole tunes
    assert reference_stats(pieces, vocab, 10.0)["bar_repeat_rate"] < reference_stats(pieces, vocab)["bar_repeat_rate"]


def test_every_statistic_is_the_same_whichever_codec_wrote_the_piece(vocab):
    """A bar written as a repeat token holds the notes it copies: a real song with drum and
    bar repeats (OpenMSX) and folk tunes give the same statistics under the default codec
    and the `repeats` one (the token-based empty-bar count once took a repeated bar for an
    empty one: 22% "empty" bars in the folk test tunes)."""
    from conftest import OPENMSX
    from musicrnn.codec.vocab import codec_named

    rep = Vocab(codec_named("repeats"))
    files = [sorted(OPENMSX.glob("*.mid"))[0]] + sorted(iter_midi_files([CORPORA / "folk"]))[:600:100]
    for f in files:
        s = read_midi(f)
        ids = encode(s, rep)
        assert np.any(ids >= rep.offset["DrumRepeat"]), f  # the piece has repeat tokens to check
        a, b = ms.piece_stats(encode(s, vocab), vocab), ms.piece_stats(ids, rep)
        for k in ms.METRICS:
            assert a[k] == b[k] or (math.isnan(a[k]) and math.isnan(b[k])), (f, k, a[k], b[k])

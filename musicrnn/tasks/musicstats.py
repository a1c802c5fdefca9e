"""Objective statistics of token sequences, to compare generated music with a corpus.

Per piece: pitch-class histogram (pitched notes; also rotated so that the best-fitting
diatonic scale starts at 0, which makes pieces in different keys comparable), scale consistency (share of notes in
the best-fitting diatonic scale, as in Mogren 2016), empty-bar rate, notes per bar,
pitch range in semitones, the share of tokens the decoder had to reject, and how often
bars and 2-bar phrases repeat exactly within the piece.

Repetition (``bar_repeat_rate``, ``phrase_repeat_rate``), computed from the decoded notes
the same way for corpus pieces and for samples:

* A bar's *content* is the set of (onset position within the bar, pitch) of the pitched
  notes that start in it, positions in the codec's grid steps (``resolution`` per quarter
  note, the ``Position`` tokens' unit), so equal onsets compare exactly. Drums are
  ignored; durations, velocities, instruments and the time signature are not compared
  (a held note and a staccato one on the same onset and pitch are the same).
* A bar *repeats* when its content equals that of an earlier bar of the same piece.
  Bars with no pitched onset (rests, or notes held over from the bar before) are left
  out, as repeats and from the count, so silence is not repetition.
  ``bar_repeat_rate`` = repeating bars / bars with at least one onset.
* A 2-bar phrase is every pair of consecutive bars (i, i+1), both with onsets
  (overlapping pairs: i = 0, 1, 2, ...; an empty bar breaks a phrase). It repeats when
  the pair of contents equals an earlier such pair (j, j+1), j < i.
  ``phrase_repeat_rate`` = repeating phrases / phrases.
* An *aligned* 2-bar phrase is a pair of bars where a tune's phrases start: bars 1-2,
  3-4, 5-6, ... of the piece (i = 0, 2, 4, ...), both with onsets. It repeats when it
  equals an earlier aligned pair. ``aligned_phrase_repeat_rate`` = repeating aligned
  phrases / aligned phrases: repetition where an AABB tune puts it, not at any offset.
* A band: ``instruments`` is the number of pitched General MIDI programs a piece uses,
  plus one for drums; ``has_drums`` is 1 when it has drum notes (its mean: the share of
  pieces with drums); ``drum_bar_repeat_rate`` is ``bar_repeat_rate`` over the drum notes
  (a bar's drum pattern repeating an earlier bar's).
* A piece with no such bar (or phrase) has no rate (NaN), and ``summarize`` leaves it
  out of the mean; the mean is over pieces, each piece weighted equally.

A sample cut at a length in seconds usually ends inside a bar; that last bar holds only
part of its notes and then rarely repeats (at most one bar a piece).
"""

from __future__ import annotations

import numpy as np

from ..codec import BAR, Score, Vocab, decode

DIATONIC = np.array([1, 0, 1, 0, 1, 1, 0, 1, 0, 1, 0, 1], bool)
SCALES = np.stack([np.roll(DIATONIC, k) for k in range(12)])  # 12 major = 12 natural-minor sets
METRICS = ("scale_consistency", "empty_bar_rate", "notes_per_bar", "pitch_range", "invalid_token_rate",
           "bar_repeat_rate", "phrase_repeat_rate", "aligned_phrase_repeat_rate", "instruments", "has_drums",
           "drum_bar_repeat_rate")


def bar_contents(score: Score, vocab: Vocab, drums: bool = False) -> list[frozenset]:
    """Per bar of a decoded score, the frozenset of (position in grid steps, pitch) of the
    pitched notes starting in it (with ``drums``: of the drum notes, the pitch naming the
    drum) (empty bars give an empty set; trailing empty bars are not listed).

    Bars are rebuilt as :func:`~musicrnn.codec.decode` lays them out: from time 0, each as
    long as the time signature in force, a change taking effect at the bar it is set in.
    """
    g, tpq = vocab.cfg.resolution, score.tpq

    def grid(ticks: np.ndarray) -> np.ndarray:  # ticks -> grid steps, rounded half up, in integers
        return (np.asarray(ticks, np.int64) * (2 * g) + tpq) // (2 * tpq)

    pitched = score.drum if drums else ~score.drum
    on, pitch = grid(score.start[pitched]), score.pitch[pitched]
    if on.size == 0:
        return []
    length = {}  # grid time -> bar length from then on; a later event at the same time wins
    for t, n, d in zip(grid(score.ts_time).tolist(), score.ts_num.tolist(), score.ts_den.tolist()):
        length[t] = vocab.bar_length(vocab.nearest_time_sig(n, d))
    starts, t, bar_len, last = [], 0, vocab.bar_length(vocab.ts_index[(4, 4)]), int(on.max())
    while t <= last:
        bar_len = length.get(t, bar_len)
        starts.append(t)
        t += bar_len
    starts = np.asarray(starts, np.int64)
    bar = np.searchsorted(starts, on, side="right") - 1
    pos = on - starts[bar]
    order = np.argsort(bar, kind="stable")
    bar, pos, pitch = bar[order], pos[order], pitch[order]
    cuts = np.searchsorted(bar, np.arange(len(starts) + 1))
    pairs = list(zip(pos.tolist(), pitch.tolist()))
    return [frozenset(pairs[cuts[i]:cuts[i + 1]]) for i in range(len(starts))]


def repeat_rates(bars: list[frozenset]) -> tuple[float, float]:
    """(bar_repeat_rate, phrase_repeat_rate) of one piece's bar contents (see the module
    docstring); NaN where the piece has no non-empty bar, or no pair of them."""
    seen, repeats, counted = set(), 0, 0
    for b in bars:
        if b:
            counted += 1
            repeats += b in seen
            seen.add(b)
    bar_rate = repeats / counted if counted else float("nan")
    seen, repeats, counted = set(), 0, 0
    for pair in zip(bars, bars[1:]):
        if pair[0] and pair[1]:
            counted += 1
            repeats += pair in seen
            seen.add(pair)
    return bar_rate, (repeats / counted if counted else float("nan"))


def aligned_phrase_rate(bars: list[frozenset]) -> float:
    """``aligned_phrase_repeat_rate`` of one piece's bar contents: pairs (0, 1), (2, 3), ...
    both with onsets, repeating an earlier such pair; NaN when there is none."""
    seen, repeats, counted = set(), 0, 0
    for i in range(0, len(bars) - 1, 2):
        pair = (bars[i], bars[i + 1])
        if pair[0] and pair[1]:
            counted += 1
            repeats += pair in seen
            seen.add(pair)
    return repeats / counted if counted else float("nan")


def piece_stats(ids: np.ndarray, vocab: Vocab) -> dict:
    dec = decode(ids, vocab)
    s = dec.score
    pitched = s.pitch[~s.drum]
    pc = np.bincount(pitched % 12, minlength=12).astype(np.float64)
    n_bars = int(np.sum(np.asarray(ids) == BAR))
    # bars holding at least one note onset, from the tokens: bar index of each Pitch token,
    # and of each repeat token (it copies an earlier bar's notes: the grammar allows one
    # only where that bar had some)
    pp = vocab.offset["Pitch"]
    ids = np.asarray(ids)
    bar_of = np.cumsum(ids == BAR)
    rp, n_rep = vocab.offset.get("DrumRepeat", 0), vocab.cfg.drum_repeats + vocab.cfg.bar_repeats
    note_bars = np.unique(bar_of[((ids >= pp) & (ids < pp + 128)) | ((ids >= rp) & (ids < rp + n_rep))])
    contents = bar_contents(s, vocab)
    bar_rep, phrase_rep = repeat_rates(contents)
    return {
        "notes": s.n_notes,
        "bars": n_bars,
        "pc_hist": pc,
        "pc_hist_key": np.roll(pc, -int(np.argmax(SCALES @ pc))) if pc.sum() else pc,
        "scale_consistency": float((SCALES @ pc).max() / pc.sum()) if pc.sum() else float("nan"),
        "empty_bar_rate": 1 - len(note_bars[note_bars > 0]) / n_bars if n_bars else float("nan"),
        "notes_per_bar": s.n_notes / n_bars if n_bars else float("nan"),
        "pitch_range": float(np.ptp(pitched)) if pitched.size else float("nan"),
        "invalid_token_rate": dec.invalid_rate,
        "bar_repeat_rate": bar_rep,
        "phrase_repeat_rate": phrase_rep,
        "aligned_phrase_repeat_rate": aligned_phrase_rate(contents),
        "instruments": float(len(s.instruments())),
        "has_drums": float(s.drum.any()),
        "drum_bar_repeat_rate": repeat_rates(bar_contents(s, vocab, drums=True))[0],
    }


def _mean(values) -> float:
    v = np.asarray(values, np.float64)
    v = v[~np.isnan(v)]
    return float(v.mean()) if v.size else float("nan")


def summarize(pieces: list[dict]) -> dict:
    """Means over pieces (leaving out a piece's NaN, e.g. the repeat rates of a piece with
    no bars; NaN if no piece has a value), and the pooled pitch-class distribution."""
    out = {m: _mean([p[m] for p in pieces]) for m in METRICS}
    for key, name in (("pc_hist", "pc_distribution"), ("pc_hist_key", "pc_distribution_key")):
        pc = np.sum([p[key] for p in pieces], axis=0) if pieces else np.zeros(12)
        out[name] = (pc / pc.sum()).round(4).tolist() if pc.sum() else [0.0] * 12
    out["pieces"] = len(pieces)
    return out


def pc_distance(a: dict, b: dict, key_relative: bool = True) -> float:
    """Total-variation distance between two pooled pitch-class distributions (0 same, 1 disjoint).

    ``key_relative``: compare the key-rotated histograms (scale degrees), so that a model
    writing in other keys than the corpus is not penalised for the key alone.
    """
    k = "pc_distribution_key" if key_relative else "pc_distribution"
    return float(0.5 * np.abs(np.array(a[k]) - np.array(b[k])).sum())

"""Objective statistics of token sequences, to compare generated music with a corpus.

Per piece: pitch-class histogram (pitched notes; also rotated so that the best-fitting
diatonic scale starts at 0, which makes pieces in different keys comparable), scale consistency (share of notes in
the best-fitting diatonic scale, as in Mogren 2016), empty-bar rate, notes per bar,
pitch range in semitones, and the share of tokens the decoder had to reject.
"""

from __future__ import annotations

import numpy as np

from ..codec import BAR, Vocab, decode

DIATONIC = np.array([1, 0, 1, 0, 1, 1, 0, 1, 0, 1, 0, 1], bool)
SCALES = np.stack([np.roll(DIATONIC, k) for k in range(12)])  # 12 major = 12 natural-minor sets
METRICS = ("scale_consistency", "empty_bar_rate", "notes_per_bar", "pitch_range", "invalid_token_rate")


def piece_stats(ids: np.ndarray, vocab: Vocab) -> dict:
    dec = decode(ids, vocab)
    s = dec.score
    pitched = s.pitch[~s.drum]
    pc = np.bincount(pitched % 12, minlength=12).astype(np.float64)
    n_bars = int(np.sum(np.asarray(ids) == BAR))
    # bars holding at least one note onset, from the tokens: bar index of each Pitch token
    pp = vocab.offset["Pitch"]
    ids = np.asarray(ids)
    bar_of = np.cumsum(ids == BAR)
    note_bars = np.unique(bar_of[(ids >= pp) & (ids < pp + 128)])
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
    }


def summarize(pieces: list[dict]) -> dict:
    """Means over pieces, and the pooled pitch-class distribution."""
    out = {m: float(np.nanmean([p[m] for p in pieces])) if pieces else float("nan") for m in METRICS}
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

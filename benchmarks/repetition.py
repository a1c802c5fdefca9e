"""Repetition: how often bars and 2-bar phrases exactly repeat an earlier one of the same
piece, in a checkpoint's held-out corpus pieces and in its samples (``musicstats``:
``bar_repeat_rate``, ``phrase_repeat_rate``; the definitions are in that module's docstring),
with scale consistency and pitch range beside them, over a grid of sampling settings.

    python benchmarks/repetition.py [--checkpoint checkpoints/folk] [--data corpora/folk]
                                    [--samples 50] [--seconds 30] [--seeds 0 1 2]
                                    [--temperature 1.0 0.8] [--top-p 1.0 0.95]

Corpus rows use the validation pieces of the checkpoint's own split of ``--data``: all of
them, 200 evenly spread (what the page compares with), the same 200 cut to their first
``--seconds`` as a sample is cut (what ``musicrnn evaluate`` compares with, and the target
here: repetition grows with a piece's length, and a 30-s sample holds at most a tune's first
30 s), and 50 evenly spaced over the split (the split runs collection by collection, so the
first pieces are not typical). Each rate is a mean over pieces. Every sampling setting
runs once per seed; the table gives the median over seeds and the range, and marks a setting
``ok`` when every seed's repeat rates are within 25% of the target figures and its
scale consistency within 0.03 (the issue-10 target). Only validation pieces are read, so
choosing a setting here never looks at the test split. No torch needed.
Prints a table, then one JSON line.
"""

from __future__ import annotations

import argparse
import itertools
import json
import time

import numpy as np

from musicrnn.tasks import musicstats as ms
from musicrnn.tasks.music import REFERENCE_PIECES, generate, held_out, load_generator, openings, reference_pieces

KEYS = ("bar_repeat_rate", "phrase_repeat_rate", "aligned_phrase_repeat_rate", "scale_consistency", "pitch_range")


def evenly_spaced(pieces: list, n: int) -> list:
    if len(pieces) <= n:
        return list(pieces)
    return [pieces[i] for i in np.linspace(0, len(pieces) - 1, n).round().astype(int)]


def row(pieces, vocab) -> dict:
    stats = [ms.piece_stats(p, vocab) for p in pieces]
    s = ms.summarize(stats)
    return {"pieces": len(pieces), "bars": int(sum(p["bars"] for p in stats)),
            **{k: round(s[k], 4) for k in KEYS}}


def meets(r: dict, corpus: dict, rel: float = 0.25, scale_tol: float = 0.03) -> bool:
    """The issue-10 target: both repeat rates within ``rel`` of the corpus's, scale
    consistency within ``scale_tol``."""
    return (all(abs(r[k] - corpus[k]) <= rel * corpus[k] for k in ("bar_repeat_rate", "phrase_repeat_rate"))
            and abs(r["scale_consistency"] - corpus["scale_consistency"]) <= scale_tol)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoint", default=None, help="music checkpoint (default: the shipped default model)")
    ap.add_argument("--data", default=None, help="its corpus folder (default: the folder recorded in its config)")
    ap.add_argument("--samples", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--temperature", type=float, nargs="+", default=[1.0])
    ap.add_argument("--top-p", type=float, nargs="+", default=[1.0])
    ap.add_argument("--repeat-weight", type=float, nargs="+", default=[1.0],
                    help="for codecs with repeat tokens: weights to try (drums and pitched bars alike)")
    args = ap.parse_args()

    t0 = time.perf_counter()
    stepper, vocab, meta = load_generator(args.checkpoint)
    data = args.data or meta.get("data", {}).get("folder")
    if not data:
        ap.error("this checkpoint records no data folder: give --data")
    valid = held_out(meta, "valid", data, vocab)
    spread = reference_pieces(valid)
    ref = row(openings(spread, vocab, args.seconds), vocab)
    corpus = {
        f"corpus: all {len(valid)} validation pieces": row(valid, vocab),
        f"corpus: {min(REFERENCE_PIECES, len(valid))} evenly spread (the page)": row(spread, vocab),
        f"corpus: the same, first {args.seconds:g} s (evaluate; the target)": ref,
        f"corpus: {min(50, len(valid))} evenly spaced": row(evenly_spaced(valid, 50), vocab),
    }
    settings = []
    for t, p, w in itertools.product(args.temperature, args.top_p, args.repeat_weight):
        runs = [row(generate(stepper, vocab, n=args.samples, seconds=args.seconds, seed=s, temperature=t, top_p=p,
                             repeat_weight=w), vocab) for s in args.seeds]
        med = {k: float(np.median([r[k] for r in runs])) for k in KEYS}
        settings.append({"temperature": t, "top_p": p, "repeat_weight": w, "seeds": args.seeds, "runs": runs,
                         "median": med, "ok": all(meets(r, ref) for r in runs)})
        print(f"T={t:g} top_p={p:g} repeat weight {w:g}: " + ", ".join(f"{k} {med[k]:.4f}" for k in KEYS)
              + ("  ok" if settings[-1]["ok"] else ""), flush=True)

    print(f"\ncheckpoint {meta['_folder']}, data {data}; samples {args.samples} x {args.seconds:g} s, "
          f"seeds {' '.join(map(str, args.seeds))}")
    head = f"{'':<52}  {'bar repeats':>17}  {'phrase repeats':>17}  {'scale':>13}  {'range':>11}  target"
    print(head)
    for name, r in corpus.items():
        print(f"{name:<52}  {r['bar_repeat_rate']:>17.1%}  {r['phrase_repeat_rate']:>17.1%}  "
              f"{r['scale_consistency']:>13.3f}  {r['pitch_range']:>11.1f}")

    def cell(s, k, fmt):
        v = [r[k] for r in s["runs"]]
        return f"{format(s['median'][k], fmt)} ({format(min(v), fmt)}-{format(max(v), fmt)})"

    for s in settings:
        name = f"samples: T {s['temperature']:g}, top-p {s['top_p']:g}, repeat weight {s['repeat_weight']:g}"
        print(f"{name:<52}  {cell(s, 'bar_repeat_rate', '.1%'):>17}  {cell(s, 'phrase_repeat_rate', '.1%'):>17}  "
              f"{cell(s, 'scale_consistency', '.3f'):>13}  {cell(s, 'pitch_range', '.1f'):>11}  "
              f"{'ok' if s['ok'] else '-'}")
    print(json.dumps({"checkpoint": meta["_folder"], "data": str(data), "samples": args.samples,
                      "seconds": args.seconds, "corpus": corpus, "settings": settings,
                      "wall_seconds": round(time.perf_counter() - t0, 2)}))


if __name__ == "__main__":
    main()

"""Repetition: how often bars and 2-bar phrases exactly repeat an earlier one of the same
piece, in a checkpoint's held-out corpus pieces and in its samples (``musicstats``:
``bar_repeat_rate``, ``phrase_repeat_rate``; the definitions are in that module's docstring).

    python benchmarks/repetition.py [--checkpoint checkpoints/folk] [--data corpora/folk]
                                    [--samples 50] [--seconds 30] [--seed 0]

Corpus rows use the validation pieces of the checkpoint's own split of ``--data``: all of
them, 200 evenly spread (what ``musicrnn evaluate`` and the page compare with), and 50 evenly
spaced over the split (the issue's measure: the split runs collection by collection, so
the first pieces are not typical). Each rate is a mean over pieces. No torch needed.
Prints a table, then one JSON line.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from musicrnn.tasks import musicstats as ms
from musicrnn.tasks.music import REFERENCE_PIECES, generate, held_out, load_generator, reference_pieces


def evenly_spaced(pieces: list, n: int) -> list:
    if len(pieces) <= n:
        return list(pieces)
    return [pieces[i] for i in np.linspace(0, len(pieces) - 1, n).round().astype(int)]


def row(pieces, vocab) -> dict:
    stats = [ms.piece_stats(p, vocab) for p in pieces]
    s = ms.summarize(stats)
    return {"pieces": len(pieces), "bars": int(sum(p["bars"] for p in stats)),
            "bar_repeat_rate": round(s["bar_repeat_rate"], 4), "phrase_repeat_rate": round(s["phrase_repeat_rate"], 4)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoint", default=None, help="music checkpoint (default: the shipped default model)")
    ap.add_argument("--data", default=None, help="its corpus folder (default: the folder recorded in its config)")
    ap.add_argument("--samples", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--temperature", type=float, default=1.0)
    args = ap.parse_args()

    t0 = time.perf_counter()
    stepper, vocab, meta = load_generator(args.checkpoint)
    data = args.data or meta.get("data", {}).get("folder")
    if not data:
        ap.error("this checkpoint records no data folder: give --data")
    valid = held_out(meta, "valid", data, vocab)
    seqs = generate(stepper, vocab, n=args.samples, seconds=args.seconds, seed=args.seed,
                    temperature=args.temperature)
    rows = {
        f"corpus: all {len(valid)} validation pieces": row(valid, vocab),
        f"corpus: {min(REFERENCE_PIECES, len(valid))} evenly spread (evaluate, page)": row(reference_pieces(valid), vocab),
        f"corpus: {min(50, len(valid))} evenly spaced": row(evenly_spaced(valid, 50), vocab),
        f"samples: {args.samples} x {args.seconds:g} s, seed {args.seed}, temperature {args.temperature:g}":
            row(seqs, vocab),
    }
    w = max(len(k) for k in rows)
    print(f"checkpoint {meta['_folder']}, data {data}")
    print(f"{'':<{w}}  {'pieces':>6}  {'bars':>6}  {'bar repeats':>11}  {'2-bar phrase repeats':>20}")
    for name, r in rows.items():
        print(f"{name:<{w}}  {r['pieces']:>6}  {r['bars']:>6}  {r['bar_repeat_rate']:>11.2%}  "
              f"{r['phrase_repeat_rate']:>20.2%}")
    print(json.dumps({"checkpoint": meta["_folder"], "data": str(data), "samples": args.samples,
                      "seconds": args.seconds, "seed": args.seed, "rows": rows,
                      "wall_seconds": round(time.perf_counter() - t0, 2)}))


if __name__ == "__main__":
    main()

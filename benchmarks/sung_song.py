"""Issue 22's check of the song, sung: generated pieces sung (`musicrnn sample --sing`),
transcribed back (`codec.melody.transcribe`), note-onset F-measure against the melody (mir_eval, 50 ms).

    .venv/bin/python benchmarks/sung_song.py [--checkpoint checkpoints/folk-attention] [--voice CLIP_OR_MODEL]
                                             [--singer kal] [--seeds 0 1 2 3 4 5 6 7 8 9] [--seconds 20]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", default=None)
    ap.add_argument("--voice", default=None)
    ap.add_argument("--singer", default="kal")
    ap.add_argument("--seeds", type=int, nargs="+", default=list(range(10)))
    ap.add_argument("--seconds", type=float, default=20.0)
    args = ap.parse_args()
    from musicrnn.tasks.music import sample_to_files

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            t = time.perf_counter()
            res = sample_to_files(args.checkpoint, Path(tmp) / f"s{seed}.mid", seconds=args.seconds, seed=seed,
                                  sing=True, voice=args.voice, singer=args.singer)
            sung = res["pieces"][0]["sung"]
            rows.append({"seed": seed, "onset_f": sung["onset_f"], "notes": sung["notes"], "transpose": sung["transpose"],
                         "accompanied": sung["accompanied"], "s": round(time.perf_counter() - t, 1)})
            print(json.dumps(rows[-1]), flush=True)
    f = [r["onset_f"] for r in rows]
    print(json.dumps({"checkpoint": args.checkpoint, "voice": args.voice, "singer": args.singer, "pieces": len(rows),
                      "onset_f_median": round(statistics.median(f), 3), "onset_f_min": round(min(f), 3),
                      "at_least_0.8": sum(x >= 0.8 for x in f), "seconds_median": statistics.median(r["s"] for r in rows)}))


if __name__ == "__main__":
    main()

"""A multi-track model's samples at several temperatures: band statistics of 20 pieces
of 30 s each (seeds 0-19), to choose its own sampling temperature on its corpus.

    .venv/bin/python benchmarks/band_temperature.py checkpoints/band 0.7,0.5,0.45,0.4,0.3 [TOP_P]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from musicrnn.tasks import music, musicstats as ms  # noqa: E402


def main() -> None:
    ck, temps = sys.argv[1], [float(x) for x in sys.argv[2].split(",")]
    top_p = float(sys.argv[3]) if len(sys.argv) > 3 else 1.0
    stepper, vocab, _ = music.load_generator(ck)
    for t in temps:
        t0 = time.time()
        rows = [ms.piece_stats(music.generate(stepper, vocab, n=1, seconds=30, seed=s, temperature=t, top_p=top_p)[0],
                               vocab) for s in range(20)]

        def mean(k):
            return np.nanmean([r[k] for r in rows])

        print(f"T={t} top_p={top_p}: instruments (median) {np.median([r['instruments'] for r in rows]):.1f}, "
              f"with drums {mean('has_drums'):.2f}, drum bars repeating {mean('drum_bar_repeat_rate'):.3f}, "
              f"pitched bars repeating {mean('bar_repeat_rate'):.3f}, aligned phrase repeats "
              f"{mean('aligned_phrase_repeat_rate'):.3f}, scale consistency {mean('scale_consistency'):.3f}, "
              f"notes per bar {mean('notes_per_bar'):.1f} ({time.time() - t0:.0f} s)", flush=True)


if __name__ == "__main__":
    main()

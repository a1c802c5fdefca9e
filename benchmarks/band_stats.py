"""A folder of songs (or of samples) as a band: per-piece statistics of each file's first
SECONDS, medians and means, with the definitions of musicrnn.tasks.musicstats.

    .venv/bin/python benchmarks/band_stats.py /usr/share/games/openttd/baseset/openmsx [--seconds 30]

The numbers issue 21's targets compare: instruments per piece, the share of pieces with
drums, the share of drum bars repeating an earlier bar's pattern, the share of pitched
bars repeating, aligned 2-bar phrase repeats, invalid tokens, scale consistency.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from musicrnn.codec import MidiError, Vocab, encode, iter_midi_files, read_midi  # noqa: E402
from musicrnn.tasks import musicstats as ms  # noqa: E402

KEYS = ("instruments", "has_drums", "drum_bar_repeat_rate", "bar_repeat_rate", "aligned_phrase_repeat_rate",
        "invalid_token_rate", "scale_consistency")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder")
    ap.add_argument("--seconds", type=float, default=30.0, help="each file's opening to measure (default 30)")
    args = ap.parse_args()
    vocab, rows, skipped = Vocab(), [], 0
    for f in iter_midi_files([args.folder]):
        try:
            s = read_midi(f)
        except MidiError:
            skipped += 1
            continue
        s.cut_at(args.seconds)
        rows.append(ms.piece_stats(encode(s, vocab), vocab))
    print(f"{args.folder}: {len(rows)} files ({skipped} unreadable), first {args.seconds:g} s of each")
    print(f"{'statistic':28s} {'median':>8s} {'mean':>8s}")
    for k in KEYS:
        v = np.array([r[k] for r in rows], float)
        print(f"{k:28s} {np.nanmedian(v):8.3f} {np.nanmean(v):8.3f}")


if __name__ == "__main__":
    main()

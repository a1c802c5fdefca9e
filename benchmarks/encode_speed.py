"""Encoding throughput: musicrnn's codec vs MidiTok's REMI on the same files, in one run.

Both sides parse with symusic and produce integer ids, so this compares tokenisers,
not file readers. Each round times every file once per tokenizer (alternating order);
the figures are medians over rounds.

    python benchmarks/encode_speed.py [--rounds 5] [--limit 2000] corpora/chorales corpora/folk
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import symusic

from musicrnn.codec import Vocab, encode, iter_midi_files, load_midi_bytes


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("paths", nargs="+")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--limit", type=int, default=2000, help="files per path, evenly spaced")
    args = ap.parse_args()

    from miditok import REMI, TokenizerConfig

    remi = REMI(TokenizerConfig(use_programs=True, use_tempos=True, use_time_signatures=True))
    vocab = Vocab()
    results = {}
    for path in args.paths:
        files = iter_midi_files([path])
        files = files[:: max(1, len(files) // args.limit)][: args.limit]
        blobs = [f.read_bytes() for f in files]  # read from disk once: time parsing + tokenising
        notes = sum(load_midi_bytes(b).n_notes for b in blobs)

        def ours():
            return sum(len(encode(load_midi_bytes(b), vocab)) for b in blobs)

        def theirs():
            n = 0
            for b in blobs:
                seq = remi.encode(symusic.Score.from_midi(b))
                n += sum(len(s.ids) for s in seq) if isinstance(seq, list) else len(seq.ids)
            return n

        times = {"musicrnn": [], "miditok_remi": []}
        tokens = {}
        for r in range(args.rounds):
            order = [("musicrnn", ours), ("miditok_remi", theirs)]
            for name, fn in order if r % 2 == 0 else order[::-1]:
                t0 = time.perf_counter()
                tokens[name] = fn()
                times[name].append(time.perf_counter() - t0)
        res = {}
        for name, ts in times.items():
            med = statistics.median(ts)
            res[name] = {"files_per_s": round(len(blobs) / med, 1), "notes_per_s": round(notes / med), "tokens_per_note": round(tokens[name] / notes, 3)}
        res["speedup_musicrnn_over_miditok"] = round(statistics.median(times["miditok_remi"]) / statistics.median(times["musicrnn"]), 2)
        res["files"], res["notes"] = len(blobs), notes
        results[path] = res
    print(json.dumps({"machine": f"{platform.processor() or platform.machine()}, {platform.python_version()}", "rounds": args.rounds, "results": results}, indent=2))


if __name__ == "__main__":
    main()

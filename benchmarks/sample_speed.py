"""Sampling speed: streaming tokens/s, and wall time for a 30-second melody (generate,
decode, write MIDI), against a recompute-the-whole-prefix baseline in the same run.

    python benchmarks/sample_speed.py [--checkpoint checkpoints/folk] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from musicrnn.codec import BOS, EOS, decode, write_midi
from musicrnn.core.sample import draw, filter_probs, sample
from musicrnn.core.models import stepper_for
from musicrnn.tasks.music import generate, load_model, output_of


@torch.no_grad()
def recompute_baseline(model, n_tokens: int, seed: int) -> float:
    """Tokens/s when every step re-reads the whole prefix (what streaming avoids)."""
    rng = np.random.default_rng(seed)
    seq = [BOS]
    t0 = time.perf_counter()
    for _ in range(n_tokens):
        ctx = getattr(model.cfg, "context", None)  # a transformer reads at most its window
        logits, _ = model(torch.tensor([seq[-ctx:] if ctx else seq]))
        seq.append(int(draw(filter_probs(logits[:, -1].numpy()), rng)[0]))
    return n_tokens / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--checkpoint", default=None)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--tokens", type=int, default=2000)
    args = ap.parse_args()
    t0 = time.perf_counter()
    model, vocab, meta = load_model(args.checkpoint)
    load_s = time.perf_counter() - t0
    stream, melody, melody_tokens, melody_seconds = [], [], [], []
    for r in range(args.repeats):
        t0 = time.perf_counter()
        out = sample(stepper_for(model, output_of(meta)), [BOS], 1, args.tokens, seed=r, forbid=[EOS])[0]  # exactly --tokens tokens
        stream.append(len(out) / (time.perf_counter() - t0))
        with tempfile.TemporaryDirectory() as d:
            t0 = time.perf_counter()
            ids = generate(model, vocab, n=1, seconds=30.0, seed=100 + r, output=output_of(meta))[0]
            dec = decode(ids, vocab)
            write_midi(dec.score, Path(d) / "m.mid")
            melody.append(time.perf_counter() - t0)
        melody_tokens.append(len(ids))
        melody_seconds.append(float(dec.score.seconds(dec.score.start.max())))
    base = [recompute_baseline(model, 300, r) for r in range(min(3, args.repeats))]
    print(json.dumps({
        "checkpoint": str(args.checkpoint or "checkpoints/folk (default)"), "parameters": sum(p.numel() for p in model.parameters()),
        "threads": torch.get_num_threads(), "machine": platform.machine(), "load_seconds": round(load_s, 3),
        "stream_tokens_per_s_median": round(statistics.median(stream)),
        "recompute_baseline_tokens_per_s_median (300 tokens)": round(statistics.median(base)),
        "melody_30s_wall_seconds_median": round(statistics.median(melody), 3),
        "melody_30s_tokens_median": statistics.median(melody_tokens),
        "melody_last_onset_seconds_median": round(statistics.median(melody_seconds), 2),
        "repeats": args.repeats,
    }, indent=1))


if __name__ == "__main__":
    main()

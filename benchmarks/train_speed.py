"""Training throughput (tokens/s) of the char-RNN on real corpus windows.

Times full optimizer steps of the training loop's own ``train_step`` (forward, backward, clip, AdamW) on windows of the shipped
corpus, after a warm-up, and reports the median over steps. Several model sizes can be
listed. The implementations listed with --impl are interleaved step by step on the same
windows, so slow drift of a shared machine hits them alike; each is also reported as the
median over windows of its per-window speed ratio to the first one.

    python benchmarks/train_speed.py --data corpora/folk --hidden 256 512 --steps 30 [--device cuda]
    python benchmarks/train_speed.py --hidden 128 256 --impl fused research lite iris

impl: fused = nn.LSTM; research = the research cell (core/cells.py) as a plain LSTM;
lite = research cell as LSTM-LITE; iris = research cell with the Iris activation (the
metallic-mean form); phi-tanh = with phi*tanh (what "iris" meant before issue 8).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import torch

from musicrnn.codec import Vocab
from musicrnn.core.data import Streams
from musicrnn.core.objectives import NextToken
from musicrnn.core.rnn import CharRNN, RNNConfig, count_parameters
from musicrnn.core.train import TrainConfig, make_optimizer, train_step
from musicrnn.tasks.music import load_corpus


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="corpora/folk")
    ap.add_argument("--hidden", type=int, nargs="+", default=[256, 512])
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--impl", nargs="+", default=["fused"], choices=["fused", "research", "lite", "iris", "phi-tanh"],
                    help="implementations to interleave on the same windows (first = baseline for the ratio)")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--bptt", type=int, default=128)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--max-files", type=int, default=600)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args()

    vocab = Vocab()
    corpus = load_corpus(args.data, vocab, 0.0)
    seqs = corpus.train[:: max(1, len(corpus.train) // args.max_files)]
    streams = Streams(seqs, args.batch, args.bptt, seed=0)
    results = []
    objective, cfg = NextToken(), TrainConfig(grad_clip=1.0)
    variants = {"fused": ("lstm", "tanh", True), "research": ("lstm", "tanh", False),
                "lite": ("lstm-lite", "tanh", False), "iris": ("lstm", "iris", False),
                "phi-tanh": ("lstm", "phi-tanh", False)}
    for hidden in args.hidden:
        runs = []
        for impl in args.impl:
            cell, act, fused = variants[impl]
            torch.manual_seed(0)
            model = CharRNN(RNNConfig(len(vocab), hidden=hidden, layers=args.layers, cell=cell,
                                      activation=act, fused=fused)).to(args.device)
            runs.append({"impl": impl, "model": model, "opt": make_optimizer(model, TrainConfig()),
                         "state": None, "times": []})
        for i, (_, w) in enumerate(streams.epoch(0, device=args.device)):
            if i >= args.warmup + args.steps:
                break
            for r in runs:
                t0 = time.perf_counter()
                _, r["state"], _ = train_step(r["model"], objective, r["opt"], w, r["state"], cfg)
                if args.device.startswith("cuda"):
                    torch.cuda.synchronize()
                if i >= args.warmup:
                    r["times"].append(time.perf_counter() - t0)
        base = runs[0]["times"]
        for r in runs:
            med = statistics.median(r["times"])
            ratio = statistics.median(b / t for b, t in zip(base, r["times"]))
            results.append({"impl": r["impl"], "cell": r["model"].cfg.cell, "activation": r["model"].cfg.activation,
                            "hidden": hidden, "layers": args.layers, "parameters": count_parameters(r["model"]),
                            "batch": args.batch, "bptt": args.bptt, "tokens_per_s": round(args.batch * args.bptt / med),
                            "step_ms_median": round(med * 1000, 1), f"speed_vs_{runs[0]['impl']}": round(ratio, 3)})
    print(json.dumps({"device": args.device, "threads": torch.get_num_threads(), "torch": torch.__version__,
                      "machine": platform.machine(), "results": results}, indent=1))


if __name__ == "__main__":
    main()

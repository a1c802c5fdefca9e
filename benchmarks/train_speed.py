"""Training throughput (tokens/s) of the char-RNN on real corpus windows.

Times full optimizer steps (forward, backward, clip, AdamW) on windows of the shipped
corpus, after a warm-up, and reports the median over steps. Several model sizes can be
listed; each runs in the same process, one after another.

    python benchmarks/train_speed.py --data corpora/folk --hidden 256 512 --steps 30 [--device cuda]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import torch
import torch.nn.functional as F

from musicrnn.codec import Vocab
from musicrnn.core.data import Streams
from musicrnn.core.rnn import CharRNN, RNNConfig, count_parameters, detach
from musicrnn.core.train import TrainConfig, make_optimizer
from musicrnn.tasks.music import load_corpus


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="corpora/folk")
    ap.add_argument("--hidden", type=int, nargs="+", default=[256, 512])
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--cell", default="lstm")
    ap.add_argument("--activation", default="tanh")
    ap.add_argument("--impl", nargs="+", default=["fused"], choices=["fused", "research"],
                    help="nn.LSTM (fused) and/or the research cell; each runs on the same windows")
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
    for hidden, impl in [(h, i) for h in args.hidden for i in args.impl]:
        torch.manual_seed(0)
        model = CharRNN(RNNConfig(len(vocab), hidden=hidden, layers=args.layers, cell=args.cell,
                                  activation=args.activation, fused=impl == "fused")).to(args.device)
        opt = make_optimizer(model, TrainConfig())
        state, times = None, []
        for i, (_, w) in enumerate(streams.epoch(0, device=args.device)):
            if i >= args.warmup + args.steps:
                break
            t0 = time.perf_counter()
            logits, state = model(w.x, state, w.reset)
            loss = F.cross_entropy(logits.flatten(0, 1), w.y.flatten())
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            state = detach(state)
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            if i >= args.warmup:
                times.append(time.perf_counter() - t0)
        med = statistics.median(times)
        results.append({"cell": args.cell, "activation": args.activation, "impl": impl, "hidden": hidden, "layers": args.layers, "parameters": count_parameters(model),
                        "batch": args.batch, "bptt": args.bptt, "tokens_per_s": round(args.batch * args.bptt / med),
                        "step_ms_median": round(med * 1000, 1)})
    print(json.dumps({"device": args.device, "threads": torch.get_num_threads(), "torch": torch.__version__,
                      "machine": platform.machine(), "results": results}, indent=1))


if __name__ == "__main__":
    main()

"""Training throughput of the one training loop, per model family, on real corpus windows.

Times full steps of ``core.train.train_step`` (forward, the objective's loss, backward,
gradient clipping, AdamW) after a warm-up and reports the median: scored tokens per
second and the model's achieved FLOP/s (the usual estimate: 6 FLOPs per weight per
token for the matrix products, plus attention's 12 * layers * window * dim for the
transformer; embeddings excluded). With ``--peak-tflops`` (the device's dense peak at the
precision used, e.g. 989 for an H100/H200 in bf16) it also prints the model FLOP
utilisation (MFU).

    python benchmarks/engine_speed.py --family rnn transformer --steps 10
    python benchmarks/engine_speed.py --family transformer --device cuda --precision bf16 --compile --peak-tflops 989
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import torch

from musicrnn.codec import Vocab
from musicrnn.core import models
from musicrnn.core.data import Streams
from musicrnn.core.objectives import NextToken
from musicrnn.core.train import TrainConfig, make_optimizer, train_step
from musicrnn.tasks.music import load_corpus

SHAPES = {  # the shipped folk models' shapes
    "rnn": ({"hidden": 256, "layers": 2, "embed": 64}, {"batch": 32, "bptt": 128, "primer": 0}),
    "transformer": ({"dim": 192, "layers": 4, "heads": 4, "context": 384}, {"batch": 16, "bptt": 320, "primer": 64}),
}


def matmul_weights(model) -> int:
    """Weights that take part in a matrix product per token (not embeddings, norms, biases)."""
    n = 0
    for name, p in model.named_parameters():
        if p.dim() == 2 and "embed" not in name:
            n += p.numel()
    if model.family == "transformer":  # the tied output head is the embedding matrix
        n += model.embed.weight.numel()
    return n


def flops_per_token(model, window: int) -> float:
    f = 6.0 * matmul_weights(model)
    if model.family == "transformer":
        f += 12.0 * model.cfg.layers * window * model.cfg.dim / 2  # causal: half the window on average
    return f


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="corpora/folk")
    ap.add_argument("--family", nargs="+", default=["rnn", "transformer"], choices=list(models.FAMILIES))
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--batch", type=int, default=None, help="override the shape's batch")
    ap.add_argument("--max-files", type=int, default=600)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--peak-tflops", type=float, default=None)
    args = ap.parse_args()

    vocab = Vocab()
    corpus = load_corpus(args.data, vocab, 0.0)
    seqs = corpus.train[:: max(1, len(corpus.train) // args.max_files)]
    obj = NextToken()
    results = []
    for fam in args.family:
        mshape, tshape = SHAPES[fam]
        if args.batch:
            tshape = {**tshape, "batch": args.batch}
        cfg = TrainConfig(**tshape, precision=args.precision, compile=args.compile, device=args.device)
        model = models.build(fam, models.make_config(fam, {**mshape, "vocab_size": len(vocab)}), seed=0).to(args.device)
        net = torch.compile(model) if args.compile else model
        opt = make_optimizer(model, cfg)
        src = Streams(seqs, cfg.batch, cfg.bptt, seed=0, primer=cfg.primer, stateful=model.carries_state)
        state, times = None, []
        for i, (_, b) in enumerate(src.epoch(0, device=args.device)):
            if i >= args.warmup + args.steps:
                break
            t0 = time.perf_counter()
            _, state, _ = train_step(net, obj, opt, b, state if model.carries_state else None, cfg)
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            if i >= args.warmup:
                times.append(time.perf_counter() - t0)
        med = statistics.median(times)
        scored = cfg.batch * cfg.bptt
        read = cfg.batch * (cfg.bptt + cfg.primer)
        fl = flops_per_token(model, cfg.bptt + cfg.primer) * read / med
        r = {"family": fam, **mshape, "parameters": models.count_parameters(model), "batch": cfg.batch,
             "window": cfg.bptt, "primer": cfg.primer, "scored_tokens_per_s": round(scored / med),
             "step_ms_median": round(med * 1000, 1), "model_gflops_per_s": round(fl / 1e9, 2)}
        if args.peak_tflops:
            r["mfu"] = round(fl / (args.peak_tflops * 1e12), 4)
        results.append(r)
        print(json.dumps(r), flush=True)
    print(json.dumps({"device": args.device, "precision": args.precision, "compile": args.compile,
                      "threads": torch.get_num_threads(), "torch": torch.__version__, "machine": platform.machine(),
                      "results": results}))


if __name__ == "__main__":
    main()

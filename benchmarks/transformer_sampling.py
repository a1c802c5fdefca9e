"""Transformer sampling speed at batch 1: tokens/s for three ways of producing each token.

  numpy_cache      the NumPy stepper (``transformer_np.TransformerStepper``): ring-buffer KV cache
  torch_cache      the torch model fed one token at a time, carrying its KV cache (state)
  torch_recompute  the torch model re-reading the prefix every token (no cache; past
                   ``context`` tokens, the last ``context`` of them)

Random weights by default (speed does not depend on them), or a checkpoint's. Every path draws its tokens with the same
code from the same seed. One torch thread and one BLAS thread. Figures are medians over
``--repeats`` runs; the last line is JSON with the cache/recompute speed ratios.

    python benchmarks/transformer_sampling.py [--tokens 1024] [--repeats 3] [--checkpoint checkpoints/folk-transformer]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from musicrnn.core.transformer import Transformer, TransformerConfig  # noqa: E402
from musicrnn.core.transformer_np import TransformerStepper  # noqa: E402


def draw(logits: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One token per row of logits (n, V), from the softmax."""
    p = np.exp(logits - logits.max(-1, keepdims=True))
    c = np.cumsum(p, -1)
    return np.minimum((c < (rng.random(len(c)) * c[:, -1])[:, None]).sum(-1), logits.shape[-1] - 1)


def numpy_cache(stepper: TransformerStepper, model, n_tokens: int, seed: int) -> list[int]:
    rng = np.random.default_rng(seed)
    logits, state = stepper.start([0], 1)
    out = []
    for _ in range(n_tokens):
        tok = draw(logits, rng)
        out.append(int(tok[0]))
        logits, state = stepper.step(tok, state)
    return out


@torch.no_grad()
def torch_cache(stepper, model, n_tokens: int, seed: int) -> list[int]:
    rng = np.random.default_rng(seed)
    logits, state = model(torch.zeros(1, 1, dtype=torch.long))
    out = []
    for _ in range(n_tokens):
        tok = int(draw(logits[:, -1].numpy(), rng)[0])
        out.append(tok)
        logits, state = model(torch.tensor([[tok]]), state)
    return out


@torch.no_grad()
def torch_recompute(stepper, model, n_tokens: int, seed: int) -> list[int]:
    rng = np.random.default_rng(seed)
    seq, C = [0], model.cfg.context
    for _ in range(n_tokens):
        logits, _ = model(torch.tensor([seq[-C:]]))
        seq.append(int(draw(logits[:, -1].numpy(), rng)[0]))
    return seq[1:]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokens", type=int, default=1024)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--vocab", type=int, default=400)
    ap.add_argument("--checkpoint", default=None, help="a transformer checkpoint (default: random weights, "
                                                       "dim 256, 4 layers, 4 heads, context 512)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    if args.checkpoint:
        from musicrnn.tasks.music import load_model

        model = load_model(args.checkpoint)[0]
        cfg = model.cfg
    else:
        cfg = TransformerConfig(vocab_size=args.vocab, dim=256, layers=4, heads=4, context=512, dropout=0.0)
        model = Transformer(cfg).eval()
    stepper = TransformerStepper.from_model(model)
    ways = {"numpy_cache": numpy_cache, "torch_cache": torch_cache, "torch_recompute": torch_recompute}
    speed: dict[str, list[float]] = {name: [] for name in ways}
    samples = {}
    with threadpool_limits(limits=1):
        for r in range(args.repeats):
            for name, fn in ways.items():
                t0 = time.perf_counter()
                samples[name] = fn(stepper, model, args.tokens, seed=r)
                speed[name].append(args.tokens / (time.perf_counter() - t0))
    med = {name: statistics.median(v) for name, v in speed.items()}
    params = sum(p.numel() for p in model.parameters())
    print(f"transformer dim {cfg.dim}, layers {cfg.layers}, heads {cfg.heads}, context {cfg.context}, "
          f"vocab {cfg.vocab_size} ({params:,} parameters); {args.tokens} tokens at batch 1, "
          f"median of {args.repeats}, torch threads {torch.get_num_threads()}")
    print(f"{'path':<18}{'tokens/s':>10}{'ms/token':>10}{'vs recompute':>14}")
    for name, v in med.items():
        print(f"{name:<18}{v:>10.0f}{1000 / v:>10.2f}{v / med['torch_recompute']:>13.1f}x")
    # the two cached paths compute the same model: with the same seed they draw the same tokens
    # (the recompute path sees only the last `context` tokens, a different model past context)
    agree = samples["numpy_cache"] == samples["torch_cache"]
    print(json.dumps({
        "tokens": args.tokens, "repeats": args.repeats, "threads": torch.get_num_threads(),
        "machine": platform.machine(), "parameters": params,
        "tokens_per_s_median": {k: round(v, 1) for k, v in med.items()},
        "ratio_numpy_cache_vs_recompute": round(med["numpy_cache"] / med["torch_recompute"], 2),
        "ratio_torch_cache_vs_recompute": round(med["torch_cache"] / med["torch_recompute"], 2),
        "cached_paths_draw_the_same_tokens": agree,
    }))


if __name__ == "__main__":
    main()

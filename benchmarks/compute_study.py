"""Test bits/token against training compute: the char-RNN with attention and the
transformer on the folk corpus, each trained from scratch for several time budgets.

    .venv/bin/python benchmarks/compute_study.py --minutes 3 6 12 --shipped [--models rnn-att transformer] [--png docs/img/compute_study.png]

Each run is the project's own command (printed), with the shipped models' shapes:
    musicrnn train --data corpora/folk --out runs/cs-rnn-att-M --hidden 256 --layers 2 --embed 64 --dropout 0.1 --attention 128 --minutes M --warmup 100 --seed 0
    musicrnn train --model transformer --data corpora/folk --out runs/cs-transformer-M --dim 192 --layers 4 --heads 4 --context 384 --bptt 320 --primer 64 --batch 16 --lr 1e-3 --minutes M --seed 0
and reports the test bits/token the run scores once at its end. Compute is counted as
training tokens (steps x batch x window) and as approximate FLOPs, 6 x parameters x tokens
(forward and backward; the attention over the context is left out of both, so it is a
lower bound that favours neither). Runs already in runs/ are read, not trained again.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SHAPES = {
    "rnn-att": ["--hidden", "256", "--layers", "2", "--embed", "64", "--dropout", "0.1", "--attention", "128",
                "--warmup", "100"],
    "transformer": ["--model", "transformer", "--dim", "192", "--layers", "4", "--heads", "4", "--context", "384",
                    "--bptt", "320", "--primer", "64", "--batch", "16", "--lr", "1e-3"],
}


SHIPPED = {"rnn-att": "checkpoints/folk-attention", "transformer": "checkpoints/folk-transformer"}


def run(model: str, minutes: float | None) -> dict:
    """One budget's run (trained unless already there); ``minutes=None``: the shipped model."""
    out = ROOT / (SHIPPED[model] if minutes is None else f"runs/cs-{model}-{minutes:g}")
    if not (out / "metrics.json").is_file():
        cmd = [str(Path(sys.executable).with_name("musicrnn")), "train", "--data", "corpora/folk", "--out", str(out),
               *SHAPES[model], "--minutes", f"{minutes:g}", "--seed", "0", "--force", "-q"]
        print("$ " + " ".join(shlex.quote(c) for c in cmd), flush=True)
        subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True)
    m = json.loads((out / "metrics.json").read_text())
    cfg = json.loads((out / "config.json").read_text())
    tr = cfg["train"]
    tokens = m["steps"] * tr["batch"] * tr["bptt"]
    minutes = minutes if minutes is not None else round(m["train_seconds"] / 60, 1)
    return {"model": model, "minutes": minutes, "steps": m["steps"], "train_seconds": m["train_seconds"],
            "parameters": m["n_parameters"], "tokens": tokens, "flops": 6.0 * m["n_parameters"] * tokens,
            "valid": m["best_valid_bits_per_token"], "test": m.get("test_bits_per_token")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, nargs="*", default=[3, 6, 12])
    ap.add_argument("--models", nargs="+", default=list(SHAPES), choices=list(SHAPES))
    ap.add_argument("--png", type=Path, default=None)
    ap.add_argument("--shipped", action="store_true", help="add the shipped folk-attention and folk-transformer "
                    "(the same shapes, corpus, split and seed, trained 38 and 65 min) as the longest budgets")
    args = ap.parse_args()
    rows = [run(model, m) for m in args.minutes for model in args.models]
    if args.shipped:
        rows += [run(model, None) for model in args.models]
    print("| model | budget | steps | training tokens | FLOPs (6NT) | valid bits/token | test bits/token |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['model']} | {r['minutes']:g} min ({r['train_seconds']:.0f} s) | {r['steps']:,} | {r['tokens'] / 1e6:.1f} M "
              f"| {r['flops']:.2e} | {r['valid']:.4f} | {r['test']:.4f} |")
    if args.png:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
        for model in args.models:
            mine = [r for r in rows if r["model"] == model]
            ax.plot([r["flops"] for r in mine], [r["test"] for r in mine], "o-", label=model)
        ax.set_xscale("log")
        ax.set_xlabel("training compute, FLOPs (6 x parameters x tokens)")
        ax.set_ylabel("test bits/token (folk)")
        ax.set_title("Folk corpus: test bits/token against training compute")
        ax.legend()
        ax.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(args.png)
        print(f"wrote {args.png}")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()

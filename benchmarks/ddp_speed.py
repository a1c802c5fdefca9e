"""Data-parallel speed: the same training run (same global batch, same steps) in one
process and in N processes launched by torchrun (gloo on the CPU, nccl with --device cuda).

Reports the training loop's own seconds (``train_seconds`` in metrics.json, start-up and
data loading excluded) and the ratio; each configuration is run ``--repeats`` times
(alternating) and the median is kept.

    python benchmarks/ddp_speed.py [--data corpora/chorales] [--procs 2] [--steps 60] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path


def run(cmd: list[str], out: Path, env: dict) -> dict:
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{r.stderr[-2000:]}")
    return json.loads((out / "metrics.json").read_text())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="corpora/chorales")
    ap.add_argument("--procs", type=int, default=2)
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--model-flags", default="--hidden 256 --layers 2 --embed 64",
                    help="model flags for musicrnn train (quoted)")
    args = ap.parse_args()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MUSICRNN_THREADS": "1"}
    flags = ["train", "--data", args.data, "--batch", str(args.batch), "--steps", str(args.steps), "--seed", "0",
             "--transpose", "0", "--device", args.device, "-q", *args.model_flags.split()]
    threads = f"1 process, {args.procs} threads"
    times: dict[str, list[float]] = {"1 process": [], threads: [], f"{args.procs} processes": []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):
            one, wide, many = (Path(tmp) / f"{k}{r}" for k in ("one", "wide", "many"))
            m1 = run([sys.executable, "-m", "musicrnn", *flags, "--out", str(one)], one, env)
            mw = run([sys.executable, "-m", "musicrnn", *flags, "--out", str(wide)], wide,
                     {**env, "OMP_NUM_THREADS": str(args.procs), "MUSICRNN_THREADS": str(args.procs)})
            mn = run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
                      str(args.procs), "-m", "musicrnn", *flags, "--out", str(many)], many, env)
            times["1 process"].append(m1["train_seconds"])
            times[threads].append(mw["train_seconds"])
            times[f"{args.procs} processes"].append(mn["train_seconds"])
            assert mn.get("ranks_agree"), "the processes' weights differ"
    med = {k: statistics.median(v) for k, v in times.items()}
    tokens = args.batch * 128 * args.steps
    print(json.dumps({"data": args.data, "steps": args.steps, "global_batch": args.batch, "device": args.device,
                      "cpu_count": os.cpu_count(), "machine": platform.machine(),
                      "train_seconds": {k: [round(x, 1) for x in v] for k, v in times.items()},
                      "median_seconds": {k: round(v, 1) for k, v in med.items()},
                      "tokens_per_s": {k: round(tokens / v) for k, v in med.items()},
                      "speedup_vs_1_process": round(med["1 process"] / med[f"{args.procs} processes"], 3),
                      "speedup_vs_1_process_same_threads": round(med[threads] / med[f"{args.procs} processes"], 3)},
                     indent=1))


if __name__ == "__main__":
    main()

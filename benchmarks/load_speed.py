"""Start-up and speed under load: what a user feels on a shared 2-core machine.

    python benchmarks/load_speed.py [--repeats 5] [--old /path/to/older/checkout] [--skip-train]

* cold start-up: ``musicrnn --help`` and ``musicrnn sample --out song.mid`` (default
  model, 30 s of music, no --wav), each a fresh process, wall time;
* sampling (``sample --num 10 --seconds 30``) alone and beside one busy process
  (``python -c 'while True: pass'``), and the slowdown ratio;
* training (40 steps of the default 2x256 LSTM on the chorales, time in the loop as the
  run reports it) alone and beside one busy process, at 1 and 2 torch threads.

With ``--old`` the same commands also run from an older checkout (its own ``musicrnn``
package, this venv), interleaved with the current one, so before/after is measured in
the same conditions. Medians over ``--repeats``; prints a Markdown table and a JSON line.
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
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@contextmanager
def busy(n: int):
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]
    time.sleep(0.5 if n else 0)
    try:
        yield
    finally:
        for p in procs:
            p.kill()
            p.wait()


def wall(cmd: list[str], cwd: Path, env: dict | None = None, check: bool = True) -> tuple[float, str]:
    t = time.perf_counter()
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env)
    if r.returncode != 0 and check:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{r.stderr}")
    return time.perf_counter() - t, r.stdout


def musicrnn(*args) -> list[str]:
    return [sys.executable, "-m", "musicrnn", *map(str, args)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--old", type=Path, default=None, help="an older checkout to compare with")
    ap.add_argument("--skip-train", action="store_true")
    args = ap.parse_args()
    trees = {"current": ROOT} | ({"old": args.old.resolve()} if args.old else {})
    tmp = Path(tempfile.mkdtemp())
    res: dict = {}

    def record(key, seconds):
        res.setdefault(key, []).append(seconds)

    for _ in range(args.repeats):
        for name, tree in trees.items():
            record(f"{name} --help", wall(musicrnn("--help"), tree, check=False)[0])  # crashed before this issue
            record(f"{name} sample --help", wall(musicrnn("sample", "--help"), tree)[0])
            record(f"{name} sample", wall(musicrnn("sample", "--out", tmp / "s.mid", "--seed", 1), tree)[0])
            for load in (0, 1):
                with busy(load):
                    record(f"{name} sample x10 busy{load}",
                           wall(musicrnn("sample", "--num", 10, "--seconds", 30, "--seed", 1, "--out", tmp / "t.mid"), tree)[0])
    if not args.skip_train:
        data = ROOT / "corpora" / "chorales"
        for _ in range(max(1, args.repeats // 2)):
            for threads in (1, 2):
                for load in (0, 1):
                    env = dict(os.environ, MUSICRNN_THREADS=str(threads))
                    with busy(load):
                        _, out = wall(musicrnn("train", "--data", data, "--out", tmp / "tr", "--force", "--steps", 40,
                                               "--transpose", 0, "-q"), ROOT, env)
                    record(f"train threads{threads} busy{load}", json.loads(out.strip().splitlines()[-1])["train_seconds"])
    med = {k: statistics.median(v) for k, v in res.items()}
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"median of {args.repeats} (training: {max(1, args.repeats // 2)})")
    print("| measurement | median s | runs |\n|---|---|---|")
    for k, v in res.items():
        print(f"| {k} | {med[k]:.3f} | {', '.join(f'{x:.2f}' for x in v)} |")
    for name in trees:
        a, b = med.get(f"{name} sample x10 busy0"), med.get(f"{name} sample x10 busy1")
        if a and b:
            print(f"{name}: sampling slowdown beside a busy process {b / a:.2f}x")
    for t in (1, 2):
        a, b = med.get(f"train threads{t} busy0"), med.get(f"train threads{t} busy1")
        if a and b:
            print(f"training at {t} thread(s): slowdown beside a busy process {b / a:.2f}x")
    print(json.dumps({"medians": med, "runs": res}))


if __name__ == "__main__":
    main()

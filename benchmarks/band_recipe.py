"""Issue 21's check on a folder of songs nobody here arranged: the README's custom-folder
recipe, then 20 samples of 30 s, compared with the songs' own first 30 s.

    .venv/bin/python benchmarks/band_recipe.py /usr/share/games/openttd/baseset/openmsx --out runs/recipe-openmsx
    .venv/bin/python benchmarks/band_recipe.py FOLDER --out RUN --skip-train   # sample and measure an existing RUN

Runs, as a user would (each command printed):
    musicrnn train --data FOLDER --out RUN <RECIPE>
    musicrnn sample --checkpoint RUN --num 20 --seconds 30 --seed 0 --out RUN/samples/s.mid
and prints one table: per-piece medians (means for shares) of the songs' openings and of
the samples, each target and whether it is met.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from musicrnn.codec import MidiError, Vocab, encode, iter_midi_files, read_midi  # noqa: E402
from musicrnn.tasks import musicstats as ms  # noqa: E402

RECIPE = ["--init", "checkpoints/band", "--minutes", "6", "--transpose", "0", "--patience", "3"]


def stats_of(files, seconds: float, vocab: Vocab) -> list[dict]:
    rows = []
    for f in files:
        try:
            s = read_midi(f)
        except MidiError:
            continue
        s.cut_at(seconds)
        rows.append(ms.piece_stats(encode(s, vocab), vocab))
    return rows


def run(cmd: list[str]) -> subprocess.CompletedProcess:
    print("$ " + " ".join(shlex.quote(str(c)) for c in cmd), flush=True)
    r = subprocess.run([str(c) for c in cmd], cwd=ROOT, capture_output=True, text=True)
    if r.returncode:
        sys.exit(f"failed ({r.returncode}):\n{r.stderr[-3000:]}")
    return r


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder")
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--skip-train", action="store_true")
    ap.add_argument("--num", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--recipe", default=" ".join(RECIPE), help="train flags (default: the README's recipe)")
    ap.add_argument("--sample-flags", default="", help="more sample flags (default none: the recipe's own sampling)")
    args = ap.parse_args()
    musicrnn = str(Path(sys.executable).with_name("musicrnn"))
    timing = {}
    if not args.skip_train:
        t = time.perf_counter()
        run([musicrnn, "train", "--data", args.folder, "--out", args.out, "--force", "-q", *shlex.split(args.recipe)])
        timing["train_s"] = round(time.perf_counter() - t, 1)
    samples = args.out / "samples"
    samples.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    r = run([musicrnn, "sample", "--checkpoint", args.out, "--num", args.num, "--seconds", args.seconds,
             "--seed", args.seed, "--out", samples / "s.mid", *shlex.split(args.sample_flags)])
    timing["sample_s"] = round(time.perf_counter() - t, 1)
    pieces = json.loads(r.stdout)
    invalid = sum(p["invalid_tokens"] for p in pieces) / max(1, sum(p["tokens"] for p in pieces))
    vocab = Vocab()
    songs = stats_of(iter_midi_files([args.folder]), args.seconds, vocab)
    gen = stats_of(sorted(samples.glob("s_*.mid")), args.seconds, vocab)

    def med(rows, k):
        return float(np.nanmedian([r[k] for r in rows]))

    def mean(rows, k):
        return float(np.nanmean([r[k] for r in rows]))

    lines = [("instruments per piece (median)", med, "instruments", lambda s, g: abs(g - s) <= 1, "within 1"),
             ("pieces with drums (share)", mean, "has_drums", lambda s, g: g >= s - 1e-9, ">= songs'"),
             ("drum bars repeating an earlier bar (mean)", mean, "drum_bar_repeat_rate", lambda s, g: g >= 0.75 * s,
              ">= 0.75x"),
             ("pitched bars repeating an earlier bar (mean)", mean, "bar_repeat_rate", lambda s, g: g >= 0.5 * s,
              ">= 0.5x"),
             ("aligned 2-bar phrase repeats (mean)", mean, "aligned_phrase_repeat_rate", None, ""),
             ("scale consistency (mean)", mean, "scale_consistency", lambda s, g: abs(g - s) <= 0.03, "within 0.03"),
             ("notes per bar (mean)", mean, "notes_per_bar", None, ""),
             ("pitch range, semitones (mean)", mean, "pitch_range", None, "")]
    print(f"\n{args.folder}: {len(songs)} songs' first {args.seconds:g} s against {len(gen)} samples "
          f"({args.out}, seed {args.seed})")
    print(f"| statistic | songs | samples | target | met |\n|---|---:|---:|---|---|")
    met = {}
    for name, f, k, ok, target in lines:
        s, g = f(songs, k), f(gen, k)
        met[k] = None if ok is None else bool(ok(s, g))
        print(f"| {name} | {s:.3f} | {g:.3f} | {target} | {'' if ok is None else ('yes' if met[k] else 'NO')} |")
    met["invalid"] = invalid < 0.005
    print(f"| invalid tokens (all samples) | 0 | {invalid:.4f} | < 0.005 | {'yes' if met['invalid'] else 'NO'} |")
    sampling = json.loads((args.out / "config.json").read_text()).get("sampling") or {}
    tuning = sampling.get("tuning") or {}
    print(json.dumps({"folder": args.folder, "run": str(args.out), **timing, "met": met,
                      "temperature": sampling.get("temperature"), "repeat_weight": sampling.get("repeat_weight"),
                      "tuning_got": tuning.get("got"), "tuning_target": tuning.get("target")}))


if __name__ == "__main__":
    main()

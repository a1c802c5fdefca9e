"""How far a fitted sampler's batches land from issue 21's targets: the fitting
(``tasks.music.tune_sampling``) run again on trained models with several of its own seeds,
each choice then drawn in many batches of 20 x 30 s, each batch checked against the
folder's songs as ``benchmarks/band_recipe.py`` checks one.

    .venv/bin/python benchmarks/tune_noise.py runs/mine=/usr/share/games/openttd/baseset/openmsx \
        --fit-seeds 1000003 2000003 3000003 --batches 10 --out runs/tune-noise.jsonl

Prints per fit: the choice, what its batches got on average (as a ratio of the songs' value
for the repeat rates), and how many batches missed each target. Appends one JSON line per
fit to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from band_recipe import stats_of  # noqa: E402

from musicrnn.codec import Vocab, iter_midi_files  # noqa: E402
from musicrnn.tasks import music  # noqa: E402
from musicrnn.tasks import musicstats as ms  # noqa: E402

CHECKS = {  # statistic: (how the batch summarises it, met(songs, batch))
    "instruments": (np.nanmedian, lambda s, g: abs(g - s) <= 1),
    "has_drums": (np.nanmean, lambda s, g: g >= s - 1e-9),
    "drum_bar_repeat_rate": (np.nanmean, lambda s, g: g >= 0.75 * s),
    "bar_repeat_rate": (np.nanmean, lambda s, g: g >= 0.5 * s),
    "scale_consistency": (np.nanmean, lambda s, g: abs(g - s) <= 0.03),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", help="RUN=FOLDER: a trained run and the folder it was trained on")
    ap.add_argument("--fit-seeds", type=int, nargs="+", default=[music.TUNE_SEED])
    ap.add_argument("--batches", type=int, default=10)
    ap.add_argument("--num", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    for spec in args.runs:
        run, folder = spec.split("=", 1)
        meta = json.loads((Path(run) / "config.json").read_text())
        vocab = music._vocab_of(run, meta)
        d = meta["data"]
        corpus = music.load_corpus(folder, vocab, d["valid_fraction"], d["test_fraction"])
        songs = stats_of(iter_midi_files([folder]), args.seconds, Vocab())
        ref = {k: CHECKS[k][0]([r[k] for r in songs]) for k in CHECKS}
        for fit_seed in args.fit_seeds:
            with tempfile.TemporaryDirectory() as tmp:
                ck = Path(tmp) / "run"
                shutil.copytree(run, ck)
                music.TUNE_SEED = fit_seed
                t = time.perf_counter()
                choice = music.tune_sampling(ck, corpus.train + corpus.valid + corpus.test, vocab, log=lambda m: print(m, flush=True))
                fit_s = time.perf_counter() - t
                stepper, vocab2, meta2 = music.load_generator(ck)
            temp = music.sampling_temperature(meta2)
            rw = music.sampling_repeat_weight(meta2)
            dw = music.sampling_drums_weight(meta2)
            got, misses = [], {k: 0 for k in CHECKS}
            for b in range(args.batches):
                gen = music.generate(stepper, vocab2, n=args.num, seconds=args.seconds, temperature=temp,
                                     seed=7_000_000 + 1000 * b, repeat_weight=rw, drums_weight=dw)
                rows = [ms.piece_stats(g, vocab2) for g in gen]
                batch = {k: float(CHECKS[k][0]([r[k] for r in rows])) for k in CHECKS}
                got.append(batch)
                for k, (_, ok) in CHECKS.items():
                    misses[k] += not ok(ref[k], batch[k])
            mean = {k: float(np.mean([g[k] for g in got])) for k in CHECKS}
            sd = {k: float(np.std([g[k] for g in got], ddof=1)) for k in CHECKS}
            rec = {"run": run, "fit_seed": fit_seed, "fit_s": round(fit_s, 1), "temperature": temp,
                   "repeat_weight": rw, "drums_weight": dw, "songs": ref, "batches": args.batches,
                   "mean": mean, "batch_sd": sd, "misses": misses, "tuning_got": choice.get("got"),
                   "tuning_target": choice.get("target"), "settings": len(choice.get("tried", []))}
            print(f"{run} fit seed {fit_seed}: T {temp:g}, weights {rw}, drums {dw:g} ({fit_s:.0f} s, "
                  f"{rec['settings']} settings); batches: drums rep {mean['drum_bar_repeat_rate']:.3f} "
                  f"({mean['drum_bar_repeat_rate'] / ref['drum_bar_repeat_rate']:.2f}x, sd {sd['drum_bar_repeat_rate']:.3f}), "
                  f"bars rep {mean['bar_repeat_rate']:.3f} ({mean['bar_repeat_rate'] / ref['bar_repeat_rate']:.2f}x, "
                  f"sd {sd['bar_repeat_rate']:.3f}), scale {mean['scale_consistency']:.3f} "
                  f"(songs {ref['scale_consistency']:.3f}, sd {sd['scale_consistency']:.3f}); "
                  f"misses of {args.batches}: {misses}", flush=True)
            if args.out:
                with open(args.out, "a") as f:
                    f.write(json.dumps(rec) + "\n")


if __name__ == "__main__":
    main()

"""The ablation runner: every variant trained with every seed (the same seed list for
each), then mean, standard deviation, 95% confidence interval and paired tests.

Runs are deterministic and resumable: a finished run (OUT/<variant>/seed<k>/metrics.json)
is read back instead of retrained, so re-running gives identical numbers.

Every score comes from the exact scorer (each held-out token once, independent of
``--batch`` and ``--bptt``): validation bits/token picks each run's best checkpoint, and
test bits/token is that checkpoint's score on the test files, measured once. Where a
table holds several comparisons, Holm-adjusted p-values stand beside the raw ones.

Besides the losses, each run's best checkpoint is scored on the validation pieces for
calibration (accuracy, mean confidence, expected calibration error; cached in
calibration.json), and the experiment draws one reliability diagram per variant with the
bins pooled over seeds.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np

from ..codec import Vocab
from ..core.calibration import calibration_report
from ..core.errors import DataError
from ..core.stats import holm, paired, summarize
from ..core.train import TrainConfig
from ..core.checkpoint import read_config
from .music import Corpus, changed_settings, load_corpus, load_model, train_music

# metric -> which direction is better
METRICS = {"valid_bits_per_token": "lower", "test_bits_per_token": "lower", "train_bits_per_token_last50": "lower",
           "valid_ece": "lower", "valid_accuracy": "higher", "valid_mean_confidence": "(compare with accuracy)"}


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._=-]+", "_", name) or "baseline"


def run_one(data, out: Path, mcfg: dict, tcfg: TrainConfig, valid_fraction: float, test_fraction: float,
            max_transpose: int, log, corpus: Corpus) -> dict:
    done = out / "metrics.json"
    if done.is_file() and json.loads(done.read_text()).get("finished"):
        _check_same_settings(out, mcfg, tcfg, valid_fraction, test_fraction, max_transpose)
        summary = json.loads(done.read_text())
    else:
        summary = train_music(data, out, mcfg, tcfg, valid_fraction=valid_fraction, test_fraction=test_fraction,
                              max_transpose=max_transpose, resume=(out / "last" / "train_state.json").is_file(),
                              force=True, log=lambda m: None, corpus=corpus)
    hist = summary["loss_history"]
    cal = _calibration(out, corpus.valid)
    return {"valid_bits_per_token": summary["best_valid_bits_per_token"],
            "test_bits_per_token": summary.get("test_bits_per_token", float("nan")),
            "train_bits_per_token_last50": float(np.mean(hist[-50:]) / math.log(2)),
            "valid_ece": cal["ece"], "valid_accuracy": cal["accuracy"], "valid_mean_confidence": cal["mean_confidence"],
            "train_seconds": summary["train_seconds"], "steps": summary["steps"]}


def _check_same_settings(out: Path, mcfg: dict, tcfg: TrainConfig, valid_fraction: float, test_fraction: float,
                         max_transpose: int) -> None:
    """A finished run is only reused if it was trained with exactly these settings."""
    data = {"valid_fraction": valid_fraction, "test_fraction": test_fraction, "max_transpose": max_transpose}
    diffs = [k for k, _, _ in changed_settings(read_config(out), mcfg, tcfg, data, ("device",))]
    if diffs:
        raise DataError(f"{out}: a finished run with other settings ({', '.join(diffs)}); use a new --out")


def _calibration(out: Path, valid_seqs) -> dict:
    path = out / "calibration.json"
    if path.is_file():
        return json.loads(path.read_text())
    model, _, _ = load_model(out)
    rep = calibration_report(model, valid_seqs)
    path.write_text(json.dumps(rep) + "\n")
    return rep


def run_experiment(data, out, configs: dict, seeds: list[int], valid_fraction: float = 0.1, test_fraction: float = 0.1,
                   log=print) -> dict:
    """configs: variant name -> (model config dict, TrainConfig, max_transpose)."""
    out = Path(out)
    corpus = load_corpus(data, Vocab(), valid_fraction, test_fraction)  # encoded once, for every run
    runs: dict[str, dict[int, dict]] = {}
    for name, (mcfg, tcfg, transpose) in configs.items():
        runs[name] = {}
        for seed in seeds:
            cfg = TrainConfig(**{**tcfg.__dict__, "seed": seed})
            log(f"{name or 'baseline'} seed {seed}")
            runs[name][seed] = run_one(data, out / _slug(name) / f"seed{seed}", mcfg, cfg, valid_fraction,
                                       test_fraction, transpose, log, corpus)
    names = list(configs)
    result = {"data": str(data), "seeds": seeds, "variants": names,
              "configs": {n: {"model": c[0], "train": {k: v for k, v in c[1].__dict__.items() if k != "seed"},
                              "transpose": c[2]} for n, c in configs.items()},
              "runs": {n: {str(s): r for s, r in runs[n].items()} for n in names},
              "summary": {n: {m: summarize([runs[n][s][m] for s in seeds]) for m in METRICS} for n in names},
              "paired_vs_first": {n: {m: paired([runs[names[0]][s][m] for s in seeds], [runs[n][s][m] for s in seeds])
                                      for m in METRICS} for n in names[1:]}}
    (out / "results.json").write_text(json.dumps(result, indent=1) + "\n")
    (out / "results.md").write_text(markdown(result))
    plot(result, out / "results.png")
    plot_pooled_reliability({n: [out / _slug(n) / f"seed{s}" / "calibration.json" for s in seeds] for n in names},
                            out / "reliability.png")
    return result


def plot_pooled_reliability(runs: dict[str, list[Path]], path: Path) -> None:
    """One curve per variant: confidence bins summed over its seeds' calibration reports."""
    from ..core.calibration import plot_reliability

    pooled = {}
    for name, files in runs.items():
        reps = [json.loads(f.read_text()) for f in files]
        count = np.sum([r["bins"]["count"] for r in reps], 0)
        w = lambda key: np.sum([np.array(r["bins"][key]) * r["bins"]["count"] for r in reps], 0) / np.maximum(count, 1)
        conf, acc = w("confidence"), w("accuracy")
        ece = float(np.sum(count / max(count.sum(), 1) * np.abs(acc - conf)))
        pooled[f"{name or 'baseline'}, {len(reps)} seeds"] = {
            "ece": ece, "bins": {"count": count.tolist(), "confidence": conf.tolist(), "accuracy": acc.tolist()}}
    plot_reliability(pooled, path)


def markdown(r: dict) -> str:
    lines = [f"# Experiment on `{r['data']}` — seeds {r['seeds'][0]}..{r['seeds'][-1]} ({len(r['seeds'])})", ""]
    for m, better in METRICS.items():
        if m not in r["summary"][r["variants"][0]]:
            continue
        note = f"{better} is better" if better in ("lower", "higher") else better
        lines += [f"## {m} ({note})", "", "| variant | mean | std | 95% CI |", "|---|---|---|---|"]
        for n in r["variants"]:
            s = r["summary"][n][m]
            lines.append(f"| {n or 'baseline'} | {s['mean']:.4f} | {s['std']:.4f} | [{s['ci95'][0]:.4f}, {s['ci95'][1]:.4f}] |")
        if r["paired_vs_first"]:
            several = len(r["paired_vs_first"]) > 1
            lines += ["", f"Paired against `{r['variants'][0]}` (same seeds)"
                      + (f"; Holm: adjusted over the {len(r['paired_vs_first'])} comparisons of this table" if several else "")
                      + ":", "",
                      "| variant | mean difference | 95% CI of difference | paired t p |" + (" Holm p |" if several else "")
                      + " Wilcoxon p |", "|---|---|---|---|---|" + ("---|" if several else "")]
            adjusted = holm([p[m]["p_t"] for p in r["paired_vs_first"].values()])
            for (n, p), h in zip(r["paired_vs_first"].items(), adjusted):
                q = p[m]
                lines.append(f"| {n} | {q['mean_diff']:+.4f} | [{q['ci95_diff'][0]:+.4f}, {q['ci95_diff'][1]:+.4f}] "
                             f"| {q['p_t']:.3g} |" + (f" {h:.3g} |" if several else "") + f" {q['p_wilcoxon']:.3g} |")
        lines.append("")
    return "\n".join(lines)


def plot(r: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(1.6 + 1.4 * len(r["variants"]), 4))
    m = "valid_bits_per_token"
    for i, n in enumerate(r["variants"]):
        vals = [r["runs"][n][str(s)][m] for s in r["seeds"]]
        s = r["summary"][n][m]
        ax.scatter([i] * len(vals), vals, s=14, alpha=0.6)
        ax.errorbar([i + 0.15], [s["mean"]], yerr=[[s["mean"] - s["ci95"][0]], [s["ci95"][1] - s["mean"]]], fmt="o", c="k", capsize=4)
    ax.set_xticks(range(len(r["variants"])), [n or "baseline" for n in r["variants"]], rotation=15, fontsize=8)
    ax.set_ylabel("validation bits/token")
    ax.set_title("per-seed values, mean and 95% CI", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)

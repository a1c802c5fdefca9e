"""The ablation runner: every variant trained with every seed (the same seed list for
each), then mean, standard deviation, 95% confidence interval and paired tests.

Runs are deterministic and resumable: a finished run (OUT/<variant>/seed<k>/metrics.json)
is read back instead of retrained, so re-running gives identical numbers.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np

from ..core.stats import paired, summarize
from ..core.train import TrainConfig
from .music import train_music

METRICS = ("valid_bits_per_token", "train_bits_per_token_last50")


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._=-]+", "_", name) or "baseline"


def run_one(data, out: Path, mcfg: dict, tcfg: TrainConfig, valid_fraction: float, max_transpose: int, log) -> dict:
    done = out / "metrics.json"
    if done.is_file() and json.loads(done.read_text()).get("finished"):
        summary = json.loads(done.read_text())
    else:
        summary = train_music(data, out, mcfg, tcfg, valid_fraction=valid_fraction, max_transpose=max_transpose,
                              resume=(out / "last" / "train_state.json").is_file(), log=lambda m: None)
    hist = summary["loss_history"]
    return {"valid_bits_per_token": summary["best_valid_bits_per_token"],
            "train_bits_per_token_last50": float(np.mean(hist[-50:]) / math.log(2)),
            "train_seconds": summary["train_seconds"], "steps": summary["steps"]}


def run_experiment(data, out, configs: dict, seeds: list[int], valid_fraction: float = 0.1, log=print) -> dict:
    """configs: variant name -> (model config dict, TrainConfig, max_transpose)."""
    out = Path(out)
    runs: dict[str, dict[int, dict]] = {}
    for name, (mcfg, tcfg, transpose) in configs.items():
        runs[name] = {}
        for seed in seeds:
            cfg = TrainConfig(**{**tcfg.__dict__, "seed": seed})
            log(f"{name or 'baseline'} seed {seed}")
            runs[name][seed] = run_one(data, out / _slug(name) / f"seed{seed}", mcfg, cfg, valid_fraction, transpose, log)
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
    return result


def markdown(r: dict) -> str:
    lines = [f"# Experiment on `{r['data']}` — seeds {r['seeds'][0]}..{r['seeds'][-1]} ({len(r['seeds'])})", ""]
    for m in METRICS:
        lines += [f"## {m} (lower is better)", "", "| variant | mean | std | 95% CI |", "|---|---|---|---|"]
        for n in r["variants"]:
            s = r["summary"][n][m]
            lines.append(f"| {n or 'baseline'} | {s['mean']:.4f} | {s['std']:.4f} | [{s['ci95'][0]:.4f}, {s['ci95'][1]:.4f}] |")
        if r["paired_vs_first"]:
            lines += ["", f"Paired against `{r['variants'][0]}` (same seeds):", "",
                      "| variant | mean difference | 95% CI of difference | paired t p | Wilcoxon p |", "|---|---|---|---|---|"]
            for n, p in r["paired_vs_first"].items():
                q = p[m]
                lines.append(f"| {n} | {q['mean_diff']:+.4f} | [{q['ci95_diff'][0]:+.4f}, {q['ci95_diff'][1]:+.4f}] "
                             f"| {q['p_t']:.3g} | {q['p_wilcoxon']:.3g} |")
        lines.append("")
    return "\n".join(lines)


def plot(r: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(1.6 + 1.4 * len(r["variants"]), 4))
    m = METRICS[0]
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

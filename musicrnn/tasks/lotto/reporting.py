"""The report: Markdown (report.md), JSON and a plot (report.png) of model or experiment folders
against chance (:func:`report`)."""

from __future__ import annotations

import json
from pathlib import Path

from ...core.errors import SettingsError
from .evaluation import evaluate
from .stats import CHANCE, _pooled


def _fmt_p(p: float) -> str:
    return "< 1e-300" if p == 0 else f"{p:.3g}"


def report(dirs, out_dir) -> Path:
    """Evaluate each model folder in ``dirs`` (an experiment folder: each of its runs; on its own test split) and write
    ``out_dir/report.md`` (per-run table, per-source summary over seeds), ``report.json``
    and ``report.png``. Returns the Markdown's path."""
    from ...core.stats import holm, summarize

    from ...core.experiment import expand_runs, run_label

    dirs = expand_runs(dirs)
    if not dirs:
        raise SettingsError("no model folders to report on")
    rows = [evaluate(d) for d in dirs]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    groups: dict[str, list[dict]] = {}  # an experiment's variants, else the runs by source
    for r in rows:
        groups.setdefault(_group(r), []).append(r)
    summary = {}
    for g, rs in groups.items():
        s = summarize([r["mean_matches"] for r in rs])
        # pooling the runs' draws is a valid test only when they scored different histories
        independent = len({r["history_sha"] for r in rs}) == len(rs)
        pooled = None
        if independent and len(rs) > 1:
            n = sum(r["draws_scored"] for r in rs)
            total = sum(r["total_matches"] for r in rs)
            pooled = _pooled(total, n)
        summary[g] = {"runs": len(rs), "mean_matches": s, "pooled": pooled}
    adj = holm([r["p_value"] for r in rows])
    for r, a in zip(rows, adj):
        r["p_holm"] = a
    lines = ["# Lotto Max: next-draw prediction against chance", "",
             f"Chance: {CHANCE:.2f} matches per draw (7 predicted of 50 against 7 drawn, hypergeometric mean "
             "7*7/50). p: one-sided exact test of the total matches against the sum of i.i.d. hypergeometric "
             "counts (Holm: adjusted over the runs of this table). 95% CI of a run: Student t over its scored "
             "draws; of a source: Student t over its runs (seeds).", "",
             "| run | source | seed | data seed | draws scored | mean matches | 95% CI | z | p | Holm p |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {run_label(r['model_dir'])} | {r['generator']} | {r['seed']} | {r['data_seed']} | "
                     f"{r['draws_scored']} | {r['mean_matches']:.3f} | [{r['ci95_low']:.3f}, {r['ci95_high']:.3f}] | "
                     f"{r['z']:+.2f} | {_fmt_p(r['p_value'])} | {_fmt_p(r['p_holm'])} |")
    lines += ["", "Per variant (an experiment's) or source: the runs' mean matches averaged over seeds; pooled: all "
              "their scored draws in one test, exact up to 10,000 draws (only when every run scored a different history).", "",
              "| variant or source | runs | mean of mean matches | 95% CI over runs | pooled draws | pooled mean | pooled p |",
              "|---|---|---|---|---|---|---|"]
    for g, s in summary.items():
        m, p = s["mean_matches"], s["pooled"]
        ci = f"[{m['ci95'][0]:.3f}, {m['ci95'][1]:.3f}]" if m["n"] > 1 else "—"
        approx = "" if not p or p.get("test", "exact") == "exact" else " (normal approx.)"
        pooled = (f"{p['draws_scored']} | {p['mean_matches']:.3f} | {_fmt_p(p['p_value'])}{approx}" if p
                  else "— | — | " + ("— (one run)" if s["runs"] == 1 else "— (runs share a history)"))
        lines.append(f"| {g} | {s['runs']} | {m['mean']:.3f} | {ci} | {pooled} |")
    lines += ["", "![mean matches per run](report.png)", ""]
    md = out_dir / "report.md"
    md.write_text("\n".join(lines))
    (out_dir / "report.json").write_text(json.dumps({"runs": rows, "summary": summary, "chance": CHANCE},
                                                    indent=1, default=str) + "\n")
    _plot(rows, out_dir / "report.png")
    return md


def _group(r: dict) -> str:
    """A run's group in the report: its experiment variant (the folder above ``seedN``), else its source."""
    from ...core.experiment import variant_of

    return variant_of(r["model_dir"]) or r["generator"]


def _plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sources = list(dict.fromkeys(_group(r) for r in rows))
    fig, ax = plt.subplots(figsize=(2 + 1.5 * len(sources), 4))
    for i, g in enumerate(sources):
        rs = [r for r in rows if _group(r) == g]
        for j, r in enumerate(rs):
            xpos = i + (j - (len(rs) - 1) / 2) * 0.12
            ax.errorbar([xpos], [r["mean_matches"]], yerr=[[r["mean_matches"] - r["ci95_low"]],
                                                           [r["ci95_high"] - r["mean_matches"]]],
                        fmt="o", capsize=3, c=f"C{i}")
    ax.axhline(CHANCE, color="k", ls="--", lw=1, label=f"chance {CHANCE:.2f}")
    ax.set_xticks(range(len(sources)), sources, rotation=15 if len(sources) > 3 else 0, fontsize=8)
    ax.set_ylabel("mean matches per draw (top 7)")
    ax.set_title("held-out draws: each run with its 95% CI", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)

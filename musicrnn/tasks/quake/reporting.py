"""The report: Markdown (report.md), JSON and ROC / busiest-cell plots (report.png) of model or
experiment folders (:func:`report`)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ...core.errors import DataError
from .cells import cell_center
from .evaluation import _evaluate
from .metrics import _fmt, historical_rate, roc_points, yesterday


def _source_line(m: dict, meta: dict) -> str:
    syn = meta["data"].get("synthetic")
    if syn:
        return (f"**synthetic**: an ETAS catalog simulated by `etas_catalog` ({syn['etas_days'] / 365:g} years, "
                f"data seed {syn['seed']}), not real earthquakes")
    return f"real catalog `{m['catalog']}`"


def _group(m: dict) -> str:
    """A run's group in the report: its experiment variant (the folder above ``seedN``), else its loss."""
    from ...core.experiment import variant_of

    return variant_of(m["model_dir"]) or m["loss"]


def _plot_report(evals: list[tuple[dict, dict]], path: Path) -> None:
    """ROC curves at M >= 0 and M >= 5 of every run (one colour per variant) against the
    baselines (on the first run's data), and the busiest test cell: what happened, and the
    forecast of each variant's first run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(16, 4.8))
    _, a0 = evals[0]
    series, tt = a0["series"], a0["test_start"]
    actual = series[tt:]
    several = len({a["meta"]["data"]["catalog_sha256"] for _, a in evals}) > 1
    groups = list(dict.fromkeys(_group(m) for m, _ in evals))
    firsts = {}
    for ax, t in zip(axes[:2], (0.0, 5.0)):
        pos = actual >= t
        for m, a in evals:  # each run against its own catalog's days
            g = groups.index(_group(m))
            fpr, tpr = roc_points(a["series"][a["test_start"]:] >= t, a["pred"][a["test_start"]:])
            first = firsts.setdefault((t, g), m["model_dir"]) == m["model_dir"]
            ax.plot(fpr, tpr, c=f"C{g % 10}", lw=1, alpha=0.7, label=groups[g] if first else None)
        for name, sc, style in (("historical rate", historical_rate(series, tt, t), {"c": "k", "ls": "--"}),
                                ("any-quake rate", historical_rate(series, tt, 0.0), {"c": "k", "ls": "-."}),
                                ("yesterday", yesterday(series, tt), {"c": "grey", "ls": ":"})):
            if name == "any-quake rate" and t == 0.0:
                continue  # the same as the historical rate
            fpr, tpr = roc_points(pos, sc)
            ax.plot(fpr, tpr, lw=1.4, label=name + (" (first run's data)" if several else ""), **style)
        ax.plot([0, 1], [0, 1], c="lightgrey", lw=0.8)
        ax.set_xscale("symlog", linthresh=1e-3)
        ax.set_xlim(0, 1)
        ax.set_xticks([0, 1e-3, 1e-2, 1e-1, 1], ["0", "0.001", "0.01", "0.1", "1"])  # no mathtext labels
        ax.set_xlabel("false-positive rate (symlog)")
        ax.set_ylabel("true-positive rate")
        ax.set_title(f"ROC, 'M >= {t:g} tomorrow in this cell' ({int(pos.sum())} positives)", fontsize=9)
        ax.legend(fontsize=7, loc="upper left")
    busiest = int(np.argmax((actual >= 0).sum(0)))
    cell = int(a0["meta"]["quake"]["cells"][busiest])
    d = a0["days"][tt:].astype("datetime64[D]").astype(object)
    ax = axes[2]
    ax.plot(d, actual[:, busiest], ".", ms=3, c="k", label="actual")
    shown = set()
    for m, a in evals:  # each variant's first run on the same catalog and days, if it has that cell
        g = groups.index(_group(m))
        cells = a["meta"]["quake"]["cells"]
        if (g in shown or a["meta"]["data"]["catalog_sha256"] != a0["meta"]["data"]["catalog_sha256"]
                or a["test_start"] != tt or cell not in cells):
            continue
        shown.add(g)
        ax.plot(d, a["pred"][tt:, cells.index(cell)], lw=1, c=f"C{g % 10}", label=f"forecast, {groups[g]}")
    lat, lon = cell_center(cell)
    ax.set_title(f"busiest test cell ({float(lat):g}, {float(lon):g}); -1 = no quake", fontsize=9)
    ax.set_ylabel("magnitude of the day's summed energy")
    ax.legend(fontsize=7)
    for label in ax.get_xticklabels():
        label.set_rotation(30)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def report(paths, out_dir) -> Path:
    """A Markdown report (OUT_DIR/report.md, returned; report.json; report.png) of quake model
    folders or experiment folders (each run of one): per run, the model's AUC, hit precision /
    recall and how often it forecasts a quake, at M >= 0 and, separately, M >= 5, beside the
    baselines on the same days and cells; per loss, the mean and 95% CI over seeds; whether the
    catalog is synthetic or real, said in so many words."""
    from ...core.experiment import expand_runs, run_label
    from ...core.stats import summarize

    dirs = expand_runs(paths)
    if not dirs:
        raise DataError("no model folders to report on")
    evals = [_evaluate(d) for d in dirs]
    rows = [m for m, _ in evals]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    sources = list(dict.fromkeys(_source_line(m, a["meta"]) for m, a in evals))
    f = lambda v: _fmt(v)
    lines = ["# Earthquake forecasts: next day, 2-degree cells", "",
             "Data: " + "; ".join(sources) + ".", "",
             f"Test period {rows[0]['test_from']} .. {rows[0]['test_to']} ({rows[0]['test_days']} days), "
             f"{rows[0]['cells']} active cells. A cell-day's value is the magnitude of its summed energy "
             "(-1: no quake). AUC: ROC area of the forecast as a score for 'M >= t in this cell tomorrow'. "
             "Hit precision / recall: the original predictor's rule (a hit when the forecast is within +-1.0 of "
             "the actual value, counted where either is >= t). Baselines, on the same days and cells: each "
             "cell's rate of M >= t over the days before the test period (training and validation; historical "
             "rate), its rate of any quake over those days (any-quake rate; usually the stronger one for M >= 5, "
             "as large quakes happen where quakes are frequent) and yesterday's value.", ""]
    for t in ("M>=0", "M>=5"):
        lines += [f"## {t}" + (" (the rare large quakes)" if t == "M>=5" else ""), "",
                  "| run | loss | seed | positives | model AUC | forecasts >= t | hit precision | hit recall "
                  "| historical-rate AUC | any-quake-rate AUC | yesterday AUC | yesterday hit precision / recall |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for m in rows:
            g = lambda k, who="model": m.get(f"{who}_{t}_{k}")
            lines.append(f"| {run_label(m['model_dir'])} | {m['loss']} | {m['seed']} "
                         f"| {g('positives')} | {f(g('auc'))} | {g('predicted')} | {f(g('precision'))} "
                         f"| {f(g('recall'))} | {f(g('auc', 'historical_rate'))} | {f(g('auc', 'any_quake_rate'))} "
                         f"| {f(g('auc', 'yesterday'))} | {f(g('precision', 'yesterday'))} / {f(g('recall', 'yesterday'))} |")
        lines.append("")
    groups: dict[str, list[dict]] = {}  # an experiment's arms, else the runs by loss
    for m in rows:
        groups.setdefault(_group(m), []).append(m)
    if any(len(v) > 1 for v in groups.values()):
        lines += ["## Over seeds", "", "Mean and 95% CI (Student t over the runs) of the model's AUC against the "
                  "better of the two rate baselines (one number each: they have no seed).", "",
                  "| variant | runs | AUC M>=0 | AUC M>=5 | best rate baseline M>=0 / M>=5 | runs above it "
                  "(M>=0 / M>=5) |", "|---|---|---|---|---|---|"]
        for key, ms in groups.items():
            cells, best, beats = [], [], []
            for t in ("M>=0", "M>=5"):
                vals = [np.nan if m[f"model_{t}_auc"] is None else m[f"model_{t}_auc"] for m in ms]
                sm = summarize(vals)
                cells.append("n/a" if np.isnan(sm["mean"]) else f"{sm['mean']:.3f} [{sm['ci95'][0]:.3f}, "
                             f"{sm['ci95'][1]:.3f}]" if len(ms) > 1 else f"{sm['mean']:.3f}")
                b = max((v for v in (ms[0][f"historical_rate_{t}_auc"], ms[0][f"any_quake_rate_{t}_auc"])
                         if v is not None), default=None)  # None: no positives in the test days
                best.append(b)
                beats.append(sum(v > b for v in vals) if b is not None else 0)
            lines.append(f"| {key} | {len(ms)} | {cells[0]} | {cells[1]} | {f(best[0])} / {f(best[1])} "
                         f"| {beats[0]}/{len(ms)} / {beats[1]}/{len(ms)} |")
        lines.append("")
    lines += ["![ROC curves and the busiest cell](report.png)", ""]
    md = out_dir / "report.md"
    md.write_text("\n".join(lines))
    (out_dir / "report.json").write_text(json.dumps({"runs": rows, "sources": sources}, indent=1) + "\n")
    _plot_report(evals, out_dir / "report.png")
    return md

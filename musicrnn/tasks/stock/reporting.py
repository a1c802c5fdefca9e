"""The report: Markdown (report.md) and equity curves (equity.png) of a checkpoint or an experiment
(:func:`report`)."""

from __future__ import annotations

import json
import math
from pathlib import Path

from .evaluation import METRICS, _evaluate
from .stats import summarise_runs


def _pct(v) -> str:
    return "n/a" if v is None or not math.isfinite(v) else f"{100 * v:+.2f}%"


def _plot(curves: dict[str, tuple], path: Path, title: str) -> None:
    """curves: label -> (dates, equity, style dict)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4.5))
    for label, (d, eq, style) in curves.items():
        ax.plot(d.astype("datetime64[D]").astype(object), eq, label=label, **style)
    ax.set_yscale("log")
    from matplotlib.ticker import FuncFormatter, NullFormatter

    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_ylabel("wealth (1 = start of the test period)")
    ax.set_title(title, fontsize=9)
    handles, labels = ax.get_legend_handles_labels()
    keep = [(h, lab) for h, lab in zip(handles, labels) if not lab.startswith("_")]
    ax.legend(*zip(*keep), fontsize=8, loc="upper left")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def report(path, out_dir, *, cost: float | None = None) -> Path:
    """A Markdown report (OUT_DIR/report.md, returned) with a table and an equity-curve plot
    (OUT_DIR/equity.png) of the strategies against buy-and-hold, for one stock checkpoint
    or for an :func:`experiment` folder (every seed's long/cash curve, the best by
    validation loss drawn bold). ``cost``: default 0 for a checkpoint, the experiment's own
    for an experiment (another cost re-evaluates every run with it)."""
    path, out_dir = Path(path), Path(out_dir)
    if (path / "results.json").is_file():
        return _report_experiment(path, out_dir, cost)
    m, c = _evaluate(path, cost=cost or 0.0)
    out_dir.mkdir(parents=True, exist_ok=True)
    d = c["dates"]
    _plot({"long/cash": (d, c["long_cash"], {"lw": 1.2}), "long/short": (d, c["long_short"], {"lw": 1.0}),
           "buy-and-hold": (d, c["buy_hold"], {"c": "k", "lw": 1.4})}, out_dir / "equity.png",
          f"{'stateful' if m['stateful'] else 'stateless'} RNN seed {m['seed']}, cost {m['cost']:g}/trade")
    verdict = "beats" if m["excess_long_cash"] > 0 else "does not beat"
    lines = [f"# Stock model `{path}`", "",
             f"Test period {m['test_from']} .. {m['test_to']} ({m['test_days']} trading days, {m['years']:.2f} years), "
             f"data `{m['data']}`, cost {m['cost']:g} per trade.", "",
             "| strategy | annualised yield | total return | trades |", "|---|---|---|---|",
             f"| long/cash | {_pct(m['annualised_long_cash'])} | {_pct(m['total_long_cash'])} | {m['trades_long_cash']:.0f} |",
             f"| long/short | {_pct(m['annualised_long_short'])} | {_pct(m['total_long_short'])} | {m['trades_long_short']:.0f} |",
             f"| buy-and-hold | {_pct(m['annualised_buy_hold'])} | {_pct(m['total_buy_hold'])} | 1 |", "",
             f"Directional accuracy {m['directional_accuracy']:.4f} (up days: {m['up_day_fraction']:.4f}); "
             f"long on {m['fraction_long']:.1%} of days; test loss {m['test_loss']:.4f} "
             f"(predicting the training mean: {m['test_loss_zero_predictor']:.4f}).", "",
             f"Long/cash {verdict} buy-and-hold over this period (daily excess returns, paired t-test "
             f"p = {m['p_daily_excess_long_cash']:.3g}).", "", "![equity](equity.png)", ""]
    (out_dir / "report.md").write_text("\n".join(lines))
    return out_dir / "report.md"


def _report_experiment(path: Path, out_dir: Path, cost: float | None) -> Path:
    from ...core.experiment import slug
    from ...core.stats import summarize

    r = json.loads((path / "results.json").read_text())
    call = json.loads((path / "stock.json").read_text())["call"] if (path / "stock.json").is_file() else {}
    own = cost is None or cost == call.get("cost", 0.0)
    cost = call.get("cost", 0.0) if cost is None else cost
    evaluated = {arm: {seed: _evaluate(path / slug(arm) / f"seed{seed}", cost=cost) for seed in r["seeds"]}
                 for arm in r["variants"]}
    r = {**r, "runs": {arm: {str(seed): m for seed, (m, _) in e.items()} for arm, e in evaluated.items()}}
    r["summary"] = {arm: {k: summarize([r["runs"][arm][str(seed)][k] for seed in r["seeds"]]) for k in METRICS}
                    for arm in r["variants"]}
    s = summarise_runs(r)
    out_dir.mkdir(parents=True, exist_ok=True)
    curves, first = {}, None
    for i, arm in enumerate(r["variants"]):  # one colour per variant
        best = s[arm]["best_by_valid"]["seed"]
        for seed in r["seeds"]:
            m, c = evaluated[arm][seed]
            first = first or (m, c)
            bold = seed == best
            curves[f"{arm} seed {seed} (best by validation)" if bold else f"_{arm}{seed}"] = (
                c["dates"], c["long_cash"], {"c": f"C{i % 10}", "lw": 1.6 if bold else 0.6, "alpha": 1 if bold else 0.35})
    m0, c0 = first
    curves["buy-and-hold"] = (c0["dates"], c0["buy_hold"], {"c": "k", "lw": 1.6})
    _plot(curves, out_dir / "equity.png", f"long/cash, every seed, cost {cost:g}/trade")
    lines = [f"# Stock experiment `{path}`", "",
             f"Seeds {r['seeds']}; test period {m0['test_from']} .. {m0['test_to']} ({m0['test_days']} days); "
             f"cost {cost:g} per trade; call: `{json.dumps(call)}`.", "",
             "| model | long/cash mean [95% CI] | long/short mean [95% CI] | buy-and-hold | best by validation "
             "(seed: long/cash) | best by test (seed: long/cash) | best distinguishable from the rest? | seeds beating B&H |",
             "|---|---|---|---|---|---|---|---|"]
    for arm, a in s.items():
        lc, ls, bv, bt = a["long_cash"], a["long_short"], a["best_by_valid"], a["best_by_test"]
        lines.append(f"| {arm} | {_pct(lc['mean'])} [{_pct(lc['ci95'][0])}, {_pct(lc['ci95'][1])}] "
                     f"| {_pct(ls['mean'])} [{_pct(ls['ci95'][0])}, {_pct(ls['ci95'][1])}] | {_pct(a['buy_hold'])} "
                     f"| {bv['seed']}: {_pct(bv['annualised_long_cash'])} | {bt['seed']}: {_pct(bt['annualised_long_cash'])} "
                     f"| {'yes' if bt['vs_rest']['outside'] else 'no'} (bound {_pct(bt['vs_rest']['bound'])}, "
                     f"z {bt['vs_rest']['z']:.2f}) | {a['beats_buy_hold']}/{len(r['seeds'])} |")
    lines += ["", "Best distinguishable: the best seed's long/cash yield above the upper bound of a one-sided "
              "prediction interval from the other seeds at level 5%/n (picked as the best of n); z: its distance "
              "from their mean in their standard deviations."]
    consts = {}  # each arm's loss may differ: the constant is scored in the arm's own loss
    for arm in r["variants"]:
        m = evaluated[arm][r["seeds"][0]][0]
        consts.setdefault((round(m["valid_loss_zero_predictor"], 6), round(m["test_loss_zero_predictor"], 6)), []).append(arm)
    const = "; ".join(f"validation loss {v:.4f}, test loss {t:.4f}"
                      + ("" if len(consts) == 1 else f" ({', '.join(arms)})") for (v, t), arms in consts.items())
    lines += ["", f"Always predicting the training mean (a model that learned nothing), in each arm's own loss: "
                  f"{const}; up days in the test period: {m0['up_day_fraction']:.4f} (the directional accuracy of "
                  f"always long).",
              "", "Per seed (long/cash, long/short, directional accuracy, test loss):", "",
              "| model | seed | long/cash | long/short | accuracy | test loss | valid loss |", "|---|---|---|---|---|---|---|"]
    for arm in r["variants"]:
        for seed in r["seeds"]:
            q = r["runs"][arm][str(seed)]
            lines.append(f"| {arm} | {seed} | {_pct(q['annualised_long_cash'])} | {_pct(q['annualised_long_short'])} "
                         f"| {q['directional_accuracy']:.4f} | {q['test_loss']:.4f} | {q['valid_loss']:.4f} |")
    lines += ["", "![equity](equity.png)", ""]
    if own and (path / "results.md").is_file():
        lines += ["The runner's tables (paired stateless - stateful):", "", (path / "results.md").read_text()]
    (out_dir / "report.md").write_text("\n".join(lines))
    return out_dir / "report.md"

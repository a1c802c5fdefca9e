"""The experiment runner, for any task: every arm trained with every seed (the same seed
list for each), then mean, standard deviation, 95% confidence interval and paired tests
against the first arm, with Holm-adjusted p-values where a table holds several
comparisons.

A task hands the runner an object with ``metrics`` (metric name -> "lower", "higher" or a
note; the first is the one plotted), ``run(out, settings, log) -> {metric: value}`` for one
arm and seed (``settings`` holds the seed), and optionally ``finish(out, runs)`` for
task-specific pictures. Arms are dicts of typed settings (``core.settings``). A task's
``run`` is expected to read a finished run back instead of retraining it, so re-running
an experiment gives identical numbers.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from .errors import SettingsError
from .stats import holm, paired, summarize


def slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._=-]+", "_", name) or "baseline"


NOT_VARIED = ("seed", "max_steps")  # an experiment gives every arm the same seeds, and compares finished runs


def setting_name(key: str) -> str:
    """``--grad-scale`` / ``grad-scale`` / ``grad_scale`` -> ``grad_scale``."""
    return key.strip().lstrip("-").replace("-", "_")


def arms(vary: list[str], variant: list[str], fields: dict, parse: dict | None = None) -> dict[str, dict]:
    """Arm name -> the settings it changes, from ``vary`` (``SETTING=V1,V2`` specs: a grid)
    or ``variant`` (each one arm: space-separated ``SETTING=VALUE`` pairs), each value typed
    by its field in ``fields`` (``core.settings.coerce``) or parsed by ``parse[name]``.
    SettingsError (one line) for a setting that cannot vary or a value it cannot take."""
    from .settings import coerce

    fields = {k: f for k, f in fields.items() if k not in NOT_VARIED}
    parse = parse or {}

    def value(name: str, text: str):
        return parse[name](text) if name in parse else coerce(name, fields[name], text)

    def check(item: str, what: str) -> None:
        key = setting_name(item.partition("=")[0])
        if key == "max_steps":
            raise SettingsError(f"{what} {item}: an experiment compares finished runs; vary steps (the run's length), "
                                f"not max_steps (which stops a run before it finishes)")
        if key not in fields:
            raise SettingsError(f"{what} {item}: {key!r} is not a setting that can vary (e.g. activation=tanh,iris)")

    if vary:
        grid = [{}]
        for spec in vary:
            key, _, values = spec.partition("=")
            check(spec, "--vary")
            if not values:
                raise SettingsError(f"--vary {spec}: give a setting and values, e.g. activation=tanh,iris")
            name = setting_name(key)
            opts = [(v, value(name, v)) for v in values.split(",") if v]
            grid = [dict(g, **{name: o}) for g in grid for o in opts]
        return {",".join(f"{k}={text}" for k, (text, _) in g.items()): {k: v for k, (_, v) in g.items()} for g in grid}
    out = {}
    for spec in variant:
        items = spec.split()
        for item in items:
            if "=" not in item:
                raise SettingsError(f"--variant {spec!r}: write FLAG=VALUE pairs, e.g. 'cell=lstm-lite hidden=231'")
            check(item, f"--variant {spec!r}:")
        pairs = [(setting_name(k), v) for k, _, v in (i.partition("=") for i in items)]
        out[",".join(items)] = {name: value(name, v) for name, v in pairs}
    return out


def run_experiment(task, out, arms: dict[str, dict], seeds: list[int], log=print) -> dict:
    """arms: name -> settings (the first arm is the baseline). Writes OUT/results.json,
    results.md and results.png; returns the results."""
    out = Path(out)
    metrics = task.metrics
    runs: dict[str, dict[int, dict]] = {}
    for name, settings in arms.items():
        runs[name] = {}
        for seed in seeds:
            log(f"{name or 'baseline'} seed {seed}")
            runs[name][seed] = task.run(out / slug(name) / f"seed{seed}", {**settings, "seed": seed}, log)
    names = list(arms)
    result = {"data": str(getattr(task, "data", "")), "seeds": seeds, "variants": names, "metrics": metrics,
              "configs": {n: {k: v for k, v in arms[n].items() if k != "seed"} for n in names},
              "runs": {n: {str(s): r for s, r in runs[n].items()} for n in names},
              "summary": {n: {m: summarize([runs[n][s][m] for s in seeds]) for m in metrics} for n in names},
              "paired_vs_first": {n: {m: paired([runs[names[0]][s][m] for s in seeds], [runs[n][s][m] for s in seeds])
                                      for m in metrics} for n in names[1:]}}
    (out / "results.json").write_text(json.dumps(result, indent=1) + "\n")
    (out / "results.md").write_text(markdown(result))
    plot(result, out / "results.png", next(iter(metrics)))
    if hasattr(task, "finish"):
        task.finish(out, {n: [out / slug(n) / f"seed{s}" for s in seeds] for n in names})
    return result


class TaskRuns:
    """The runner's task for a research task (quake, stock, lotto): one arm and seed is one
    ``train(out, **common, **settings)`` run, picked up where it stopped (a run's own resume)
    and read back when it finished, then scored by ``evaluate(out)`` (a flat dict; None is
    read as NaN). ``recorded(out)``: the settings a finished run was trained with, flat; a
    setting of the arm that it records with another value is refused (one line), so a
    re-run experiment never mixes runs of different settings. ``finish(out, runs)``: the
    task's report, written when every run is done. ``source``: the data, as the results name it."""

    def __init__(self, name: str, metrics: dict, train, evaluate, recorded, source="", finish=None, **common):
        self.name, self.metrics, self.data, self.common = name, metrics, source, common
        self._train, self._evaluate, self._recorded = train, evaluate, recorded
        if finish is not None:
            self.finish = finish

    def run(self, out: Path, settings: dict, log) -> dict:
        done = out / "metrics.json"
        if done.is_file() and json.loads(done.read_text()).get("finished"):
            self._check(out, settings)  # before anything is scored
        else:
            resume = (out / "last" / "train_state.json").is_file()
            summary = self._train(out, resume=resume, force=True, progress=False, log=lambda m: None,
                                  **self.common, **settings)
            if not summary["finished"]:  # Ctrl-C: stop the whole experiment; re-running picks this run up
                raise KeyboardInterrupt
            self._check(out, settings)  # a resumed run continues with its own settings: they must be the arm's
        m = self._evaluate(out)
        return {k: float("nan") if v is None else v for k, v in m.items()}

    def _check(self, out: Path, settings: dict) -> None:
        """Refuse (one line) a run whose recorded settings are not the arm's: a setting it does
        not record counts as different; an arm's None means "the task's default" and is not
        compared."""
        from .errors import DataError

        have = self._recorded(out)
        diffs = [f"{k} ({have[k]!r}, not {v!r})" if k in have else f"{k} (not recorded, not {v!r})"
                 for k, v in settings.items() if v is not None and have.get(k, _MISSING) != v]
        if diffs:
            raise DataError(f"{out}: a {self.name} run with other settings: {', '.join(diffs)}; "
                            "use a new experiment folder")


_MISSING = object()


def flat_settings(d: dict) -> dict:
    """A recorded settings dict with its nested dicts (``model``, ``core``) lifted to the top
    level, for comparing with an experiment arm's flat settings (later keys win)."""
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(flat_settings(v))
        else:
            out[k] = v
    return out


def expand_runs(paths) -> list[Path]:
    """Run folders, with an experiment folder (one holding results.json) replaced by its runs
    (every variant, every seed, in the experiment's order)."""
    out = []
    for p in map(Path, paths):
        if (p / "results.json").is_file():
            r = json.loads((p / "results.json").read_text())
            out += [p / slug(n) / f"seed{s}" for n in r["variants"] for s in r["seeds"]]
        else:
            out.append(p)
    return out


def variant_of(run) -> str | None:
    """The experiment variant a run folder belongs to (the folder above its ``seedN``, as
    :func:`run_experiment` lays them out), else None."""
    run = Path(run)
    return run.parent.name if run.name.startswith("seed") else None


def run_label(run) -> str:
    """A run's name in a report: ``variant/seedN`` for an experiment's run, else its folder name."""
    run = Path(run)
    return f"{variant_of(run)}/{run.name}" if variant_of(run) else run.name


def markdown(r: dict) -> str:
    lines = [f"# Experiment on `{r['data']}` — seeds {r['seeds'][0]}..{r['seeds'][-1]} ({len(r['seeds'])})", ""]
    for m, better in r["metrics"].items():
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


def plot(r: dict, path: Path, m: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(1.6 + 1.4 * len(r["variants"]), 4))
    for i, n in enumerate(r["variants"]):
        vals = [r["runs"][n][str(s)][m] for s in r["seeds"]]
        s = r["summary"][n][m]
        ax.scatter([i] * len(vals), vals, s=14, alpha=0.6)
        ax.errorbar([i + 0.15], [s["mean"]], yerr=[[s["mean"] - s["ci95"][0]], [s["ci95"][1] - s["mean"]]], fmt="o", c="k", capsize=4)
    ax.set_xticks(range(len(r["variants"])), [n or "baseline" for n in r["variants"]], rotation=15, fontsize=8)
    ax.set_ylabel(m)
    ax.set_title("per-seed values, mean and 95% CI", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)

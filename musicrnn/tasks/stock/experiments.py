"""Experiments: the experiment runner's task (:func:`experiment_runs`), the settings a run recorded
(:func:`recorded`) and the stateful-vs-stateless :func:`experiment`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

from ...core.errors import DataError, SettingsError
from .data import DEFAULT_CSV, HISTORY
from .evaluation import METRICS, evaluate
from .model import DEFAULT_MODEL, TASK, _stock_meta
from .reporting import report
from .stats import summarise_runs
from .training import train


def recorded(model_dir) -> dict:
    """The settings a stock run was trained with, flat: its model and training configs (every
    field, defaults included) and the task's own settings."""
    from ...core.experiment import flat_settings

    meta = _stock_meta(model_dir)
    own = {k: v for k, v in meta["stock"]["settings"].items() if k not in ("model", "core")}
    return flat_settings({**meta.get("model", {}), **meta.get("train", {}), **own})


def experiment_runs(data=None, steps: int | None = None, minutes: float | None = None, cost: float = 0.0,
                    report: bool = True, **common):
    """The experiment runner's task (``core.experiment.TaskRuns``): one arm = one set of
    ``train`` settings; evaluated with ``cost``; a finished run is read back (it must be on the
    same data). With ``report``, the experiment ends with OUT/report/ (:func:`report`)."""
    from ...core.experiment import TaskRuns

    data = Path(data or DEFAULT_CSV)

    def scored(out):
        m = evaluate(out, data=data, cost=cost)
        if not m["same_data"]:
            raise DataError(f"{out}: a finished run on other data; use a new experiment folder")
        m["steps"] = json.loads((Path(out) / "metrics.json").read_text())["steps"]
        return m

    def finish(out, runs):  # OUT/stock.json (the best runs, distinguishable or not), then the report
        out = Path(out)
        r = json.loads((out / "results.json").read_text())
        call = {"seeds": r["seeds"], "data": str(data), "steps": steps, "minutes": minutes, "cost": cost, **common}
        (out / "stock.json").write_text(json.dumps({"call": call, "stock": summarise_runs(r)}, indent=1) + "\n")
        if report:
            globals()["report"](out, out / "report", cost=cost)

    return TaskRuns(TASK, METRICS, train, scored, recorded, source=data, finish=finish, data=data, steps=steps,
                    minutes=minutes, **common)


def experiment(out, *, seeds=10, data=DEFAULT_CSV, steps: int | None = None, minutes: float | None = None,
               cost: float = 0.0, loss: str = "smooth-l1", hidden: int = DEFAULT_MODEL["hidden"],
               history: int = HISTORY, log: Callable[[str], None] = print, **common) -> dict:
    """The stateful and the stateless RNN, each trained with every seed (``seeds``: a
    count, seeds 0..n-1, or a list), evaluated on the test period. Writes OUT/results.json,
    results.md, results.png (the runner's: mean, std, 95% CI, paired stateless - stateful),
    and OUT/stock.json (:func:`summarise_runs`); returns the results with ``stock`` added.
    ``minutes`` is per run."""
    from ...core.experiment import run_experiment

    seed_list = list(range(seeds)) if isinstance(seeds, int) else [int(s) for s in seeds]
    if len(seed_list) < 2:
        raise SettingsError("an experiment needs at least 2 seeds (for a confidence interval)")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    task = experiment_runs(data, steps, minutes, cost, report=False, loss=loss, hidden=hidden, history=history, **common)
    arms = {"stateful": {"stateful": True}, "stateless": {"stateful": False}}
    result = run_experiment(task, out, arms, seed_list, log=log)
    saved = json.loads((out / "stock.json").read_text())
    return {**result, "stock": saved["stock"], "call": saved["call"]}

"""The experiment runner's task (:func:`experiment_runs`) and the settings a run recorded
(:func:`recorded`)."""

from __future__ import annotations

from pathlib import Path

from ...core.errors import DataError
from .data import GENERATORS, _sha, import_csv
from .evaluation import METRICS, evaluate
from .model import TASK
from .reporting import report
from .training import train


def recorded(model_dir) -> dict:
    """The settings a lotto run was trained with, flat (``core.experiment.flat_settings``)."""
    from ...core.checkpoint import task_config
    from ...core.experiment import flat_settings

    meta = task_config(model_dir, TASK)
    data = {k: v for k, v in meta.get("data", {}).items() if k != "splits"}
    output = (meta.get("objective") or {}).get("output", "sigmoid")
    return flat_settings({**meta.get("model", {}), **meta.get("train", {}), **data, "output": output})


def experiment_runs(data=None, steps: int | None = None, minutes: float | None = None, report: bool = True,
                    **common):
    """The experiment runner's task (``core.experiment.TaskRuns``): one arm = one set of
    ``train`` settings on ``data`` (a CSV of real draws) or, by default, the arm's generator;
    a finished run is read back. With ``report``, the experiment ends with OUT/report/."""
    from ...core.experiment import TaskRuns

    sha = _sha(import_csv(data)) if data is not None else None

    def scored(out):
        have = recorded(out)
        if (have.get("sha") != sha) if sha else have.get("generator") not in GENERATORS:
            raise DataError(f"{out}: a finished run on another history; use a new experiment folder")
        return evaluate(out)

    finish = (lambda out, runs: globals()["report"]([out], Path(out) / "report")) if report else None
    return TaskRuns(TASK, METRICS, train, scored, recorded, source=data or "generated draws", finish=finish,
                    data=data, steps=steps, minutes=minutes, **common)

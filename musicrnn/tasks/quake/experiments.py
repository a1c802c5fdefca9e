"""The experiment runner's task (:func:`experiment_runs`) and the settings a run recorded
(:func:`recorded`)."""

from __future__ import annotations

from pathlib import Path

from ...core.checkpoint import sha256 as file_sha256
from ...core.errors import DataError
from .evaluation import METRICS, evaluate
from .model import TASK, _quake_meta
from .reporting import report
from .training import train


def recorded(model_dir) -> dict:
    """The settings a quake run was trained with, flat: its model and training configs (every
    field, defaults included), the task's own settings and the synthetic catalog's."""
    from ...core.experiment import flat_settings

    meta = _quake_meta(model_dir)
    synthetic = meta["data"].get("synthetic") or {}
    extra = {"years": synthetic.get("years", synthetic["etas_days"] / 365), "data_seed": synthetic["seed"]} \
        if synthetic else {}
    own = {k: v for k, v in meta["quake"]["settings"].items() if k not in ("model", "core")}
    return flat_settings({**meta.get("model", {}), **meta.get("train", {}), "layout": meta["quake"].get("layout", "grid"),
                          **own, **extra})


def experiment_runs(data=None, steps: int | None = None, minutes: float | None = None, report: bool = True,
                    **common):
    """The experiment runner's task (``core.experiment.TaskRuns``): one arm = one set of ``train``
    settings on the ComCat CSV ``data`` or, by default, a synthetic ETAS catalog (``years``,
    ``data_seed``); a finished run is read back. With ``report``, the experiment ends with
    OUT/report/ (:func:`report`)."""
    from ...core.experiment import TaskRuns

    sha = file_sha256(data) if data is not None else None

    def scored(out):
        meta = _quake_meta(out)
        if (meta["data"]["catalog_sha256"] != sha) if sha else not meta["data"].get("synthetic"):
            raise DataError(f"{out}: a finished run on another catalog; use a new experiment folder")
        return evaluate(out)

    finish = (lambda out, runs: globals()["report"]([out], Path(out) / "report")) if report else None
    return TaskRuns(TASK, METRICS, train, scored, recorded, source=data or "a synthetic ETAS catalog",
                    finish=finish, catalog=data, steps=steps, minutes=minutes, **common)

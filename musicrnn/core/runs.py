"""A training run's folder, the one helper every task and the voice model use.

A run lives in a folder (``--out``): the model, its ``config.json`` (which records the
run's settings), and ``last/`` (the resumable state). Three rules hold for every task:

* **Starting** (:func:`start`): a folder that already holds a model is refused unless
  ``--force`` (which deletes the run's files) or ``--resume``; a folder that cannot be
  written is refused before any data is read.
* **Resuming**: a resumed run continues with exactly its recorded settings. A setting
  the user leaves out is taken from the record (:func:`resumed`); one the user gives must
  equal the record, except those in ``RESUME_MAY_CHANGE``. Any difference is refused in
  one message (:func:`refuse`) naming every setting that differs, old and new value.
* **Session settings** (``SESSION_ONLY``: when to stop early, the device, compiling)
  belong to the session that asks for them: they are never taken from the record.

Also here: the core's model and training settings a research task's run may change
(``CORE_MODEL``, ``CORE_TRAIN``, :func:`check_core`) and loading a task's model
(:func:`load_task_model`). This module sits above ``checkpoint``, ``models``,
``settings`` and ``train`` and is imported by none of them.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from .checkpoint import CONFIG, UNTAGGED, WEIGHTS, CheckpointError, check_writable_folder, read_config
from .errors import SettingsError

RESUME_MAY_CHANGE = ("max_steps", "minutes", "device", "compile")  # every other setting must match the run's
SESSION_ONLY = ("max_steps", "device", "compile")  # never taken from the record: the asking session's own
RUN_FILES = ("last", CONFIG, WEIGHTS, "metrics.json", "progress.jsonl")  # what a training run writes


def prepare_out(out: str | os.PathLike, resume: bool, force: bool, extra: tuple = ()) -> None:
    """Refuse to overwrite a model in ``out`` unless ``force`` (then delete the run's files,
    ``RUN_FILES`` and the task's ``extra`` ones); a resumed run keeps everything."""
    out = Path(out)
    check_writable_folder(out)
    holds_model = (out / CONFIG).is_file() or (out / "last").is_dir()
    if resume or not holds_model:
        return
    if not force:
        raise CheckpointError(f"{out}: already holds a model; continue it with --resume, or replace it with --force")
    for name in (*RUN_FILES, *extra):
        q = out / name
        shutil.rmtree(q) if q.is_dir() else q.unlink(missing_ok=True)


def saved(out: str | os.PathLike, task: str | None = None) -> dict:
    """The config.json of the run in ``out`` (its ``last/`` state), refusing (one line) a
    folder with nothing to resume, or a run of another task."""
    out = Path(out)
    if not (out / "last" / "train_state.json").is_file():
        raise CheckpointError(f"{out}: nothing to resume (no last/train_state.json)")
    meta = read_config(out / "last")
    if task is not None:
        have = meta.get("task", UNTAGGED["task"])
        if have != task:
            raise CheckpointError(f"{out}: a {have!r} run, not a {task} model")
    return meta


def differences(want: dict, have: dict, may_change=RESUME_MAY_CHANGE) -> list[str]:
    """``"key (old -> new)"`` for each key of ``want`` whose value differs from ``have``'s,
    keys in ``may_change`` aside."""
    return [f"{k} ({have.get(k)!r} -> {v!r})" for k, v in want.items() if k not in may_change and have.get(k) != v]


def refuse(out, diffs: list[str]) -> None:
    """The one message for a --resume whose settings differ from the run's (SettingsError)."""
    if diffs:
        raise SettingsError(f"{out}: --resume continues the run with its own settings; these differ: "
                            f"{', '.join(diffs)}. Leave them out, or start a new run (new --out or --force)")


def check_resume(out, task: str, settings: dict, section: str | None = None) -> dict:
    """Refuse (one line) to resume the run in ``out`` unless it is a run of ``task`` whose
    recorded settings (config.json ``[section or task]["settings"]``) equal ``settings``
    (``RESUME_MAY_CHANGE`` aside). Returns the run's config."""
    meta = saved(out, task)
    record = meta.get(section or task)
    if not isinstance(record, dict) or not isinstance(record.get("settings"), dict):
        raise CheckpointError(f"{out}: a {task} run without its recorded settings "
                              f"(config.json {section or task!r})")
    refuse(out, differences(settings, record["settings"]))
    return meta


def resumed(given: dict, record: dict) -> dict:
    """The settings a resumed run uses: each value ``given`` leaves None is the record's
    (``SESSION_ONLY`` settings aside, which stay the asking session's)."""
    return {k: (record[k] if v is None and k in record and k not in SESSION_ONLY else v) for k, v in given.items()}


def start(out, *, resume: bool, force: bool, task: str | None = None, settings: dict | None = None,
          section: str | None = None, extra: tuple = ()) -> None:
    """Check a resumed run's ``settings`` against its record (when ``task`` and ``settings``
    are given), then prepare ``out`` (:func:`prepare_out`)."""
    if resume and task is not None and settings is not None:
        check_resume(out, task, settings, section)
    elif resume:
        saved(out, task)
    prepare_out(out, resume, force, extra)


# The core's model and training settings a research task's run (and an experiment arm) may
# change besides the task's own: the char-RNN's (config.RNNConfig) and the training loop's
# (train.TrainConfig). The run's length (steps, minutes) and seed are the task's arguments.
CORE_MODEL = ("cell", "activation", "attention", "dropout", "layers", "embed", "hidden", "fused")
CORE_TRAIN = ("lr", "weight_decay", "warmup", "min_lr_ratio", "grad_clip", "grad_scale", "bptt", "batch", "patience",
              "optimizer", "rmsprop_alpha", "schedule", "lr_decay", "lr_decay_after", "grad_clamp", "init_uniform")


def core_fields() -> dict:
    """Name -> typed field of every CORE_MODEL and CORE_TRAIN setting."""
    from .config import RNNConfig
    from .settings import fields_of
    from .train import TrainConfig

    fields = fields_of(RNNConfig, TrainConfig)
    return {k: fields[k] for k in (*CORE_MODEL, *CORE_TRAIN)}


def split_core(options: dict) -> tuple[dict, dict]:
    """(model settings, training settings) of a research run's core options; SettingsError
    (one line) for a name that is neither."""
    unknown = sorted(set(options) - set(CORE_MODEL) - set(CORE_TRAIN))
    if unknown:
        raise SettingsError(f"unknown setting{'s' * (len(unknown) > 1)} {', '.join(unknown)}: the core's are "
                            f"{', '.join(CORE_MODEL + CORE_TRAIN)}")
    return ({k: v for k, v in options.items() if k in CORE_MODEL},
            {k: v for k, v in options.items() if k in CORE_TRAIN})


def check_core(options: dict, model_defaults: dict) -> tuple[dict, dict]:
    """:func:`split_core` and then refuse (SettingsError, one line) a model or training setting
    no run can use, the model's on top of ``model_defaults``; returns (model, training) settings."""
    from .models import make_config
    from .train import TrainConfig

    model, train = split_core(options)
    make_config("rnn", {**model_defaults, **model, "vocab_size": 1})
    TrainConfig(**train)
    return model, train


def load_task_model(folder, task: str, section: str | None = None):
    """(torch model, config) of a checkpoint of ``task`` (see ``checkpoint.task_config``)."""
    from .checkpoint import load_model_state, task_config
    from .models import from_checkpoint

    task_config(folder, task, section)
    state, meta = load_model_state(folder)
    return from_checkpoint(state, meta), meta


__all__ = ["CORE_MODEL", "CORE_TRAIN", "RESUME_MAY_CHANGE", "RUN_FILES", "SESSION_ONLY", "check_core", "check_resume",
           "core_fields", "differences", "load_task_model", "prepare_out", "refuse", "resumed", "saved", "split_core",
           "start"]

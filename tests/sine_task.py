"""A toy task defined outside musicrnn (issue 20): predict the next value of a noisy sine
wave. It joins the task registry through ``MUSICRNN_TASKS=sine_task``; nothing in
``musicrnn/cli.py`` names it, yet ``musicrnn task sine train|eval|report`` and ``musicrnn
experiment --task sine`` run it (tests/test_task_registry.py)."""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from musicrnn.core.tasks import Option, Task, register

MODEL = {"hidden": 8, "layers": 1, "embed": 4}
CUT = 1000  # train on the first 1,000 values, score the rest


@dataclass
class Settings:
    period: int = 20


def check_settings(*, period: int = 20, **core):
    from musicrnn.core.errors import SettingsError
    from musicrnn.core.runs import check_core

    if period < 2:
        raise SettingsError(f"period must be at least 2 (got {period})")
    return check_core(core, MODEL)


def _wave(period: int) -> np.ndarray:
    t = np.arange(1200)
    return (np.sin(2 * np.pi * t / period) + 0.05 * np.random.default_rng(0).standard_normal(1200)).astype(np.float32)


def _loss(model, z: np.ndarray, first: int) -> float:
    import torch

    was = model.training
    model.eval()
    with torch.no_grad():
        y, _ = model(torch.from_numpy(z[None, :-1, None]), None)
    model.train(was)
    return float(((y[0, first - 1:, 0].numpy() - z[first:]) ** 2).mean())


def train(out, *, data=None, seed=0, period=20, minutes=None, steps=None, max_steps=None, resume=False, force=False,
          progress=False, log=print, **core):
    from musicrnn.core import models
    from musicrnn.core.runs import start
    from musicrnn.core.data import FeatureStreams
    from musicrnn.core.objectives import Regression
    from musicrnn.core.train import TrainConfig, fit

    model_over, train_over = check_settings(period=period, **core)
    settings = {"period": int(period), "seed": int(seed), "model": {**MODEL, **model_over}}
    start(out, resume=resume, force=force, task="sine", settings=settings)
    z = _wave(period)
    cfg = models.make_config("rnn", {**MODEL, **model_over, "vocab_size": 1, "features": 1, "outputs": 1})
    tcfg = TrainConfig(seed=seed, batch=2, bptt=20, lr=1e-2, steps=steps or (None if minutes else 40),
                       minutes=minutes, max_steps=max_steps, **train_over).validate()
    batches = FeatureStreams([z[:CUT - 1, None]], [z[1:CUT, None]], batch=2, bptt=20, seed=seed, shuffle=False)
    return fit(models.build("rnn", cfg, seed=seed), Regression("smooth-l1"), batches,
               lambda m: {"loss": _loss(m, z, CUT), "positions": len(z) - CUT}, tcfg, Path(out),
               meta={"task": "sine", "sine": {"settings": settings}}, resume=resume, valid_size=len(z) - CUT,
               progress=progress, log=log)


def evaluate(model_dir, *, data=None) -> dict:
    from musicrnn.core.runs import load_task_model

    model, meta = load_task_model(model_dir, "sine", "sine")
    z = _wave(meta["sine"]["settings"]["period"])
    return {"test_loss": _loss(model, z, CUT), "zero_loss": float((z[CUT:] ** 2).mean())}


def recorded(model_dir) -> dict:
    from musicrnn.core.checkpoint import read_config
    from musicrnn.core.experiment import flat_settings

    meta = read_config(model_dir)
    return flat_settings({**meta["model"], **meta["train"], **meta["sine"]["settings"]})


def report(runs, out) -> Path:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows = [f"| {r} | {evaluate(r)['test_loss']:.4f} |" for r in runs]
    (out / "report.md").write_text("\n".join(["| run | test loss |", "|---|---|", *rows]) + "\n")
    return out / "report.md"


def experiment_runs(data=None, steps=None, minutes=None, report=True):
    from musicrnn.core.experiment import TaskRuns

    return TaskRuns("sine", {"test_loss": "lower"}, train, evaluate, recorded, steps=steps, minutes=minutes)


TASK = register(Task("sine", __name__, "next value of a noisy sine wave (a toy task)", data_help="not used",
                    train_options=(Option("--period", "samples per cycle", "int", 20),), steps_help="40"))

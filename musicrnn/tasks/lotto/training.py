"""Training: the task's settings (:class:`Settings`, :func:`check_settings`) and :func:`train` (the
core's ``fit`` on a generated or real history, the test scored when the run ends). Imports torch when
called."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ...core.errors import CheckpointError, DataError, SettingsError
from ...core.runs import check_core, prepare_out, refuse, saved as saved_run
from .data import GENERATORS, NUMBERS, _sha, _source, import_csv, write_csv
from .evaluation import evaluate
from .model import FEATURES, HISTORY, MODEL_DEFAULTS, TASK, TRAIN_DEFAULTS, _logits, _nll, features, splits, targets
from .stats import CHANCE


MIN_DRAWS = 100


@dataclass
class Settings:
    """What an experiment arm may change besides the core's model and training settings
    (``core.settings.CORE_MODEL`` / ``CORE_TRAIN``). ``data_seed`` defaults to the run's seed,
    so every seed scores a history of its own."""

    generator: str = "mt"
    draws: int = 3000
    output: str = "sigmoid"
    data_seed: int | None = None
    epochs: int = TRAIN_DEFAULTS["epochs"]


def check_settings(*, generator: str | None = None, draws: int | None = None, **core) -> tuple[dict, dict]:
    """Refuse (SettingsError, one line) settings no run can use, before any history is made or
    read; returns the core's (model, training) settings (``core.settings.check_core``)."""
    output = core.get("output")
    core = {k: v for k, v in core.items() if k not in Settings.__dataclass_fields__ and v is not None}
    if generator is not None and generator not in GENERATORS:
        raise SettingsError(f"unknown generator {generator!r}: choose from {', '.join(GENERATORS)}")
    if draws is not None and draws < MIN_DRAWS:
        raise SettingsError(f"draws {draws}: need at least {MIN_DRAWS} to train and test")
    from ...core.objectives import SET_OUTPUTS

    if output is not None and output not in SET_OUTPUTS:
        raise SettingsError(f"unknown output {output!r}: choose from {', '.join(SET_OUTPUTS)}")
    return check_core(core, MODEL_DEFAULTS)


def train(out, *, data=None, generator: str | None = None, draws: int | None = None, seed: int = 0,
          data_seed: int | None = None, output: str | None = None,
          minutes: float | None = None, steps: int | None = None, epochs: int | None = None,
          max_steps: int | None = None, hidden: int | None = None, layers: int | None = None,
          lr: float | None = None, batch: int | None = None, bptt: int | None = None, device: str = "cpu",
          resume: bool = False, force: bool = False, progress: bool = True, command: str = "",
          log: Callable[[str], None] = print, **core) -> dict:
    """Train a next-draw model into the folder ``out`` through the core's ``fit``.

    The history: ``data`` (a CSV path for :func:`import_csv`, or an (N, 8) array), else
    ``generate(generator, draws, data_seed)`` (defaults "mt", 3000 draws; ``data_seed``
    defaults to ``seed``; with ``resume``, None means "the run's own"). ``seed``
    seeds the weights, dropout and batch order. Length: ``steps``, else ``minutes``, else
    ``epochs`` (default 40, early stopping after 10 epochs without a better validation
    score). ``max_steps``: stop resumably after that many steps; ``resume`` continues the
    run in ``out`` (its saved history and settings; a different history is refused).
    ``force`` replaces a model in ``out``. The history used is saved as ``out/history.csv``.
    ``output``: how the network states each number's chance (``core.objectives.SET_OUTPUTS``):
    one sigmoid each (default), or the draw's set read as a distribution by softmax or Topcat.
    ``core``: other settings of the core's model and training loop (``core.settings.CORE_MODEL``
    / ``CORE_TRAIN``: cell, activation, attention, embed, grad_scale, ...).

    Returns fit's summary plus, when finished, the test evaluation (``test_*`` keys).
    """
    from ...core import models
    from ...core.checkpoint import update_config
    from ...core.data import FeatureStreams
    from ...core.objectives import FrameBCE
    from ...core.train import TrainConfig, fit, main_process

    out = Path(out)
    model_over, train_over = check_settings(generator=generator, draws=draws, output=output, hidden=hidden,
                                            layers=layers, lr=lr,
                                            batch=batch, bptt=bptt, **core)  # before any work
    mset = {**MODEL_DEFAULTS, **model_over}
    tset = {**TRAIN_DEFAULTS, **train_over, **({"epochs": epochs} if epochs is not None else {})}
    if resume:  # the run's own history and settings; a different history named here is refused
        saved = saved_run(out, TASK)
        if not (out / HISTORY).is_file():
            raise CheckpointError(f"{out}: nothing to resume (no {HISTORY})")
        history, info = import_csv(out / HISTORY), saved["data"]
        named = {"generator": generator if data is None else None, "draws": draws if data is None else None,
                 "data_seed": data_seed if data is None and generator != "os" else None,
                 "sha": None if data is None else _source(data, "mt", 1, 0)[0]}
        if named["sha"] is not None:
            named["sha"] = _sha(named["sha"])
        refuse(out, [f"{'history (sha256 prefix)' if k == 'sha' else k} ({info.get(k)!r} -> {v!r})"
                     for k, v in named.items() if v is not None and v != info.get(k)])
        mset = saved["model"]
        saved_output = (saved.get("objective") or {}).get("output", "sigmoid")
        refuse(out, [f"output ({saved_output!r} -> {output!r})"] if output not in (None, saved_output) else [])
        output = saved_output
        tcfg = TrainConfig.from_dict({**saved["train"], "max_steps": max_steps, "device": device})
    else:
        generator = generator or "mt"
        data_seed = seed if data_seed is None else int(data_seed)
        history, info = _source(data, generator, 3000 if draws is None else draws, data_seed)
        if len(history) < MIN_DRAWS:
            raise DataError(f"only {len(history)} draws: need at least {MIN_DRAWS} to train and test")
        tcfg = TrainConfig(seed=seed, primer=0, steps=steps, minutes=minutes, max_steps=max_steps, device=device,
                           **tset)
        info = {**info, "sha": _sha(history)}
        if main_process():
            prepare_out(out, resume, force, extra=(HISTORY,))
            out.mkdir(parents=True, exist_ok=True)
            write_csv(out / HISTORY, history)
    sp = splits(len(history))
    info = {**info, "splits": {k: list(v) for k, v in sp.items()}}
    x, y = features(history[:-1]), targets(history[1:])
    cfg = models.make_config("rnn", {**mset, "vocab_size": 1, "features": FEATURES, "outputs": NUMBERS})
    output = output or "sigmoid"
    obj = FrameBCE(output)
    lo, hi = sp["train"]
    src = FeatureStreams([x[lo:hi]], [y[lo:hi]], batch=tcfg.batch, bptt=tcfg.bptt, seed=tcfg.seed)
    v0, v1 = sp["valid"]

    def validation(model):
        z = _logits(model, x[:v1])
        return {"nll_per_frame": _nll(z[v0:v1], y[v0:v1], output), "frames": v1 - v0}

    log(f"lotto: {len(history)} draws ({info['generator']}); train {hi - lo}, valid {v1 - v0}, "
        f"test {sp['test'][1] - sp['test'][0]} predictions")
    meta = {"task": TASK, "command": command, "data": info}
    # the core's "too few steps to learn" warning is sized for music (300+ steps); a lotto run
    # plateaus and stops early by design, so it is not passed on
    quiet_log = (lambda m: None if str(m).startswith("warning: only") else log(m))
    summary = fit(models.build("rnn", cfg, seed=tcfg.seed), obj, src, validation, tcfg, out, meta=meta,
                  resume=resume, valid_size=v1, progress=progress, log=quiet_log)
    if summary["finished"] and main_process():
        ev = evaluate(out)
        summary.update({f"test_{k}": ev[k] for k in ("mean_matches", "ci95_low", "ci95_high", "z", "p_value",
                                                     "draws_scored")})
        update_config(out, lambda m: m.setdefault("metrics", {}).update(
            {"test_mean_matches": round(ev["mean_matches"], 5), "test_p_value": ev["p_value"],
             "test_draws_scored": ev["draws_scored"]}))
        log(f"test: {ev['mean_matches']:.3f} matches per draw over {ev['draws_scored']} draws "
            f"(chance {CHANCE:.2f}), one-sided p = {ev['p_value']:.3g}")
    return summary

"""The training loop: stateful truncated BPTT, AdamW with warmup + cosine decay,
gradient-norm clipping or scaling, per-epoch validation with the exact scorer,
best-checkpoint keeping, early stopping, fine-tuning, a time budget and exact resume.

Schedule. The run's length is ``steps`` if given, else ``epochs`` epochs, else (with
``minutes``) as many steps as fit the time budget, measured on this machine before the
first step; warmup is a fraction of the run (or a number of steps when >= 1). The length
is fixed when the run starts and saved, so a resumed run keeps it.

Determinism: every random choice flows from ``TrainConfig.seed`` (weights init and
dropout through torch's generator, data order and augmentation through
``numpy.random.default_rng([seed, epoch])``); on the CPU the same seed gives
bit-identical weights. A stop, planned (``max_steps``) or not (Ctrl-C = SIGINT, SIGTERM),
takes effect only between two steps: the signal sets a flag, the step in flight finishes,
and the optimizer moments, RNG state, carried hidden state and position are saved
together, so the resumed run ends bit-identical to one that never stopped. (A time
budget depends on the machine's speed: such a run records its length, and ``steps``
reproduces it.)

Output folder layout::

    OUT/config.json, OUT/model.safetensors      the best model so far (sample from OUT)
    OUT/last/...                                 the latest model + training state (--resume)
    OUT/metrics.json                             loss curve and validation history
    OUT/progress.jsonl                           live log while it runs (ProgressLog)
"""

from __future__ import annotations

import copy
import json
import math
import os
import signal
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from .checkpoint import CheckpointError, load_model_state, load_train_state, save_model, save_train_state
from .data import DataError, Streams, Transform
from .errors import SettingsError
from .evaluate import bits_per_token
from .rnn import CharRNN, RNNConfig, count_parameters, detach
from .topcat import log_probs, token_loss

LN2 = math.log(2)
# Measured on 2 cores (docs/benchmarks.md): 2 threads train 1.2x faster than 1 alone, but
# 2.7x slower beside one busy process (spinning OpenMP workers); 1 thread loses 1.1x.
# So 1 thread on small machines; half the cores (at most 4) on larger ones (not measured).
DEFAULT_THREADS = 1 if (os.cpu_count() or 1) <= 2 else min(4, (os.cpu_count() or 2) // 2)
MIN_STEPS_FROM_SCRATCH = 300  # fewer steps than this from random weights rarely give music
SAVE_EVERY_S = 60.0  # OUT/last is also written at an epoch's end when this long has passed
PROGRESS = "progress.jsonl"  # OUT/progress.jsonl: the live log another process can follow
PROGRESS_EVERY_S = 1.0


class ProgressLog:
    """OUT/progress.jsonl, one JSON object a line, for a page or ``tail -f`` to follow:
    {"event": "start", "total", "step"}, {"event": "step", "step", "total", "epoch",
    "train_bits"} at most once a second (the mean training loss of the steps since the last line), {"event": "valid", "step", "epoch", "valid_bits",
    "best"}, and {"event": "end", "step", "finished", "stopped_by"}. Appended on resume."""

    def __init__(self, out: Path, resume: bool):
        out.mkdir(parents=True, exist_ok=True)
        self.f = open(out / PROGRESS, "a" if resume else "w", encoding="utf-8")
        self.last, self.sum, self.n = 0.0, 0.0, 0

    def write(self, event: str, **fields) -> None:
        self.f.write(json.dumps({"event": event, "t": round(time.time(), 2), **fields}) + "\n")
        self.f.flush()

    def step(self, bits: float, **fields) -> None:
        self.sum, self.n = self.sum + bits, self.n + 1
        now = time.perf_counter()
        if now - self.last >= PROGRESS_EVERY_S:
            self.write("step", train_bits=round(self.sum / self.n, 4), **fields)
            self.last, self.sum, self.n = now, 0.0, 0

    def close(self) -> None:
        self.f.close()


@dataclass
class TrainConfig:
    seed: int = 0
    batch: int = 32
    bptt: int = 128
    lr: float = 3e-3
    weight_decay: float = 0.01
    warmup: float = 0.05  # < 1: fraction of the run; >= 1: steps
    min_lr_ratio: float = 0.1
    epochs: int = 10
    steps: int | None = None  # the run's length in steps (overrides epochs)
    minutes: float | None = None  # time budget: the run's length is what fits (when steps is None)
    max_steps: int | None = None  # stop (resumably) after this many steps; the schedule ignores it
    grad_clip: float = 1.0  # clip the global gradient norm to this (0: off)
    grad_scale: float = 0.0  # > 0: scale the global gradient norm to exactly this instead of clipping
    patience: int = 3  # epochs without a better validation score before stopping
    device: str = "cpu"

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})

    def validate(self) -> "TrainConfig":
        """Raise SettingsError (one line) for settings no run can use."""
        if self.seed < 0:
            raise SettingsError(f"--seed must be >= 0 (got {self.seed})")
        positive = {"batch": self.batch, "bptt": self.bptt, "epochs": self.epochs, "lr": self.lr}
        for name, v in positive.items():
            if not v > 0:
                raise SettingsError(f"--{name} must be > 0 (got {v})")
        for name in ("steps", "max_steps", "minutes"):
            v = getattr(self, name)
            if v is not None and not v > 0:
                raise SettingsError(f"--{name.replace('_', '-')} must be > 0 (got {v})")
        for name in ("weight_decay", "warmup", "grad_clip", "grad_scale"):
            if not getattr(self, name) >= 0 or not math.isfinite(getattr(self, name)):
                raise SettingsError(f"--{name.replace('_', '-')} must be a finite number >= 0 (got {getattr(self, name)})")
        if self.patience < 1:
            raise SettingsError(f"--patience must be at least 1 (got {self.patience})")
        return self


def resolve_device(name: str) -> torch.device:
    """A torch device that exists here, or SettingsError with one line saying why not."""
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise SettingsError(f"unknown device {name!r}: use cpu, cuda or cuda:N") from None
    if dev.type == "cuda":
        if not torch.backends.cuda.is_built():
            raise SettingsError(f"--device {name}: this PyTorch ({torch.__version__}) is a CPU-only build")
        if not torch.cuda.is_available() or (dev.index or 0) >= torch.cuda.device_count():
            raise SettingsError(f"--device {name}: no CUDA GPU is visible")
    elif dev.type != "cpu":
        raise SettingsError(f"--device {name}: only cpu and cuda are supported")
    return dev


def training_threads() -> int:
    """torch's intra-op threads for training: $MUSICRNN_THREADS, else the default below."""
    env = os.environ.get("MUSICRNN_THREADS", "")
    return max(1, int(env)) if env.isdigit() else DEFAULT_THREADS


def set_determinism(seed: int, device: str) -> None:
    torch.manual_seed(seed)
    if device.startswith("cuda"):
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
    else:
        torch.use_deterministic_algorithms(True)


GRAD_SCALE_NAMES = {"phi": (1 + 5 ** 0.5) / 2, "golden": (1 + 5 ** 0.5) / 2, "phi-conjugate": (5 ** 0.5 - 1) / 2}


def parse_grad_scale(text: str) -> float:
    """A number, or one of the named constants: phi / golden (1.618...), phi-conjugate (0.618...)."""
    if text in GRAD_SCALE_NAMES:
        return GRAD_SCALE_NAMES[text]
    value = float(text)
    if not (value > 0 and math.isfinite(value)):
        raise ValueError("the gradient scale must be a positive number")
    return value


def grad_norm(params) -> float:
    """Global L2 norm of the gradients that exist (0.0 when none do)."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return 0.0
    return float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads])))


def scale_grad_norm_(params, c: float) -> float:
    """g <- c * g / ||g|| over the global norm of all gradients; returns the norm before.
    No gradients, or a zero or non-finite norm: nothing is changed."""
    params = [p for p in params if p.grad is not None]
    norm = grad_norm(params)
    if norm > 0 and math.isfinite(norm):
        for p in params:
            p.grad.mul_(c / norm)
    return norm


def warmup_steps(cfg: TrainConfig, total: int) -> int:
    return max(1, int(round(cfg.warmup * total))) if cfg.warmup < 1 else int(cfg.warmup)


def lr_at(step: int, total: int, cfg: TrainConfig) -> float:
    warm = warmup_steps(cfg, total)
    if step < warm:
        return cfg.lr * (step + 1) / warm
    frac = min(1.0, (step - warm) / max(1, total - warm))
    return cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * frac)))


def make_optimizer(model: torch.nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    decay = [p for p in model.parameters() if p.dim() >= 2]
    rest = [p for p in model.parameters() if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": rest, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(0.9, 0.99))


def train_step(model: CharRNN, opt: torch.optim.Optimizer, win, hidden, cfg: TrainConfig) -> tuple[float, tuple, bool]:
    """One truncated-BPTT step. Returns (next-token cross-entropy in nats, the carried state,
    whether the weights were updated: a non-finite gradient norm skips the update)."""
    logits, hidden = model(win.x, hidden, win.reset)
    loss = token_loss(logits, win.y, model.cfg.output)
    opt.zero_grad(set_to_none=True)
    if loss.requires_grad:  # no trainable parameter: nothing to update, not an error
        loss.backward()
    params = [p for p in model.parameters() if p.grad is not None]
    norm = grad_norm(params)
    ok = bool(params) and math.isfinite(norm)
    if ok:
        if cfg.grad_scale > 0:  # scale_grad_norm_, with the norm already computed
            if norm > 0:
                for p in params:
                    p.grad.mul_(cfg.grad_scale / norm)
        elif cfg.grad_clip > 0 and norm > cfg.grad_clip:
            for p in params:
                p.grad.mul_(cfg.grad_clip / (norm + 1e-6))
        opt.step()
    # the history is always next-token cross-entropy (nats) of the sampled distribution
    with torch.no_grad():
        lv = loss.item() if model.cfg.output == "softmax" else \
            -log_probs(logits.detach().float(), model.cfg.output).gather(-1, win.y[..., None]).mean().item()
    return lv, detach(hidden), ok


def _pack_optimizer(opt: torch.optim.Optimizer) -> tuple[dict, list]:
    sd = opt.state_dict()
    tensors = {f"opt.{i}.{k}": v for i, st in sd["state"].items() for k, v in st.items()}
    return tensors, sd["param_groups"]


def _unpack_optimizer(opt: torch.optim.Optimizer, tensors: dict, groups: list) -> None:
    state: dict[int, dict] = {}
    for name, v in tensors.items():
        if name.startswith("opt."):
            _, i, k = name.split(".", 2)
            state.setdefault(int(i), {})[k] = v
    opt.load_state_dict({"state": state, "param_groups": groups})


_STOP: dict = {}  # {"signal": name} once SIGINT/SIGTERM arrived inside stop_on_signals()


def _on_signal(signum, frame):
    if _STOP.get("signal"):  # a second signal: stop at once
        raise KeyboardInterrupt
    _STOP["signal"] = signal.Signals(signum).name


@contextmanager
def stop_on_signals():
    """While active, SIGINT (Ctrl-C) and SIGTERM only set a flag (:func:`stop_requested`):
    the training loop finishes the step in flight, saves, and stops. A second signal
    interrupts at once. Nested uses share the outer one."""
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGINT) is _on_signal:
        yield
        return
    old = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    _STOP.clear()
    for s in old:
        signal.signal(s, _on_signal)
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)
        _STOP.clear()


def stop_requested() -> str | None:
    return _STOP.get("signal")


def _probe_step_seconds(model, cfg: TrainConfig, streams: Streams, n: int = 4) -> float:
    """Seconds per training step on this machine, measured on a copy (no trace left behind)."""
    rng = torch.get_rng_state()
    m = copy.deepcopy(model)
    opt = make_optimizer(m, cfg)
    times, hidden = [], None
    for w, win in streams.epoch(0, device=next(model.parameters()).device):
        t = time.perf_counter()
        _, hidden, _ = train_step(m, opt, win, hidden, cfg)
        times.append(time.perf_counter() - t)
        if len(times) >= n:
            break
    torch.set_rng_state(rng)
    return float(np.median(times[1:] if len(times) > 1 else times))


def plan_steps(cfg: TrainConfig, per_epoch: int, probe: Callable[[], float] | None = None,
               eval_fraction: float = 0.0) -> int:
    """The run's length in steps: ``steps``, else ``minutes`` worth, else ``epochs`` epochs.
    ``eval_fraction``: validation time per epoch as a fraction of the epoch's training time."""
    if cfg.steps:
        return int(cfg.steps)
    if cfg.minutes:
        step_s = probe() * (1 + eval_fraction)
        return max(1, int(cfg.minutes * 60 * 0.9 / step_s))  # 10% kept for start-up and saving
    return cfg.epochs * per_epoch


def train(model_cfg: RNNConfig, cfg: TrainConfig, train_seqs: Sequence[np.ndarray], valid_seqs: Sequence[np.ndarray],
          out: str | Path, *, test_seqs: Sequence[np.ndarray] = (), init_weights: dict | None = None,
          meta: dict | None = None, transform: Transform | None = None, resume: bool = False,
          progress: bool = True, log: Callable[[str], None] = print) -> dict:
    """Train (or resume) a char-RNN; returns the run's summary (also in OUT/metrics.json).

    ``init_weights``: a state dict to start from (fine-tuning) instead of random weights.
    ``test_seqs``: scored once, with the best model, when the run finishes.
    """
    with stop_on_signals():  # from here on, a signal stops the run resumably
        return _train(model_cfg, cfg, train_seqs, valid_seqs, out, test_seqs=test_seqs, init_weights=init_weights,
                      meta=meta, transform=transform, resume=resume, progress=progress, log=log)


def _train(model_cfg, cfg, train_seqs, valid_seqs, out, *, test_seqs, init_weights, meta, transform, resume,
           progress, log) -> dict:
    out = Path(out)
    cfg.validate()
    device = resolve_device(cfg.device)
    torch.set_num_threads(training_threads())
    set_determinism(cfg.seed, cfg.device)
    model = CharRNN(model_cfg).to(device)
    if init_weights is not None:
        model.load_state_dict(init_weights)
    opt = make_optimizer(model, cfg)
    streams = Streams(train_seqs, cfg.batch, cfg.bptt, seed=cfg.seed, transform=transform)
    per_epoch = streams.windows_per_epoch(0)
    pos = {"step": 0, "epoch": 0, "window": 0, "total": None, "best": float("inf"), "best_step": 0, "bad_epochs": 0,
           "done": False, "history": [], "valid": [], "seconds": 0.0, "skipped_steps": 0, "stopped_by": None}
    hidden = None
    if resume:
        weights, _ = load_model_state(out / "last")
        model.load_state_dict(weights)
        tensors, info = load_train_state(out / "last")
        _unpack_optimizer(opt, tensors, info.pop("param_groups"))
        torch.set_rng_state(tensors["rng"])
        if "hidden.0" in tensors:
            hidden = tuple(tensors[f"hidden.{i}"].to(device) for i in range(info["n_hidden"]))
        pos.update(info["position"], stopped_by=None)
        log(f"resuming at step {pos['step']} of {pos['total']} (epoch {pos['epoch'] + 1}, window {pos['window']})")
    if pos["done"]:
        log("this run already finished; nothing to resume")
        return _summary(out, pos, model)
    if pos["total"] is None:
        valid_tokens = sum(len(s) for s in valid_seqs)
        eval_fraction = valid_tokens / max(1, per_epoch * streams.batch * cfg.bptt) / 3  # scoring ~3x faster than training
        pos["total"] = plan_steps(cfg, per_epoch, lambda: _probe_step_seconds(model, cfg, streams), eval_fraction)
        if cfg.minutes:
            log(f"time budget {cfg.minutes:g} min: {pos['total']} steps fit on this machine "
                f"(--steps {pos['total']} repeats this run exactly)")
        if init_weights is None and pos["total"] < MIN_STEPS_FROM_SCRATCH:
            log(f"warning: only {pos['total']} training steps; from random weights that is too few to learn "
                f"music (aim for {MIN_STEPS_FROM_SCRATCH}+). Fine-tune a shipped model instead "
                f"(--init checkpoints/folk or checkpoints/chorales), or train longer (--epochs, --steps, --minutes).")
    total = pos["total"]
    n_epochs = math.ceil(total / per_epoch)
    meta = dict(meta or {}, model=model_cfg.to_dict(), train=dict(asdict(cfg), planned_steps=total),
                n_parameters=count_parameters(model))

    def save_last():
        save_model(out / "last", model, meta)
        tensors, groups = _pack_optimizer(opt)
        tensors["rng"] = torch.get_rng_state()
        if hidden is not None:
            tensors.update({f"hidden.{i}": h for i, h in enumerate(hidden)})
        save_train_state(out / "last", tensors, {"position": pos, "param_groups": groups,
                                                  "n_hidden": 0 if hidden is None else len(hidden)})

    from tqdm import tqdm

    bar = tqdm(total=total, initial=pos["step"], disable=not progress, unit="step", dynamic_ncols=True, file=sys.stderr)
    say = lambda m: bar.write(m, file=sys.stderr) if progress else log(m)
    t_start, tokens_seen, ema = time.perf_counter(), 0, None
    deadline = None if not cfg.minutes else t_start + cfg.minutes * 60 - pos["seconds"]
    plog = ProgressLog(out, resume)
    plog.write("start", step=pos["step"], total=total, epochs=n_epochs)
    stopped = False  # resumable stop: a signal or max_steps
    last_save = time.perf_counter()
    model.train()
    for epoch in range(pos["epoch"], n_epochs):
        out_of_time = False
        for w, win in streams.epoch(epoch, pos["window"], device=device):
            if pos["step"] >= total:
                break
            if stop_requested():  # arrived before this step (e.g. while the run was set up)
                stopped, pos["stopped_by"] = True, stop_requested()
                break
            for g in opt.param_groups:
                g["lr"] = lr_at(pos["step"], total, cfg)
            lv, hidden, ok = train_step(model, opt, win, hidden, cfg)
            pos["skipped_steps"] += not ok
            pos["step"] += 1
            pos["window"] = w + 1
            pos["history"].append(round(lv, 6))
            tokens_seen += win.y.numel()
            ema = lv if ema is None else 0.95 * ema + 0.05 * lv
            bar.update(1)
            bar.set_postfix_str(f"epoch {epoch + 1}/{n_epochs} loss {ema / LN2:.3f} bits/token "
                                f"{tokens_seen / (time.perf_counter() - t_start):,.0f} tok/s")
            plog.step(lv / LN2, step=pos["step"], total=total, epoch=epoch + 1)
            if stop_requested() or (cfg.max_steps is not None and pos["step"] >= cfg.max_steps):
                stopped = True
                pos["stopped_by"] = stop_requested() or "max_steps"
                break
            if deadline is not None and time.perf_counter() > deadline:
                out_of_time = True
                break
        if stopped:
            break
        # end of epoch (or of the run): validate, keep the best, maybe stop early
        bits = bits_per_token(model, valid_seqs)
        pos["valid"].append({"epoch": epoch + 1, "step": pos["step"], "valid_bits_per_token": round(bits, 5)})
        pos["epoch"], pos["window"], hidden = epoch + 1, 0, None
        improved = bits < pos["best"] - 1e-4
        if improved:
            pos["best"], pos["best_step"], pos["bad_epochs"] = bits, pos["step"], 0
        else:
            pos["bad_epochs"] += 1
        say(f"epoch {epoch + 1}: validation {bits:.4f} bits/token" + (" (best)" if improved else ""))
        plog.write("valid", step=pos["step"], total=total, epoch=epoch + 1, valid_bits=round(bits, 5), best=improved)
        if improved:
            save_model(out, model, dict(meta, metrics={"valid_bits_per_token": round(bits, 5), "epoch": epoch + 1,
                                                       "step": pos["step"]}))
        if pos["bad_epochs"] >= cfg.patience:
            say(f"early stop: no improvement for {cfg.patience} epochs")
            break
        if time.perf_counter() - last_save > SAVE_EVERY_S:  # so that even a killed run can --resume
            save_last()
            last_save = time.perf_counter()
        if out_of_time or pos["step"] >= total:
            break
        if stop_requested():  # arrived during validation: the epoch is complete
            stopped, pos["stopped_by"] = True, stop_requested()
            break
    pos["seconds"] += time.perf_counter() - t_start
    if not stopped:
        pos["done"] = True
        if pos["skipped_steps"]:
            say(f"warning: {pos['skipped_steps']} steps had a non-finite gradient norm and were skipped")
    elif pos["stopped_by"] in ("SIGINT", "SIGTERM"):
        say(f"interrupted ({pos['stopped_by']}) after step {pos['step']}: state saved; continue with --resume")
    save_last()
    bar.close()
    summary = _summary(out, pos, model)
    if pos["done"] and test_seqs and math.isfinite(pos["best"]):
        best, _ = load_model_state(out)
        model.load_state_dict(best)
        summary["test_bits_per_token"] = round(bits_per_token(model, test_seqs), 5)
        say(f"test: {summary['test_bits_per_token']:.4f} bits/token over {len(test_seqs)} held-out pieces "
            f"(best model, scored once)")
        _record_test(out, summary["test_bits_per_token"], len(test_seqs))
    (out / "metrics.json").write_text(json.dumps(summary, indent=1) + "\n")
    plog.write("end", step=pos["step"], total=total, finished=pos["done"], stopped_by=pos["stopped_by"],
               best_valid_bits=summary["best_valid_bits_per_token"], test_bits=summary.get("test_bits_per_token"))
    plog.close()
    return summary


def _record_test(out: Path, bits: float, pieces: int) -> None:
    """Add the test score to the best checkpoint's config (without touching its weights)."""
    from .checkpoint import update_config

    update_config(out, lambda meta: meta.setdefault("metrics", {}).update(test_bits_per_token=bits, test_pieces=pieces))


def _summary(out: Path, pos: dict, model: torch.nn.Module) -> dict:
    return {"out": str(out), "steps": pos["step"], "planned_steps": pos.get("total"), "epochs_done": pos["epoch"],
            "finished": pos["done"], "stopped_by": pos.get("stopped_by"),
            "best_valid_bits_per_token": None if math.isinf(pos["best"]) else round(pos["best"], 5),
            "train_seconds": round(pos["seconds"], 1), "n_parameters": count_parameters(model),
            "skipped_steps": pos.get("skipped_steps", 0), "valid": pos["valid"], "loss_history": pos["history"]}


__all__ = ["TrainConfig", "train", "train_step", "lr_at", "plan_steps", "resolve_device", "parse_grad_scale",
           "scale_grad_norm_", "CheckpointError", "DataError"]

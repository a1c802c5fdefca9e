"""The training loop, one for every model family, objective and batch source
(:func:`fit`): AdamW with warmup + cosine decay, gradient-norm clipping or scaling,
stateful truncated BPTT where the family carries state, per-epoch validation with the
exact scorer, best-checkpoint keeping, early stopping, fine-tuning, a time budget, exact
resume, bf16 autocast and ``torch.compile`` on request, and data-parallel training over
``torchrun`` processes (:class:`Distributed`).

It is split into readable parts: :func:`_setup` (device, threads, determinism, process
group, data shard, optimizer), :func:`_resume`, :func:`train_step`, :func:`_validate`
and :func:`_save_last`.

Data-parallel: each rank reads its own rows of the global batch layout (contiguous
stretches of the data), DDP averages the gradients, so the ranks' weights stay
identical; rank 0 validates (and shares the score) and writes every file; the training
state holds every rank's RNG and carried state, so a run resumes with as many ranks.

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
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from .checkpoint import (CheckpointError, load_model_state, load_train_state, save_model, save_train_state,
                         update_config)
from .data import DataError
from .errors import SettingsError
from .models import count_parameters, detach

# Measured on 2 cores (docs/benchmarks.md): 2 threads train 1.2x faster than 1 alone, but
# 2.7x slower beside one busy process (spinning OpenMP workers); 1 thread loses 1.1x.
# So 1 thread on small machines; half the cores (at most 4) on larger ones (not measured).
DEFAULT_THREADS = 1 if (os.cpu_count() or 1) <= 2 else min(4, (os.cpu_count() or 2) // 2)
MIN_STEPS_FROM_SCRATCH = 300  # fewer steps than this from random weights rarely learn anything
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

    def step(self, value: float, name: str = "train_bits", **fields) -> None:
        self.sum, self.n = self.sum + value, self.n + 1
        now = time.perf_counter()
        if now - self.last >= PROGRESS_EVERY_S:
            self.write("step", **{name: round(self.sum / self.n, 4)}, **fields)
            self.last, self.sum, self.n = now, 0.0, 0

    def close(self) -> None:
        self.f.close()


OPTIMIZERS = ("adamw", "rmsprop")
SCHEDULES = ("cosine", "step")


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
    primer: int = 0  # stateless families: tokens of context read before each window, not scored
    precision: str = "fp32"  # fp32 | bf16 (autocast; for GPUs)
    compile: bool = False  # torch.compile the model (GPUs; needs a C++ compiler on the CPU)
    # char-rnn's training (Karpathy's train.lua), for the research study (issue 23):
    optimizer: str = "adamw"  # adamw | rmsprop (char-rnn: RMSprop, alpha 0.95, eps 1e-8, no weight decay)
    rmsprop_alpha: float = 0.95  # RMSprop's smoothing of the squared gradients
    schedule: str = "cosine"  # cosine: warmup then cosine to min_lr_ratio; step: lr constant, x lr_decay per epoch after lr_decay_after
    lr_decay: float = 0.97  # schedule "step": the factor per epoch (char-rnn 0.97)
    lr_decay_after: int = 10  # schedule "step": epochs at full lr before decaying (char-rnn 10)
    grad_clamp: float = 0.0  # > 0: clamp every gradient element to [-c, c] (char-rnn's grad_clip 5), before any norm rule
    init_uniform: float = 0.0  # > 0: every weight drawn uniform in [-a, a] at the start (char-rnn 0.08; LSTM forget-gate biases 1)
    stateless: bool = False  # reset the recurrent state every window instead of carrying it (Keras's default)

    def __post_init__(self) -> None:
        self._check()  # validated once, where it is made: a TrainConfig that exists is one a run can use

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})

    def validate(self) -> "TrainConfig":
        """The config itself (it was checked when made; kept for callers that chain it)."""
        return self

    def _check(self) -> None:
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
        if self.primer < 0:
            raise SettingsError(f"--primer must be >= 0 (got {self.primer})")
        if self.precision not in ("fp32", "bf16"):
            raise SettingsError(f"--precision {self.precision}: use fp32 or bf16")
        if self.optimizer not in OPTIMIZERS:
            raise SettingsError(f"--optimizer {self.optimizer}: use {' or '.join(OPTIMIZERS)}")
        if self.schedule not in SCHEDULES:
            raise SettingsError(f"--schedule {self.schedule}: use {' or '.join(SCHEDULES)}")
        if not 0 < self.rmsprop_alpha < 1:
            raise SettingsError(f"--rmsprop-alpha must be in (0, 1) (got {self.rmsprop_alpha})")
        if not 0 < self.lr_decay <= 1:
            raise SettingsError(f"--lr-decay must be in (0, 1] (got {self.lr_decay})")
        if self.lr_decay_after < 0:
            raise SettingsError(f"--lr-decay-after must be >= 0 (got {self.lr_decay_after})")
        for name in ("grad_clamp", "init_uniform"):
            v = getattr(self, name)
            if not (v >= 0 and math.isfinite(v)):
                raise SettingsError(f"--{name.replace('_', '-')} must be a finite number >= 0 (got {v})")


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


def lr_at(step: int, total: int, cfg: TrainConfig, epoch: int = 0) -> float:
    """The learning rate of ``step`` of ``total`` (0-based ``epoch``, for the step schedule:
    char-rnn decays after each finished epoch from ``lr_decay_after`` on)."""
    if cfg.schedule == "step":
        return cfg.lr * cfg.lr_decay ** max(0, epoch - cfg.lr_decay_after + 1)
    warm = warmup_steps(cfg, total)
    if step < warm:
        return cfg.lr * (step + 1) / warm
    frac = min(1.0, (step - warm) / max(1, total - warm))
    return cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * frac)))


def make_optimizer(model: torch.nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    decay = [p for p in model.parameters() if p.dim() >= 2]
    rest = [p for p in model.parameters() if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": rest, "weight_decay": 0.0}]
    if cfg.optimizer == "rmsprop":  # char-rnn's optim.rmsprop: v = a v + (1 - a) g^2; w -= lr g / (sqrt(v) + eps)
        return torch.optim.RMSprop(groups, lr=cfg.lr, alpha=cfg.rmsprop_alpha, eps=1e-8)
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(0.9, 0.99))


def init_uniform_(model: torch.nn.Module, a: float, seed: int = 0) -> None:
    """char-rnn's initialisation: every parameter uniform in [-a, a] (drawn from ``seed``, the
    same on every rank), then the forget-gate biases of ``nn.LSTM`` layers (the input-side
    bias; gates in the order i, f, g, o) set to 1 "to encourage remembering in the beginning"."""
    g = torch.Generator().manual_seed(int(seed))
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.empty(p.shape).uniform_(-a, a, generator=g).to(p.dtype))
        for m in model.modules():
            if isinstance(m, torch.nn.LSTM):
                for name, p in m.named_parameters():
                    if name.startswith("bias_ih"):
                        h = p.shape[0] // 4
                        p[h:2 * h].fill_(1.0)


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




def main_process() -> bool:
    """False in the ranks > 0 of a ``torchrun`` launch (only rank 0 writes files)."""
    return int(os.environ.get("RANK", "0") or 0) == 0


def check_window(model_or_cfg, cfg: TrainConfig) -> None:
    """Refuse training windows a family cannot use: a primer for a family that carries its
    state (it has read those tokens already), or a window longer than the attention context."""
    mcfg = getattr(model_or_cfg, "cfg", model_or_cfg)
    context = getattr(mcfg, "context", None)
    carries = getattr(model_or_cfg, "carries_state", context is None)
    if cfg.primer and carries:
        raise SettingsError("--primer is for the transformer; a char-RNN carries its state from window to window "
                            "instead")
    if context and cfg.bptt + cfg.primer > context:
        raise SettingsError(f"--bptt {cfg.bptt} + --primer {cfg.primer} must fit the model's context ({context} tokens)")


# --- data-parallel training -------------------------------------------------------------
@dataclass
class Distributed:
    """This process's place in a data-parallel run (``torchrun`` sets WORLD_SIZE, RANK,
    LOCAL_RANK and the rendezvous address). A single process is rank 0 of 1 and makes no
    collective calls."""

    rank: int = 0
    world: int = 1
    owned: bool = False  # this module opened the process group (and closes it)
    device: str = "cpu"  # where collective tensors live (nccl takes CUDA tensors only)

    @classmethod
    def from_env(cls, device: torch.device) -> "Distributed":
        world = int(os.environ.get("WORLD_SIZE", "1") or 1)
        if world <= 1:
            return cls()
        import torch.distributed as dist

        if device.type == "cuda":
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
            torch.cuda.set_device(device)
        owned = not dist.is_initialized()
        if owned:
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        return cls(dist.get_rank(), dist.get_world_size(), owned, str(device))

    @property
    def main(self) -> bool:
        return self.rank == 0

    def any(self, *flags: bool) -> list[bool]:
        """Each flag, true if it is true on any rank (one all-reduce for all of them)."""
        if self.world == 1:
            return [bool(f) for f in flags]
        import torch.distributed as dist

        t = torch.tensor([float(bool(f)) for f in flags], device=self.device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return [bool(v) for v in t.tolist()]

    def mean(self, value: float) -> float:
        """The mean of ``value`` over the ranks."""
        if self.world == 1:
            return value
        import torch.distributed as dist

        t = torch.tensor([float(value)], dtype=torch.float64, device=self.device)
        dist.all_reduce(t)
        return float(t.item()) / self.world

    def agree(self, model) -> bool:
        """Whether every rank holds bit-identical weights."""
        if self.world == 1:
            return True
        import hashlib

        h = hashlib.sha256()
        for v in model.state_dict().values():
            h.update(v.detach().cpu().contiguous().numpy().tobytes())
        return len(set(self.gather(h.hexdigest()))) == 1

    def from_main(self, obj):
        """Rank 0's value of ``obj``, on every rank."""
        if self.world == 1:
            return obj
        import torch.distributed as dist

        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def gather(self, obj) -> list:
        """Every rank's ``obj``, in rank order, on every rank."""
        if self.world == 1:
            return [obj]
        import torch.distributed as dist

        out = [None] * self.world
        dist.all_gather_object(out, obj)
        return out

    def barrier(self) -> None:
        if self.world > 1:
            import torch.distributed as dist

            dist.barrier()

    def close(self) -> None:
        if self.owned:
            import torch.distributed as dist

            dist.destroy_process_group()


# --- one step -------------------------------------------------------------------------------
def _autocast(cfg: TrainConfig, device: torch.device):
    if cfg.precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return nullcontext()


def train_step(net, objective, opt: torch.optim.Optimizer, batch, state, cfg: TrainConfig,
               params=None) -> tuple[float, tuple | None, bool]:
    """One step: forward (from the carried ``state``, or a fresh one when it is None), the
    objective's loss, backward, gradient-norm scaling or clipping, update. Returns (the
    objective's report value, the new state detached, whether the weights were updated: a
    non-finite gradient norm skips the update)."""
    params = list(net.parameters()) if params is None else params
    with _autocast(cfg, batch.x.device):
        out, state = net(batch.x, state, batch.reset)
        loss, report = objective.loss(out, batch)
    opt.zero_grad(set_to_none=True)
    if loss.requires_grad:  # no trainable parameter: nothing to update, not an error
        loss.backward()
    ok = shape_gradients_(params, clip=cfg.grad_clip, scale=cfg.grad_scale, clamp=cfg.grad_clamp)
    if ok:
        opt.step()
    return report, (detach(state) if state is not None else None), ok


def shape_gradients_(params, *, clip: float = 0.0, scale: float = 0.0, clamp: float = 0.0) -> bool:
    """The one place gradients are scaled or clipped, for every update in the project:
    with ``clamp`` > 0 every element is first clamped to [-clamp, clamp] (char-rnn's
    ``grad_clip``, not a norm rule); then with ``scale`` > 0 the global gradient norm
    becomes exactly ``scale``; else with ``clip`` > 0 a norm above ``clip`` is clipped to it.
    Returns whether an update may follow (False: no gradient, or a non-finite norm, which
    skips the update)."""
    have = [p for p in params if p.grad is not None]
    if clamp > 0:
        for p in have:
            p.grad.clamp_(-clamp, clamp)
    norm = grad_norm(have)
    if not have or not math.isfinite(norm):
        return False
    if scale > 0:  # scale_grad_norm_, with the norm already computed
        if norm > 0:
            for p in have:
                p.grad.mul_(scale / norm)
    elif clip > 0 and norm > clip:
        for p in have:
            p.grad.mul_(clip / (norm + 1e-6))
    return True


def _probe_step_seconds(model, objective, cfg: TrainConfig, batches, n: int = 4) -> float:
    """Seconds per training step on this machine, measured on a copy (no trace left behind)."""
    rng = _rng_states()
    m = copy.deepcopy(model)
    opt = make_optimizer(m, cfg)
    times, state = [], None
    for w, batch in batches.epoch(0, device=next(model.parameters()).device):
        t = time.perf_counter()
        _, state, _ = train_step(m, objective, opt, batch, state if batches.carries_state else None, cfg)
        times.append(time.perf_counter() - t)
        if len(times) >= n:
            break
    _set_rng_states(rng)
    return float(np.median(times[1:] if len(times) > 1 else times))


def _rng_states() -> dict:
    """torch's CPU generator, and the current GPU's when there is one (dropout on a GPU draws there)."""
    states = {"rng": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["rng_cuda"] = torch.cuda.get_rng_state()
    return states


def _set_rng_states(states: dict) -> None:
    torch.set_rng_state(states["rng"])
    if "rng_cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state(states["rng_cuda"])


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


# --- the loop -------------------------------------------------------------------------------
@dataclass
class _Run:
    """Everything one training run holds between steps."""

    model: torch.nn.Module  # the module whose weights are saved
    net: torch.nn.Module  # what a step calls: the model, its DDP wrapper, or a compiled form
    opt: torch.optim.Optimizer
    objective: object
    batches: object
    cfg: TrainConfig
    out: Path
    meta: dict
    dist: Distributed
    device: torch.device
    pos: dict
    state: tuple | None = None  # carried between windows (stateful families only)

    @property
    def metric(self) -> str:
        return self.objective.primary


def _new_position() -> dict:
    return {"step": 0, "epoch": 0, "window": 0, "total": None, "best": float("inf"), "best_step": 0, "bad_epochs": 0,
            "done": False, "history": [], "valid": [], "seconds": 0.0, "skipped_steps": 0, "stopped_by": None}


def environment(device=None) -> dict:
    """Where a run trained: the same seed gives the same weights, byte for byte, on the same
    CPU kind and library builds only (float kernels differ between, say, AVX2 and AVX-512
    machines, and training amplifies the difference: the study's q2-chorales seeds 0-4, run in
    an earlier session, differ by up to 0.1 bits/token from reruns on this session's machine,
    with that session's code as with today's, while two reruns here are identical). So each
    run records where it ran (config.json ``environment``)."""
    import platform

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    env = {"torch": torch.__version__, "numpy": np.__version__, "python": platform.python_version(),
           "cpu": cpu, "cpu_capability": torch.backends.cpu.get_cpu_capability(), "threads": torch.get_num_threads()}
    if device is not None and getattr(device, "type", "cpu") == "cuda":
        env["gpu"] = torch.cuda.get_device_name(device)
    return env


def _setup(model, objective, batches, cfg: TrainConfig, out: Path, meta: dict | None) -> _Run:
    """Device, threads, determinism, the process group, the data shard and the optimizer."""
    device = resolve_device(cfg.device)
    dist = Distributed.from_env(device)
    device = torch.device(dist.device) if dist.world > 1 else device
    check_window(model, cfg)
    torch.set_num_threads(training_threads())
    set_determinism(cfg.seed + 1_000_003 * dist.rank, cfg.device)  # dropout differs per rank; weights do not
    model = model.to(device)
    if dist.world > 1:
        batches.shard(dist.rank, dist.world)
    net = model
    if dist.world > 1:
        from torch.nn.parallel import DistributedDataParallel

        net = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    if cfg.compile:
        net = torch.compile(net)
    meta = dict(meta or {}, family=model.family, model=model.cfg.to_dict(), objective=objective.to_dict(),
                train=asdict(cfg), n_parameters=count_parameters(model), environment=environment(device))
    if dist.world > 1:
        meta["distributed"] = {"world_size": dist.world}
    return _Run(model, net, make_optimizer(model, cfg), objective, batches, cfg, out, meta, dist, device,
                _new_position())


def _hidden_names(run: _Run) -> str:
    return "hidden" if run.dist.world == 1 else f"hidden.r{run.dist.rank}"


def _resume(run: _Run, log) -> None:
    """Weights, optimizer moments, RNG, carried state and position from OUT/last."""
    last = run.out / "last"
    weights, _ = load_model_state(last)
    try:
        run.model.load_state_dict(weights)
    except RuntimeError:
        raise CheckpointError(f"{last}: the saved run's weights do not fit this model's settings") from None
    tensors, info = load_train_state(last)
    if info.get("world_size", 1) != run.dist.world:
        raise SettingsError(f"{run.out}: the run was saved by {info.get('world_size', 1)} processes; resume it with "
                            f"as many (now {run.dist.world})")
    _unpack_optimizer(run.opt, tensors, info.pop("param_groups"))
    suffix = "" if run.dist.rank == 0 else f".r{run.dist.rank}"
    _set_rng_states({k: tensors[k + suffix] for k in ("rng", "rng_cuda") if k + suffix in tensors})
    prefix = _hidden_names(run)
    if f"{prefix}.0" in tensors:
        run.state = tuple(tensors[f"{prefix}.{i}"].to(run.device) for i in range(info["n_hidden"]))
    run.pos.update(info["position"], stopped_by=None)
    log(f"resuming at step {run.pos['step']} of {run.pos['total']} (epoch {run.pos['epoch'] + 1}, "
        f"window {run.pos['window']})")


def _save_last(run: _Run) -> None:
    """OUT/last: the latest weights and everything needed to continue exactly (rank 0
    writes; every rank's RNG and carried state are gathered to it)."""
    mine = {**_rng_states(), "state": None if run.state is None else [s.cpu() for s in run.state]}
    every = run.dist.gather(mine)
    if not run.dist.main:
        return
    save_model(run.out / "last", run.model, run.meta)
    tensors, groups = _pack_optimizer(run.opt)
    n_hidden = 0
    for rank, got in enumerate(every):
        for k in ("rng", "rng_cuda"):
            if k in got:
                tensors[k if rank == 0 else f"{k}.r{rank}"] = got[k]
        prefix = "hidden" if run.dist.world == 1 else f"hidden.r{rank}"
        if got["state"] is not None:
            tensors.update({f"{prefix}.{i}": h for i, h in enumerate(got["state"])})
            n_hidden = len(got["state"])
    save_train_state(run.out / "last", tensors, {"position": run.pos, "param_groups": groups, "n_hidden": n_hidden,
                                                 "world_size": run.dist.world})


def _validate(run: _Run, validation: Callable, say, plog) -> bool:
    """Score the held-out data (rank 0; shared with the other ranks), keep the best model.
    Returns True when the run should stop early."""
    pos, metric = run.pos, run.metric
    value = run.dist.from_main(float(validation(run.model)[metric]) if run.dist.main else None)
    pos["valid"].append({"epoch": pos["epoch"], "step": pos["step"], f"valid_{metric}": round(value, 5)})
    sign = 1.0 if run.objective.direction == "lower" else -1.0
    improved = sign * value < sign * pos["best"] - 1e-4 if math.isfinite(pos["best"]) else math.isfinite(value)
    if improved:
        pos["best"], pos["best_step"], pos["bad_epochs"] = value, pos["step"], 0
    else:
        pos["bad_epochs"] += 1
    say(f"epoch {pos['epoch']}: validation {value:.4f} {run.objective.unit}" + (" (best)" if improved else ""))
    plog.write("valid", step=pos["step"], total=pos["total"], epoch=pos["epoch"],
               **{run.objective.progress_valid: round(value, 5)}, best=improved)
    if improved and run.dist.main:
        save_model(run.out, run.model, dict(run.meta, metrics={f"valid_{metric}": round(value, 5),
                                                               "epoch": pos["epoch"], "step": pos["step"]}))
    if pos["bad_epochs"] >= run.cfg.patience:
        say(f"early stop: no improvement for {run.cfg.patience} epochs")
        return True
    return False


def fit(model, objective, batches, validation: Callable, cfg: TrainConfig, out: str | Path, *,
        test: Callable | None = None, meta: dict | None = None, resume: bool = False, valid_size: int = 0,
        init: bool = False, short_run_hint: str = "", progress: bool = True,
        log: Callable[[str], None] = print) -> dict:
    """Train ``model`` (any family) on ``batches`` for ``objective``; the one training loop.

    ``validation(model) -> dict`` scores the held-out data (must hold the objective's
    primary metric); it picks the best checkpoint and drives early stopping. ``test``,
    if given, scores the best model once when the run finishes. ``init``: the weights
    were loaded from another model (fine-tuning). ``valid_size``: positions the
    validation scores (to budget its time under ``minutes``). Returns the run's summary
    (also in OUT/metrics.json).
    """
    with stop_on_signals():  # from here on, a signal stops the run resumably
        run = _setup(model, objective, batches, cfg, Path(out), meta)
        if cfg.init_uniform > 0 and not init:  # a resumed run then loads its own weights over these
            init_uniform_(run.model, cfg.init_uniform, cfg.seed)
        try:
            return _fit(run, validation, test, resume, valid_size, init, short_run_hint, progress, log)
        finally:
            run.dist.close()


def _plan(run: _Run, valid_size: int, init: bool, hint: str, log) -> None:
    cfg, batches = run.cfg, run.batches
    per_epoch = batches.windows_per_epoch(0)
    per_window = max(1, batches.batch * getattr(batches, "bptt", 1))
    eval_fraction = valid_size / max(1, per_epoch * per_window) / 3  # scoring ~3x faster than training
    total = plan_steps(cfg, per_epoch, lambda: _probe_step_seconds(run.model, run.objective, cfg, batches),
                       eval_fraction)
    run.pos["total"] = run.dist.from_main(total)
    if cfg.minutes:
        log(f"time budget {cfg.minutes:g} min: {run.pos['total']} steps fit on this machine "
            f"(--steps {run.pos['total']} repeats this run exactly)")
    if not init and run.pos["total"] < MIN_STEPS_FROM_SCRATCH:
        log(f"warning: only {run.pos['total']} training steps; from random weights that is too few to learn "
            f"(aim for {MIN_STEPS_FROM_SCRATCH}+)." + (f" {hint}" if hint else ""))


def _fit(run: _Run, validation, test, resume, valid_size, init, hint, progress, log) -> dict:
    from tqdm import tqdm

    pos, cfg, obj = run.pos, run.cfg, run.objective
    if resume:
        _resume(run, log)
    if pos["done"]:
        log("this run already finished; nothing to resume")
        return _summary(run)
    if pos["total"] is None:
        _plan(run, valid_size, init, hint, log)
    total = pos["total"]
    per_epoch = run.batches.windows_per_epoch(0)
    n_epochs = math.ceil(total / per_epoch)
    run.meta["train"]["planned_steps"] = total
    quiet = not progress or not run.dist.main
    bar = tqdm(total=total, initial=pos["step"], disable=quiet, unit="step", dynamic_ncols=True, file=sys.stderr)
    say = (lambda m: bar.write(m, file=sys.stderr)) if not quiet else (log if run.dist.main else (lambda m: None))
    t_start, seen, ema = time.perf_counter(), 0, None
    deadline = None if not cfg.minutes else t_start + cfg.minutes * 60 - pos["seconds"]
    plog = ProgressLog(run.out, resume) if run.dist.main else _NoLog()
    plog.write("start", step=pos["step"], total=total, epochs=n_epochs)
    stopped, last_save = False, time.perf_counter()
    params = list(run.model.parameters())
    run.model.train()
    for epoch in range(pos["epoch"], n_epochs):
        out_of_time = False
        for w, batch in run.batches.epoch(epoch, pos["window"], device=run.device):
            if pos["step"] >= total:
                break
            signalled, = run.dist.any(stop_requested() is not None)
            if signalled:  # arrived before this step (e.g. while the run was set up)
                stopped, pos["stopped_by"] = True, stop_requested() or "signal"
                break
            for g in run.opt.param_groups:
                g["lr"] = lr_at(pos["step"], total, cfg, epoch)
            carried = run.state if run.batches.carries_state and run.model.carries_state and not cfg.stateless else None
            value, state, ok = train_step(run.net, obj, run.opt, batch, carried, cfg, params)
            value = run.dist.mean(value)  # the loss over the whole batch, every rank's rows
            run.state = state if run.batches.carries_state and run.model.carries_state else None
            pos["skipped_steps"] += not ok
            pos["step"] += 1
            pos["window"] = w + 1
            pos["history"].append(round(value, 6))
            seen += batch.y.shape[0] * (batch.y.shape[1] - batch.score_from) if batch.y.dim() > 1 else batch.y.shape[0]
            ema = value if ema is None else 0.95 * ema + 0.05 * value
            bar.update(1)
            bar.set_postfix_str(f"epoch {epoch + 1}/{n_epochs} loss {ema * obj.report_scale:.3f} {obj.unit} "
                                f"{seen * run.dist.world / (time.perf_counter() - t_start):,.0f} pos/s")
            plog.step(value * obj.report_scale, name=obj.report_name, step=pos["step"], total=total, epoch=epoch + 1)
            signalled, out_of_time = run.dist.any(stop_requested() is not None,
                                                  deadline is not None and time.perf_counter() > deadline)
            if signalled or (cfg.max_steps is not None and pos["step"] >= cfg.max_steps):
                stopped, pos["stopped_by"] = True, (stop_requested() or "signal") if signalled else "max_steps"
                break
            if out_of_time:
                break
        if stopped:
            break
        # end of epoch (or of the run): validate, keep the best, maybe stop early
        pos["epoch"], pos["window"], run.state = epoch + 1, 0, None
        early = _validate(run, validation, say, plog)
        if early:  # a finished run, stopped before its planned length: the summary says so
            pos["stopped_by"] = "early_stop"
            break
        due, = run.dist.any(time.perf_counter() - last_save > SAVE_EVERY_S)  # one decision for every rank
        if due:  # so that even a killed run can --resume
            _save_last(run)
            last_save = time.perf_counter()
        if out_of_time or pos["step"] >= total:
            break
        signalled, = run.dist.any(stop_requested() is not None)
        if signalled:  # arrived during validation: the epoch is complete
            stopped, pos["stopped_by"] = True, stop_requested() or "signal"
            break
    pos["seconds"] += time.perf_counter() - t_start
    if not stopped:
        pos["done"] = True
        if pos["skipped_steps"]:
            say(f"warning: {pos['skipped_steps']} steps had a non-finite gradient norm and were skipped")
    elif pos["stopped_by"] in ("SIGINT", "SIGTERM", "signal"):
        say(f"interrupted ({pos['stopped_by']}) after step {pos['step']}: state saved; continue with --resume")
    _save_last(run)
    bar.close()
    summary = _summary(run)
    if run.dist.world > 1:
        summary["ranks_agree"] = run.dist.agree(run.model)
        if not summary["ranks_agree"]:
            say("warning: the processes' weights differ (data-parallel training went out of step)")
    if pos["done"] and test is not None and math.isfinite(pos["best"]) and run.dist.main:
        best, _ = load_model_state(run.out)
        run.model.load_state_dict(best)
        scores = test(run.model)
        value = round(float(scores[run.metric]), 5)
        summary[f"test_{run.metric}"] = value
        count = {k: v for k, v in scores.items() if k != run.metric and isinstance(v, int)}
        say(f"test: {value:.4f} {obj.unit} (best model, scored once)")
        update_config(run.out, lambda m: m.setdefault("metrics", {}).update({f"test_{run.metric}": value, **{
            f"test_{k}": v for k, v in count.items()}}))
    if run.dist.main:
        (run.out / "metrics.json").write_text(json.dumps(summary, indent=1) + "\n")
    plog.write("end", step=pos["step"], total=total, finished=pos["done"], stopped_by=pos["stopped_by"],
               **{f"best_{obj.progress_valid}": summary[f"best_valid_{run.metric}"],
                  obj.progress_valid.replace("valid_", "test_"): summary.get(f"test_{run.metric}")})
    plog.close()
    run.dist.barrier()
    return summary


class _NoLog:
    def write(self, *a, **k):
        pass

    step = write

    def close(self):
        pass


def _summary(run: _Run) -> dict:
    pos, metric = run.pos, run.metric
    return {"out": str(run.out), "steps": pos["step"], "planned_steps": pos.get("total"), "epochs_done": pos["epoch"],
            "finished": pos["done"], "stopped_by": pos.get("stopped_by"), "metric": metric,
            f"best_valid_{metric}": None if math.isinf(pos["best"]) else round(pos["best"], 5),
            "train_seconds": round(pos["seconds"], 1), "n_parameters": count_parameters(run.model),
            "world_size": run.dist.world, "skipped_steps": pos.get("skipped_steps", 0), "valid": pos["valid"],
            "loss_history": pos["history"]}


__all__ = ["Distributed", "TrainConfig", "fit", "train_step", "lr_at", "init_uniform_", "make_optimizer", "plan_steps", "resolve_device",
           "parse_grad_scale", "scale_grad_norm_", "CheckpointError", "DataError"]

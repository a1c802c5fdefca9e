"""The training loop: stateful truncated BPTT, AdamW with warmup + cosine decay,
gradient-norm clipping, per-epoch validation in bits per token, best-checkpoint
keeping, early stopping, and exact resume.

Determinism: every random choice flows from ``TrainConfig.seed`` (weights init and
dropout through torch's generator, data order and augmentation through
``numpy.random.default_rng([seed, epoch])``); on the CPU the same seed gives
bit-identical weights, and a run stopped at any step and resumed ends bit-identical
to one that never stopped, because the optimizer moments, the RNG state, the carried
hidden state and the position in the epoch are all saved.

Output folder layout::

    OUT/config.json, OUT/model.safetensors      the best model so far (sample from OUT)
    OUT/last/...                                 the latest model + training state (--resume)
    OUT/metrics.json                             loss curve and validation history
"""

from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .checkpoint import load_model_state, load_train_state, save_model, save_train_state
from .data import Streams, Transform
from .rnn import CharRNN, RNNConfig, count_parameters, detach

LN2 = math.log(2)


@dataclass
class TrainConfig:
    seed: int = 0
    batch: int = 32
    bptt: int = 128
    lr: float = 3e-3
    weight_decay: float = 0.01
    warmup: int = 100
    min_lr_ratio: float = 0.1
    epochs: int = 10
    max_steps: int | None = None  # stop (resumably) after this many steps; the schedule ignores it
    grad_clip: float = 1.0  # clip the global gradient norm to this (0: off)
    grad_scale: float = 0.0  # > 0: scale the global gradient norm to exactly this instead of clipping
    patience: int = 3  # epochs without a better validation score before stopping
    device: str = "cpu"

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


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
    if value <= 0:
        raise ValueError("the gradient scale must be positive")
    return value


def scale_grad_norm_(params, c: float) -> float:
    """g <- c * g / ||g|| over the global norm of all gradients; returns the norm before."""
    grads = [p.grad for p in params if p.grad is not None]
    norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
    factor = c / (norm + 1e-12)
    for g in grads:
        g.mul_(factor)
    return float(norm)


def token_loss(logits: torch.Tensor, targets: torch.Tensor, output: str) -> torch.Tensor:
    """Mean next-token loss: cross-entropy for softmax, binary cross-entropy for Topcat."""
    if output == "softmax":
        return F.cross_entropy(logits.flatten(0, 1), targets.flatten())
    from .activations import topcat_bce

    return topcat_bce(logits.flatten(0, 1), targets.flatten(), output)


def lr_at(step: int, total: int, cfg: TrainConfig) -> float:
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    frac = min(1.0, (step - cfg.warmup) / max(1, total - cfg.warmup))
    return cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * frac)))


def make_optimizer(model: torch.nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    decay = [p for p in model.parameters() if p.dim() >= 2]
    rest = [p for p in model.parameters() if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": rest, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(0.9, 0.99))


@torch.no_grad()
def evaluate_bits(model: CharRNN, seqs: Sequence[np.ndarray], batch: int, bptt: int, device="cpu") -> float:
    """Mean negative log2-likelihood per token over ``seqs``, state carried as in training."""
    was = model.training
    model.eval()
    streams = Streams.for_evaluation(seqs, batch, bptt)
    state, nll, count = None, 0.0, 0
    for _, win in streams.epoch(0, device=device):
        logits, state = model(win.x, state, win.reset)
        nll += F.cross_entropy(logits.flatten(0, 1), win.y.flatten(), reduction="sum").item()
        count += win.y.numel()
    model.train(was)
    return nll / max(count, 1) / LN2


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


def train(model_cfg: RNNConfig, cfg: TrainConfig, train_seqs: Sequence[np.ndarray], valid_seqs: Sequence[np.ndarray],
          out: str | Path, *, meta: dict | None = None, transform: Transform | None = None, resume: bool = False,
          progress: bool = True, log: Callable[[str], None] = print) -> dict:
    """Train (or resume) a char-RNN; returns the run's summary (also in OUT/metrics.json)."""
    out = Path(out)
    device = torch.device(cfg.device)
    set_determinism(cfg.seed, cfg.device)
    model = CharRNN(model_cfg).to(device)
    opt = make_optimizer(model, cfg)
    streams = Streams(train_seqs, cfg.batch, cfg.bptt, seed=cfg.seed, transform=transform)
    per_epoch = streams.windows_per_epoch(0)
    total = cfg.epochs * per_epoch
    pos = {"step": 0, "epoch": 0, "window": 0, "best": float("inf"), "best_step": 0, "bad_epochs": 0,
           "done": False, "history": [], "valid": [], "seconds": 0.0}
    hidden = None
    if resume:
        weights, _ = load_model_state(out / "last")
        model.load_state_dict(weights)
        tensors, info = load_train_state(out / "last")
        _unpack_optimizer(opt, tensors, info.pop("param_groups"))
        torch.set_rng_state(tensors["rng"])
        if "hidden.0" in tensors:
            hidden = tuple(tensors[f"hidden.{i}"].to(device) for i in range(info["n_hidden"]))
        pos.update(info["position"])
        log(f"resuming at step {pos['step']} (epoch {pos['epoch'] + 1}, window {pos['window']})")
    if pos["done"]:
        log("this run already finished; nothing to resume")
        return _summary(out, pos, model)
    meta = dict(meta or {}, model=model_cfg.to_dict(), train=asdict(cfg), n_parameters=count_parameters(model))

    def save_last():
        save_model(out / "last", model, meta)
        tensors, groups = _pack_optimizer(opt)
        tensors["rng"] = torch.get_rng_state()
        if hidden is not None:
            tensors.update({f"hidden.{i}": h for i, h in enumerate(hidden)})
        save_train_state(out / "last", tensors, {"position": pos, "param_groups": groups,
                                                  "n_hidden": 0 if hidden is None else len(hidden)})

    def write_metrics():
        (out / "metrics.json").write_text(json.dumps(_summary(out, pos, model), indent=1) + "\n")

    from tqdm import tqdm

    bar = tqdm(total=total, initial=pos["step"], disable=not progress, unit="step", dynamic_ncols=True, file=sys.stderr)
    say = lambda m: bar.write(m, file=sys.stderr) if progress else log(m)
    t_start, tokens_seen, ema = time.perf_counter(), 0, None
    stopped = False
    model.train()
    try:
        for epoch in range(pos["epoch"], cfg.epochs):
            for w, win in streams.epoch(epoch, pos["window"], device=device):
                for g in opt.param_groups:
                    g["lr"] = lr_at(pos["step"], total, cfg)
                logits, hidden = model(win.x, hidden, win.reset)
                loss = token_loss(logits, win.y, model_cfg.output)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                if cfg.grad_scale > 0:
                    scale_grad_norm_(model.parameters(), cfg.grad_scale)
                elif cfg.grad_clip > 0:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
                opt.step()
                hidden = detach(hidden)
                pos["step"] += 1
                pos["window"] = w + 1
                # the history is always next-token cross-entropy (nats), whatever the training loss
                lv = loss.item() if model_cfg.output == "softmax" else \
                    F.cross_entropy(logits.detach().flatten(0, 1), win.y.flatten()).item()
                pos["history"].append(round(lv, 6))
                tokens_seen += win.y.numel()
                ema = lv if ema is None else 0.95 * ema + 0.05 * lv
                bar.update(1)
                bar.set_postfix_str(f"epoch {epoch + 1}/{cfg.epochs} loss {ema / LN2:.3f} bits/token "
                                    f"{tokens_seen / (time.perf_counter() - t_start):,.0f} tok/s")
                if cfg.max_steps is not None and pos["step"] >= cfg.max_steps:
                    stopped = True
                    break
            if stopped:
                break
            # end of epoch: validate, keep the best, maybe stop early
            bits = evaluate_bits(model, valid_seqs, cfg.batch, cfg.bptt, device)
            pos["valid"].append({"epoch": epoch + 1, "step": pos["step"], "valid_bits_per_token": round(bits, 5)})
            pos["epoch"], pos["window"], hidden = epoch + 1, 0, None
            improved = bits < pos["best"] - 1e-4
            if improved:
                pos["best"], pos["best_step"], pos["bad_epochs"] = bits, pos["step"], 0
            else:
                pos["bad_epochs"] += 1
            say(f"epoch {epoch + 1}: validation {bits:.4f} bits/token" + (" (best)" if improved else ""))
            pos["seconds"] += time.perf_counter() - t_start
            t_start, tokens_seen = time.perf_counter(), 0
            if improved:
                save_model(out, model, dict(meta, metrics={"valid_bits_per_token": round(bits, 5), "epoch": epoch + 1, "step": pos["step"]}))
            if pos["bad_epochs"] >= cfg.patience:
                say(f"early stop: no improvement for {cfg.patience} epochs")
                break
        if not stopped:
            pos["done"] = True
    except KeyboardInterrupt:
        say("interrupted: saving the training state; continue with --resume")
        stopped = True
    finally:
        bar.close()
    pos["seconds"] += time.perf_counter() - t_start if stopped else 0.0
    save_last()
    write_metrics()
    return _summary(out, pos, model)


def _summary(out: Path, pos: dict, model: torch.nn.Module) -> dict:
    return {"out": str(out), "steps": pos["step"], "epochs_done": pos["epoch"], "finished": pos["done"],
            "best_valid_bits_per_token": None if math.isinf(pos["best"]) else round(pos["best"], 5),
            "train_seconds": round(pos["seconds"], 1), "n_parameters": count_parameters(model),
            "valid": pos["valid"], "loss_history": pos["history"]}

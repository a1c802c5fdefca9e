"""Objectives: what a model is trained to do and how it is judged.

An objective owns the training loss, the exact held-out score and its primary metric
with the direction that is better. The training loop (:func:`musicrnn.core.train.fit`)
knows nothing else about the task.

* :class:`NextToken` -- next-token prediction over a token stream: softmax + cross-entropy
  or a Topcat output + binary cross-entropy (``topcat.py``); scored in bits per token by
  the exact scorer. An optional ``mask`` restricts which tokens may follow (a task whose
  serialisation is canonical, e.g. a piano-roll frame's keys in ascending order).
* :class:`Regression` -- amounts predicted from float features: Smooth L1 or an
  asymmetric loss from ``losses.py``; scored as that loss's mean.
* :class:`FrameBCE` -- a piano-roll frame objective: one independent sigmoid per key,
  binary cross-entropy summed over the keys; scored in nats per frame.

``from_dict(meta["objective"])`` rebuilds the objective a checkpoint was trained with,
a task's own objective too (:data:`TASK_KINDS`, imported only then).
"""

from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F

from .config import OUTPUTS
from .errors import SettingsError

LN2 = math.log(2)
Mask = Callable[[torch.Tensor], torch.Tensor]  # inputs (B, T) -> allowed next tokens (B, T, V) bool


def scored(t: torch.Tensor, batch) -> torch.Tensor:
    """Positions from ``batch.score_from`` on (the earlier ones are context only)."""
    return t[:, batch.score_from:] if getattr(batch, "score_from", 0) else t


class NextToken:
    kind = "next-token"
    primary, direction = "bits_per_token", "lower"
    report_name, report_scale = "train_bits", 1 / LN2  # history holds nats; progress shows bits
    unit = "bits/token"
    progress_valid = "valid_bits"  # the validation score's name in OUT/progress.jsonl

    def __init__(self, output: str = "softmax", mask: Mask | None = None, unscored: int | None = None):
        if output not in OUTPUTS:
            raise SettingsError(f"unknown output {output!r}: use {', '.join(OUTPUTS)}")
        self.output, self.mask = output, mask
        self.unscored = unscored  # a target token the training loss leaves out (a step between pieces)

    def logits(self, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """The model's logits with disallowed next tokens (``mask``) set to -inf."""
        return z if self.mask is None else z.masked_fill(~self.mask(x), float("-inf"))

    def loss(self, out: torch.Tensor, batch) -> tuple[torch.Tensor, float]:
        """(training loss to differentiate, next-token cross-entropy in nats of the
        distribution the model samples from)."""
        from .topcat import log_probs, token_loss

        z = scored(self.logits(out, batch.x), batch)
        y = scored(batch.y, batch)
        if self.unscored is not None:
            keep = y != self.unscored
            z, y = z[keep][None], y[keep][None]
        if self.output != "softmax" and z.dtype != torch.float32:
            z = z.float()
        loss = token_loss(z, y, self.output)
        if self.output == "softmax":
            return loss, loss.item()
        with torch.no_grad():
            ce = -log_probs(z.detach().float(), self.output).gather(-1, y[..., None]).mean().item()
        return loss, ce

    def score(self, model, seqs) -> dict:
        from .evaluate import score_tokens

        ll = score_tokens(model, seqs, output=self.output, mask=self.mask, details=False)["loglik"]
        return {"bits_per_token": float(-ll.mean() / LN2) if ll.size else float("nan"), "tokens": int(ll.size)}

    def to_dict(self) -> dict:
        return {"kind": self.kind, "output": self.output}


class _PerPosition:
    """An objective scored position by position on float streams: ``per_position(out, y)``
    (B, T) is both the training loss (its mean over scored positions) and the held-out
    score (its mean over every position, ``evaluate.score_pairs``)."""

    count_name = "positions"

    def loss(self, out, batch) -> tuple[torch.Tensor, float]:
        loss = scored(self.per_position(out, batch.y), batch).mean()
        return loss, loss.item()

    def mean_over(self, pred, target) -> float:
        """The mean per-position loss of ``pred`` against ``target`` (NumPy arrays of one shape:
        (T,) or (T, F)), read as one stream; NaN when empty."""
        import numpy as np

        a = torch.from_numpy(np.asarray(pred, np.float32))
        b = torch.from_numpy(np.asarray(target, np.float32))
        if not a.numel():
            return float("nan")
        return float(self.per_position(a.reshape(1, len(a), -1), b.reshape(1, len(b), -1)).double().mean())

    def score(self, model, pairs) -> dict:
        from .evaluate import score_pairs

        v = score_pairs(model, pairs, self.per_position)
        return {self.primary: float(v.mean()) if v.size else float("nan"), self.count_name: int(v.size)}


class Regression(_PerPosition):
    kind = "regression"
    primary, direction = "loss", "lower"
    report_name, report_scale = "train_loss", 1.0
    unit = "loss"
    progress_valid = "valid_loss"

    def __init__(self, loss: str = "smooth-l1", **kw):
        from .losses import LOSSES

        if loss not in LOSSES:
            raise SettingsError(f"unknown loss {loss!r}: choose from {', '.join(LOSSES)}")
        self.name, self.kw = loss, kw

    def per_position(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        from .losses import LOSSES

        e = LOSSES[self.name](out.float() - y, **self.kw)
        return e.flatten(2).mean(-1) if e.dim() > 2 else e

    def to_dict(self) -> dict:
        return {"kind": self.kind, "loss": self.name, **self.kw}


class FrameBCE(_PerPosition):
    kind = "frame-bce"
    primary, direction = "nll_per_frame", "lower"
    report_name, report_scale = "train_nll", 1.0
    unit = "nats/frame"
    progress_valid = "valid_nll"
    count_name = "frames"

    def __init__(self, output: str = "sigmoid"):
        if output not in SET_OUTPUTS:
            raise SettingsError(f"unknown set output {output!r}: use {', '.join(SET_OUTPUTS)}")
        self.output = output

    def per_position(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The training loss of each frame, (B, T, K) -> (B, T). ``sigmoid``: the negative
        log-likelihood (nats) of the frame's keys, one sigmoid each. The others read the frame's
        set as a distribution (t = y / |y|): ``softmax``, its cross-entropy; ``topcat`` and
        ``topcat-sigmoid``, binary cross-entropy of the Topcat probabilities against t."""
        z, y = out.float(), y.float()
        if self.output == "sigmoid":
            return F.binary_cross_entropy_with_logits(z, y, reduction="none").sum(-1)
        t = y / y.sum(-1, keepdim=True).clamp(min=1.0)
        if self.output == "softmax":
            return -(t * torch.log_softmax(z, -1)).sum(-1)
        from .topcat import topcat_log_probs

        logp, log1mp = topcat_log_probs(z, self.output)
        return -(t * logp + (1 - t) * log1mp).sum(-1)

    def to_dict(self) -> dict:
        return {"kind": self.kind, **({"output": self.output} if self.output != "sigmoid" else {})}


SET_OUTPUTS = ("sigmoid", "softmax", "topcat", "topcat-sigmoid")


def inclusion_probs(z, output: str, k: int):
    """The chance each key is in a set of ``k`` that the ``output`` activation states (NumPy or
    torch logits, (..., K)): its sigmoid, or k times its (Topcat or softmax) probability, at most 1."""
    z = torch.as_tensor(z, dtype=torch.float64)
    if output == "sigmoid":
        return torch.sigmoid(z)
    if output == "softmax":
        p = torch.softmax(z, -1)
    else:
        from .topcat import topcat_probs

        p = topcat_probs(z, output)
    return (k * p).clamp(max=1.0)


KINDS = {"next-token": NextToken, "regression": Regression, "frame-bce": FrameBCE}

# Objectives a task of this package defines, as lazy "module:Class" strings (imported only
# when a checkpoint names one, as the model registry's TASK_FAMILIES), so that the core
# imports no task. Each class is rebuilt from its ``to_dict()`` entry: Class(**the rest).
TASK_KINDS = {"spectral": "musicrnn.style.voice:Spectral"}


def _task_objective(kind: str, d: dict):
    import importlib

    module, name = TASK_KINDS[kind].split(":")
    cls = getattr(importlib.import_module(module), name)
    try:
        return cls(**d)
    except (TypeError, ValueError) as e:
        raise SettingsError(f"objective {kind!r}: {e}") from None


def from_dict(d: dict | None, mask: Mask | None = None):
    """The objective a checkpoint's ``objective`` entry describes (default: next-token softmax)."""
    d = dict(d or {"kind": "next-token"})
    kind = d.pop("kind", "next-token")
    if kind in TASK_KINDS:
        return _task_objective(kind, d)
    if kind not in KINDS:
        raise SettingsError(f"unknown objective {kind!r}: choose from {', '.join(KINDS)}")
    if kind == "next-token":
        if d.get("constraint") and mask is None:  # scoring without it would not be the model's distribution
            raise SettingsError(f"this model was trained under the {d['constraint']!r} constraint; "
                                f"score it with its own task (e.g. musicrnn bench polymusic)")
        return NextToken(d.get("output", "softmax"), mask=mask)
    if kind == "regression":
        return Regression(d.pop("loss", "smooth-l1"), **d)
    return FrameBCE(d.get("output", "sigmoid"))


__all__ = ["FrameBCE", "KINDS", "NextToken", "Regression", "SET_OUTPUTS", "TASK_KINDS", "from_dict", "inclusion_probs", "scored"]

"""Regression losses, symmetric and asymmetric (for tasks that predict amounts).

``error = prediction - target``: negative is under-prediction, positive over-prediction.
The asymmetric losses are **reconstructions** of "Exp Or Log" and "Smooth L1 Or L2":
one branch applies to under-prediction and another to over-prediction; ``under`` picks
which side gets the first-named (steeper) branch.

* Smooth L1 (Huber, beta):   0.5 e^2 / beta if |e| < beta else |e| - 0.5 beta
* Exp Or Log:                exp(|e|) - 1 - |e| on the penalised side (grows exponentially),
                             (1 + |e|) log(1 + |e|) - |e| on the other (grows like |e| log|e|);
                             both are 0 with zero slope at e = 0, convex, and equal to
                             e^2 / 2 to second order, so the loss is smooth at 0.
* Smooth L1 Or L2:           e^2 (L2) on the penalised side, Smooth L1 on the other.
"""

from __future__ import annotations

import torch


def smooth_l1(e: torch.Tensor, beta: float = 1.0) -> torch.Tensor:
    a = e.abs()
    return torch.where(a < beta, 0.5 * a * a / beta, a - 0.5 * beta)


def _exp_branch(a: torch.Tensor) -> torch.Tensor:
    return torch.expm1(a.clamp(max=30.0)) - a


def _log_branch(a: torch.Tensor) -> torch.Tensor:
    return (1 + a) * torch.log1p(a) - a


def _split(e: torch.Tensor, under: str) -> torch.Tensor:
    """True where the steep (penalised) branch applies."""
    if under not in ("steep", "gentle"):
        raise ValueError("under must be 'steep' (punish under-prediction more) or 'gentle'")
    return (e < 0) if under == "steep" else (e > 0)


def exp_or_log(e: torch.Tensor, under: str = "steep") -> torch.Tensor:
    a = e.abs()
    return torch.where(_split(e, under), _exp_branch(a), _log_branch(a))


def smooth_l1_or_l2(e: torch.Tensor, under: str = "steep", beta: float = 1.0) -> torch.Tensor:
    return torch.where(_split(e, under), e * e, smooth_l1(e, beta))


LOSSES = {"smooth-l1": smooth_l1, "exp-or-log": exp_or_log, "smooth-l1-or-l2": smooth_l1_or_l2}


def regression_loss(name: str, prediction: torch.Tensor, target: torch.Tensor, **kw) -> torch.Tensor:
    """Mean of the named loss over all elements."""
    try:
        fn = LOSSES[name]
    except KeyError:
        raise ValueError(f"unknown loss {name!r}: choose from {', '.join(LOSSES)}") from None
    return fn(prediction - target, **kw).mean()

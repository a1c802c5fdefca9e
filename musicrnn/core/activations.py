"""Research activations: Topcat (output) and Iris (hidden).

Both ideas come from an author whose formulas are not public. What is here are clearly
labelled **reconstructions** that follow the published descriptions; they are meant to
be tested against the standard choices (softmax, tanh), not assumed better.

Topcat (output activation, trained with binary cross-entropy against one-hot targets)
    ``topcat``:   p_i = exp(z_i) / (1 + sum_j exp(z_j))
        softmax with an implicit "null" class of logit 0. The total probability
        sum_i p_i = sigmoid(logsumexp z) is the model's certainty; it can stay below 1.
        Renormalised for sampling, p / sum(p) equals softmax(z): Topcat changes what the
        loss rewards (calibration), not how a trained model is sampled.
    ``topcat-sigmoid``: p_i = sigmoid(z_i) / max(1, sum_j sigmoid(z_j))
        independent sigmoids, scaled down only when they would sum past 1.

Iris (hidden activation related to the metallic means delta_n = (n + sqrt(n^2 + 4)) / 2;
n = 1 is the golden ratio, n = 2 the silver ratio)
    ``iris{n}``:   delta_n * tanh(x / n)     (n = 1: golden-ratio-scaled tanh)
    ``iris-mm``:   c * x / sqrt(x^2 + 4)     (the algebraic sigmoid whose fixed-point
        equation gives the metallic means), with c chosen so that the output has unit
        variance for x ~ N(0, 1).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def metallic_mean(n: float) -> float:
    return (n + math.sqrt(n * n + 4)) / 2


def _unit_variance_scale() -> float:
    """c with Var(c * x / sqrt(x^2 + 4)) = 1 for x ~ N(0, 1), by quadrature (deterministic)."""
    x = torch.linspace(-12, 12, 200_001, dtype=torch.float64)
    w = torch.exp(-x * x / 2) / math.sqrt(2 * math.pi) * (x[1] - x[0])
    second_moment = float((w * (x * x) / (x * x + 4)).sum())  # the mean is 0 by symmetry
    return 1 / math.sqrt(second_moment)


IRIS_MM_SCALE = _unit_variance_scale()


def iris(x: torch.Tensor, n: int = 1) -> torch.Tensor:
    return metallic_mean(n) * torch.tanh(x / n)


def iris_mm(x: torch.Tensor) -> torch.Tensor:
    return IRIS_MM_SCALE * x * torch.rsqrt(x * x + 4)


HIDDEN = {
    "tanh": torch.tanh,
    "iris": iris,
    "iris1": iris,
    "iris2": lambda x: iris(x, 2),
    "iris-mm": iris_mm,
}


def hidden_activation(name: str):
    try:
        return HIDDEN[name]
    except KeyError:
        raise ValueError(f"unknown activation {name!r}: choose from {', '.join(HIDDEN)}") from None


# --- Topcat -------------------------------------------------------------------------------
def _log1mexp(x: torch.Tensor) -> torch.Tensor:
    """log(1 - exp(x)) for x <= 0, accurate near 0 and near -inf (Maechler 2012)."""
    x = x.clamp(max=-1e-12)
    return torch.where(x > -math.log(2), torch.log(-torch.expm1(x)), torch.log1p(-torch.exp(x)))


def topcat_log_probs(z: torch.Tensor, variant: str = "topcat") -> tuple[torch.Tensor, torch.Tensor]:
    """(log p_i, log(1 - p_i)) over the last dimension, computed stably from logits z."""
    if variant == "topcat":
        lse0 = F.softplus(torch.logsumexp(z, -1, keepdim=True))  # log(1 + sum exp z)
        logp = z - lse0
        return logp, _log1mexp(logp)
    if variant == "topcat-sigmoid":
        log_s = F.logsigmoid(z)
        log_total = torch.logsumexp(log_s, -1, keepdim=True)
        logp = log_s - log_total.clamp(min=0.0)
        return logp, _log1mexp(logp)
    raise ValueError(f"unknown Topcat variant {variant!r}")


def topcat_probs(z: torch.Tensor, variant: str = "topcat") -> torch.Tensor:
    return topcat_log_probs(z, variant)[0].exp()


def topcat_bce(z: torch.Tensor, target: torch.Tensor, variant: str = "topcat") -> torch.Tensor:
    """Binary cross-entropy of Topcat probabilities against one-hot targets, summed over
    classes and averaged over positions. z: (N, V) logits; target: (N,) class ids."""
    logp, log1mp = topcat_log_probs(z, variant)
    pos = logp.gather(-1, target[:, None]).squeeze(-1)
    neg = log1mp.sum(-1) - log1mp.gather(-1, target[:, None]).squeeze(-1)
    return -(pos + neg).mean()

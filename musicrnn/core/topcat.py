"""Topcat, an output activation trained with binary cross-entropy instead of softmax.

Its author's formula is not public; what is here are clearly labelled **reconstructions**
that follow the published description, meant to be tested against softmax, not assumed
better.

``topcat``:   p_i = exp(z_i) / (1 + sum_j exp(z_j))
    softmax with an implicit "null" class of logit 0. The total probability
    sum_i p_i = sigmoid(logsumexp z) is the model's certainty; it can stay below 1.
    Renormalised, p / sum(p) equals softmax(z).
``topcat-sigmoid``: p_i = sigmoid(z_i) / max(1, sum_j sigmoid(z_j))
    independent sigmoids, scaled down only when they would sum past 1. Renormalised,
    p / sum(p) = sigmoid(z) / sum sigmoid(z), which is *not* softmax(z).

Sampling and scoring use the renormalised distribution of each output
(:func:`log_probs`; NumPy: :func:`musicrnn.core.activations.sampling_logits`).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


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


def log_probs(z: torch.Tensor, output: str) -> torch.Tensor:
    """Log of the (renormalised) next-token distribution that ``output`` defines, (..., V)."""
    if output == "topcat-sigmoid":
        return torch.log_softmax(F.logsigmoid(z), -1)
    return torch.log_softmax(z, -1)


def confidence_probs(z: torch.Tensor, output: str) -> torch.Tensor:
    """The probabilities the output activation itself states (Topcat's may sum below 1):
    what calibration judges."""
    return torch.softmax(z, -1) if output == "softmax" else topcat_probs(z, output)


def token_loss(logits: torch.Tensor, targets: torch.Tensor, output: str) -> torch.Tensor:
    """Mean next-token training loss: cross-entropy for softmax, binary cross-entropy for Topcat."""
    if output == "softmax":
        return F.cross_entropy(logits.flatten(0, 1), targets.flatten())
    return topcat_bce(logits.flatten(0, 1), targets.flatten(), output)

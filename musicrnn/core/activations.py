"""Hidden activations for the research cells. Torch-free: each works on a torch tensor
and on a NumPy array alike, so the NumPy sampler and the training kernel share one
definition (the kernel in ``cells.py`` has fused in-place copies, tested against these).

Iris is tied to the metallic means delta_n = (n + sqrt(n^2 + 4)) / 2 (n = 1: the golden
ratio phi, n = 2: the silver ratio). Its author describes it as related to the metallic
ratios but *not* simply tanh scaled by the golden ratio (that helped small nets and did
not scale). The formula is not public; what is here is a labelled **reconstruction**:

``iris``      tanh with the metallic mean m(x) = (x + sqrt(x^2 + 4)) / 2 in place of e^x:
              since m(-x) = 1 / m(x), (m - 1/m) / (m + 1/m) = x / sqrt(x^2 + 4). Scaled by
              ``IRIS_SCALE`` so that the output has unit variance for x ~ N(0, 1). Until
              checkpoint format 2 this form was called ``iris-mm`` (still accepted).
``phi-tanh``  phi * tanh(x): the golden-ratio-scaled tanh, kept as a named control. Until
              checkpoint format 2 it was called ``iris``/``iris1``; old checkpoints are
              read with the old meaning (``LEGACY``).
``iris2``     silver * tanh(x / 2).

Topcat (the output activation) lives in ``topcat.py``; the distribution that sampling and
scoring use for each output is defined here by :func:`sampling_logits`.
"""

from __future__ import annotations

import math

import numpy as np

from .config import ACTIVATIONS, canonical_activation


def metallic_mean(n: float) -> float:
    return (n + math.sqrt(n * n + 4)) / 2


PHI, SILVER = metallic_mean(1), metallic_mean(2)


def unit_variance_scale() -> float:
    """c with Var(c * x / sqrt(x^2 + 4)) = 1 for x ~ N(0, 1), by quadrature (deterministic)."""
    x = np.linspace(-12, 12, 200_001)
    w = np.exp(-x * x / 2) / math.sqrt(2 * math.pi) * (x[1] - x[0])
    return 1 / math.sqrt(float(np.sum(w * (x * x) / (x * x + 4))))  # the mean is 0 by symmetry


# unit_variance_scale(), written out: the quadrature costs ~4 ms at every import (the
# sampler's start-up); tests/test_research_core.py checks that the two agree exactly.
IRIS_SCALE = 2.521672811422908


def tanh(x):
    return np.tanh(x) if isinstance(x, np.ndarray) else x.tanh()


def iris(x):
    return IRIS_SCALE * x * (x * x + 4) ** -0.5


def phi_tanh(x):
    return PHI * tanh(x)


def silver_tanh(x):
    return SILVER * tanh(x / 2)


HIDDEN = {"tanh": tanh, "iris": iris, "phi-tanh": phi_tanh, "iris2": silver_tanh}
assert tuple(HIDDEN) == ACTIVATIONS


def hidden_activation(name: str):
    return HIDDEN[canonical_activation(name)]


def sampling_logits(z: np.ndarray, output: str) -> np.ndarray:
    """Logits whose softmax is the next-token distribution the output activation defines.

    softmax: z. topcat: p_i = e^z_i / (1 + sum e^z), renormalised p / sum p = softmax(z),
    so z. topcat-sigmoid: p_i = sigmoid(z_i) / max(1, sum sigmoid), renormalised
    sigmoid(z) / sum sigmoid(z) = softmax(log sigmoid(z)), so log sigmoid(z).
    """
    if output == "topcat-sigmoid":
        return -np.logaddexp(0.0, -z)
    return z

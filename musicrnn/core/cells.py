"""A recurrent layer with research options: LSTM or LSTM-LITE, tanh or Iris.

LSTM-LITE shares one weight matrix between all three gates and the candidate; only the
biases differ. Pre-activation a = W_x x + W_h h (hidden-sized), then

    i = sigmoid(a + b_i)   f = sigmoid(a + b_f)   o = sigmoid(a + b_o)   g = act(a + b_g)
    c' = f * c + i * g     h' = o * act(c')

so the layer has a quarter of an LSTM's weights. With ``lite=False`` it is the standard
LSTM (PyTorch's gate order i, f, g, o), with ``act`` in place of both tanh's.

Speed: the input projection for the whole window is one matrix multiply; only the
recurrent product stays in the time loop, which TorchScript compiles (no Python per step).
"""

from __future__ import annotations

import math
from typing import List, Tuple

import torch
from torch import Tensor, nn


ACTIVATION_CODES = {"tanh": 0, "iris": 1, "iris1": 1, "iris2": 2, "iris-mm": 3}


@torch.jit.script
def _act(x: Tensor, code: int) -> Tensor:
    """The activations of core.activations by code (TorchScript needs literals: the metallic
    means phi and 1 + sqrt 2, and iris-mm's unit-variance scale; a test checks they agree)."""
    if code == 0:
        return torch.tanh(x)
    if code == 1:
        return 1.618033988749895 * torch.tanh(x)
    if code == 2:
        return 2.414213562373095 * torch.tanh(x * 0.5)
    return 2.521672811422908 * x * torch.rsqrt(x * x + 4.0)


@torch.jit.script
def lstm_scan(xp: Tensor, h: Tensor, c: Tensor, w_hh: Tensor, gate_bias: Tensor, lite: bool,
              code: int) -> Tuple[Tensor, Tensor, Tensor]:
    """xp: (T, B, G) input projections (G = 4H, or H when lite); h, c: (B, H).

    gate_bias: (4, H) per-gate biases for the lite cell (ignored otherwise).
    Returns outputs (T, B, H) and the final h, c.
    """
    w = w_hh.t()
    outs: List[Tensor] = []
    for t in range(xp.size(0)):
        a = torch.addmm(xp[t], h, w)
        if lite:
            i = torch.sigmoid(a + gate_bias[0])
            f = torch.sigmoid(a + gate_bias[1])
            g = _act(a + gate_bias[2], code)
            o = torch.sigmoid(a + gate_bias[3])
        else:
            gates = a.chunk(4, 1)
            i = torch.sigmoid(gates[0])
            f = torch.sigmoid(gates[1])
            g = _act(gates[2], code)
            o = torch.sigmoid(gates[3])
        c = f * c + i * g
        h = o * _act(c, code)
        outs.append(h)
    return torch.stack(outs), h, c


class ResearchLSTM(nn.Module):
    """Multi-layer, batch-first LSTM / LSTM-LITE with a selectable activation.

    Same call as ``nn.LSTM``: ``y, (h, c) = layer(x, (h0, c0))`` with x (B, T, in),
    h0/c0 (layers, B, H).
    """

    def __init__(self, input_size: int, hidden: int, layers: int = 1, lite: bool = False,
                 activation: str = "tanh", dropout: float = 0.0):
        super().__init__()
        if activation not in ACTIVATION_CODES:
            raise ValueError(f"unknown activation {activation!r}: choose from {', '.join(ACTIVATION_CODES)}")
        self.hidden, self.layers, self.lite, self.code = hidden, layers, lite, ACTIVATION_CODES[activation]
        g = hidden if lite else 4 * hidden
        self.w_ih = nn.ParameterList([nn.Parameter(torch.empty(g, input_size if k == 0 else hidden)) for k in range(layers)])
        self.w_hh = nn.ParameterList([nn.Parameter(torch.empty(g, hidden)) for _ in range(layers)])
        self.bias = nn.ParameterList([nn.Parameter(torch.empty(4, hidden) if lite else torch.empty(g)) for _ in range(layers)])
        self.drop = nn.Dropout(dropout)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1 / math.sqrt(self.hidden)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)
        with torch.no_grad():  # forget-gate bias 1: remember by default
            for b in self.bias:
                (b[1] if self.lite else b[self.hidden:2 * self.hidden]).add_(1.0)

    def forward(self, x: Tensor, state: Tuple[Tensor, Tensor]) -> Tuple[Tensor, Tuple[Tensor, Tensor]]:
        h0, c0 = state
        seq = x.transpose(0, 1)  # (T, B, in)
        hs, cs = [], []
        empty = torch.zeros(0, device=x.device)
        for k in range(self.layers):
            if k:
                seq = self.drop(seq)
            xp = seq @ self.w_ih[k].t()
            if not self.lite:
                xp = xp + self.bias[k]
            seq, h, c = lstm_scan(xp, h0[k], c0[k], self.w_hh[k], self.bias[k] if self.lite else empty, self.lite, self.code)
            hs.append(h)
            cs.append(c)
        return seq.transpose(0, 1), (torch.stack(hs), torch.stack(cs))

"""Temporal attention: each recurrent output attends over its own recent past.

At position t the layer attends over the recurrent outputs at t-window+1 .. t — from
this window and, through a memory carried like the hidden state, from earlier windows —
but never across the start of a new sequence. Its output is added to the recurrent
output (residual); the output projection starts at zero, so a fresh layer is the
identity and training decides how much to use it.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class TemporalAttention(nn.Module):
    def __init__(self, hidden: int, window: int):
        super().__init__()
        self.hidden, self.window = hidden, window
        self.q, self.k, self.v = (nn.Linear(hidden, hidden) for _ in range(3))
        self.o = nn.Linear(hidden, hidden)
        nn.init.zeros_(self.o.weight)
        nn.init.zeros_(self.o.bias)

    def init_memory(self, batch: int, device=None) -> tuple[torch.Tensor, torch.Tensor]:
        """(memory (B, window, H), valid (B, window) bool): empty."""
        return (torch.zeros(batch, self.window, self.hidden, device=device),
                torch.zeros(batch, self.window, dtype=torch.bool, device=device))

    def weights(self, y: torch.Tensor, memory: torch.Tensor, valid: torch.Tensor, reset: torch.Tensor | None = None,
                reach: int | None = None):
        """The attention of :meth:`forward`, before it is applied: (weights (B, T, N+T), keys and
        values kv (B, N+T, H), mask (B, T, N+T) of the positions each query may see, new memory,
        new valid). ``reach``: see only the last ``reach`` positions (default: the window)."""
        B, T, H = y.shape
        N = self.window
        kv = torch.cat([memory, y], 1)  # (B, N+T, H)
        ok = torch.cat([valid, torch.ones(B, T, dtype=torch.bool, device=y.device)], 1)
        seg_q = torch.zeros(B, T, dtype=torch.long, device=y.device) if reset is None else reset.long().cumsum(1)
        seg_k = torch.cat([torch.zeros(B, N, dtype=torch.long, device=y.device), seg_q], 1)
        iq = torch.arange(T, device=y.device)[:, None] + N
        ik = torch.arange(N + T, device=y.device)[None, :]
        causal = (ik <= iq) & (ik > iq - (N if reach is None else min(N, reach)))  # the last N positions, itself included
        mask = causal[None] & ok[:, None, :] & (seg_k[:, None, :] == seg_q[:, :, None])
        scores = self.q(y) @ self.k(kv).transpose(1, 2) / math.sqrt(H)
        att = torch.softmax(scores.masked_fill(~mask, float("-inf")), -1)
        new_valid = ok[:, -N:] & (seg_k[:, -N:] == seg_q[:, -1:])  # forget what precedes the last reset
        return att, kv, mask, kv[:, -N:], new_valid

    def forward(self, y: torch.Tensor, memory: torch.Tensor, valid: torch.Tensor,
                reset: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """y: (B, T, H) recurrent outputs; memory/valid from the previous call; reset: (B, T) bool.

        Returns (y + attention (B, T, H), new memory, new valid).
        """
        att, kv, _, memory, valid = self.weights(y, memory, valid, reset)
        return y + self.o(att @ self.v(kv)), memory, valid

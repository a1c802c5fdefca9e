"""Stateful streams for truncated BPTT, as in char-rnn.

The sequences are laid end to end (in a seeded order that changes every epoch) and the
result is cut into ``batch`` contiguous streams; window ``w`` is columns ``w*T:(w+1)*T``.
Row ``b`` of window ``w+1`` continues row ``b`` of window ``w``, so the model's state
can be carried (detached) from one batch to the next. ``reset`` marks where a sequence
starts, so the model can zero that row's state right there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch

from .errors import DataError

Transform = Callable[[np.ndarray, np.random.Generator], np.ndarray]


@dataclass
class Window:
    x: torch.Tensor  # (B, T) inputs
    y: torch.Tensor  # (B, T) next-token targets
    reset: torch.Tensor  # (B, T) bool: a sequence starts at this input


class Streams:
    def __init__(self, seqs: Sequence[np.ndarray], batch: int, bptt: int, seed: int = 0,
                 shuffle: bool = True, transform: Transform | None = None):
        if not seqs:
            raise DataError("no sequences to stream")
        self.seqs, self.batch, self.bptt = list(seqs), batch, bptt
        self.seed, self.shuffle, self.transform = seed, shuffle, transform
        total = sum(len(s) for s in self.seqs)
        if total < batch * (bptt + 1):
            # small data: fewer streams, so that every stream holds at least one window
            self.batch = max(1, total // (bptt + 1))
            if total < bptt + 1:
                raise DataError(f"only {total} tokens of data: need at least {bptt + 1} for one window of --bptt {bptt}")

    def layout(self, epoch: int) -> tuple[np.ndarray, np.ndarray]:
        """(tokens, starts) for one epoch, shaped (B, n+1); the same for the same (seed, epoch)."""
        rng = np.random.default_rng([self.seed, epoch])
        order = rng.permutation(len(self.seqs)) if self.shuffle else np.arange(len(self.seqs))
        parts = [self.transform(self.seqs[i], rng) if self.transform else self.seqs[i] for i in order]
        flat = np.concatenate(parts)
        starts = np.zeros(flat.size, bool)
        starts[np.cumsum([0] + [len(p) for p in parts[:-1]])] = True
        n = (flat.size - 1) // self.batch
        n -= n % self.bptt
        idx = np.arange(self.batch)[:, None] * n + np.arange(n + 1)[None, :]
        return flat[idx], starts[idx]

    def windows_per_epoch(self, epoch: int = 0) -> int:
        return (self.layout(epoch)[0].shape[1] - 1) // self.bptt

    def epoch(self, epoch: int, start_window: int = 0, device=None):
        """Yield (window index, :class:`Window`) for one epoch, from ``start_window`` on."""
        tok, starts = self.layout(epoch)
        tok = torch.from_numpy(tok.astype(np.int64))
        starts = torch.from_numpy(starts)
        for w in range(start_window, (tok.shape[1] - 1) // self.bptt):
            a, b = w * self.bptt, (w + 1) * self.bptt
            yield w, Window(tok[:, a:b].to(device), tok[:, a + 1:b + 1].to(device), starts[:, a:b].to(device))

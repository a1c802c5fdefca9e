"""Batch sources for the training loop: what one step reads.

* :class:`Streams` -- token sequences laid end to end (in a seeded order that changes
  every epoch) and cut into ``batch`` contiguous streams, as in char-rnn; window ``w`` is
  columns ``w*T:(w+1)*T``. Row ``b`` of window ``w+1`` continues row ``b`` of window ``w``,
  so a stateful model carries its state (detached) from one batch to the next; ``reset``
  marks where a sequence starts, so the model zeroes that row's state right there. With
  ``primer`` P, every window also carries the P tokens before it as context that is read
  but not scored (a stateless model, e.g. the transformer, thus never predicts a window's
  first tokens blind).
* :class:`FeatureStreams` -- the same for float feature sequences with separate,
  aligned targets (regression: inputs[t] predicts targets[t]).
* :class:`Clips` -- independent items of equal shape (stateless; no carried state).

Every source gives the same batches for the same (seed, epoch), and ``shard(rank,
world)`` keeps one rank's rows for data-parallel training: the layout is global, so
the ranks together read exactly what one process would.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch

from .errors import DataError, SettingsError

Transform = Callable[[np.ndarray, np.random.Generator], np.ndarray]


@dataclass
class Batch:
    x: torch.Tensor  # (B, T) token ids or (B, T, F) floats
    y: torch.Tensor  # targets, (B, T) or (B, T, ...)
    reset: torch.Tensor | None = None  # (B, T) bool: a sequence starts at this input
    score_from: int = 0  # positions before this are context only (not scored)


Window = Batch  # the name used before batch sources other than token streams existed


class _Source:
    carries_state = True
    rank, world = 0, 1

    def shard(self, rank: int, world: int) -> "_Source":
        """Keep rows ``rank*B/world .. (rank+1)*B/world`` of every batch (B = ``batch``)."""
        if world > 1 and self.batch % world:
            raise SettingsError(f"--batch {self.batch} must be a multiple of the number of processes ({world})")
        self.rank, self.world = rank, world
        return self

    def _rows(self, a: np.ndarray) -> np.ndarray:
        b = self.batch // self.world
        return a[self.rank * b:(self.rank + 1) * b]

    def windows_per_epoch(self, epoch: int = 0) -> int:
        raise NotImplementedError

    def epoch(self, epoch: int, start_window: int = 0, device=None):
        raise NotImplementedError


def _lay_out(parts: list[np.ndarray], batch: int, bptt: int, shift: int, primer: int = 0):
    """Concatenate ``parts`` and cut into ``batch`` rows of ``n + shift`` columns (n a
    multiple of ``bptt``, plus ``primer`` leading context columns). Returns (index (B, cols)
    into the concatenation, starts (flat bool))."""
    lens = [len(p) for p in parts]
    size = sum(lens)
    starts = np.zeros(size, bool)
    starts[np.cumsum([0] + lens[:-1])] = True
    n = (size - shift - primer) // batch
    n -= n % bptt
    idx = np.arange(batch)[:, None] * n + np.arange(n + shift + primer)[None, :]
    return idx, starts


class Streams(_Source):
    def __init__(self, seqs: Sequence[np.ndarray], batch: int, bptt: int, seed: int = 0,
                 shuffle: bool = True, transform: Transform | None = None, primer: int = 0, stateful: bool = True):
        if not seqs:
            raise DataError("no sequences to stream")
        self.seqs, self.batch, self.bptt, self.primer = list(seqs), batch, bptt, primer
        self.seed, self.shuffle, self.transform = seed, shuffle, transform
        self.carries_state = stateful
        total = sum(len(s) for s in self.seqs)
        if total < batch * (bptt + 1) + primer:
            # small data: fewer streams, so that every stream holds at least one window
            self.batch = max(1, (total - primer) // (bptt + 1))
            if total < bptt + 1 + primer:
                raise DataError(f"only {total} tokens of data: need at least {bptt + 1 + primer} for one window "
                                f"of --bptt {bptt}" + (f" with {primer} tokens of context" if primer else ""))

    def layout(self, epoch: int) -> tuple[np.ndarray, np.ndarray]:
        """(tokens, starts) for one epoch, shaped (B, primer + n + 1); the same for the same (seed, epoch)."""
        rng = np.random.default_rng([self.seed, epoch])
        order = rng.permutation(len(self.seqs)) if self.shuffle else np.arange(len(self.seqs))
        parts = [self.transform(self.seqs[i], rng) if self.transform else self.seqs[i] for i in order]
        idx, starts = _lay_out(parts, self.batch, self.bptt, 1, self.primer)
        return np.concatenate(parts)[idx], starts[idx]

    def windows_per_epoch(self, epoch: int = 0) -> int:
        return (self.layout(epoch)[0].shape[1] - 1 - self.primer) // self.bptt

    def epoch(self, epoch: int, start_window: int = 0, device=None):
        """Yield (window index, :class:`Batch`) for one epoch, from ``start_window`` on."""
        tok, starts = self.layout(epoch)
        tok = torch.from_numpy(self._rows(tok).astype(np.int64))
        starts = torch.from_numpy(self._rows(starts))
        P = self.primer
        for w in range(start_window, (tok.shape[1] - 1 - P) // self.bptt):
            a, b = w * self.bptt, (w + 1) * self.bptt + P
            yield w, Batch(tok[:, a:b].to(device), tok[:, a + 1:b + 1].to(device), starts[:, a:b].to(device), P)


class FeatureStreams(_Source):
    """Float input sequences (T, F) with aligned targets (T, ...), streamed like :class:`Streams`."""

    def __init__(self, inputs: Sequence[np.ndarray], targets: Sequence[np.ndarray], batch: int, bptt: int,
                 seed: int = 0, shuffle: bool = True):
        if not inputs or len(inputs) != len(targets):
            raise DataError("need as many target sequences as input sequences (and at least one)")
        for x, y in zip(inputs, targets):
            if len(x) != len(y):
                raise DataError(f"inputs and targets differ in length ({len(x)} vs {len(y)})")
        self.inputs, self.targets = [np.asarray(x, np.float32) for x in inputs], [np.asarray(y, np.float32) for y in targets]
        self.batch, self.bptt, self.seed, self.shuffle = batch, bptt, seed, shuffle
        total = sum(len(x) for x in self.inputs)
        if total < batch * bptt:
            self.batch = max(1, total // bptt)
            if total < bptt:
                raise DataError(f"only {total} steps of data: need at least {bptt} for one window of --bptt {bptt}")

    def layout(self, epoch: int):
        rng = np.random.default_rng([self.seed, epoch])
        order = rng.permutation(len(self.inputs)) if self.shuffle else np.arange(len(self.inputs))
        idx, starts = _lay_out([self.inputs[i] for i in order], self.batch, self.bptt, 0)
        x = np.concatenate([self.inputs[i] for i in order])[idx]
        y = np.concatenate([self.targets[i] for i in order])[idx]
        return x, y, starts[idx]

    def windows_per_epoch(self, epoch: int = 0) -> int:
        return self.layout(epoch)[0].shape[1] // self.bptt

    def epoch(self, epoch: int, start_window: int = 0, device=None):
        x, y, starts = (torch.from_numpy(self._rows(a)) for a in self.layout(epoch))
        for w in range(start_window, x.shape[1] // self.bptt):
            a, b = w * self.bptt, (w + 1) * self.bptt
            yield w, Batch(x[:, a:b].to(device), y[:, a:b].to(device), starts[:, a:b].to(device))


class Clips(_Source):
    """Independent (input, target) items of equal shapes, shuffled every epoch; no state is
    carried and there are no resets (each item is read from a fresh state)."""

    carries_state = False

    def __init__(self, items: Sequence[tuple[np.ndarray, np.ndarray]], batch: int, seed: int = 0, shuffle: bool = True):
        if not items:
            raise DataError("no clips to train on")
        shapes = {(np.shape(x), np.shape(y)) for x, y in items}
        if len(shapes) > 1:
            raise DataError(f"clips must share one shape (found {len(shapes)} different shapes)")
        self.items, self.seed, self.shuffle = list(items), seed, shuffle
        self.batch = min(batch, len(self.items))

    def windows_per_epoch(self, epoch: int = 0) -> int:
        return len(self.items) // self.batch

    def epoch(self, epoch: int, start_window: int = 0, device=None):
        rng = np.random.default_rng([self.seed, epoch])
        order = rng.permutation(len(self.items)) if self.shuffle else np.arange(len(self.items))
        for w in range(start_window, self.windows_per_epoch(epoch)):
            rows = self._rows(order[w * self.batch:(w + 1) * self.batch])
            x = torch.from_numpy(np.stack([np.asarray(self.items[i][0]) for i in rows]))
            y = torch.from_numpy(np.stack([np.asarray(self.items[i][1]) for i in rows]))
            yield w, Batch(x.to(device), y.to(device))

"""A char-RNN: embedding -> N-layer LSTM/GRU (PyTorch's fused kernels) -> linear output.

State is explicit: ``forward(x, state, reset)`` takes the state left by the previous
window and returns the new one, so training can carry it across batches (stateful
truncated BPTT) and sampling can stream one token at a time.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

State = tuple[torch.Tensor, ...]  # LSTM: (h, c); GRU: (h,); each (layers, batch, hidden)


@dataclass
class RNNConfig:
    vocab_size: int
    embed: int = 64
    hidden: int = 256
    layers: int = 2
    cell: str = "lstm"  # lstm | gru
    dropout: float = 0.1

    @classmethod
    def from_dict(cls, d: dict) -> "RNNConfig":
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})

    def to_dict(self) -> dict:
        return asdict(self)


class CharRNN(nn.Module):
    def __init__(self, cfg: RNNConfig):
        super().__init__()
        if cfg.cell not in ("lstm", "gru"):
            raise ValueError(f"unknown cell {cfg.cell!r}: use lstm or gru")
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab_size, cfg.embed)
        rnn = nn.LSTM if cfg.cell == "lstm" else nn.GRU
        self.rnn = rnn(cfg.embed, cfg.hidden, cfg.layers, batch_first=True, dropout=cfg.dropout if cfg.layers > 1 else 0.0)
        self.drop = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(cfg.hidden, cfg.vocab_size)

    def init_state(self, batch: int, device=None) -> State:
        z = torch.zeros(self.cfg.layers, batch, self.cfg.hidden, device=device)
        return (z, z.clone()) if self.cfg.cell == "lstm" else (z,)

    def _rnn(self, e: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        if self.cfg.cell == "lstm":
            y, (h, c) = self.rnn(e, state)
            return y, (h, c)
        y, h = self.rnn(e, state[0])
        return y, (h,)

    def forward(self, x: torch.Tensor, state: State | None = None, reset: torch.Tensor | None = None) -> tuple[torch.Tensor, State]:
        """Logits for every position.

        x: (B, T) token ids; state: from :meth:`init_state` or a previous call;
        reset: optional (B, T) bool, True where a new sequence starts: the state of
        that row is zeroed just before it reads that token.
        Returns logits (B, T, V) and the state after the last step.
        """
        B, T = x.shape
        state = self.init_state(B, x.device) if state is None else state
        e = self.drop(self.embed(x))
        if reset is None or not bool(reset.any()):
            y, state = self._rnn(e, state)
        else:
            # run the fused kernel over the stretches between reset points
            cuts = torch.nonzero(reset.any(0)).flatten().tolist()
            bounds = sorted(set([0, *cuts, T]))
            ys = []
            for a, b in zip(bounds[:-1], bounds[1:]):
                keep = (~reset[:, a]).to(e.dtype).view(1, B, 1)
                state = tuple(s * keep for s in state)
                y, state = self._rnn(e[:, a:b], state)
                ys.append(y)
            y = torch.cat(ys, 1)
        return self.head(self.drop(y)), state

    @torch.no_grad()
    def step(self, token: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        """One streaming step: token (B,) -> logits (B, V) and the new state."""
        logits, state = self.forward(token.view(-1, 1), state)
        return logits[:, -1], state


def detach(state: State) -> State:
    return tuple(s.detach() for s in state)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())

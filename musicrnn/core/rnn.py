"""A char-RNN: embedding -> N-layer recurrent layer -> linear output.

The recurrent layer is PyTorch's fused ``nn.LSTM``/``nn.GRU`` by default; LSTM-LITE, an
Iris activation, or ``fused=False`` select :class:`~musicrnn.core.cells.ResearchLSTM`.

State is explicit: ``forward(x, state, reset)`` takes the state left by the previous
window and returns the new one, so training can carry it across batches (stateful
truncated BPTT) and sampling can stream one token at a time.
"""

from __future__ import annotations

import torch
from torch import nn

from .config import RNNConfig
from .models import count_parameters, detach  # noqa: F401  (re-exported)

State = tuple[torch.Tensor, ...]  # LSTM: (h, c); GRU: (h,); each (layers, batch, hidden)


class CharRNN(nn.Module):
    family = "rnn"
    carries_state = True  # training carries the state from one window to the next

    def __init__(self, cfg: RNNConfig):
        super().__init__()
        self.cfg = cfg.validate()
        self.embed = nn.Linear(cfg.features, cfg.embed) if cfg.features else nn.Embedding(cfg.vocab_size, cfg.embed)
        drop = cfg.dropout if cfg.layers > 1 else 0.0
        self.fused = cfg.uses_fused
        if self.fused:
            rnn = nn.LSTM if cfg.cell == "lstm" else nn.GRU
            self.rnn = rnn(cfg.embed, cfg.hidden, cfg.layers, batch_first=True, dropout=drop)
        else:
            from .cells import ResearchLSTM

            self.rnn = ResearchLSTM(cfg.embed, cfg.hidden, cfg.layers, lite=cfg.cell == "lstm-lite",
                                    activation=cfg.activation, dropout=drop)
        self.drop = nn.Dropout(cfg.dropout)
        self.att = None
        if cfg.attention:
            from .attention import TemporalAttention

            self.att = TemporalAttention(cfg.hidden, cfg.attention)
        self.head = nn.Linear(cfg.hidden, cfg.n_out)
        self.n_rnn_state = 1 if cfg.cell == "gru" else 2

    def init_state(self, batch: int, device=None) -> State:
        z = torch.zeros(self.cfg.layers, batch, self.cfg.hidden, device=device)
        rnn = (z, z.clone()) if self.cfg.cell != "gru" else (z,)
        return rnn + (self.att.init_memory(batch, device) if self.att is not None else ())

    def _rnn(self, e: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        if self.cfg.cell != "gru":
            y, (h, c) = self.rnn(e, state)
            return y, (h, c)
        y, h = self.rnn(e, state[0])
        return y, (h,)

    def forward(self, x: torch.Tensor, state: State | None = None, reset: torch.Tensor | None = None) -> tuple[torch.Tensor, State]:
        """Logits for every position.

        x: (B, T) token ids (or (B, T, features) floats); state: from :meth:`init_state` or a previous call;
        reset: optional (B, T) bool, True where a new sequence starts: the state of
        that row is zeroed just before it reads that token.
        Returns logits (B, T, V) and the state after the last step.
        """
        B, T = x.shape[:2]
        state = self.init_state(B, x.device) if state is None else state
        state, att_state = state[: self.n_rnn_state], state[self.n_rnn_state:]
        e = self.drop(self.embed(x))
        if not self.fused:  # the research cell applies resets inside its kernel
            y, (h, c) = self.rnn(e, state, reset)
            state = (h, c)
        elif reset is None or not bool(reset.any()):
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
        if self.att is not None:
            y, memory, valid = self.att(y, att_state[0], att_state[1], reset)
            state = state + (memory, valid)
        return self.head(self.drop(y)), state


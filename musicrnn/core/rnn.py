"""A char-RNN: embedding -> N-layer recurrent layer -> linear output.

The recurrent layer is PyTorch's fused ``nn.LSTM``/``nn.GRU`` by default; LSTM-LITE, an
Iris activation, or ``fused=False`` select :class:`~musicrnn.core.cells.ResearchLSTM`.

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
    cell: str = "lstm"  # lstm | gru | lstm-lite
    dropout: float = 0.1
    activation: str = "tanh"  # tanh | iris | iris1 | iris2 | iris-mm (LSTM cells)
    output: str = "softmax"  # softmax | topcat | topcat-sigmoid (the training loss; sampling renormalises)
    fused: bool = True  # plain tanh LSTM: use nn.LSTM (True) or ResearchLSTM (False)
    attention: int = 0  # > 0: temporal attention over this many recent outputs (carried statefully)

    @classmethod
    def from_dict(cls, d: dict) -> "RNNConfig":
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})

    def to_dict(self) -> dict:
        return asdict(self)

    def validate(self) -> "RNNConfig":
        """Raise ValueError (one line) for a setting no model can be built from."""
        from .activations import HIDDEN

        if self.cell not in ("lstm", "gru", "lstm-lite"):
            raise ValueError(f"unknown cell {self.cell!r}: use lstm, gru or lstm-lite")
        if self.activation not in HIDDEN:
            raise ValueError(f"unknown activation {self.activation!r}: choose from {', '.join(HIDDEN)}")
        if self.cell == "gru" and self.activation != "tanh":
            raise ValueError("the GRU cell supports only --activation tanh")
        if self.output not in ("softmax", "topcat", "topcat-sigmoid"):
            raise ValueError(f"unknown output {self.output!r}: use softmax, topcat or topcat-sigmoid")
        return self


class CharRNN(nn.Module):
    def __init__(self, cfg: RNNConfig):
        super().__init__()
        self.cfg = cfg.validate()
        self.embed = nn.Embedding(cfg.vocab_size, cfg.embed)
        drop = cfg.dropout if cfg.layers > 1 else 0.0
        self.fused = cfg.cell == "gru" or (cfg.cell == "lstm" and cfg.activation == "tanh" and cfg.fused)
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
        self.head = nn.Linear(cfg.hidden, cfg.vocab_size)
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

        x: (B, T) token ids; state: from :meth:`init_state` or a previous call;
        reset: optional (B, T) bool, True where a new sequence starts: the state of
        that row is zeroed just before it reads that token.
        Returns logits (B, T, V) and the state after the last step.
        """
        B, T = x.shape
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

    @torch.no_grad()
    def step(self, token: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        """One streaming step (inference): token (B,) -> logits (B, V) and the new state.

        Computes the cells by hand with one fused matrix multiply per layer: for a single
        time step this is several times faster on the CPU than a call into ``nn.LSTM``
        (whose oneDNN path spends milliseconds setting up). Same result as ``forward``.
        """
        if not self.fused or self.att is not None:
            logits, state = self.forward(token.view(-1, 1), state)
            return logits[:, -1], state
        x = self.embed(token.view(-1))
        new = []
        for k, (w, b) in enumerate(self._step_weights()):
            if self.cfg.cell == "lstm":
                h, c = state[0][k], state[1][k]
                i, f, g, o = torch.addmm(b, torch.cat([x, h], 1), w).chunk(4, 1)
                c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
                x = torch.sigmoid(o) * torch.tanh(c)
                new.append((x, c))
            else:
                h = state[0][k]
                H = self.cfg.hidden
                gi = torch.addmm(b[0], x, w[0])
                gh = torch.addmm(b[1], h, w[1])
                r = torch.sigmoid(gi[:, :H] + gh[:, :H])
                z = torch.sigmoid(gi[:, H:2 * H] + gh[:, H:2 * H])
                n = torch.tanh(gi[:, 2 * H:] + r * gh[:, 2 * H:])
                x = (1 - z) * n + z * h
                new.append((x,))
        state = tuple(torch.stack([layer[j] for layer in new]) for j in range(len(new[0])))
        return self.head(x), state

    def _step_weights(self):
        """Per layer: LSTM (W_ih|W_hh transposed, b_ih + b_hh); GRU ((W_ih^T, W_hh^T), (b_ih, b_hh)).

        Cached, and rebuilt whenever a parameter changes (tracked by tensor versions).
        """
        key = tuple(p._version for p in self.rnn.parameters()) + tuple(p.data_ptr() for p in self.rnn.parameters())
        if getattr(self, "_step_key", None) != key:
            ws = []
            for k in range(self.cfg.layers):
                w_ih, w_hh = getattr(self.rnn, f"weight_ih_l{k}"), getattr(self.rnn, f"weight_hh_l{k}")
                b_ih, b_hh = getattr(self.rnn, f"bias_ih_l{k}"), getattr(self.rnn, f"bias_hh_l{k}")
                if self.cfg.cell == "lstm":
                    ws.append((torch.cat([w_ih, w_hh], 1).t().contiguous(), b_ih + b_hh))
                else:
                    ws.append(((w_ih.t().contiguous(), w_hh.t().contiguous()), (b_ih, b_hh)))
            self._step_cache, self._step_key = ws, key
        return self._step_cache


def detach(state: State) -> State:
    return tuple(s.detach() for s in state)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())

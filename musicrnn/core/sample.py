"""Streaming sampling: the recurrent state advances one token at a time (no recomputation).

On the CPU the per-token step runs in NumPy on cached weights: at batch size 1 a step is
a few small matrix-vector products, where NumPy's call overhead is a fraction of
PyTorch's (measured in docs/benchmarks.md). The prompt is read once by the model's fused
``forward``. Randomness comes from one NumPy generator seeded by the caller, so the same
seed gives the same tokens.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch

from .cells import _act
from .rnn import CharRNN

StopFn = Callable[[int, int], bool]  # (row, token) -> True to end that row *before* keeping token


def filter_probs(logits: np.ndarray, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0) -> np.ndarray:
    """Temperature, then top-k, then nucleus (top-p). logits: (B, V) -> probabilities (B, V)."""
    z = logits.astype(np.float64) / max(temperature, 1e-6)
    if top_k and top_k < z.shape[-1]:
        kth = np.partition(z, -top_k, axis=-1)[:, -top_k][:, None]
        z = np.where(z < kth, -np.inf, z)
    z = z - z.max(-1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(-1, keepdims=True)
    if top_p < 1.0:
        order = np.argsort(-p, axis=-1, kind="stable")
        sp = np.take_along_axis(p, order, -1)
        drop = np.cumsum(sp, -1) - sp > top_p  # keep the smallest set whose mass reaches top_p
        np.put_along_axis(p, order, np.where(drop, 0.0, sp), -1)
        p /= p.sum(-1, keepdims=True)
    return p


def draw(p: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One index per row of probabilities p (B, V), by inverse CDF."""
    c = np.cumsum(p, -1)
    u = rng.random(p.shape[0]) * c[:, -1]
    return np.minimum((c < u[:, None]).sum(-1), p.shape[-1] - 1)


class NumpyStepper:
    """A CharRNN's single-step inference in NumPy (float32), for fast CPU streaming.

    Covers ``nn.LSTM``/``nn.GRU`` and the research cell (LSTM / LSTM-LITE, any activation).
    LSTM gates are kept in the order (i, f, o, g).
    """

    def __init__(self, model: CharRNN):
        sd = {k: v.detach().cpu().float().numpy() for k, v in model.state_dict().items()}
        self.cell, self.H, self.L = model.cfg.cell, model.cfg.hidden, model.cfg.layers
        self.emb = sd["embed.weight"]
        self.head_w, self.head_b = np.ascontiguousarray(sd["head.weight"].T), sd["head.bias"]
        self.layers = []
        self.code = 0
        H = self.H
        ifog = np.r_[0:2 * H, 3 * H:4 * H, 2 * H:3 * H]
        for k in range(self.L):
            if not model.fused:  # research cell: its own (i, f, o, g) weights and activation
                self.code = model.rnn.code
                w_ih, w_hh, b = (t.detach().cpu().float().numpy() for t in model.rnn._layer_weights(k))
                if model.rnn.lite:
                    w_ih = np.tile(w_ih, (4, 1))
                self.layers.append((np.ascontiguousarray(np.concatenate([w_ih, w_hh], 1).T), b))
                continue
            w_ih, w_hh = sd[f"rnn.weight_ih_l{k}"], sd[f"rnn.weight_hh_l{k}"]
            b_ih, b_hh = sd[f"rnn.bias_ih_l{k}"], sd[f"rnn.bias_hh_l{k}"]
            if self.cell == "lstm":
                w = np.concatenate([w_ih, w_hh], 1)[ifog]
                self.layers.append((np.ascontiguousarray(w.T), (b_ih + b_hh)[ifog]))
            else:
                self.layers.append((np.ascontiguousarray(w_ih.T), np.ascontiguousarray(w_hh.T), b_ih, b_hh))

    @staticmethod
    def _sig(x):
        return 1.0 / (1.0 + np.exp(-x))

    def _act(self, x: np.ndarray) -> np.ndarray:
        return _act(torch.from_numpy(x), self.code).numpy()

    def step(self, tokens: np.ndarray, state: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
        """tokens (B,), state [h (L,B,H)] or [h, c] -> logits (B, V), new state."""
        x = self.emb[tokens]
        H, sig = self.H, self._sig
        hs, cs = [], []
        for k, lw in enumerate(self.layers):
            h = state[0][k]
            if self.cell != "gru":
                a = np.concatenate([x, h], 1) @ lw[0] + lw[1]
                g = sig(a[:, :3 * H])
                c = g[:, H:2 * H] * state[1][k] + g[:, :H] * self._act(a[:, 3 * H:])
                x = g[:, 2 * H:] * self._act(c)
                cs.append(c)
            else:
                gi, gh = x @ lw[0] + lw[2], h @ lw[1] + lw[3]
                r, z = sig(gi[:, :H] + gh[:, :H]), sig(gi[:, H:2 * H] + gh[:, H:2 * H])
                n = np.tanh(gi[:, 2 * H:] + r * gh[:, 2 * H:])
                x = (1 - z) * n + z * h
            hs.append(x)
        new = [np.stack(hs)] + ([np.stack(cs)] if cs else [])
        return x @ self.head_w + self.head_b, new


@torch.no_grad()
def sample(model: CharRNN, prompt: Sequence[int], n: int, max_tokens: int, *, temperature: float = 1.0,
           top_k: int = 0, top_p: float = 1.0, seed: int = 0, stop: StopFn | None = None,
           forbid: Sequence[int] = ()) -> list[list[int]]:
    """Draw ``n`` continuations of ``prompt`` in one batch; each is at most ``max_tokens`` long.

    A row ends when ``stop(row, token)`` says so. Tokens in ``forbid`` are never drawn.
    """
    model.eval()
    device = next(model.parameters()).device
    rng = np.random.default_rng(seed)
    x = torch.as_tensor(list(prompt), dtype=torch.long, device=device).view(1, -1).expand(n, -1)
    logits_t, state_t = model(x)
    logits = logits_t[:, -1].float().cpu().numpy()
    on_cpu = device.type == "cpu" and model.att is None  # NumPy path (all cells; attention runs in torch)
    if on_cpu:
        stepper = NumpyStepper(model)
        state = [s.float().numpy() for s in state_t]
    banned = np.zeros(logits.shape[-1], bool)
    banned[list(forbid)] = True
    out: list[list[int]] = [[] for _ in range(n)]
    alive = [True] * n
    for _ in range(max_tokens):
        tok = draw(filter_probs(np.where(banned, -np.inf, logits), temperature, top_k, top_p), rng)
        for r, t in enumerate(tok.tolist()):
            if alive[r]:
                if stop is not None and stop(r, t):
                    alive[r] = False
                else:
                    out[r].append(t)
        if not any(alive):
            break
        if on_cpu:
            logits, state = stepper.step(tok, state)
        else:
            lt, state_t = model.step(torch.as_tensor(tok, device=device), state_t)
            logits = lt.float().cpu().numpy()
    return out

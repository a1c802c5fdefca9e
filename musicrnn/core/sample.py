"""Streaming sampling: the recurrent state advances one token at a time (no recomputation).

Torch-free. On the CPU a step runs in NumPy on weights read straight from the
checkpoint (:class:`NumpyStepper`): at batch size 1 a step is a few small
matrix-vector products, where NumPy's call overhead is a fraction of PyTorch's, and the
command line starts without importing torch at all. Any object with the same
``start``/``step`` methods can drive :func:`sample` (``stepper_torch.TorchStepper`` does, for GPUs).

The step's matrix products are far too small for a thread pool: :func:`sample` runs them
on one BLAS thread (threadpoolctl), so that sampling does not collapse when another
process is busy on the same cores. Randomness comes from one NumPy generator seeded by
the caller, so the same seed gives the same tokens.
"""

from __future__ import annotations

from typing import Callable, Protocol, Sequence

import numpy as np

from .activations import hidden_activation, sampling_logits
from .config import RNNConfig

StopFn = Callable[[int, int], bool]  # (row, token) -> True to end that row *before* keeping token


class Grammar(Protocol):
    """What may come next in each row (a task's token language), for :func:`sample`."""

    def route(self, row: int) -> np.ndarray:
        """Where each token's probability goes in row ``row`` now (int (V,)): to itself when
        it may be drawn, to another token that stands in for it, or nowhere (-1). At least
        one token routes to itself."""

    def feed(self, row: int, token: int) -> None:
        """Row ``row`` kept ``token``."""

    # optional: ``weights(row) -> (V,) array or None``, a weight per token for row ``row``'s
    # next draw, as :func:`sample`'s ``weights`` (None: none)


class Stepper(Protocol):
    output: str

    def start(self, prompt: Sequence[int], n: int) -> tuple[np.ndarray, object]:
        """Read the prompt in ``n`` rows: (logits (n, V) after its last token, state)."""

    def step(self, tokens: np.ndarray, state) -> tuple[np.ndarray, object]:
        """tokens (n,) -> (logits (n, V), new state)."""


DEFAULT_TEMPERATURE = 1.0  # written once: every sampler, the command line and the page start here


def filter_probs(logits: np.ndarray, temperature: float = DEFAULT_TEMPERATURE, top_k: int = 0, top_p: float = 1.0) -> np.ndarray:
    """Temperature, then top-k, then nucleus (top-p). logits: (B, V) -> probabilities (B, V)."""
    if not temperature > 0:
        raise ValueError("temperature must be > 0")
    z = logits.astype(np.float64) / temperature
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


def _ifog(h: int) -> np.ndarray:
    """Rows of PyTorch's (i, f, g, o) gate layout in the (i, f, o, g) order used here."""
    return np.r_[0:2 * h, 3 * h:4 * h, 2 * h:3 * h]


def _sig(x):
    return 1.0 / (1.0 + np.exp(-x))


class NumpyStepper:
    """A char-RNN's single-step inference in NumPy (float32), from its weights alone.

    Covers ``nn.LSTM``/``nn.GRU``, the research cell (LSTM / LSTM-LITE, any activation)
    and the temporal attention layer. ``weights`` is the model's state dict as NumPy
    arrays (``checkpoint.load_arrays``); LSTM gates are kept in the order (i, f, o, g).
    """

    def __init__(self, weights: dict[str, np.ndarray], cfg: RNNConfig, output: str = "softmax"):
        sd = {k: np.asarray(v, np.float32) for k, v in weights.items()}
        self.cfg = cfg.validate()
        self.output = output
        self.cell, self.H, self.L = cfg.cell, cfg.hidden, cfg.layers
        self.act = hidden_activation(cfg.activation)
        self.emb = sd["embed.weight"]
        self.head_w, self.head_b = np.ascontiguousarray(sd["head.weight"].T), sd["head.bias"]
        H, order = self.H, _ifog(self.H)
        self.layers = []
        for k in range(self.L):
            if not cfg.uses_fused:  # research cell: rnn.w_ih.k, rnn.w_hh.k, rnn.bias.k
                w_ih, w_hh, b = sd[f"rnn.w_ih.{k}"], sd[f"rnn.w_hh.{k}"], sd[f"rnn.bias.{k}"]
                if cfg.cell == "lstm-lite":  # one matrix for all gates; bias rows (i, f, g, o)
                    w_ih, w_hh, b = np.tile(w_ih, (4, 1)), np.tile(w_hh, (4, 1)), b[[0, 1, 3, 2]].reshape(-1)
                else:
                    w_ih, w_hh, b = w_ih[order], w_hh[order], b[order]
                self.layers.append((np.ascontiguousarray(np.concatenate([w_ih, w_hh], 1).T), b))
                continue
            w_ih, w_hh = sd[f"rnn.weight_ih_l{k}"], sd[f"rnn.weight_hh_l{k}"]
            b_ih, b_hh = sd[f"rnn.bias_ih_l{k}"], sd[f"rnn.bias_hh_l{k}"]
            if self.cell == "lstm":
                w = np.concatenate([w_ih, w_hh], 1)[order]
                self.layers.append((np.ascontiguousarray(w.T), (b_ih + b_hh)[order]))
            else:
                self.layers.append((np.ascontiguousarray(w_ih.T), np.ascontiguousarray(w_hh.T), b_ih, b_hh))
        self.att = None
        if cfg.attention:
            t = lambda name: (np.ascontiguousarray(sd[f"att.{name}.weight"].T), sd[f"att.{name}.bias"])
            self.att = {name: t(name) for name in "qkvo"}

    @classmethod
    def from_model(cls, model, output: str = "softmax") -> "NumpyStepper":
        """From a torch ``CharRNN`` (already in memory)."""
        return cls({k: v.detach().cpu().float().numpy() for k, v in model.state_dict().items()}, model.cfg, output)

    def init_state(self, n: int) -> list[np.ndarray]:
        z = np.zeros((self.L, n, self.H), np.float32)
        state = [z, z.copy()] if self.cell != "gru" else [z]
        if self.att is not None:  # the last N outputs' keys and values, already projected, which are valid,
            N = self.cfg.attention  # and the slot the next one goes in (a ring: the oldest is overwritten)
            state += [np.zeros((n, N, self.H), np.float32), np.zeros((n, N, self.H), np.float32),
                      np.zeros((n, N), bool), np.zeros(1, np.int64)]
        return state

    def start(self, prompt: Sequence[int], n: int) -> tuple[np.ndarray, list[np.ndarray]]:
        state = self.init_state(n)
        logits = None
        for t in prompt:
            logits, state = self.step(np.full(n, int(t)), state)
        return logits, state

    def _attend(self, y: np.ndarray, keys: np.ndarray, values: np.ndarray, valid: np.ndarray, slot: np.ndarray):
        """One query per row over its last ``attention`` outputs, itself included. The
        remembered outputs are kept as their key and value projections (a cache: each
        output is projected once, not once per step it stays in the window), in a ring
        written in place at ``slot`` (the scores carry no position, so the order of the
        window does not matter; copying the whole window each step had been most of a
        band model's sampling time)."""
        (wq, bq), (wk, bk), (wv, bv), (wo, bo) = (self.att[c] for c in "qkvo")
        i = int(slot[0]) % keys.shape[1]
        keys[:, i] = y @ wk + bk  # (B, N, H): the oldest output leaves the window
        values[:, i] = y @ wv + bv
        valid[:, i] = True
        slot += 1
        scores = np.einsum("bh,bnh->bn", y @ wq + bq, keys) / np.sqrt(self.H)
        scores = np.where(valid, scores, -np.inf)
        a = np.exp(scores - scores.max(-1, keepdims=True))
        a /= a.sum(-1, keepdims=True)
        return y + np.einsum("bn,bnh->bh", a, values) @ wo + bo, keys, values, valid, slot

    def step(self, tokens: np.ndarray, state: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
        """tokens (B,), state from :meth:`init_state` or a previous step -> logits (B, V), new
        state. The attention window is updated in place: a state is stepped from once."""
        x = self.emb[tokens]
        H, act = self.H, self.act
        hs, cs = [], []
        for k, lw in enumerate(self.layers):
            h = state[0][k]
            if self.cell != "gru":
                a = np.concatenate([x, h], 1) @ lw[0] + lw[1]
                g = _sig(a[:, :3 * H])
                c = g[:, H:2 * H] * state[1][k] + g[:, :H] * act(a[:, 3 * H:])
                x = g[:, 2 * H:] * act(c)
                cs.append(c)
            else:
                gi, gh = x @ lw[0] + lw[2], h @ lw[1] + lw[3]
                r, z = _sig(gi[:, :H] + gh[:, :H]), _sig(gi[:, H:2 * H] + gh[:, H:2 * H])
                n = np.tanh(gi[:, 2 * H:] + r * gh[:, 2 * H:])
                x = (1 - z) * n + z * h
            hs.append(x)
        new = [np.stack(hs)] + ([np.stack(cs)] if cs else [])
        if self.att is not None:
            x, *cache = self._attend(x, *state[-4:])
            new += cache
        return x @ self.head_w + self.head_b, new


def routed(z: np.ndarray, route: np.ndarray) -> np.ndarray:
    """Logits (V,) with each token's probability moved where ``route`` says (-1: dropped):
    a token's new logit is the log of the summed exp of the logits routed to it."""
    keep = route >= 0
    moved = keep & (route != np.arange(route.size))
    if not moved.any():  # the usual step: only a mask
        return np.where(keep, z, -np.inf)
    out = np.full(z.shape, -np.inf)
    np.logaddexp.at(out, route[keep], z[keep].astype(np.float64))
    return out


def score_sequence(stepper: Stepper, ids: Sequence[int]) -> np.ndarray:
    """The log-likelihood (nats) of each of ``ids[1:]`` given the ones before it, under the
    distribution the stepper samples from: the streaming model, one token at a time."""
    from threadpoolctl import threadpool_limits

    ids = [int(t) for t in ids]
    out = np.zeros(max(len(ids) - 1, 0))
    with threadpool_limits(limits=1, user_api="blas"):
        logits, state = stepper.start(ids[:1], 1)
        for i, t in enumerate(ids[1:]):
            z = sampling_logits(logits, stepper.output)[0].astype(np.float64)
            out[i] = z[t] - (z.max() + np.log(np.exp(z - z.max()).sum()))
            if i + 2 < len(ids):
                logits, state = stepper.step(np.array([t]), state)
    return out


def next_probs(logits: np.ndarray, output: str, banned: np.ndarray, grammar: Grammar | None,
               temperature: float = DEFAULT_TEMPERATURE, top_k: int = 0, top_p: float = 1.0) -> np.ndarray:
    """The distribution (B, V) :func:`sample` draws the next tokens from, before its weights:
    the output activation's, ``banned`` tokens dropped, each row routed by its grammar, then
    temperature and filtering. (Also how a task computes a draw's exact chance.)"""
    z = np.where(banned, -np.inf, sampling_logits(logits, output))
    if grammar is not None:
        z = np.stack([routed(z[r], grammar.route(r)) for r in range(len(z))])
    return filter_probs(z, temperature, top_k, top_p)


def sample(stepper: Stepper, prompt: Sequence[int], n: int, max_tokens: int, *, temperature: float = DEFAULT_TEMPERATURE,
           top_k: int = 0, top_p: float = 1.0, seed: int = 0, stop: StopFn | None = None,
           forbid: Sequence[int] = (), grammar: Grammar | None = None,
           weights: np.ndarray | None = None) -> list[list[int]]:
    """Draw ``n`` continuations of ``prompt`` in one batch; each is at most ``max_tokens`` long.

    A row ends when ``stop(row, token)`` says so. Tokens in ``forbid`` are never drawn. A
    ``grammar`` (it has read the prompt; each kept token is fed to it) routes each token's
    probability before the draw (:func:`routed`): only what may come next is drawn, and a
    token that may not can hand its probability to one that stands in for it.
    Tokens are drawn from the distribution the model's output activation defines
    (:func:`~musicrnn.core.activations.sampling_logits`), after temperature and filtering
    times ``weights`` (V,) when given: a task's standing preference for some tokens
    (weight 1 leaves a token as the model has it; the draw renormalises).
    """
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(seed)
    out: list[list[int]] = [[] for _ in range(n)]
    with threadpool_limits(limits=1, user_api="blas"):
        logits, state = stepper.start(prompt, n)
        row_weights = getattr(grammar, "weights", None)  # optional in a Grammar
        banned = np.zeros(logits.shape[-1], bool)
        banned[list(forbid)] = True
        alive = [True] * n
        for _ in range(max_tokens):
            p = next_probs(logits, stepper.output, banned, grammar, temperature, top_k, top_p)
            w = weights
            if row_weights is not None:
                per_row = [row_weights(r) for r in range(n)]
                if any(x is not None for x in per_row):
                    w = np.stack([np.ones(p.shape[-1]) if x is None else x for x in per_row]) * (1 if w is None else w)
            tok = draw(p if w is None else p * w, rng)
            for r, t in enumerate(tok.tolist()):
                if alive[r]:
                    if stop is not None and stop(r, t):
                        alive[r] = False
                    else:
                        out[r].append(t)
                        if grammar is not None:
                            grammar.feed(r, t)
            if not any(alive):
                break
            logits, state = stepper.step(tok, state)
    return out

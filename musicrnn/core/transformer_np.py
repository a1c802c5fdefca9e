"""The transformer's configuration, and its streaming sampler in NumPy (no torch).

:class:`TransformerConfig` lives here, in a torch-free module, so that a checkpoint's
settings can be read and validated without loading torch; ``transformer.py`` re-exports it.

:class:`TransformerStepper` runs the decoder of :class:`~musicrnn.core.transformer.Transformer`
on weights read straight from the checkpoint (the torch ``state_dict`` names). ``start``
reads the whole prompt in one batched pass (prefill); ``step`` then reads one token per
row against a key/value cache. The cache is a preallocated ring of ``context`` slots per
layer: position p lives in slot ``p % context``, so a step writes one slot instead of
copying the cache, and the ring always holds exactly the attention window (a query sees
itself and the ``context - 1`` tokens before it). Keys are stored already rotated
(rotary positions), and attention does not depend on the order of its keys, so the ring
never needs to be unrolled.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np

from .errors import SettingsError

ROPE_BASE = 10000.0
LN_EPS = 1e-5


@dataclass
class TransformerConfig:
    vocab_size: int
    dim: int = 256
    layers: int = 4
    heads: int = 4
    context: int = 512  # attention window: a query sees itself and at most context-1 earlier tokens
    mlp: float = 4.0  # feed-forward hidden size = round(mlp * dim)
    dropout: float = 0.1
    attn_dropout: float = 0.0  # dropout on the attention probabilities (off: on the CPU it cost 18% of a step)

    @classmethod
    def from_dict(cls, d: dict) -> "TransformerConfig":
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def head_dim(self) -> int:
        return self.dim // self.heads

    @property
    def hidden(self) -> int:
        """The feed-forward hidden size."""
        return int(round(self.mlp * self.dim))

    def validate(self) -> "TransformerConfig":
        """Raise SettingsError (one line) for a setting no model can be built from."""
        for name in ("vocab_size", "dim", "layers", "heads"):
            if int(getattr(self, name)) < 1:
                raise SettingsError(f"--{name.replace('_', '-')} must be at least 1 (got {getattr(self, name)})")
        if self.context < 2:
            raise SettingsError(f"--context must be at least 2 tokens (got {self.context})")
        if self.dim % self.heads:
            raise SettingsError(f"--dim ({self.dim}) must be a multiple of --heads ({self.heads})")
        if self.head_dim % 2:
            raise SettingsError(f"--dim / --heads must be even for rotary positions (got {self.dim}/{self.heads} "
                                f"= {self.head_dim})")
        if not self.mlp > 0 or self.hidden < 1:
            raise SettingsError(f"--mlp must give a feed-forward size of at least 1 (got {self.mlp} x {self.dim})")
        if not 0 <= self.dropout < 1:
            raise SettingsError(f"--dropout must be in [0, 1) (got {self.dropout})")
        if not 0 <= self.attn_dropout < 1:
            raise SettingsError(f"attn_dropout must be in [0, 1) (got {self.attn_dropout})")
        for name, hi in (("vocab_size", 1_000_000), ("dim", 16_384), ("layers", 256), ("heads", 1024),
                         ("context", 1_048_576)):  # far beyond anything trained here; above, memory runs out
            if getattr(self, name) > hi:
                raise SettingsError(f"--{name.replace('_', '-')} must be at most {hi:,} (got {getattr(self, name):,})")
        if self.hidden > 65_536:
            raise SettingsError(f"--mlp gives a feed-forward size of {self.hidden:,}; at most 65,536")
        return self

    def weight_shapes(self) -> dict:
        """{weight name: ((size, setting), ...)} that the settings decide (see
        ``models.check_weights``)."""
        D = (self.dim, "dim")
        shapes = {"embed.weight": ((self.vocab_size, "vocab_size"), D)}
        for k in range(self.layers):
            shapes[f"blocks.{k}.attn.qkv.weight"] = ((3 * self.dim, "dim"), D)
        shapes["blocks.0.mlp.fc.weight"] = ((self.hidden, "mlp"), D)
        return shapes


def rope_inv_freq(head_dim: int) -> np.ndarray:
    """Rotary frequencies (head_dim/2,), float64 (the torch model uses the same formula)."""
    return ROPE_BASE ** (-np.arange(0, head_dim, 2, dtype=np.float64) / head_dim)


def _rope_tables(pos: np.ndarray, inv_freq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """pos (...,) ints -> cos, sin (..., head_dim/2) float32 (angles in float64)."""
    ang = np.asarray(pos, np.float64)[..., None] * inv_freq
    return np.cos(ang).astype(np.float32), np.sin(ang).astype(np.float32)


def _rotate(x: np.ndarray, cos: np.ndarray, sin: np.ndarray) -> np.ndarray:
    """Rotary embedding, "rotate half" layout (as the torch model): x (..., head_dim), with
    ``cos = [c, c]`` and ``sin = [-s, s]`` (..., head_dim) for the angle tables c, s."""
    h = x.shape[-1] // 2
    return x * cos + np.concatenate([x[..., h:], x[..., :h]], -1) * sin


def _full_tables(cos: np.ndarray, sin: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(..., head_dim/2) angle tables -> the (..., head_dim) pair :func:`_rotate` takes."""
    return np.concatenate([cos, cos], -1), np.concatenate([-sin, sin], -1)


def _normalize(x: np.ndarray) -> np.ndarray:
    """LayerNorm without its affine part (folded into the next product): x (..., D)."""
    inv = np.float32(1.0 / x.shape[-1])
    d = x - np.add.reduce(x, -1, keepdims=True) * inv
    return d / np.sqrt(np.add.reduce(d * d, -1, keepdims=True) * inv + np.float32(LN_EPS))


def _fold(ln_w: np.ndarray, ln_b: np.ndarray, w: np.ndarray, b: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """LayerNorm gain/bias folded into the Linear that follows: (x*g + c) @ W + b = x @ (g W) + (c W + b).
    w: (in, out) float32; done in float64."""
    w64 = w.astype(np.float64)
    fused_b = ln_b.astype(np.float64) @ w64 + (0.0 if b is None else b)
    return np.ascontiguousarray((ln_w.astype(np.float64)[:, None] * w64).astype(np.float32)), fused_b.astype(np.float32)


def _gelu(x: np.ndarray) -> np.ndarray:
    """GELU, tanh approximation (as the torch model: ``F.gelu(x, approximate="tanh")``)."""
    return 0.5 * x * (1.0 + np.tanh(np.float32(0.7978845608028654) * (x + np.float32(0.044715) * x * x * x)))


def _softmax(z: np.ndarray) -> np.ndarray:
    z = np.exp(z - z.max(-1, keepdims=True))
    return z / np.add.reduce(z, -1, keepdims=True)


@dataclass
class StepState:
    """The stepper's cache. ``k``, ``v``: (layers, n, heads, context, head_dim) float32 rings,
    position p in slot ``p % context`` (keys rotated); ``pos``: the position of the next token
    (= tokens read). :meth:`TransformerStepper.step` writes into ``k``/``v`` in place: after a
    step, only the state it returns is valid."""

    k: np.ndarray
    v: np.ndarray
    pos: int


class TransformerStepper:
    """Single-token inference of a :class:`~musicrnn.core.transformer.Transformer` in NumPy
    (float32), from its weights alone (``checkpoint.load_arrays``: state-dict names).

    At batch 1 a step is dozens of tiny array operations, so the weights are rearranged
    once for fewer of them: each LayerNorm's gain and bias are folded into the product
    that follows it, and the attention scale into the query weights.
    """

    def __init__(self, weights: dict[str, np.ndarray], cfg: TransformerConfig, output: str = "softmax"):
        sd = {k: np.asarray(v, np.float32) for k, v in weights.items()}
        self.cfg = cfg.validate()
        self.output = output
        self.L, self.H, self.hd, self.C, self.D = cfg.layers, cfg.heads, cfg.head_dim, cfg.context, cfg.dim
        self.inv_freq = rope_inv_freq(self.hd)
        self.emb = np.ascontiguousarray(sd["embed.weight"])
        if self.emb.shape != (cfg.vocab_size, cfg.dim):
            raise ValueError(f"embed.weight has shape {self.emb.shape}, expected {(cfg.vocab_size, cfg.dim)}")
        t = lambda name: sd[name + ".weight"].T  # noqa: E731 - a Linear's y = x @ W.T + b, as (in, out)
        scale = np.ones(3 * self.D)
        scale[:self.D] = 1.0 / np.sqrt(self.hd)  # the attention scale, on the queries
        self.blocks = []
        for i in range(self.L):
            p = f"blocks.{i}."
            w, b = _fold(sd[p + "ln1.weight"], sd[p + "ln1.bias"], t(p + "attn.qkv"), sd[p + "attn.qkv.bias"])
            self.blocks.append(dict(
                qkv=((w * scale).astype(np.float32), (b * scale).astype(np.float32)),
                proj=(np.ascontiguousarray(t(p + "attn.proj")), sd[p + "attn.proj.bias"]),
                fc=_fold(sd[p + "ln2.weight"], sd[p + "ln2.bias"], t(p + "mlp.fc"), sd[p + "mlp.fc.bias"]),
                out=(np.ascontiguousarray(t(p + "mlp.proj")), sd[p + "mlp.proj.bias"]),
            ))
        self.head = _fold(sd["ln_f.weight"], sd["ln_f.bias"], self.emb.T, None)  # tied output head, (D, V)

    @classmethod
    def from_model(cls, model, output: str = "softmax") -> "TransformerStepper":
        """From a torch ``Transformer`` (already in memory)."""
        return cls({k: v.detach().cpu().float().numpy() for k, v in model.state_dict().items()}, model.cfg, output)

    def init_state(self, n: int) -> StepState:
        shape = (self.L, n, self.H, self.C, self.hd)
        return StepState(np.zeros(shape, np.float32), np.zeros(shape, np.float32), 0)

    def _qkv(self, x: np.ndarray, blk: dict, cos: np.ndarray, sin: np.ndarray):
        """x (..., D) -> rotated q (scaled), rotated k, and v, each (..., heads, head_dim)."""
        a = _normalize(x) @ blk["qkv"][0] + blk["qkv"][1]
        qk = _rotate(a[..., :2 * self.D].reshape(*x.shape[:-1], 2 * self.H, self.hd), cos, sin)
        return qk[..., :self.H, :], qk[..., self.H:, :], a[..., 2 * self.D:].reshape(*x.shape[:-1], self.H, self.hd)

    def _rest(self, x: np.ndarray, y: np.ndarray, blk: dict) -> np.ndarray:
        """The block after attention: x (..., D) residual, y (..., D) attention output."""
        x = x + y @ blk["proj"][0] + blk["proj"][1]
        return x + _gelu(_normalize(x) @ blk["fc"][0] + blk["fc"][1]) @ blk["out"][0] + blk["out"][1]

    def _logits(self, x: np.ndarray) -> np.ndarray:
        return _normalize(x) @ self.head[0] + self.head[1]

    def _prefill_attention(self, q: np.ndarray, k: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Windowed causal attention over one row: q, k, v (heads, P, head_dim) -> (P, D).
        Queries go in blocks of ``context``, so memory stays O(P * context)."""
        H, P, C = q.shape[0], q.shape[1], self.C
        out = np.empty((P, H, self.hd), np.float32)
        for a in range(0, P, C):
            b = min(a + C, P)
            lo = max(0, a - C + 1)
            s = q[:, a:b] @ k[:, lo:b].transpose(0, 2, 1)  # (H, b-a, b-lo)
            i = np.arange(a, b)[:, None]
            j = np.arange(lo, b)[None, :]
            s = np.where((j <= i) & (j > i - C), s, -np.inf)
            out[a:b] = (_softmax(s) @ v[:, lo:b]).transpose(1, 0, 2)
        return out.reshape(P, -1)

    def start(self, prompt: Sequence[int], n: int) -> tuple[np.ndarray, StepState]:
        """Read the prompt (in one pass, the same for every row) -> (logits (n, V) after its
        last token, state for ``n`` rows)."""
        ids = np.asarray(list(prompt), np.int64)
        P, C = len(ids), self.C
        if P == 0:
            raise ValueError("the prompt must hold at least one token")
        state = self.init_state(n)
        cos, sin = _full_tables(*_rope_tables(np.arange(P), self.inv_freq))  # (P, hd)
        cos, sin = cos[:, None], sin[:, None]  # broadcast over heads
        keep = np.arange(max(0, P - C), P)  # the positions the ring holds afterwards
        x = self.emb[ids]
        for i, blk in enumerate(self.blocks):
            q, k, v = self._qkv(x, blk, cos, sin)  # (P, H, hd)
            x = self._rest(x, self._prefill_attention(*(a.transpose(1, 0, 2) for a in (q, k, v))), blk)
            state.k[i][:, :, keep % C] = k[keep].transpose(1, 0, 2)[None]
            state.v[i][:, :, keep % C] = v[keep].transpose(1, 0, 2)[None]
        state.pos = P
        return np.repeat(self._logits(x[-1:]), n, 0), state

    def step(self, tokens: np.ndarray, state: StepState) -> tuple[np.ndarray, StepState]:
        """tokens (n,) -> (logits (n, V), new state). Writes the cache in place (see :class:`StepState`)."""
        pos, C = state.pos, self.C
        slot, m = pos % C, min(pos + 1, C)  # the new token's slot; slots in use after writing it
        cos, sin = _full_tables(*_rope_tables(pos, self.inv_freq))
        x = self.emb[np.asarray(tokens)]
        n = len(x)
        for i, blk in enumerate(self.blocks):
            q, k, v = self._qkv(x, blk, cos, sin)  # (n, H, hd)
            ki, vi = state.k[i], state.v[i]
            ki[:, :, slot] = k
            vi[:, :, slot] = v
            s = (ki[:, :, :m] @ q[..., None])[..., 0]  # (n, H, m)
            y = (_softmax(s)[:, :, None, :] @ vi[:, :, :m])[:, :, 0]  # (n, H, hd)
            x = self._rest(x, y.reshape(n, -1), blk)
        return self._logits(x), StepState(state.k, state.v, pos + 1)


__all__ = ["StepState", "TransformerConfig", "TransformerStepper", "rope_inv_freq"]

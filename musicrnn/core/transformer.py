"""A causal decoder-only transformer over token ids (nanoGPT style, pre-norm blocks).

Positions are rotary (RoPE) on queries and keys, so attention sees only how far apart
two tokens are (relative positions, as in Music Transformer's relative attention). That
makes a sliding-window key/value cache exact: a query at position t attends to
positions ``max(t - context + 1, start of its piece) .. t``, whether the sequence comes
in one call or in chunks of any size with the cache carried between them.

State is explicit, as in the char-RNN: ``forward(x, state, reset)`` takes the cache left
by the previous call and returns the new one. Training does not carry it
(``carries_state = False``: every window starts from an empty cache); sampling streams
one token at a time through it (the NumPy stepper in ``transformer_np.py`` on the CPU).

State layout (a tuple of tensors)::

    (pos (B,) long     position of the row's next token = tokens read so far,
     start (B,) long   position where the row's current piece began (the last reset),
     k_0, v_0, ..., k_{L-1}, v_{L-1})   each (B, heads, N, head_dim), N <= context - 1:
                       keys (rotated) and values of positions pos-N .. pos-1

Entries before ``start`` stay in the cache but are masked out.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .transformer_np import LN_EPS, ROPE_BASE, TransformerConfig

State = tuple[torch.Tensor, ...]  # (pos, start, k_0, v_0, ..., k_{L-1}, v_{L-1}); see the module docstring


def rotary_tables(pos: torch.Tensor, head_dim: int, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """pos (B, T) long -> cos, sin (B, 1, T, head_dim/2) in ``dtype`` (angles in float64 where
    the device has it, so that long sequences keep exact positions; same formula as NumPy)."""
    wide = torch.float32 if pos.device.type == "mps" else torch.float64
    inv = ROPE_BASE ** (-torch.arange(0, head_dim, 2, dtype=wide, device=pos.device) / head_dim)
    ang = pos.to(wide)[..., None] * inv
    return ang.cos()[:, None].to(dtype), ang.sin()[:, None].to(dtype)


def rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotary embedding ("rotate half" layout): x (B, H, T, head_dim)."""
    x1, x2 = x.chunk(2, -1)
    cos, sin = cos.to(x.dtype), sin.to(x.dtype)  # no-op unless under autocast
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], -1)


class SelfAttention(nn.Module):
    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.heads, self.head_dim, self.p = cfg.heads, cfg.head_dim, cfg.attn_dropout
        self.qkv = nn.Linear(cfg.dim, 3 * cfg.dim)
        self.proj = nn.Linear(cfg.dim, cfg.dim)

    def forward(self, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor], past: tuple[torch.Tensor, torch.Tensor] | None,
                mask: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """x (B, T, D); past: cached (k, v) (B, H, N, hd) or None; mask: (B, 1, T, N+T) bool
        (True = attend), or None for plain causal attention over x alone.
        Returns (y (B, T, D), k, v (B, H, N+T, hd))."""
        B, T, D = x.shape
        q, k, v = self.qkv(x).view(B, T, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k = rotate(q, *rope), rotate(k, *rope)
        if past is not None:
            k, v = torch.cat([past[0].to(k.dtype), k], 2), torch.cat([past[1].to(v.dtype), v], 2)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=self.p if self.training else 0.0,
                                           is_causal=mask is None)
        return self.proj(y.transpose(1, 2).reshape(B, T, D)), k, v


class MLP(nn.Module):
    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.fc = nn.Linear(cfg.dim, cfg.hidden)
        self.proj = nn.Linear(cfg.hidden, cfg.dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(F.gelu(self.fc(x), approximate="tanh"))


class Block(nn.Module):
    """Pre-norm: x + attn(ln1(x)), then x + mlp(ln2(x)); dropout on each residual branch."""

    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.ln1 = nn.LayerNorm(cfg.dim, eps=LN_EPS)
        self.attn = SelfAttention(cfg)
        self.ln2 = nn.LayerNorm(cfg.dim, eps=LN_EPS)
        self.mlp = MLP(cfg)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x, rope, past, mask):
        a, k, v = self.attn(self.ln1(x), rope, past, mask)
        x = x + self.drop(a)
        return x + self.drop(self.mlp(self.ln2(x))), k, v


class Transformer(nn.Module):
    family = "transformer"
    carries_state = False  # training reads every window from an empty cache

    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.cfg = cfg.validate()
        self.embed = nn.Embedding(cfg.vocab_size, cfg.dim)
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.layers))
        self.ln_f = nn.LayerNorm(cfg.dim, eps=LN_EPS)
        self._init_weights()

    def _init_weights(self) -> None:
        """GPT-2: normal(0, 0.02), residual output projections / sqrt(2 * layers), zero biases."""
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, 0.0, 0.02)
            if isinstance(m, nn.Linear) and m.bias is not None:
                nn.init.zeros_(m.bias)
        for blk in self.blocks:
            for m in (blk.attn.proj, blk.mlp.proj):
                nn.init.normal_(m.weight, 0.0, 0.02 / math.sqrt(2 * self.cfg.layers))

    def init_state(self, batch: int, device=None) -> State:
        """An empty cache for ``batch`` rows."""
        z = torch.zeros(batch, dtype=torch.long, device=device)
        kv = torch.zeros(batch, self.cfg.heads, 0, self.cfg.head_dim, device=device, dtype=self.embed.weight.dtype)
        return (z, z.clone()) + (kv,) * (2 * self.cfg.layers)

    def _piece_starts(self, T: int, pos: torch.Tensor, start: torch.Tensor, reset: torch.Tensor | None) -> torch.Tensor:
        """(B, T): the absolute position where each query's piece starts."""
        qs = start[:, None].expand(-1, T)
        if reset is None:
            return qs
        t = torch.arange(T, device=pos.device)
        return torch.maximum(qs, torch.where(reset, pos[:, None] + t, -1).cummax(1).values)

    def _mask(self, N: int, pos: torch.Tensor, qs: torch.Tensor) -> torch.Tensor:
        """The attention mask (B, 1, T, N+T), True = attend: query t sits at buffer index N+t,
        key j at absolute position pos-N+j; qs (B, T) from :meth:`_piece_starts`."""
        T = qs.shape[1]
        i = torch.arange(T, device=pos.device)[:, None] + N
        j = torch.arange(N + T, device=pos.device)[None, :]
        band = (j <= i) & (j > i - self.cfg.context)  # (T, N+T): causal, within the window
        same_piece = (pos[:, None] - N + j)[:, None, :] >= qs[:, :, None]  # (B, T, N+T)
        return (band & same_piece)[:, None]

    def forward(self, x: torch.Tensor, state: State | None = None,
                reset: torch.Tensor | None = None) -> tuple[torch.Tensor, State]:
        """Logits for every position.

        x: (B, T) token ids; state: a cache from :meth:`init_state` or a previous call (None:
        empty); reset: optional (B, T) bool, True where a new piece starts: from that token
        on, the row attends to nothing before it (cache included).
        Returns logits (B, T, V) and the cache after the last token (the last context-1 tokens).
        """
        B, T = x.shape
        state = self.init_state(B, x.device) if state is None else state
        pos, start, cache = state[0], state[1], state[2:]
        N = cache[0].shape[2]
        qs = self._piece_starts(T, pos, start, reset)
        plain = N == 0 and T <= self.cfg.context and (reset is None or not bool(reset[:, 1:].any()))
        mask = None if plain else self._mask(N, pos, qs)  # None: is_causal, SDPA may pick flash attention
        h = self.drop(self.embed(x))
        rope = rotary_tables(pos[:, None] + torch.arange(T, device=x.device), self.cfg.head_dim, h.dtype)
        keep = min(self.cfg.context - 1, N + T)
        new_cache = []
        for i, blk in enumerate(self.blocks):
            h, k, v = blk(h, rope, (cache[2 * i], cache[2 * i + 1]) if N else None, mask)
            new_cache += [k[:, :, N + T - keep:], v[:, :, N + T - keep:]]
        logits = F.linear(self.ln_f(h), self.embed.weight)  # head tied to the embedding
        return logits, (pos + T, qs[:, -1], *new_cache)


__all__ = ["State", "Transformer", "TransformerConfig", "rotary_tables", "rotate"]

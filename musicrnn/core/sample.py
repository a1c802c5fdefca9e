"""Streaming sampling: the recurrent state advances one token at a time (no recomputation).

Randomness comes from one ``torch.Generator`` seeded by the caller, so the same seed
gives the same tokens.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch

from .rnn import CharRNN

StopFn = Callable[[int, int], bool]  # (row, token) -> True to end that row *before* keeping token


def filter_logits(logits: torch.Tensor, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0) -> torch.Tensor:
    """Temperature, then top-k, then nucleus (top-p) filtering. logits: (B, V) -> (B, V) log-probs."""
    logits = logits / max(temperature, 1e-6)
    if top_k and top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p < 1.0:
        sorted_l, idx = torch.sort(logits, dim=-1, descending=True)
        probs = torch.softmax(sorted_l, -1)
        drop = probs.cumsum(-1) - probs > top_p  # keep the smallest set whose mass reaches top_p
        logits = logits.scatter(-1, idx, sorted_l.masked_fill(drop, float("-inf")))
    return torch.log_softmax(logits, -1)


@torch.no_grad()
def sample(model: CharRNN, prompt: Sequence[int], n: int, max_tokens: int, *, temperature: float = 1.0,
           top_k: int = 0, top_p: float = 1.0, seed: int = 0, stop: StopFn | None = None) -> list[list[int]]:
    """Draw ``n`` continuations of ``prompt`` in one batch; each is at most ``max_tokens`` long.

    The prompt is read in one pass through the fused kernel; after that each new token
    costs one recurrent step. A row ends when ``stop(row, token)`` says so.
    """
    model.eval()
    device = next(model.parameters()).device
    gen = torch.Generator(device="cpu").manual_seed(seed)
    x = torch.as_tensor(list(prompt), dtype=torch.long, device=device).view(1, -1).expand(n, -1)
    logits, state = model(x)
    logits = logits[:, -1]
    out: list[list[int]] = [[] for _ in range(n)]
    alive = [True] * n
    for _ in range(max_tokens):
        logp = filter_logits(logits.float(), temperature, top_k, top_p)
        tok = torch.multinomial(logp.exp().cpu(), 1, generator=gen).view(-1)
        for r, t in enumerate(tok.tolist()):
            if alive[r]:
                if stop is not None and stop(r, t):
                    alive[r] = False
                else:
                    out[r].append(t)
        if not any(alive):
            break
        logits, state = model.step(tok.to(device), state)
    return out

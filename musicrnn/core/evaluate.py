"""The exact scorer: every held-out token scored once, each piece from its own start.

Each sequence is read from a fresh (zero) state; position t predicts token t+1, so a
piece of n tokens contributes n - 1 scored tokens, and the total is independent of the
batch size and of the chunk length used to walk long pieces (the state is carried
exactly between chunks). Training's validation, ``evaluate``, ``calibrate`` and
``experiment`` all score through :func:`score_tokens`.

Pieces are batched in order of length (less padding); padding comes after a piece's
end, so it never reaches a scored position of a causal model.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch

from .topcat import confidence_probs, log_probs


@torch.no_grad()
def score_tokens(model, seqs: Sequence[np.ndarray], batch: int = 16, chunk: int = 512, details: bool = True,
                 output: str = "softmax", mask=None) -> dict:
    """Per scored token, concatenated in the order of ``seqs``: ``loglik`` (nats, under the
    distribution the model samples from) and, with ``details``, ``confidence`` (the top
    probability the output activation states) and ``correct`` (top guess == target).

    ``output``: the output activation the model was trained with (its objective's);
    ``mask``: inputs (B, T) -> allowed next tokens (B, T, V), for a constrained vocabulary."""
    was = model.training
    model.eval()
    device = next(model.parameters()).device
    lens = np.array([len(s) for s in seqs])
    order = np.argsort(-lens, kind="stable")
    per_piece: list = [None] * len(seqs)
    for a in range(0, len(order), batch):
        idx = order[a:a + batch]
        L = int(lens[idx].max())
        x = np.zeros((len(idx), L), np.int64)
        for r, i in enumerate(idx):
            x[r, :lens[i]] = seqs[i]
        x = torch.from_numpy(x).to(device)
        state, parts = None, []
        for c in range(0, L - 1, chunk):
            inp, tgt = x[:, c:min(c + chunk, L - 1)], x[:, c + 1:min(c + chunk, L - 1) + 1]
            logits, state = model(inp, state)
            z = logits.float() if mask is None else logits.float().masked_fill(~mask(inp), float("-inf"))
            ll = log_probs(z, output).gather(-1, tgt[..., None]).squeeze(-1)
            if details:
                conf, guess = confidence_probs(z, output).max(-1)
                parts.append(torch.stack([ll, conf, (guess == tgt).float()], -1).cpu().numpy())
            else:
                parts.append(ll[..., None].cpu().numpy())
        res = np.concatenate(parts, 1) if parts else np.zeros((len(idx), 0, 3 if details else 1))
        for r, i in enumerate(idx):
            per_piece[i] = res[r, :max(lens[i] - 1, 0)]
    model.train(was)
    allv = np.concatenate(per_piece) if per_piece else np.zeros((0, 3 if details else 1))
    if not details:
        return {"loglik": allv[:, 0].astype(np.float64)}
    return {"loglik": allv[:, 0].astype(np.float64), "confidence": allv[:, 1], "correct": allv[:, 2].astype(bool)}


def bits_per_token(model, seqs: Sequence[np.ndarray], batch: int = 16, chunk: int = 512,
                   output: str = "softmax") -> float:
    """Exact mean negative log2-likelihood per scored token of ``seqs``."""
    ll = score_tokens(model, seqs, batch, chunk, details=False, output=output)["loglik"]
    return float(-ll.mean() / math.log(2)) if ll.size else float("nan")


@torch.no_grad()
def score_pairs(model, pairs: Sequence[tuple[np.ndarray, np.ndarray]], per_position, batch: int = 16,
                chunk: int = 512) -> np.ndarray:
    """The float-stream twin of :func:`score_tokens`: each (inputs (T, F), targets (T, ...))
    pair read from a fresh state in chunks (state carried exactly); returns
    ``per_position(out, y)`` (B, T) for every position of every pair, concatenated in order."""
    was = model.training
    model.eval()
    device = next(model.parameters()).device
    lens = np.array([len(x) for x, _ in pairs])
    order = np.argsort(-lens, kind="stable")
    per_piece: list = [None] * len(pairs)
    for a in range(0, len(order), batch):
        idx = order[a:a + batch]
        L = int(lens[idx].max())
        x0, y0 = pairs[idx[0]]
        x = np.zeros((len(idx), L, *x0.shape[1:]), np.float32)
        y = np.zeros((len(idx), L, *y0.shape[1:]), np.float32)
        for r, i in enumerate(idx):
            x[r, :lens[i]], y[r, :lens[i]] = pairs[i]
        x, y = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)
        state, parts = None, []
        for c in range(0, L, chunk):
            out, state = model(x[:, c:c + chunk], state)
            parts.append(per_position(out, y[:, c:c + chunk]).float().cpu().numpy())
        res = np.concatenate(parts, 1)
        for r, i in enumerate(idx):
            per_piece[i] = res[r, :lens[i]]
    model.train(was)
    return np.concatenate(per_piece).astype(np.float64) if per_piece else np.zeros(0)

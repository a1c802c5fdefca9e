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
def score_tokens(model, seqs: Sequence[np.ndarray], batch: int = 16, chunk: int = 512, details: bool = True) -> dict:
    """Per scored token, concatenated in the order of ``seqs``: ``loglik`` (nats, under the
    distribution the model samples from) and, with ``details``, ``confidence`` (the top
    probability the output activation states) and ``correct`` (top guess == target)."""
    was = model.training
    model.eval()
    device = next(model.parameters()).device
    output = model.cfg.output
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
            z = logits.float()
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


def bits_per_token(model, seqs: Sequence[np.ndarray], batch: int = 16, chunk: int = 512) -> float:
    """Exact mean negative log2-likelihood per scored token of ``seqs``."""
    ll = score_tokens(model, seqs, batch, chunk, details=False)["loglik"]
    return float(-ll.mean() / math.log(2)) if ll.size else float("nan")

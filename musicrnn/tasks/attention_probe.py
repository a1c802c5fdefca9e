"""Question 5 of the research study (issue 23): what the temporal attention does.

The research notes call the temporal attention "incorrectly implemented", yet it sometimes
helps. This probe opens a trained model that has it (``checkpoints/folk-attention`` by
default) and measures, on test tunes it never saw:

* **where it looks**: the attention weight by distance, in tokens and in bars (a bar back,
  a phrase back?), each tune read in one pass from a fresh state;
* **whether the weights matter**: test bits per token with the layer as trained, with its
  output removed (``off``), with its weights frozen uniform over the allowed positions
  (``uniform``), with each query's weights shuffled among its allowed positions
  (``shuffled``), and with its window cut to a few tokens (``window-K``).

Training-time questions (is the gain attention or extra capacity, a window of a few steps
from the start) are arms of the study's experiment part ``q5-folk``.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import numpy as np
import torch

from ..core.attention import TemporalAttention

MAX_BARS = 8  # bar distances reported one by one; beyond: "8+"


def _weights(self, y, memory, valid, reset, mode: str, window: int | None, gen):
    """The layer's forward with its weights changed by ``mode``; returns (out, memory, valid, att)."""
    att, kv, mask, memory, valid = self.weights(y, memory, valid, reset, reach=window)
    if mode == "off":
        return y, memory, valid, None
    if mode == "uniform":
        att = mask.float() / mask.sum(-1, keepdim=True).clamp(min=1)
    elif mode == "shuffled":  # each query's weights, moved at random among its allowed positions
        first = torch.argsort((~mask).float(), dim=-1, stable=True)  # allowed positions first, in order
        rnd = torch.rand(att.shape, generator=gen).masked_fill(~mask, 2.0)
        to = torch.argsort(rnd, dim=-1)  # allowed positions first, at random
        att = torch.zeros_like(att).scatter_(-1, to, torch.gather(att, -1, first))
    return y + self.o(att @ self.v(kv)), memory, valid, att


@contextlib.contextmanager
def changed(mode: str = "trained", window: int | None = None, seed: int = 0, record: list | None = None):
    """Every TemporalAttention in this block runs with its weights changed by ``mode``
    (trained, off, uniform, shuffled) and ``window`` (None: its own); with ``record``, each
    call's weights (B, T, N+T) are appended to it."""
    if mode not in ("trained", "off", "uniform", "shuffled"):
        raise ValueError(f"mode {mode!r}")
    original = TemporalAttention.forward
    gen = torch.Generator().manual_seed(seed)

    def forward(self, y, memory, valid, reset=None):
        out, mem, ok, att = _weights(self, y, memory, valid, reset, mode, window, gen)
        if record is not None and att is not None:
            record.append(att.detach())
        return out, mem, ok

    TemporalAttention.forward = forward
    try:
        yield
    finally:
        TemporalAttention.forward = original


@torch.no_grad()
def where_it_looks(model, seqs, bar_token: int) -> dict:
    """Mean attention weight by distance, over every position of ``seqs`` (each read in one
    pass from a fresh state): by tokens (0 = itself .. window-1) and by bars (0 = the same
    bar, 1 = the bar before, ...), and the mean distance in tokens of a bar in these tunes."""
    model.eval()
    n = model.att.window
    by_tok, by_bar, flat, count = np.zeros(n), np.zeros(MAX_BARS + 1), np.zeros(MAX_BARS + 1), 0
    bar_lengths = []
    for s in seqs:
        x = torch.as_tensor(np.asarray(s[:-1]), dtype=torch.long)[None]
        rec: list = []
        with changed("trained", record=rec):
            model(x)
        att = rec[0][0].numpy()  # (T, N+T): keys n..n+T-1 are the tune's own positions
        T = att.shape[0]
        bars = np.cumsum(np.asarray(s[:-1]) == bar_token)
        starts = np.flatnonzero(np.asarray(s[:-1]) == bar_token)
        if starts.size > 1:
            bar_lengths += np.diff(starts).tolist()
        t = np.arange(T)[:, None]
        k = np.arange(n, n + T)[None, :] - n
        lag = t - k
        w = att[:, n:]
        ok = (lag >= 0) & (lag < n)
        by_tok += np.bincount(lag[ok], weights=w[ok], minlength=n)[:n]
        bl = np.minimum((bars[:, None] - bars[None, :])[ok], MAX_BARS)
        by_bar += np.bincount(bl, weights=w[ok], minlength=MAX_BARS + 1)[: MAX_BARS + 1]
        u = (ok / ok.sum(1, keepdims=True))[ok]  # what weights spread evenly over the window would give
        flat += np.bincount(bl, weights=u, minlength=MAX_BARS + 1)[: MAX_BARS + 1]
        count += T
    by_tok, by_bar, flat = by_tok / max(count, 1), by_bar / max(count, 1), flat / max(count, 1)
    return {"by_tokens": by_tok.tolist(), "by_bars": by_bar.tolist(), "by_bars_if_even": flat.tolist(), "positions": count,
            "tokens_per_bar_median": float(np.median(bar_lengths)) if bar_lengths else None}


@torch.no_grad()
def bar_map(model, seq, bar_token: int) -> np.ndarray:
    """One tune's attention summed bar to bar: ``m[i, j]`` is the mean, over the queries in bar
    ``i``, of their weight on the tokens of bar ``j`` (j <= i; a row sums to at most 1, the rest
    lies on the memory before the tune, empty here). Bar 0 is what precedes the first bar line."""
    model.eval()
    s = np.asarray(seq[:-1])
    rec: list = []
    with changed("trained", record=rec):
        model(torch.as_tensor(s, dtype=torch.long)[None])
    n = model.att.window
    w = rec[0][0].numpy()[:, n:]  # (T, T): keys are the tune's own positions
    bars = np.cumsum(s == bar_token)
    nb = int(bars[-1]) + 1
    m = np.zeros((nb, nb))
    for i in range(nb):
        q = bars == i
        if q.any():
            m[i] = np.bincount(bars, weights=w[q].sum(0), minlength=nb)[:nb] / q.sum()
    return m


def _plot_bar_map(m: np.ndarray, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 2, figsize=(10, 4.2))
    shown = np.where(np.tril(np.ones_like(m, bool)), m, np.nan)
    im = ax[0].imshow(shown, cmap="viridis", origin="upper")
    ax[0].set_xlabel("bar attended to")
    ax[0].set_ylabel("bar of the query")
    ax[0].set_title(title, fontsize=9)
    fig.colorbar(im, ax=ax[0], fraction=0.046, label="mean weight")
    lags = np.arange(min(len(m), MAX_BARS + 1))
    per_lag = [np.mean([m[i, i - k] for i in range(k, len(m))]) if k < len(m) else np.nan for k in lags]
    ax[1].bar(lags, per_lag)
    ax[1].set_xlabel("bars back (this tune)")
    ax[1].set_ylabel("mean weight")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def probe(checkpoint="checkpoints/folk-attention", data="corpora/folk", out="docs/experiments/study/q5-attention",
          pieces: int = 200, windows=(1, 4, 16), seed: int = 0, log=print) -> dict:
    """The probe on ``pieces`` test tunes of ``data`` (the checkpoint's own test split):
    where the layer looks, and test bits per token under each change. Writes ``out/report.md``,
    ``report.json`` and ``where.png``; returns the report."""
    from ..codec import BAR
    from ..core.evaluate import bits_per_token
    from .music import load_corpus, load_model

    model, vocab, meta = load_model(checkpoint)
    if getattr(model, "att", None) is None:
        raise ValueError(f"{checkpoint}: this model has no temporal attention")
    split = meta.get("data", {})
    corpus = load_corpus(data, vocab, split.get("valid_fraction", 0.1), split.get("test_fraction", 0.1))
    seqs = corpus.test[:pieces]
    log(f"probe: {checkpoint}, {len(seqs)} test tunes of {data}, window {model.att.window}")
    where = where_it_looks(model, seqs[: min(len(seqs), 100)], BAR)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tune = next((i for i, s in enumerate(seqs) if 16 <= int(np.sum(np.asarray(s) == BAR)) <= 40), 0)
    _plot_bar_map(bar_map(model, seqs[tune], BAR), out / "tune_map.png",
                  f"test tune {tune} of {Path(str(data)).name}: where each bar's tokens look")
    arms = [("trained", None), ("off", None), ("uniform", None), ("shuffled", None),
            *[("trained", w) for w in windows]]
    bits = {}
    for mode, w in arms:
        name = mode if w is None else f"window-{w}"
        with changed(mode, window=w, seed=seed):
            bits[name] = bits_per_token(model, seqs)
        log(f"  {name}: {bits[name]:.4f} bits/token")
    report = {"checkpoint": str(checkpoint), "data": str(data), "pieces": len(seqs), "window": model.att.window,
              "bits_per_token": bits, "where": where, "tune_map": tune}
    (out / "report.json").write_text(json.dumps(report, indent=1) + "\n")
    _plot(where, out / "where.png")
    bars = where["by_bars"]
    lines = [f"# Where the temporal attention looks, and what its weights are worth", "",
             f"`{checkpoint}` (window {model.att.window} tokens) on {len(seqs)} test tunes of `{data}` "
             f"(its own split); `musicrnn.tasks.attention_probe.probe`. A bar is a median "
             f"{where['tokens_per_bar_median']:.0f} tokens in these tunes.", "",
             "| the layer | test bits/token | against as trained |", "|---|---|---|"]
    for name, v in bits.items():
        lines.append(f"| {name} | {v:.4f} | {v - bits['trained']:+.4f} |")
    lines += ["", "Mean attention weight by distance in bars (0: the query's own bar):", "",
              "| " + " | ".join(f"{i}" if i < MAX_BARS else f"{MAX_BARS}+" for i in range(MAX_BARS + 1)) + " |",
              "|" + "---|" * (MAX_BARS + 1),
              "| " + " | ".join(f"{b:.3f}" for b in bars) + " |",
              "| " + " | ".join(f"{b:.3f}" for b in where["by_bars_if_even"]) + " |", "",
              "First row: as trained. Second row: the same window with its weight spread evenly (the "
              "`uniform` change). Where the first is above the second, the layer looks there more "
              "than an even spread would.", "",
              f"Weight on the query itself: {where['by_tokens'][0]:.3f}; on the last 8 tokens: "
              f"{sum(where['by_tokens'][:8]):.3f}.", "", "![where it looks](where.png)", "",
              f"One tune (test tune {tune}), bar by bar: each row is a bar of queries, each column the bar "
              "their weight lands on; the right panel averages its diagonals (bars back).", "",
              "![one tune's map](tune_map.png)", ""]
    (out / "report.md").write_text("\n".join(lines))
    return report


def _plot(where: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 2, figsize=(10, 3.2))
    tok = np.asarray(where["by_tokens"])
    ax[0].plot(np.arange(len(tok)), tok)
    if where.get("tokens_per_bar_median"):
        for m in range(1, 1 + int(len(tok) // where["tokens_per_bar_median"])):
            ax[0].axvline(m * where["tokens_per_bar_median"], color="0.8", lw=0.8)
    ax[0].set_xlabel("distance back (tokens; grey: whole bars at the median bar length)")
    ax[0].set_ylabel("mean attention weight")
    bars = where["by_bars"]
    names = [str(i) if i < MAX_BARS else f"{MAX_BARS}+" for i in range(len(bars))]
    ax[1].bar(names, bars, label="as trained")
    if "by_bars_if_even" in where:
        ax[1].plot(names, where["by_bars_if_even"], "k_", markersize=18, mew=2, label="spread evenly")
        ax[1].legend(frameon=False)
    ax[1].set_xlabel("distance back (bars)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


__all__ = ["bar_map", "changed", "probe", "where_it_looks"]

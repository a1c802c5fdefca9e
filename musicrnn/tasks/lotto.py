"""Lotto Max: can a small RNN predict the next draw? A research task on the shared core
that is meant to give a *negative* result on a good random source and a positive one
only where the source is deliberately weak.

Format. A Lotto Max draw is 7 distinct numbers from 1..50 plus a bonus number drawn from
the 43 that remain. A history is an int array of shape (N, 8), oldest draw first: columns
0..6 the main numbers in ascending order, column 7 the bonus.

Sources of histories
--------------------
* ``import_csv(path)`` -- a real draw history. Accepted CSV (comma separated, a header
  row, UTF-8 with or without BOM; blank lines are skipped, extra columns are ignored):

  - ``n1`` .. ``n7`` (required): the main numbers, in any order within the row
    (also spelled ``number1``.., ``num1``.., ``ball1``..);
  - ``bonus`` (required; also ``bonus number``): the bonus number;
  - ``date`` (optional; also ``draw date``): ``YYYY-MM-DD``. With dates, the rows must be
    strictly in date order, oldest first; a file whose dates all run newest first (as
    many lottery sites export) is read and reversed. Without dates the row order is
    taken as the draw order, oldest first.

  Header names are matched ignoring case, spaces, ``_`` and ``-``. Refused, each with one
  line (:class:`DataError`): a missing file, an empty file, a header without draws,
  missing columns, garbage rows (wrong number of cells, not whole numbers, bad dates:
  counted and named by line), numbers outside 1..50, a number repeated within a draw
  (the bonus included), and dates out of order.
* ``generate(kind, n_draws, seed)``:

  - ``"mt"`` -- Python's Mersenne Twister: ``random.Random(seed).sample(range(1, 51), 8)``
    per draw (7 main numbers, then the bonus from the 43 left). Reproducible by seed.
  - ``"lcg"`` -- a deliberately weak linear congruential generator,
    ``x <- (5 x + 12345) mod 2**16``, a number being ``1 + floor(50 x / 2**16)`` (the high
    bits, the "right" way to scale); a number already in the draw is skipped and the next
    output taken. Weak on purpose, in three ways: (1) the multiplier 5 is tiny, so each
    output is 5x the previous one modulo the range: knowing a number pins the next one to
    ~5 of the 50 (successive pairs lie on 5 lines -- the spectral test's worst case);
    the bonus is the last number drawn, so it tells the next draw's first number to
    within ~5 candidates; (2) the modulus 2**16 is small: the whole stream repeats after
    65,536 outputs (~7,600 draws), and there are only 65,536 different histories
    (``seed`` is taken modulo 2**16); (3) the generator's state *is* its last output.
    It satisfies Hull-Dobell (c odd, a - 1 divisible by 4), so it has the full period.
  - ``"os"`` -- the operating system's entropy (``secrets.SystemRandom``): ``seed`` is
    ignored and the history is **not reproducible**; :func:`train` saves the history it
    used with the model (``history.csv``), so evaluation and ``resume`` still work.

Model. An RNN (``core.models``, ``features=100, outputs=50, vocab_size=1``) reads the
history draw by draw, carrying its state (stateful truncated BPTT, ``FeatureStreams``).
Input at draw t: the 7 main numbers as a multi-hot 50-vector, then the bonus as a one-hot
50-vector. Target: the next draw's 7 main numbers as a multi-hot 50-vector, trained with
``FrameBCE`` (one sigmoid per number, binary cross-entropy summed over the 50). The
prediction is the model's top 7 (ties broken by the lower number).

Splits. Chronological: the model trains on predicting draws 1..0.8N, validation (best
checkpoint, early stopping) is the next 10%, the test is the last 10%. The model always
reads the history from the first draw (its state carried), and only the split's positions
are scored: the model never sees a scored draw before predicting it.

Metric and test. ``matches`` = how many of the 7 predicted numbers are among the next
draw's 7 main numbers. If draws are uniformly random and independent of the past, then
for any prediction made from the past alone, the matches of each draw follow the
hypergeometric distribution Hyp(50 numbers, 7 drawn, 7 chosen) *whatever the
prediction*: mean 7*7/50 = 0.98, variance 0.98 * (43/50) * (43/49) = 0.7396. Since
that conditional law never depends on the past, the per-draw matches are i.i.d.
hypergeometric under the null, and the total over n scored draws has exactly the
n-fold convolution of that law. ``p_value`` is the exact one-sided P(total >= observed)
under it (computed by convolution for n <= 5000, else from the normal approximation
with the exact mean and variance; ``p_value_normal`` is always given too). The exact
discrete test is slightly conservative (P(p <= a) <= a). ``ci95_*`` is the 95%
interval of the mean matches from the observed spread (Student t).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import math
import random
import secrets
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Callable

import numpy as np

from ..core.errors import CheckpointError, DataError, SettingsError
from ..core.settings import check_core

TASK = "lotto"
NUMBERS = 50  # numbers 1..50
PICK = 7  # main numbers per draw
FEATURES = 2 * NUMBERS  # main multi-hot + bonus one-hot
GENERATORS = ("mt", "lcg", "os")
HISTORY = "history.csv"  # the history a model was trained on, saved beside it
MIN_DRAWS = 100
EXACT_MAX_DRAWS = 5000  # above this the p-value uses the normal approximation

# the weak LCG (see the module's docstring)
LCG_A, LCG_C, LCG_M = 5, 12345, 2 ** 16

VALID_FRACTION, TEST_FRACTION = 0.1, 0.1
MODEL_DEFAULTS = {"hidden": 64, "embed": 32, "layers": 1, "cell": "lstm", "dropout": 0.0}
# chosen on lcg/mt histories of 3,000 draws (seed 0): lr 3e-3 or patience 5 stop on the plateau at the
# marginal frequencies (20.25 nats/draw) before the lcg's structure is found; longer runs overfit
TRAIN_DEFAULTS = {"batch": 16, "bptt": 25, "lr": 1e-2, "epochs": 40, "patience": 10, "warmup": 0.05}


# ---------------------------------------------------------------------------------------------
# the chance level and the test


def hypergeom_pmf() -> np.ndarray:
    """P(k matches), k = 0..7, for 7 numbers chosen against 7 drawn of 50 (exact, then float)."""
    total = math.comb(NUMBERS, PICK)
    return np.array([math.comb(PICK, k) * math.comb(NUMBERS - PICK, PICK - k) / total for k in range(PICK + 1)])


def chance_mean() -> Fraction:
    """The expected matches per draw under the null, as an exact fraction (49/50)."""
    total = math.comb(NUMBERS, PICK)
    return sum((Fraction(k * math.comb(PICK, k) * math.comb(NUMBERS - PICK, PICK - k), total)
                for k in range(PICK + 1)), Fraction(0))


CHANCE = float(chance_mean())  # 0.98
_PMF = hypergeom_pmf()
CHANCE_VAR = float(sum((k - CHANCE) ** 2 * p for k, p in enumerate(_PMF)))  # 0.7396


def _tail_exact(total: int, n: int) -> float:
    """P(S >= total), S the sum of n i.i.d. hypergeometric match counts (direct convolution
    of non-negative terms: accurate in relative terms far into the tail)."""
    if total <= 0:
        return 1.0
    if total > PICK * n:
        return 0.0
    dist = np.array([1.0])
    for _ in range(n):
        dist = np.convolve(dist, _PMF)
    return float(min(1.0, dist[total:].sum()))


def _sum_test(total: int, n: int) -> tuple[float, float, float]:
    """(z, p, normal p) of ``total`` matches over ``n`` draws against chance, one-sided: p is
    exact up to EXACT_MAX_DRAWS draws, else the normal approximation."""
    from scipy import stats

    z = (total - n * CHANCE) / math.sqrt(n * CHANCE_VAR)
    p_normal = float(stats.norm.sf(z))
    return float(z), (_tail_exact(total, n) if n <= EXACT_MAX_DRAWS else p_normal), p_normal


def match_test(matches) -> dict:
    """The one-sided test of mean matches against the hypergeometric chance (see the module's
    docstring): mean, 95% CI, z, exact and normal p-values."""
    from scipy import stats

    m = np.asarray(matches, dtype=np.int64).reshape(-1)
    n = int(m.size)
    if n == 0:
        raise DataError("no draws to score")
    total, mean = int(m.sum()), float(m.mean())
    z, p, p_normal = _sum_test(total, n)
    exact = n <= EXACT_MAX_DRAWS
    sd = float(m.std(ddof=1)) if n > 1 else float("nan")
    half = float(stats.t.ppf(0.975, n - 1) * sd / math.sqrt(n)) if n > 1 else float("nan")
    return {"draws_scored": n, "total_matches": total, "mean_matches": mean, "chance": CHANCE,
            "excess": mean - CHANCE, "ci95_low": mean - half, "ci95_high": mean + half, "z": float(z),
            "p_value": p, "p_value_normal": p_normal,
            "test": "exact (n-fold hypergeometric convolution)" if exact else "normal approximation (exact mean, variance)"}


def matches_of(predictions: np.ndarray, draws: np.ndarray) -> np.ndarray:
    """Per draw, how many of the predicted numbers (rows of 7) are among the draw's 7 main numbers."""
    pred = np.asarray(predictions)
    main = np.asarray(draws)[:, :PICK]
    return (pred[:, :, None] == main[:, None, :]).any(-1).sum(-1)


# ---------------------------------------------------------------------------------------------
# generators


def _lcg_draws(n: int, seed: int) -> np.ndarray:
    x = int(seed) % LCG_M
    out = np.zeros((n, PICK + 1), np.int64)
    for i in range(n):
        got: list[int] = []
        while len(got) < PICK + 1:
            x = (LCG_A * x + LCG_C) % LCG_M
            v = 1 + (x * NUMBERS) // LCG_M
            if v not in got:
                got.append(v)
        out[i, :PICK] = sorted(got[:PICK])
        out[i, PICK] = got[PICK]
    return out


def generate(kind: str, n_draws: int, seed: int = 0) -> np.ndarray:
    """A synthetic history of ``n_draws`` draws, shape (n, 8): 7 ascending main numbers, then
    the bonus. ``kind``: "mt", "lcg" (both reproducible by ``seed``) or "os" (seed ignored)."""
    if kind not in GENERATORS:
        raise SettingsError(f"unknown generator {kind!r}: choose from {', '.join(GENERATORS)}")
    n = int(n_draws)
    if n < 1:
        raise SettingsError(f"--draws must be at least 1 (got {n_draws})")
    if kind == "lcg":
        return _lcg_draws(n, seed)
    rng = random.Random(seed) if kind == "mt" else secrets.SystemRandom()
    out = np.zeros((n, PICK + 1), np.int64)
    for i in range(n):
        d = rng.sample(range(1, NUMBERS + 1), PICK + 1)
        out[i, :PICK] = sorted(d[:PICK])
        out[i, PICK] = d[PICK]
    return out


# ---------------------------------------------------------------------------------------------
# CSV import

_ALIASES = {"date": "date", "drawdate": "date", "bonus": "bonus", "bonusnumber": "bonus", "bonusball": "bonus"}
for _i in range(1, PICK + 1):
    for _p in ("n", "number", "num", "ball"):
        _ALIASES[f"{_p}{_i}"] = f"n{_i}"
MAIN_COLS = [f"n{i}" for i in range(1, PICK + 1)]


def _canon(name: str) -> str:
    key = "".join(ch for ch in name.strip().lower() if ch not in " _-")
    return _ALIASES.get(key, key)


def _name_lines(bad: list[tuple[int, str]], limit: int = 5) -> str:
    text = ", ".join(f"line {ln} ({why})" for ln, why in bad[:limit])
    return text + (f" and {len(bad) - limit} more" if len(bad) > limit else "")


def import_csv(path, with_dates: bool = False):
    """A real draw history from a CSV file (format: the module's docstring), oldest first, as
    an (N, 8) int array; with ``with_dates``, (draws, dates as ISO strings or None)."""
    from ..core.files import csv_rows

    path = Path(path)
    header, data = csv_rows(path, "a CSV of draws")
    if header is None:
        raise DataError(f"{path}: empty file (expected a header row, then one draw per row)")
    rows = [(1, header)] + data
    names = [_canon(h) for h in header]
    need = MAIN_COLS + ["bonus"]
    missing = [c for c in need if c not in names]
    if missing:
        raise DataError(f"{path}: missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
                        f"(a Lotto Max history needs n1..n7 and bonus; date is optional)")
    dupes = sorted({c for c in names if c in need + ["date"] and names.count(c) > 1})
    if dupes:
        raise DataError(f"{path}: column {', '.join(dupes)} appears more than once in the header")
    col = {c: names.index(c) for c in need + (["date"] if "date" in names else [])}
    if len(rows) == 1:
        raise DataError(f"{path}: no draws (only a header)")
    garbage, draws, dates, lines = [], [], [], []
    for ln, r in rows[1:]:
        if len(r) != len(header):
            garbage.append((ln, f"{len(r)} cells, the header has {len(header)}"))
            continue
        vals, why = [], None
        for c in need:
            cell = r[col[c]].strip()
            try:
                vals.append(int(cell))
            except ValueError:
                why = f"{c} {cell!r} is not a whole number"
                break
        day = None
        if why is None and "date" in col:
            cell = r[col["date"]].strip()
            try:
                day = _dt.date.fromisoformat(cell) if len(cell) == 10 else None
            except ValueError:
                day = None
            if day is None:
                why = f"date {cell!r} is not YYYY-MM-DD"
        if why:
            garbage.append((ln, why))
            continue
        draws.append(vals)
        dates.append(day)
        lines.append(ln)
    if garbage:
        raise DataError(f"{path}: {len(garbage)} garbage row{'s' if len(garbage) > 1 else ''}: {_name_lines(garbage)}")
    a = np.array(draws, np.int64)
    out_of_range = [(ln, f"{int(v)} is not in 1..{NUMBERS}") for ln, row in zip(lines, a)
                    for v in row[(row < 1) | (row > NUMBERS)][:1]]
    if out_of_range:
        raise DataError(f"{path}: numbers out of 1..{NUMBERS} in {len(out_of_range)} row"
                        f"{'s' if len(out_of_range) > 1 else ''}: {_name_lines(out_of_range)}")
    repeated = []
    for ln, row in zip(lines, a):
        u, c = np.unique(row, return_counts=True)
        if (c > 1).any():
            repeated.append((ln, f"{int(u[c > 1][0])} twice"))
    if repeated:
        raise DataError(f"{path}: a number repeated within a draw (the bonus included) in {len(repeated)} row"
                        f"{'s' if len(repeated) > 1 else ''}: {_name_lines(repeated)}")
    if "date" in col and len(dates) > 1:
        up = all(d1 < d2 for d1, d2 in zip(dates, dates[1:]))
        down = all(d1 > d2 for d1, d2 in zip(dates, dates[1:]))
        if down:
            a, dates = a[::-1].copy(), dates[::-1]
        elif not up:
            first_up = dates[1] > dates[0]
            i = next(i for i in range(1, len(dates)) if (dates[i] > dates[i - 1]) != first_up or dates[i] == dates[i - 1])
            raise DataError(f"{path}: dates out of order at line {lines[i]} ({dates[i]} after {dates[i - 1]} on line "
                            f"{lines[i - 1]}); rows must run oldest first (or all newest first), one draw a date")
    a[:, :PICK] = np.sort(a[:, :PICK], axis=1)
    if with_dates:
        return a, [d.isoformat() if d else None for d in dates]
    return a


def write_csv(path, draws: np.ndarray, dates=None) -> Path:
    """Write a history in the format :func:`import_csv` reads (``date`` only when given)."""
    from ..core.files import atomic_write

    draws = np.asarray(draws)
    head = (["date"] if dates is not None else []) + MAIN_COLS + ["bonus"]
    lines = [",".join(head)]
    for i, row in enumerate(draws):
        lines.append(",".join(([dates[i]] if dates is not None else []) + [str(int(v)) for v in row]))
    text = "\n".join(lines) + "\n"
    return atomic_write(path, lambda p: p.write_text(text))


def _check_history(draws: np.ndarray, where: str = "history") -> np.ndarray:
    a = np.asarray(draws)
    if a.ndim != 2 or a.shape[1] != PICK + 1:
        raise DataError(f"{where}: a history is an array of shape (draws, 8), got {a.shape}")
    if a.size and (a.min() < 1 or a.max() > NUMBERS):
        raise DataError(f"{where}: numbers must be in 1..{NUMBERS}")
    if any(len(set(r.tolist())) != PICK + 1 for r in a):
        raise DataError(f"{where}: a number is repeated within a draw")
    out = a.astype(np.int64).copy()
    out[:, :PICK] = np.sort(out[:, :PICK], axis=1)
    return out


# ---------------------------------------------------------------------------------------------
# features, splits, scoring


def features(draws: np.ndarray) -> np.ndarray:
    """(N, 100) float32: the main numbers multi-hot, then the bonus one-hot."""
    x = np.zeros((len(draws), FEATURES), np.float32)
    rows = np.arange(len(draws))[:, None]
    x[rows, draws[:, :PICK] - 1] = 1.0
    x[np.arange(len(draws)), NUMBERS + draws[:, PICK] - 1] = 1.0
    return x


def targets(draws: np.ndarray) -> np.ndarray:
    """(N, 50) float32: the main numbers multi-hot."""
    y = np.zeros((len(draws), NUMBERS), np.float32)
    y[np.arange(len(draws))[:, None], draws[:, :PICK] - 1] = 1.0
    return y


def splits(n_draws: int) -> dict[str, tuple[int, int]]:
    """Position ranges [lo, hi) per split; position t reads draw t and predicts draw t + 1."""
    n_pos = n_draws - 1
    n_test = max(1, int(round(TEST_FRACTION * n_draws)))
    n_valid = max(1, int(round(VALID_FRACTION * n_draws)))
    n_train = n_pos - n_valid - n_test
    return {"train": (0, n_train), "valid": (n_train, n_train + n_valid), "test": (n_train + n_valid, n_pos)}


def _logits(model, x: np.ndarray) -> np.ndarray:
    """The model's logits for every position, reading the whole history from a zero state."""
    import torch

    was = model.training
    model.eval()
    device = next(model.parameters()).device
    with torch.no_grad():
        out, state, parts = None, None, []
        xt = torch.from_numpy(x)[None].to(device)
        for c in range(0, xt.shape[1], 1024):
            out, state = model(xt[:, c:c + 1024], state)
            parts.append(out[0].float().cpu().numpy())
    model.train(was)
    return np.concatenate(parts) if parts else np.zeros((0, NUMBERS), np.float32)


def top7(logits: np.ndarray) -> np.ndarray:
    """The 7 numbers (1..50) with the largest logits per row; ties go to the lower number."""
    return np.argsort(-logits, axis=1, kind="stable")[:, :PICK] + 1


def _nll(logits: np.ndarray, y: np.ndarray) -> float:
    """FrameBCE's score (nats per draw) from logits."""
    z = logits.astype(np.float64)
    return float((np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))).sum(-1).mean())


# ---------------------------------------------------------------------------------------------
# training


def _prepare_out(out: Path, resume: bool, force: bool) -> None:
    from ..core.checkpoint import prepare_out

    prepare_out(out, resume, force, extra=(HISTORY,))


def _sha(draws: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(draws, np.int64).tobytes()).hexdigest()[:16]


def _source(data, generator: str, draws: int, data_seed: int) -> tuple[np.ndarray, dict]:
    if data is None:
        h = generate(generator, draws, data_seed)
        info = {"generator": generator, "draws": int(draws),
                "data_seed": None if generator == "os" else int(data_seed)}
        if generator == "lcg":
            info["lcg"] = {"a": LCG_A, "c": LCG_C, "m": LCG_M}
        return h, info
    if isinstance(data, np.ndarray):
        return _check_history(data), {"generator": "array", "draws": int(len(data)), "data_seed": None}
    h = import_csv(data)
    return h, {"generator": "csv", "csv": str(data), "draws": int(len(h)), "data_seed": None}


def check_settings(*, generator: str | None = None, draws: int | None = None, **core) -> tuple[dict, dict]:
    """Refuse (SettingsError, one line) settings no run can use, before any history is made or
    read; returns the core's (model, training) settings (``core.settings.check_core``)."""
    core = {k: v for k, v in core.items() if k not in Settings.__dataclass_fields__ and v is not None}
    if generator is not None and generator not in GENERATORS:
        raise SettingsError(f"unknown generator {generator!r}: choose from {', '.join(GENERATORS)}")
    if draws is not None and draws < MIN_DRAWS:
        raise SettingsError(f"draws {draws}: need at least {MIN_DRAWS} to train and test")
    return check_core(core, MODEL_DEFAULTS)


def train(out, *, data=None, generator: str | None = None, draws: int | None = None, seed: int = 0,
          data_seed: int | None = None,
          minutes: float | None = None, steps: int | None = None, epochs: int | None = None,
          max_steps: int | None = None, hidden: int | None = None, layers: int | None = None,
          lr: float | None = None, batch: int | None = None, bptt: int | None = None, device: str = "cpu",
          resume: bool = False, force: bool = False, progress: bool = True, command: str = "",
          log: Callable[[str], None] = print, **core) -> dict:
    """Train a next-draw model into the folder ``out`` through the core's ``fit``.

    The history: ``data`` (a CSV path for :func:`import_csv`, or an (N, 8) array), else
    ``generate(generator, draws, data_seed)`` (defaults "mt", 3000 draws; ``data_seed``
    defaults to ``seed``; with ``resume``, None means "the run's own"). ``seed``
    seeds the weights, dropout and batch order. Length: ``steps``, else ``minutes``, else
    ``epochs`` (default 40, early stopping after 10 epochs without a better validation
    score). ``max_steps``: stop resumably after that many steps; ``resume`` continues the
    run in ``out`` (its saved history and settings; a different history is refused).
    ``force`` replaces a model in ``out``. The history used is saved as ``out/history.csv``.
    ``core``: other settings of the core's model and training loop (``core.settings.CORE_MODEL``
    / ``CORE_TRAIN``: cell, activation, attention, embed, grad_scale, ...).

    Returns fit's summary plus, when finished, the test evaluation (``test_*`` keys).
    """
    from ..core import models
    from ..core.checkpoint import read_config, update_config
    from ..core.data import FeatureStreams
    from ..core.objectives import FrameBCE
    from ..core.train import TrainConfig, fit, main_process

    out = Path(out)
    model_over, train_over = check_settings(generator=generator, draws=draws, hidden=hidden, layers=layers, lr=lr,
                                            batch=batch, bptt=bptt, **core)  # before any work
    mset = {**MODEL_DEFAULTS, **model_over}
    tset = {**TRAIN_DEFAULTS, **train_over, **({"epochs": epochs} if epochs is not None else {})}
    if resume:  # the run's own history and settings; a different history named here is refused
        if not (out / "last" / "train_state.json").is_file() or not (out / HISTORY).is_file():
            raise CheckpointError(f"{out}: nothing to resume (no last/train_state.json and {HISTORY})")
        saved = read_config(out / "last")
        if saved.get("task") != TASK:
            raise CheckpointError(f"{out}: a {saved.get('task') or 'music'!r} run, not a lotto run")
        history, info = import_csv(out / HISTORY), saved["data"]
        named = {"generator": generator if data is None else None, "draws": draws if data is None else None,
                 "data_seed": data_seed if data is None and generator != "os" else None,
                 "sha": None if data is None else _source(data, "mt", 1, 0)[0]}
        if named["sha"] is not None:
            named["sha"] = _sha(named["sha"])
        diffs = [f"{'history (sha256 prefix)' if k == 'sha' else k} ({info.get(k)!r} -> {v!r})"
                 for k, v in named.items() if v is not None and v != info.get(k)]
        if diffs:
            raise SettingsError(f"{out}: --resume continues the run on its own history; these differ: "
                                f"{', '.join(diffs)}")
        mset = saved["model"]
        tcfg = TrainConfig.from_dict({**saved["train"], "max_steps": max_steps, "device": device})
    else:
        generator = generator or "mt"
        data_seed = seed if data_seed is None else int(data_seed)
        history, info = _source(data, generator, 3000 if draws is None else draws, data_seed)
        if len(history) < MIN_DRAWS:
            raise DataError(f"only {len(history)} draws: need at least {MIN_DRAWS} to train and test")
        tcfg = TrainConfig(seed=seed, primer=0, steps=steps, minutes=minutes, max_steps=max_steps, device=device,
                           **tset)
        info = {**info, "sha": _sha(history)}
        if main_process():
            _prepare_out(out, resume, force)
            out.mkdir(parents=True, exist_ok=True)
            write_csv(out / HISTORY, history)
    sp = splits(len(history))
    info = {**info, "splits": {k: list(v) for k, v in sp.items()}}
    x, y = features(history[:-1]), targets(history[1:])
    cfg = models.make_config("rnn", {**mset, "vocab_size": 1, "features": FEATURES, "outputs": NUMBERS})
    obj = FrameBCE()
    lo, hi = sp["train"]
    src = FeatureStreams([x[lo:hi]], [y[lo:hi]], batch=tcfg.batch, bptt=tcfg.bptt, seed=tcfg.seed)
    v0, v1 = sp["valid"]

    def validation(model):
        z = _logits(model, x[:v1])
        return {"nll_per_frame": _nll(z[v0:v1], y[v0:v1]), "frames": v1 - v0}

    log(f"lotto: {len(history)} draws ({info['generator']}); train {hi - lo}, valid {v1 - v0}, "
        f"test {sp['test'][1] - sp['test'][0]} predictions")
    meta = {"task": TASK, "command": command, "data": info}
    # the core's "too few steps to learn" warning is sized for music (300+ steps); a lotto run
    # plateaus and stops early by design, so it is not passed on
    quiet_log = (lambda m: None if str(m).startswith("warning: only") else log(m))
    summary = fit(models.build("rnn", cfg, seed=tcfg.seed), obj, src, validation, tcfg, out, meta=meta,
                  resume=resume, valid_size=v1, progress=progress, log=quiet_log)
    if summary["finished"] and main_process():
        ev = evaluate(out)
        summary.update({f"test_{k}": ev[k] for k in ("mean_matches", "ci95_low", "ci95_high", "z", "p_value",
                                                     "draws_scored")})
        update_config(out, lambda m: m.setdefault("metrics", {}).update(
            {"test_mean_matches": round(ev["mean_matches"], 5), "test_p_value": ev["p_value"],
             "test_draws_scored": ev["draws_scored"]}))
        log(f"test: {ev['mean_matches']:.3f} matches per draw over {ev['draws_scored']} draws "
            f"(chance {CHANCE:.2f}), one-sided p = {ev['p_value']:.3g}")
    return summary


# ---------------------------------------------------------------------------------------------
# evaluation and report


def load(model_dir):
    """(torch model, config) of a lotto checkpoint; another task's model is refused."""
    from ..core.checkpoint import load_task_model

    return load_task_model(model_dir, TASK)


def evaluate(model_dir, *, data=None) -> dict:
    """Mean matches of the model's top-7 against the hypergeometric chance, with the exact
    one-sided test. ``data`` None: the test split of the history the model was trained on
    (``history.csv``); else a CSV (or (N, 8) array) of draws it has not seen: the model
    reads it from its first draw and every later draw is scored."""
    model, meta = load(model_dir)
    info = meta.get("data", {})
    if data is None:
        path = Path(meta["_folder"]) / HISTORY
        if not path.is_file():
            raise CheckpointError(f"{model_dir}: {HISTORY} is missing (the history the model was trained on)")
        history = import_csv(path)
        lo, hi = splits(len(history))["test"]
        source, split = info.get("generator", "?"), "test"
    else:
        history = _check_history(data) if isinstance(data, np.ndarray) else import_csv(data)
        if len(history) < 2:
            raise DataError(f"{data}: need at least 2 draws to score a prediction")
        lo, hi, source, split = 0, len(history) - 1, "csv" if not isinstance(data, np.ndarray) else "array", "all"
    z = _logits(model, features(history[:-1])[:hi])
    m = matches_of(top7(z[lo:hi]), history[lo + 1:hi + 1])
    res = match_test(m)
    return {"task": TASK, "model_dir": str(model_dir), "generator": source, "trained_on": info.get("generator"),
            "data_seed": info.get("data_seed"), "seed": meta.get("train", {}).get("seed"), "split": split,
            "history_draws": int(len(history)), "history_sha": _sha(history), **res,
            "nll_per_draw": _nll(z[lo:hi], targets(history[lo + 1:hi + 1]))}


# --- experiment -------------------------------------------------------------------------------
# metric -> which direction is better (the experiment's table; the first is plotted)
METRICS = {"mean_matches": "higher", "excess": "higher", "z": "higher", "nll_per_draw": "lower",
           "p_value": "(one-sided, against chance)"}


@dataclass
class Settings:
    """What an experiment arm may change besides the core's model and training settings
    (``core.settings.CORE_MODEL`` / ``CORE_TRAIN``). ``data_seed`` defaults to the run's seed,
    so every seed scores a history of its own."""

    generator: str = "mt"
    draws: int = 3000
    data_seed: int | None = None
    epochs: int = TRAIN_DEFAULTS["epochs"]


def recorded(model_dir) -> dict:
    """The settings a lotto run was trained with, flat (``core.experiment.flat_settings``)."""
    from ..core.checkpoint import task_config
    from ..core.experiment import flat_settings

    meta = task_config(model_dir, TASK)
    data = {k: v for k, v in meta.get("data", {}).items() if k != "splits"}
    return flat_settings({**meta.get("model", {}), **meta.get("train", {}), **data})


def experiment_runs(data=None, steps: int | None = None, minutes: float | None = None, report: bool = True,
                    **common):
    """The experiment runner's task (``core.experiment.TaskRuns``): one arm = one set of
    ``train`` settings on ``data`` (a CSV of real draws) or, by default, the arm's generator;
    a finished run is read back. With ``report``, the experiment ends with OUT/report/."""
    from ..core.experiment import TaskRuns

    sha = _sha(import_csv(data)) if data is not None else None

    def scored(out):
        have = recorded(out)
        if (have.get("sha") != sha) if sha else have.get("generator") not in GENERATORS:
            raise DataError(f"{out}: a finished run on another history; use a new experiment folder")
        return evaluate(out)

    finish = (lambda out, runs: globals()["report"]([out], Path(out) / "report")) if report else None
    return TaskRuns(TASK, METRICS, train, scored, recorded, source=data or "generated draws", finish=finish,
                    data=data, steps=steps, minutes=minutes, **common)


def _fmt_p(p: float) -> str:
    return "< 1e-300" if p == 0 else f"{p:.3g}"


def report(dirs, out_dir) -> Path:
    """Evaluate each model folder in ``dirs`` (an experiment folder: each of its runs; on its own test split) and write
    ``out_dir/report.md`` (per-run table, per-source summary over seeds), ``report.json``
    and ``report.png``. Returns the Markdown's path."""
    from ..core.stats import holm, summarize

    from ..core.experiment import expand_runs, run_label

    dirs = expand_runs(dirs)
    if not dirs:
        raise SettingsError("no model folders to report on")
    rows = [evaluate(d) for d in dirs]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    groups: dict[str, list[dict]] = {}  # an experiment's variants, else the runs by source
    for r in rows:
        groups.setdefault(_group(r), []).append(r)
    summary = {}
    for g, rs in groups.items():
        s = summarize([r["mean_matches"] for r in rs])
        # pooling the runs' draws is a valid test only when they scored different histories
        independent = len({r["history_sha"] for r in rs}) == len(rs)
        pooled = None
        if independent and len(rs) > 1:
            n = sum(r["draws_scored"] for r in rs)
            total = sum(r["total_matches"] for r in rs)
            pooled = _pooled(total, n)
        summary[g] = {"runs": len(rs), "mean_matches": s, "pooled": pooled}
    adj = holm([r["p_value"] for r in rows])
    for r, a in zip(rows, adj):
        r["p_holm"] = a
    lines = ["# Lotto Max: next-draw prediction against chance", "",
             f"Chance: {CHANCE:.2f} matches per draw (7 predicted of 50 against 7 drawn, hypergeometric mean "
             "7*7/50). p: one-sided exact test of the total matches against the sum of i.i.d. hypergeometric "
             "counts (Holm: adjusted over the runs of this table). 95% CI of a run: Student t over its scored "
             "draws; of a source: Student t over its runs (seeds).", "",
             "| run | source | seed | data seed | draws scored | mean matches | 95% CI | z | p | Holm p |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {run_label(r['model_dir'])} | {r['generator']} | {r['seed']} | {r['data_seed']} | "
                     f"{r['draws_scored']} | {r['mean_matches']:.3f} | [{r['ci95_low']:.3f}, {r['ci95_high']:.3f}] | "
                     f"{r['z']:+.2f} | {_fmt_p(r['p_value'])} | {_fmt_p(r['p_holm'])} |")
    lines += ["", "Per variant (an experiment's) or source: the runs' mean matches averaged over seeds; pooled: all "
              "their scored draws in one exact test (only when every run scored a different history).", "",
              "| variant or source | runs | mean of mean matches | 95% CI over runs | pooled draws | pooled mean | pooled p |",
              "|---|---|---|---|---|---|---|"]
    for g, s in summary.items():
        m, p = s["mean_matches"], s["pooled"]
        ci = f"[{m['ci95'][0]:.3f}, {m['ci95'][1]:.3f}]" if m["n"] > 1 else "—"
        pooled = (f"{p['draws_scored']} | {p['mean_matches']:.3f} | {_fmt_p(p['p_value'])}" if p
                  else "— | — | " + ("— (one run)" if s["runs"] == 1 else "— (runs share a history)"))
        lines.append(f"| {g} | {s['runs']} | {m['mean']:.3f} | {ci} | {pooled} |")
    lines += ["", "![mean matches per run](report.png)", ""]
    md = out_dir / "report.md"
    md.write_text("\n".join(lines))
    (out_dir / "report.json").write_text(json.dumps({"runs": rows, "summary": summary, "chance": CHANCE},
                                                    indent=1, default=str) + "\n")
    _plot(rows, out_dir / "report.png")
    return md


def _pooled(total: int, n: int) -> dict:
    z, p, _ = _sum_test(total, n)
    return {"draws_scored": n, "total_matches": total, "mean_matches": total / n, "z": z, "p_value": p}


def _group(r: dict) -> str:
    """A run's group in the report: its experiment variant (the folder above ``seedN``), else its source."""
    from ..core.experiment import variant_of

    return variant_of(r["model_dir"]) or r["generator"]


def _plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sources = list(dict.fromkeys(_group(r) for r in rows))
    fig, ax = plt.subplots(figsize=(2 + 1.5 * len(sources), 4))
    for i, g in enumerate(sources):
        rs = [r for r in rows if _group(r) == g]
        for j, r in enumerate(rs):
            xpos = i + (j - (len(rs) - 1) / 2) * 0.12
            ax.errorbar([xpos], [r["mean_matches"]], yerr=[[r["mean_matches"] - r["ci95_low"]],
                                                           [r["ci95_high"] - r["mean_matches"]]],
                        fmt="o", capsize=3, c=f"C{i}")
    ax.axhline(CHANCE, color="k", ls="--", lw=1, label=f"chance {CHANCE:.2f}")
    ax.set_xticks(range(len(sources)), sources, rotation=15 if len(sources) > 3 else 0, fontsize=8)
    ax.set_ylabel("mean matches per draw (top 7)")
    ax.set_title("held-out draws: each run with its 95% CI", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


__all__ = ["CHANCE", "CHANCE_VAR", "GENERATORS", "chance_mean", "evaluate", "features", "generate",
           "hypergeom_pmf", "import_csv", "match_test", "matches_of", "report", "splits", "targets", "top7",
           "train", "write_csv"]

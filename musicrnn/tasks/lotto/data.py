"""Draw histories: the Lotto Max format (7 of 1..50 plus a bonus), the generators (:func:`generate`:
mt, the weak lcg, os), reading and writing CSVs of real draws (:func:`import_csv`, :func:`write_csv`)
and the history a run uses. NumPy only."""

from __future__ import annotations

import datetime as _dt
import hashlib
import random
import secrets
from pathlib import Path

import numpy as np

from ...core.errors import DataError, SettingsError


NUMBERS = 50  # numbers 1..50
PICK = 7  # main numbers per draw
GENERATORS = ("mt", "lcg", "os")

# the weak LCG (see the package's docstring)
LCG_A, LCG_C, LCG_M = 5, 12345, 2 ** 16


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
    """A real draw history from a CSV file (format: the package's docstring), oldest first, as
    an (N, 8) int array; with ``with_dates``, (draws, dates as ISO strings or None)."""
    from ...core.files import csv_rows

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
    from ...core.files import atomic_write

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

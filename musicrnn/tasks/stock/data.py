"""The data: daily closes from a CSV (:func:`load_closes`, garbage rows up to 1% skipped), the
log-price deltas (:func:`log_returns`), the date splits (:func:`split_days`) and the normalisation
fitted on the training period only (:func:`normaliser`, :func:`normalise`). NumPy only."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Callable

import numpy as np

from ...core.errors import DataError, SettingsError
from ...shipped import task_data


DEFAULT_CSV = task_data("stock", "sp500_1950_2018.csv")  # corpora/stock/ (a wheel: musicrnn/_data/stock/)

DATE_COLUMNS = ("date",)  # compared case-insensitively, spaces / dots / underscores ignored
CLOSE_COLUMNS = ("close", "adjclose")  # "Close" preferred; else "Adj Close" / "Adj.Close" / "Adj_Close"
MAX_SKIPPED = 0.01  # garbage rows up to 1% of the data rows are skipped (logged); more: refused
CLIP = 6.0  # normalised deltas are clipped to +-6 standard deviations (inputs and targets)
VALID_FROM, TEST_FROM = "2000-01-01", "2010-01-01"
HISTORY = 32  # the stateless model's window of past deltas


def _key(name: str) -> str:
    return re.sub(r"[\s._-]+", "", name.strip().lower())


_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}")


def _parse_row(row: list[str], di: int, ci: int):
    """(date, close) or a short reason why the row is garbage."""
    if len(row) <= max(di, ci):
        return f"{len(row)} fields"
    d, c = row[di].strip(), row[ci].strip()
    if not _DATE_RE.match(d):
        return f"date {d!r}"
    try:
        date = np.datetime64(d[:10], "D")
    except ValueError:
        return f"date {d!r}"
    try:
        close = float(c)
    except ValueError:
        return f"close {c!r}"
    if not (math.isfinite(close) and close > 0):
        return f"close {c!r}"
    return date, close


def load_closes(path=DEFAULT_CSV, log: Callable[[str], None] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(dates (datetime64[D]), closes (float64)) from a CSV with a header row.

    Columns: a ``Date`` column (ISO ``YYYY-MM-DD``, a time after it is ignored) and a
    ``Close`` column (or, without one, ``Adj Close`` / ``Adj.Close`` / ``Adj_Close``); names
    are matched ignoring case, spaces, dots and underscores; other columns are ignored.
    A row whose date does not parse or whose close is not a finite positive number (e.g.
    Yahoo's ``null``) is garbage: up to 1% of the data rows are skipped (``log`` is told
    how many and which lines), more are refused. Raises :class:`DataError` with one line
    for a missing or unreadable file, an empty file, missing columns, too many garbage
    rows, and dates out of order or repeated (dates must strictly increase).
    """
    from ...core.files import csv_rows

    path = Path(path)
    header, rows = csv_rows(path, "a CSV of daily closes")
    if header is None:
        raise DataError(f"{path}: empty file (need a header row with Date and Close, then one row per day)")
    keys = [_key(h) for h in header]
    di = next((keys.index(k) for k in DATE_COLUMNS if k in keys), None)
    ci = next((keys.index(k) for k in CLOSE_COLUMNS if k in keys), None)
    missing = [name for name, i in (("Date", di), ("Close", ci)) if i is None]
    if missing:
        found = ", ".join(h.strip() for h in header)[:200]
        raise DataError(f"{path}: no {' or '.join(missing)} column (the header has: {found}); a stock CSV needs "
                        f"Date and Close (or Adj Close) columns")
    if not rows:
        raise DataError(f"{path}: no data rows (only a header)")
    dates, closes, lines, bad = [], [], [], []
    for line, row in rows:
        got = _parse_row(row, di, ci)
        if isinstance(got, str):
            bad.append((line, got))
        else:
            dates.append(got[0])
            closes.append(got[1])
            lines.append(line)
    if bad:
        where = ", ".join(f"line {ln}: {why}" for ln, why in bad[:3]) + (", ..." if len(bad) > 3 else "")
        if len(bad) > int(MAX_SKIPPED * len(rows)):
            raise DataError(f"{path}: {len(bad)} of {len(rows)} rows are not a date and a positive close ({where}); "
                            f"at most {MAX_SKIPPED:.0%} may be skipped")
        if log:
            log(f"{path}: skipped {len(bad)} garbage row{'s' * (len(bad) > 1)} of {len(rows)} ({where})")
    d = np.array(dates, dtype="datetime64[D]")
    step = np.diff(d)
    wrong = np.flatnonzero(step <= np.timedelta64(0, "D"))
    if wrong.size:
        i = int(wrong[0]) + 1
        what = "repeated" if d[i] == d[i - 1] else "out of order"
        raise DataError(f"{path}: dates {what} at line {lines[i]}: {d[i]} after {d[i - 1]} (dates must increase)")
    return d, np.array(closes, dtype=np.float64)


def log_returns(closes: np.ndarray) -> np.ndarray:
    """Day-indexed deltas of the log price: ``r[t] = log(close[t] / close[t-1])``, ``r[0] = nan``."""
    r = np.full(len(closes), np.nan)
    r[1:] = np.diff(np.log(closes))
    return r


def split_days(dates: np.ndarray, valid_from: str = VALID_FROM, test_from: str = TEST_FROM) -> tuple[int, int]:
    """(first validation day, first test day) as indices into ``dates``. Refuses (DataError)
    splits that leave a period with too few days."""
    try:
        v, t = np.datetime64(valid_from, "D"), np.datetime64(test_from, "D")
    except ValueError:
        raise SettingsError(f"split dates must be YYYY-MM-DD (got {valid_from!r}, {test_from!r})") from None
    if not v < t:
        raise SettingsError(f"the validation period must start before the test period ({valid_from} vs {test_from})")
    iv, it = int(np.searchsorted(dates, v)), int(np.searchsorted(dates, t))
    need = 2 * HISTORY + 2
    for name, n in (("training", iv - 1), ("validation", it - iv), ("test", len(dates) - it)):
        if n < need:
            span = f"{dates[0]}..{dates[-1]}" if len(dates) else "no days"
            raise DataError(f"only {max(n, 0)} {name} days with validation from {valid_from} and test from "
                            f"{test_from} (data {span}); need at least {need}")
    return iv, it


def normaliser(dates: np.ndarray, closes: np.ndarray, valid_from: str = VALID_FROM) -> dict:
    """Mean and standard deviation of the log-price deltas of the training period (days
    before ``valid_from``) only."""
    r = log_returns(closes)[1:int(np.searchsorted(dates, np.datetime64(valid_from, "D")))]
    if r.size < 2 or not r.std() > 0:
        raise DataError("the training period has too few distinct price changes to normalise them")
    return {"mean": float(r.mean()), "std": float(r.std()), "clip": CLIP}


def normalise(closes: np.ndarray, norm: dict) -> np.ndarray:
    """Day-indexed normalised deltas (``z[0] = nan``)."""
    return np.clip((log_returns(closes) - norm["mean"]) / norm["std"], -norm["clip"], norm["clip"])

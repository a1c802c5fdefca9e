"""Earthquakes as a daily grid: read USGS ComCat catalogs, grid them, simulate ETAS catalogs, score forecasts.

This module is the data and the scoring of the quake task, and its model: :func:`train` (an online
RNN trained with the core's ``fit``), :func:`evaluate` (the test days against the baselines),
:func:`forecast` and :func:`update` (the daily, idempotent, kill-safe backfill and next-day forecast);
the folder layout is described above :func:`train`. Any other model only has to produce a
``(days, cells)`` array of predicted magnitudes for the next day to be scored with :func:`score`.

Data: the USGS ComCat CSV format (what ``https://earthquake.usgs.gov/fdsnws/event/1/query?format=csv``
returns): a header row, then one event per row with at least ``time, latitude, longitude, depth, mag``;
``time`` is ISO 8601 in UTC ending in ``Z`` (``2018-02-07T01:26:13.840Z``), latitude/longitude in
degrees (WGS84), depth in km (negative above sea level), ``mag`` a magnitude of type ``magType``.
:func:`read_comcat` keeps the good rows and counts and names the bad ones (``Catalog.bad_rows``).
Real catalogs ship in ``corpora/quake/`` (see its README.md).

Grid (as the original predictor): 2-degree latitude x 2-degree longitude cells (90 x 180), one step
per UTC day. A cell-day's value is the magnitude of the summed energy of its quakes,
``(2/3) * log10(sum 10**(1.5 * M))``, and :data:`NO_QUAKE` (-1.0) when it had none. (A single quake of
magnitude -1.0 would read as "no quake"; pass ``min_mag`` to cut such tiny events.)

Synthetic data: :func:`etas_catalog` simulates the ETAS model (Ogata 1988, 1998) and returns a
:class:`Catalog` that :func:`write_comcat` writes in the same ComCat columns.

Scoring: :func:`score` (the original +/-1.0 magnitude hit rule, precision/recall, ROC AUC of
"M >= t in this cell tomorrow"), and the baselines :func:`historical_rate` and :func:`yesterday`.
The data and scoring parts are NumPy only; the model parts import torch when called.
"""

from __future__ import annotations

import csv
import datetime as _dt
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ..core.checkpoint import sha256 as file_sha256
from ..core.errors import DataError
from ..core.settings import check_core

SHIPPED = {"usgs_week": "usgs_week_2018-02.csv", "ridgecrest": "ridgecrest_2019-07.csv"}

# The columns of USGS ComCat's CSV, in its order; the first five are required to read a file.
COMCAT_COLUMNS = ("time", "latitude", "longitude", "depth", "mag", "magType", "nst", "gap", "dmin", "rms", "net",
                  "id", "updated", "place", "type", "horizontalError", "depthError", "magError", "magNst", "status",
                  "locationSource", "magSource")
REQUIRED = ("time", "latitude", "longitude", "depth", "mag")

CELL_DEG = 2.0
LAT_CELLS, LON_CELLS = 90, 180  # rows from -90 (south) up, columns from -180 (west) east
N_CELLS = LAT_CELLS * LON_CELLS
NO_QUAKE = -1.0
KM_PER_DEG = 111.195  # great-circle km per degree on a sphere of radius 6371 km


# ---------------------------------------------------------------------------------------------
# Catalogs


@dataclass
class Catalog:
    """Events in time order. Arrays have shape (N,).

    time: datetime64[ms], UTC. latitude, longitude: degrees. depth: km (NaN where the file had none).
    mag: magnitude. mag_type, event_id: str. parent: for a synthetic catalog, the index of the event
    that triggered this one (-1 for a background event); None for a real catalog.
    bad_rows: (line number in the file, why) for each row that was skipped; skipped_types: rows left
    out because their ``type`` was not asked for (not errors).
    """

    time: np.ndarray
    latitude: np.ndarray
    longitude: np.ndarray
    depth: np.ndarray
    mag: np.ndarray
    mag_type: np.ndarray
    event_id: np.ndarray
    parent: np.ndarray | None = None
    bad_rows: list[tuple[int, str]] = field(default_factory=list)
    skipped_types: int = 0
    source: str = ""

    def __len__(self) -> int:
        return int(self.time.shape[0])

    def problems(self, limit: int = 5) -> str:
        """One line naming the bad rows ('' when there were none), e.g.
        ``3 bad rows skipped: line 4: mag 'x' is not a number; line 9: ...``."""
        if not self.bad_rows:
            return ""
        shown = "; ".join(f"line {n}: {why}" for n, why in self.bad_rows[:limit])
        more = f"; and {len(self.bad_rows) - limit} more" if len(self.bad_rows) > limit else ""
        s = "s" if len(self.bad_rows) != 1 else ""
        return f"{len(self.bad_rows)} bad row{s} skipped: {shown}{more}"

    def days(self) -> np.ndarray:
        """(N,) datetime64[D]: each event's UTC day."""
        return self.time.astype("datetime64[D]")


def _parse_time(text: str) -> np.datetime64:
    """ISO 8601 in UTC ('...Z' or '+00:00'; another offset is converted to UTC) -> datetime64[ms].
    Raises ValueError (with the reason) for anything else, including a time without a zone."""
    s = text.strip()
    if s.endswith(("Z", "z")):
        s = s[:-1]
    elif s.endswith("+00:00"):
        s = s[:-6]
    elif len(s) > 6 and s[-6] in "+-" and s[-3] == ":":  # another offset: let datetime shift it to UTC
        try:
            t = _dt.datetime.fromisoformat(s).astimezone(_dt.timezone.utc).replace(tzinfo=None)
        except ValueError:
            raise ValueError(f"time {text!r} is not ISO 8601") from None
        return np.datetime64(t, "ms")
    else:
        raise ValueError(f"time {text!r} has no time zone (ComCat times are UTC and end in Z)")
    if "T" not in s and " " not in s:
        raise ValueError(f"time {text!r} has no time of day")
    try:
        return np.datetime64(s, "ms")
    except ValueError:
        raise ValueError(f"time {text!r} is not ISO 8601") from None


def _number(row: dict, name: str, lo: float = -math.inf, hi: float = math.inf, missing_ok: bool = False) -> float:
    text = (row.get(name) or "").strip()
    if not text:
        if missing_ok:
            return math.nan
        raise ValueError(f"{name} is empty")
    try:
        v = float(text)
    except ValueError:
        raise ValueError(f"{name} {text!r} is not a number") from None
    if not math.isfinite(v) or not lo <= v <= hi:
        raise ValueError(f"{name} {text!r} is out of range [{lo:g}, {hi:g}]")
    return v


def _now_ms(now=None) -> np.datetime64:
    """``now`` (anything numpy reads as a time, UTC) or the present moment, in ms."""
    if now is not None:
        return np.datetime64(now, "ms")
    return np.datetime64(_dt.datetime.now(_dt.timezone.utc).replace(tzinfo=None), "ms")


def read_comcat(path: str | Path, types: Sequence[str] | None = None, now=None) -> Catalog:
    """Read a USGS ComCat CSV file into a :class:`Catalog` (sorted by time).

    types: keep only rows whose ``type`` column is one of these (e.g. ``("earthquake",)``, leaving out
    explosions and quarry blasts); None keeps every row. Bad rows (unparsable time, a required value
    missing, not a number or out of range, a wrong number of fields, a time after ``now``, which
    defaults to the present moment in UTC: an event that has not happened) are skipped and listed
    in ``bad_rows`` with their line numbers; ``Catalog.problems()`` names them in one line.
    Raises DataError (one line) for a missing or empty file, missing required columns, or no usable row.
    """
    from ..core.files import csv_rows

    path = Path(path)
    header, data = csv_rows(path, "a USGS ComCat CSV")
    if header is None:
        raise DataError(f"{path}: empty file (a USGS ComCat CSV starts with a header row: {','.join(REQUIRED)},...)")
    header = [h.strip() for h in header]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise DataError(f"{path}: not a USGS ComCat CSV: missing column{'s' if len(missing) > 1 else ''} "
                        f"{', '.join(missing)} (the header has {', '.join(header[:8]) or 'nothing'}"
                        f"{', ...' if len(header) > 8 else ''})")
    cols = {name: i for i, name in enumerate(header)}
    keep = None if types is None else {t.strip().lower() for t in types}
    times, lats, lons, depths, mags, mtypes, ids = [], [], [], [], [], [], []
    latest = _now_ms(now)
    bad: list[tuple[int, str]] = []
    skipped = rows = 0
    for line, fields in data:  # blank lines are not events (csv_rows skips them)
        rows += 1
        if len(fields) != len(header):
            bad.append((line, f"{len(fields)} fields, the header has {len(header)}"))
            continue
        row = {name: fields[i] for name, i in cols.items()}
        if keep is not None and (row.get("type") or "earthquake").strip().lower() not in keep:
            skipped += 1
            continue
        try:
            t = _parse_time(row["time"])
            if t > latest:
                raise ValueError(f"time {row['time'].strip()!r} is after now ({str(latest)[:16]} UTC): "
                                 f"not an event that has happened")
            lat = _number(row, "latitude", -90.0, 90.0)
            lon = _number(row, "longitude", -180.0, 180.0)
            depth = _number(row, "depth", missing_ok=True)
            mag = _number(row, "mag", -3.0, 10.0)
        except ValueError as err:
            bad.append((line, str(err)))
            continue
        times.append(t)
        lats.append(lat)
        lons.append(lon)
        depths.append(depth)
        mags.append(mag)
        mtypes.append((row.get("magType") or "").strip())
        ids.append((row.get("id") or "").strip())
    if not times:
        if rows == 0:
            raise DataError(f"{path}: no events (only a header row)")
        if skipped == rows:
            raise DataError(f"{path}: no events of type {', '.join(sorted(keep))} among {rows} rows")
        cat = Catalog(*(np.array([]),) * 7, bad_rows=bad)
        raise DataError(f"{path}: no usable rows: {cat.problems(limit=3)}")
    order = np.argsort(np.array(times, dtype="datetime64[ms]"), kind="stable")
    return Catalog(time=np.array(times, dtype="datetime64[ms]")[order],
                   latitude=np.array(lats)[order], longitude=np.array(lons)[order],
                   depth=np.array(depths)[order], mag=np.array(mags)[order],
                   mag_type=np.array(mtypes, dtype=str)[order], event_id=np.array(ids, dtype=str)[order],
                   bad_rows=bad, skipped_types=skipped, source=str(path))


def load_shipped(name: str = "usgs_week", types: Sequence[str] | None = None) -> Catalog:
    """A real catalog from ``corpora/quake/``: ``usgs_week`` (USGS, all events worldwide,
    2018-01-31 to 2018-02-07) or ``ridgecrest`` (ComCat M >= 2.5 around Ridgecrest, California, 2019-07-06 to 13)."""
    if name not in SHIPPED:
        raise DataError(f"no shipped quake catalog {name!r}; choose one of {', '.join(SHIPPED)}")
    from ..shipped import task_data

    return read_comcat(task_data("quake", SHIPPED[name]), types=types)


def _iso_ms(t: np.ndarray) -> list[str]:
    """(N,) datetime64[ms] -> ComCat time strings ('2018-02-07T01:26:13.840Z')."""
    return [s + "Z" for s in np.datetime_as_string(t.astype("datetime64[ms]"), unit="ms")]


def write_comcat(catalog: Catalog, path: str | Path, net: str = "", event_type: str = "earthquake") -> Path:
    """Write ``catalog`` as a USGS ComCat CSV (all its columns, in its order; the ones a catalog
    lacks left empty) that :func:`read_comcat` reads back exactly to the millisecond and to 1e-6 degrees."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    times = _iso_ms(catalog.time)
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(COMCAT_COLUMNS)
        blank = [""] * (len(COMCAT_COLUMNS) - 15)
        for i in range(len(catalog)):
            depth = "" if math.isnan(catalog.depth[i]) else f"{catalog.depth[i]:.3f}"
            w.writerow([times[i], f"{catalog.latitude[i]:.6f}", f"{catalog.longitude[i]:.6f}", depth,
                        f"{catalog.mag[i]:.3f}", catalog.mag_type[i], "", "", "", "", net, catalog.event_id[i],
                        "", "", event_type, *blank])
    return path


# ---------------------------------------------------------------------------------------------
# The daily grid


def cell_of(latitude, longitude) -> np.ndarray:
    """Flat cell index ``row * 180 + col`` (int64, same shape as the inputs) of each point.
    row = floor((lat + 90) / 2) (latitude 90 falls in the top row 89); col = floor((lon + 180) / 2)
    modulo 180 (longitude 180 is -180)."""
    lat = np.asarray(latitude, dtype=np.float64)
    lon = np.asarray(longitude, dtype=np.float64)
    row = np.clip(np.floor((lat + 90.0) / CELL_DEG).astype(np.int64), 0, LAT_CELLS - 1)
    col = np.floor((lon + 180.0) / CELL_DEG).astype(np.int64) % LON_CELLS
    return row * LON_CELLS + col


def cell_center(cell) -> tuple[np.ndarray, np.ndarray]:
    """(latitude, longitude) in degrees of the centres of flat cell indices."""
    cell = np.asarray(cell, dtype=np.int64)
    return -90.0 + CELL_DEG * (cell // LON_CELLS + 0.5), -180.0 + CELL_DEG * (cell % LON_CELLS + 0.5)


def _day(value) -> np.datetime64:
    if isinstance(value, np.datetime64):
        return value.astype("datetime64[D]")
    if isinstance(value, _dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(_dt.timezone.utc).replace(tzinfo=None)
        return np.datetime64(value.date(), "D")
    try:
        return np.datetime64(value, "D")
    except (ValueError, TypeError):
        raise DataError(f"day {value!r} is not a date (use YYYY-MM-DD)") from None


def summed_magnitude(mags) -> float:
    """Magnitude of the summed energy of quakes: (2/3) * log10(sum 10**(1.5 * M))."""
    m = np.asarray(mags, dtype=np.float64)
    top = m.max()  # factored out so that large magnitudes cannot overflow
    return float(top + (2.0 / 3.0) * np.log10(np.sum(10.0 ** (1.5 * (m - top)))))


def grid(catalog: Catalog, start_day=None, end_day=None, min_mag: float | None = None
         ) -> tuple[np.ndarray, np.ndarray]:
    """Grid a catalog into UTC days x 2-degree cells.

    start_day, end_day: dates (``'2018-01-31'``, datetime.date, numpy datetime64); days run from
    start_day up to but not including end_day (None: the catalog's first day / the day after its last).
    min_mag: leave out quakes below this magnitude. Returns ``days`` (D,) datetime64[D] and
    ``values`` (D, 90, 180) float32: the summed-energy magnitude of each cell-day, -1.0 where none.
    """
    if len(catalog) == 0 and (start_day is None or end_day is None):
        raise DataError("an empty catalog has no days to grid; give start_day and end_day")
    event_day = catalog.days()
    start = event_day.min() if start_day is None else _day(start_day)
    end = event_day.max() + 1 if end_day is None else _day(end_day)
    if end <= start:
        raise DataError(f"end_day {end} is not after start_day {start}")
    days = np.arange(start, end, dtype="datetime64[D]")
    values = np.full((days.size, N_CELLS), NO_QUAKE, dtype=np.float32)
    d = (event_day - start).astype(np.int64)
    keep = (d >= 0) & (d < days.size)
    if min_mag is not None:
        keep &= catalog.mag >= min_mag
    if keep.any():
        flat = d[keep] * N_CELLS + cell_of(catalog.latitude[keep], catalog.longitude[keep])
        mag = catalog.mag[keep]
        order = np.lexsort((mag, flat))
        flat, mag = flat[order], mag[order]
        first = np.flatnonzero(np.r_[True, flat[1:] != flat[:-1]])
        top = np.maximum.reduceat(mag, first)  # each cell-day's largest quake, factored out of the sum
        energy = np.add.reduceat(10.0 ** (1.5 * (mag - np.repeat(top, np.diff(np.r_[first, mag.size])))), first)
        values.reshape(-1)[flat[first]] = (top + (2.0 / 3.0) * np.log10(energy)).astype(np.float32)
    return days, values.reshape(days.size, LAT_CELLS, LON_CELLS)


def active_cells(values: np.ndarray, min_events: int = 1) -> np.ndarray:
    """Flat indices (C,) int64, ascending, of the cells with at least ``min_events`` quake days in
    ``values`` (D, 90, 180) or (D, 90*180). Pass only the history (training days), so that choosing
    cells does not look at the days being scored."""
    flat = values.reshape(values.shape[0], -1)
    return np.flatnonzero((flat > NO_QUAKE).sum(axis=0) >= min_events).astype(np.int64)


def cell_series(values: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """(D, C) float32: the daily values of the chosen flat cells, from ``values`` (D, 90, 180)."""
    return values.reshape(values.shape[0], -1)[:, cells]


def neighbour_max(values: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """(D, C) float32: each chosen cell's largest value among its 8 surrounding cells that day
    (longitude wraps around; beyond the poles counts as no quake), from ``values`` (D, 90, 180)."""
    cells = np.asarray(cells, np.int64)
    row, col = cells // LON_CELLS, cells % LON_CELLS
    flat = values.reshape(values.shape[0], -1)
    out = np.full((values.shape[0], cells.size), NO_QUAKE, np.float32)
    for dr in (-1, 0, 1):
        for dc in (-1, 0, 1):
            if dr == dc == 0:
                continue
            r = row + dr
            ok = (r >= 0) & (r < LAT_CELLS)
            idx = np.clip(r, 0, LAT_CELLS - 1) * LON_CELLS + (col + dc) % LON_CELLS
            np.maximum(out, np.where(ok, flat[:, idx], NO_QUAKE), out=out)
    return out


# The "cells" layout's inputs per cell and day (the same small RNN reads every cell's own stream)
CELL_FEATURES = ("the cell's value", "the largest value of its 8 neighbours",
                 "log10 of the cell's share of quake days over the training days")
LAYOUTS = ("grid", "cells")


def model_inputs(values: np.ndarray, cells: np.ndarray, layout: str = "grid", rates=None) -> np.ndarray:
    """What a model reads on each day, from the gridded ``values`` (D, 90, 180): ``grid`` layout,
    (D, C) the chosen cells' values (one stream, every cell an input, as the original predictor);
    ``cells`` layout, (D, C, 3) per cell :data:`CELL_FEATURES` (C streams, weights shared), with
    ``rates`` (C,) the cells' training-day quake shares."""
    if layout == "grid":
        return cell_series(values, cells)
    own = cell_series(values, cells)
    rate = np.broadcast_to(np.log10(np.asarray(rates, np.float32) + 1e-4), own.shape)
    return np.stack([own, neighbour_max(values, cells), rate], axis=-1).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# ETAS synthetic catalogs


# Hotspots of the default background: (latitude, longitude, spread in degrees (1 sigma), share of
# the background rate), placed on well-known seismic belts (Japan, Sumatra, Chile, Alaska, California,
# Turkey) to give a realistic "few active regions, most cells silent" map; they are a choice, not a fit.
DEFAULT_HOTSPOTS = ((36.0, 141.0, 2.5, 0.25), (-1.0, 99.0, 3.0, 0.20), (-30.0, -71.5, 3.0, 0.20),
                    (58.0, -152.0, 2.5, 0.15), (35.5, -118.0, 1.5, 0.10), (39.0, 35.0, 2.0, 0.10))


@dataclass(frozen=True)
class ETASParams:
    """Settings of the space-time ETAS model (Ogata 1988, 1998). Time in days, distance in km.

    Conditional intensity: lambda(t, x, y) = mu * u(x, y) + sum over earlier events i of
    K * 10**(alpha * (M_i - mc)) * (t - t_i + c)**(-p) * f(x - x_i, y - y_i | M_i),
    magnitudes drawn independently from Gutenberg-Richter.

    mu = 8.0: background events per day with M >= mc, over the whole map.
    mc = 2.5: magnitude of completeness, the smallest magnitude simulated (and the reference magnitude).
    b = 1.0: Gutenberg-Richter b-value, log10 N(>=M) = a - b M (Gutenberg & Richter 1944; close to 1
        almost everywhere). Magnitudes follow a G-R law truncated at m_max = 9.0.
    K = 0.008, alpha = 0.8, c = 0.01 day, p = 1.1: Omori-Utsu productivity and decay. p around 1.1
        (Utsu, Ogata & Matsu'ura 1995: most sequences 0.9-1.5) and c of 0.001-0.1 day are typical fits;
        alpha = 0.8 in base 10 (i.e. 0.8 * ln 10 = 1.84 in Ogata's exp(alpha (M - mc)) form) follows
        Helmstetter (2003) and Helmstetter, Kagan & Jackson (2005), alpha about 0.8 b. K is set so the
        branching ratio (direct aftershocks per event, integrated over all time and magnitudes)
        K * c**(1-p)/(p-1) * b/(b-alpha) * (1 - 10**(-(b-alpha)(m_max-mc))) is about 0.60: subcritical
        (< 1), in the 0.5-0.9 range of fitted catalogs (Helmstetter & Sornette 2003).
    d = 0.5 km, gamma = 0.5, q = 1.5: spatial kernel of an aftershock around its parent,
        f(r) proportional to (1 + r**2 / L**2)**(-q) with L = d * 10**(gamma * (M - mc)) km, the power-law
        form of Ogata (1998, model 5; Zhuang, Ogata & Vere-Jones 2002). gamma = 0.5 makes L scale like
        rupture length (Wells & Coppersmith 1994: length ~ 10**(0.5 to 0.6 M)); an M7 has L = 89 km.
        Distances are cut at max_km = 1000.
    hotspots: (lat, lon, sigma_deg, share) Gaussian blobs that share the background rate;
    uniform_share = 0.02 of the background falls anywhere on the globe.

    References: Ogata, Y. (1988) JASA 83, 9-27; Ogata, Y. (1998) Ann. Inst. Statist. Math. 50,
    379-402; Utsu, T., Ogata, Y. & Matsu'ura, R. S. (1995) J. Phys. Earth 43, 1-33; Gutenberg, B. &
    Richter, C. F. (1944) BSSA 34, 185-188; Helmstetter, A. (2003) Phys. Rev. Lett. 91, 058501;
    Helmstetter, A., Kagan, Y. Y. & Jackson, D. D. (2005) JGR 110, B05S08; Helmstetter, A. &
    Sornette, D. (2003) JGR 108(B10), 2457; Zhuang, J., Ogata, Y. & Vere-Jones, D. (2002) JASA 97,
    369-380; Wells, D. L. & Coppersmith, K. J. (1994) BSSA 84, 974-1002.
    """

    mu: float = 8.0
    mc: float = 2.5
    b: float = 1.0
    m_max: float = 9.0
    K: float = 0.008
    alpha: float = 0.8
    c: float = 0.01
    p: float = 1.1
    d: float = 0.5
    gamma: float = 0.5
    q: float = 1.5
    max_km: float = 1000.0
    hotspots: tuple = DEFAULT_HOTSPOTS
    uniform_share: float = 0.02

    def branching_ratio(self) -> float:
        """Expected direct aftershocks per event (all time, all magnitudes); must be < 1."""
        db = self.b - self.alpha
        mags = self.b / db * (1 - 10 ** (-db * (self.m_max - self.mc))) if db else self.b * math.log(10) * (
            self.m_max - self.mc)
        return self.K * self.c ** (1 - self.p) / (self.p - 1) * mags

    def check(self) -> None:
        """Raise DataError (one line) for settings the simulation cannot run with."""
        if not (self.mu > 0 and self.b > 0 and self.m_max > self.mc and self.c > 0 and self.d > 0 and self.q > 1):
            raise DataError("ETAS settings need mu, b, c, d > 0, m_max > mc and q > 1")
        if self.p <= 1:
            raise DataError(f"ETAS p = {self.p} must be > 1 (p <= 1 gives infinitely many aftershocks)")
        if not self.branching_ratio() < 1:
            raise DataError(f"ETAS branching ratio {self.branching_ratio():.2f} >= 1: the catalog would explode; "
                            "lower K or alpha")
        shares = sum(h[3] for h in self.hotspots) + self.uniform_share
        if not shares > 0:
            raise DataError("ETAS background needs hotspots or uniform_share > 0")


def gr_magnitudes(rng: np.random.Generator, n: int, params: ETASParams) -> np.ndarray:
    """(n,) magnitudes from the Gutenberg-Richter law with b-value ``params.b``, truncated to [mc, m_max]."""
    u = rng.random(n)
    span = 1.0 - 10.0 ** (-params.b * (params.m_max - params.mc))
    return params.mc - np.log10(1.0 - u * span) / params.b


def _omori_delays(rng: np.random.Generator, horizon: np.ndarray, params: ETASParams) -> np.ndarray:
    """(n,) delays in days from the Omori-Utsu density (t + c)**-p truncated to [0, horizon] (n,)."""
    a = params.c ** (1 - params.p)
    b = (horizon + params.c) ** (1 - params.p)
    u = rng.random(horizon.shape[0])
    return np.minimum((a - u * (a - b)) ** (1.0 / (1 - params.p)) - params.c, horizon)


def _omori_integral(horizon: np.ndarray, params: ETASParams) -> np.ndarray:
    """Integral of (t + c)**-p over [0, horizon] days."""
    return (params.c ** (1 - params.p) - (horizon + params.c) ** (1 - params.p)) / (params.p - 1)


def _move(lat: np.ndarray, lon: np.ndarray, km: np.ndarray, angle: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Points ``km`` away from (lat, lon) in direction ``angle`` (radians from north), on a flat local
    map; latitude kept inside the poles, longitude wrapped to [-180, 180)."""
    new_lat = np.clip(lat + km * np.cos(angle) / KM_PER_DEG, -89.999, 89.999)
    coslat = np.maximum(np.cos(np.radians(lat)), 0.01)
    new_lon = (lon + km * np.sin(angle) / (KM_PER_DEG * coslat) + 180.0) % 360.0 - 180.0
    return new_lat, new_lon


def _background_places(rng: np.random.Generator, n: int, params: ETASParams) -> tuple[np.ndarray, np.ndarray]:
    """(n,) latitudes and longitudes from the hotspot mixture (plus the uniform share on the sphere)."""
    spots = np.array([h for h in params.hotspots], dtype=np.float64).reshape(-1, 4)
    weights = np.r_[spots[:, 3], params.uniform_share]
    which = rng.choice(weights.size, size=n, p=weights / weights.sum())
    lat = np.empty(n)
    lon = np.empty(n)
    uni = which == spots.shape[0]
    lat[uni] = np.degrees(np.arcsin(rng.uniform(-1.0, 1.0, uni.sum())))
    lon[uni] = rng.uniform(-180.0, 180.0, uni.sum())
    hs = ~uni
    s = spots[which[hs]]
    lat[hs] = np.clip(s[:, 0] + s[:, 2] * rng.standard_normal(hs.sum()), -89.999, 89.999)
    lon[hs] = (s[:, 1] + s[:, 2] * rng.standard_normal(hs.sum()) / np.maximum(np.cos(np.radians(s[:, 0])), 0.01)
               + 180.0) % 360.0 - 180.0
    return lat, lon


def etas_catalog(days: float, seed: int, params: ETASParams = ETASParams(), start: str = "2000-01-01") -> Catalog:
    """Simulate ``days`` days of ETAS seismicity from ``start`` (UTC midnight), deterministic by ``seed``.

    Branching (cluster) simulation: Poisson background events over [0, days), then generation by
    generation each event's direct aftershocks: Poisson count K 10**(alpha (M - mc)) times the Omori
    integral up to the end, Omori-Utsu delays, G-R magnitudes, power-law distances. Aftershocks after
    the end are not simulated. Returns a time-sorted :class:`Catalog` with ``parent`` (index of the
    triggering event, -1 for background) and ids ``etas<seed>-<n>``; write it with :func:`write_comcat`.
    """
    params.check()
    if not days > 0:
        raise DataError(f"ETAS days = {days} must be > 0")
    rng = np.random.default_rng(seed)
    n0 = rng.poisson(params.mu * days)
    t = [rng.uniform(0.0, days, n0)]
    lat0, lon0 = _background_places(rng, n0, params)
    lat, lon, mag, parent = [lat0], [lon0], [gr_magnitudes(rng, n0, params)], [np.full(n0, -1, dtype=np.int64)]
    first, count = 0, n0  # the current generation is events [first, first + count)
    while count:
        pt, plat, plon, pmag = t[-1], lat[-1], lon[-1], mag[-1]
        expected = params.K * 10.0 ** (params.alpha * (pmag - params.mc)) * _omori_integral(days - pt, params)
        kids = rng.poisson(expected)
        n = int(kids.sum())
        who = np.repeat(np.arange(count), kids)
        horizon = days - pt[who]
        t.append(pt[who] + _omori_delays(rng, horizon, params))
        scale = params.d * 10.0 ** (params.gamma * (pmag[who] - params.mc))
        r = scale * np.sqrt(rng.random(n) ** (-1.0 / (params.q - 1.0)) - 1.0)
        new_lat, new_lon = _move(plat[who], plon[who], np.minimum(r, params.max_km),
                                 rng.uniform(0.0, 2 * np.pi, n))
        lat.append(new_lat)
        lon.append(new_lon)
        mag.append(gr_magnitudes(rng, n, params))
        parent.append(first + who)
        first, count = first + count, n
    t_all, par = np.concatenate(t), np.concatenate(parent)
    order = np.argsort(t_all, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    par = par[order]
    par = np.where(par >= 0, rank[np.maximum(par, 0)], -1)
    ms = np.floor(t_all[order] * 86_400_000.0).astype(np.int64)  # floor: an event stays before the end
    time = _day(start).astype("datetime64[ms]") + ms.astype("timedelta64[ms]")
    n = order.size
    return Catalog(time=time, latitude=np.concatenate(lat)[order], longitude=np.concatenate(lon)[order],
                   depth=np.full(n, 10.0), mag=np.concatenate(mag)[order], mag_type=np.full(n, "etas"),
                   event_id=np.array([f"etas{seed}-{i}" for i in range(n)]), parent=par,
                   source=f"etas(days={days:g}, seed={seed})")


def b_value(mags, mc: float) -> float:
    """Aki's (1965) maximum-likelihood b-value of continuous magnitudes >= mc: log10(e) / (mean(M) - mc)."""
    m = np.asarray(mags, dtype=np.float64)
    m = m[m >= mc]
    if m.size < 2:
        raise DataError(f"a b-value needs at least 2 magnitudes >= {mc}, got {m.size}")
    return float(math.log10(math.e) / (m.mean() - mc))


# ---------------------------------------------------------------------------------------------
# Scores and baselines


def roc_auc(labels, scores) -> float:
    """Area under the ROC curve of ``scores`` (any shape) for boolean ``labels`` (same shape): the chance
    that a random positive scores above a random negative, ties counting half (Mann-Whitney U).
    NaN when there are no positives or no negatives."""
    y = np.asarray(labels, dtype=bool).reshape(-1)
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(s, kind="mergesort")
    s_sorted = s[order]
    starts = np.flatnonzero(np.r_[True, s_sorted[1:] != s_sorted[:-1]])
    ends = np.r_[starts[1:], s.size]
    mid_rank = (starts + ends + 1) / 2.0  # 1-based average rank of each tie group
    ranks = np.empty(s.size)
    ranks[order] = np.repeat(mid_rank, ends - starts)
    u = ranks[y].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def _ratio(a: int, b: int) -> float:
    return a / b if b else float("nan")


def hit_table(pred, actual, threshold: float, tol: float = 1.0) -> dict:
    """The original predictor's hit rule on cell-days where the predicted or the actual value is >= threshold.

    pred, actual: (D, C) magnitudes (-1.0 = no quake). Among those cell-days, a true positive is one
    whose predicted magnitude is within +/- tol of the actual one; the others are false positives when
    the prediction was >= threshold and false negatives when the actual value was (a wrong magnitude with
    both >= threshold counts as both). Returns counts tp, fp, fn, the number of cell-days considered,
    precision tp / (tp + fp) and recall tp / (tp + fn) (NaN when undefined).
    """
    p = np.asarray(pred, dtype=np.float64)
    a = np.asarray(actual, dtype=np.float64)
    if p.shape != a.shape:
        raise DataError(f"predictions have shape {p.shape} but the actual values {a.shape}")
    considered = (p >= threshold) | (a >= threshold)
    hit = considered & (np.abs(p - a) <= tol)
    miss = considered & ~hit
    tp, fp, fn = int(hit.sum()), int((miss & (p >= threshold)).sum()), int((miss & (a >= threshold)).sum())
    return {"considered": int(considered.sum()), "tp": tp, "fp": fp, "fn": fn,
            "precision": _ratio(tp, tp + fp), "recall": _ratio(tp, tp + fn)}


def score(pred, actual, thresholds: Sequence[float] = (0.0, 5.0), tol: float = 1.0) -> dict:
    """Score next-day magnitude forecasts.

    pred, actual: (D, C) float, days x cells, magnitudes with -1.0 for "no quake" (pred may be any
    score that grows with the expected magnitude). For each threshold t, under key ``"M>=t"``
    (``"M>=0"``, ``"M>=5"``):
      - the hit rule (:func:`hit_table`): considered, tp, fp, fn, precision, recall;
      - detection of "M >= t in this cell": positives (actual cell-days >= t), predicted (pred >= t),
        detect_precision, detect_recall;
      - auc: ROC AUC of pred as the score for actual >= t (NaN without positives or negatives).
    The ``"M>=5"`` row is the rare large events, reported on its own.
    """
    p = np.asarray(pred, dtype=np.float64)
    a = np.asarray(actual, dtype=np.float64)
    if p.shape != a.shape or p.ndim != 2:
        raise DataError(f"score needs two (days, cells) arrays of one shape, got {p.shape} and {a.shape}")
    out = {}
    for t in thresholds:
        row = hit_table(p, a, t, tol)
        pos, said = a >= t, p >= t
        both = int((pos & said).sum())
        row.update(positives=int(pos.sum()), predicted=int(said.sum()),
                   detect_precision=_ratio(both, int(said.sum())), detect_recall=_ratio(both, int(pos.sum())),
                   auc=roc_auc(pos, p))
        out[f"M>={t:g}"] = row
    return out


def yesterday(values: np.ndarray, split: int) -> np.ndarray:
    """Persistence baseline: the forecast for day i is day i - 1's value. values (D, C); returns
    (D - split, C), the forecasts for days split..D-1 (each uses only the day before it)."""
    if not 1 <= split < values.shape[0]:
        raise DataError(f"split {split} must leave at least one history day and one scored day of {values.shape[0]}")
    return values[split - 1:-1]


def historical_rate(values: np.ndarray, split: int, threshold: float) -> np.ndarray:
    """Climatology baseline: each cell's fraction of the history days 0..split-1 with value >= threshold,
    the same score for every scored day. values (D, C); returns (D - split, C) float64. Days from
    ``split`` on are never read."""
    if not 1 <= split < values.shape[0]:
        raise DataError(f"split {split} must leave at least one history day and one scored day of {values.shape[0]}")
    rate = (values[:split] >= threshold).mean(axis=0)
    return np.broadcast_to(rate, (values.shape[0] - split,) + rate.shape)


def score_baselines(values: np.ndarray, split: int, thresholds: Sequence[float] = (0.0, 5.0),
                    tol: float = 1.0) -> dict:
    """Both baselines on days split..D-1 of values (D, C) with days 0..split-1 as history.

    Returns {"yesterday": score(...), "historical_rate": {"M>=t": {"auc", "positives"}},
    "any_quake_rate": {...}}: the historical rate is a probability, not a magnitude, so only its AUC
    is defined. ``historical_rate`` scores "M >= t" by each cell's past rate of M >= t;
    ``any_quake_rate`` by its past rate of any quake (M >= 0) for every t, usually the stronger
    baseline for rare large quakes (they happen where quakes are frequent).
    """
    actual = values[split:]
    out = {"yesterday": score(yesterday(values, split), actual, thresholds, tol), "historical_rate": {},
           "any_quake_rate": {}}
    anyq = historical_rate(values, split, 0.0)
    for t in thresholds:
        pos = actual >= t
        out["historical_rate"][f"M>={t:g}"] = {"positives": int(pos.sum()),
                                               "auc": roc_auc(pos, historical_rate(values, split, t))}
        out["any_quake_rate"][f"M>={t:g}"] = {"positives": int(pos.sum()), "auc": roc_auc(pos, anyq)}
    return out


def _fmt(v) -> str:
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.3f}"


def format_baselines(result: dict) -> str:
    """A Markdown table of :func:`score_baselines`'s result: one row per baseline and threshold."""
    lines = ["| baseline | event | positives | AUC | hit precision | hit recall | detect precision | detect recall |",
             "|---|---|---|---|---|---|---|---|"]
    for name, rows in result.items():
        for key, r in rows.items():
            lines.append(f"| {name} | {key} | {r['positives']:,} | {_fmt(r['auc'])} | {_fmt(r.get('precision'))} | "
                         f"{_fmt(r.get('recall'))} | {_fmt(r.get('detect_precision'))} | "
                         f"{_fmt(r.get('detect_recall'))} |")
    return "\n".join(lines)



# ---------------------------------------------------------------------------------------------
# The model: an online (stateful) RNN trained by the core's one loop; evaluation; the daily update
#
# Layout of a quake model folder OUT (train):
#   OUT/config.json, OUT/model.safetensors   the best model (core.train.fit), meta "task": "quake"
#   OUT/last/                                fit's resumable state
#   OUT/catalog.csv                          the synthetic ETAS catalog, when no catalog was given
#   OUT/online/CURRENT                       one line: the name of the committed online state
#   OUT/online/<YYYY-MM-DD>/                 the online state after reading every day up to that day:
#       config.json + model.safetensors (weights, meta "online"), online_state.safetensors (the
#       carried state before the last day and the last day's input), forecast-<next day>.json
#   OUT/forecasts/forecast-<YYYY-MM-DD>.json a copy of each committed forecast
#
# Commit: a new online state is written in full into its own folder, then CURRENT is replaced
# atomically (core.files.atomic_write); the folder CURRENT names is never written to. So a kill
# at any point leaves the old state committed, and a rerun redoes the same deterministic work.

TASK = "quake"
DEFAULT_MODEL = {"cell": "lstm", "embed": 16, "hidden": 32, "layers": 1, "dropout": 0.0}
DEFAULT_STEPS = 600
SPLIT = (0.8, 0.1)  # train, validation shares of the days; the rest is the test period
ONLINE = {"optimizer": "sgd", "lr": 1e-3, "steps_per_day": 1, "grad_clip": 1.0}
CURRENT = "CURRENT"
STATE_FILE = "online_state.safetensors"

# A test hook: called as _HOOK("day", i) after the i-th (1-based) backfilled day and as
# _HOOK("commit") just before CURRENT is replaced. None in normal use.
_HOOK = None


def last_complete_day(catalog: Catalog, through=None, today=None) -> np.datetime64:
    """The last UTC day a catalog covers in full: ``through`` when given, else the day of its last
    event, but not today (UTC) or later (a catalog fetched during a day holds only part of it)."""
    if through is not None:
        return _day(through)
    if len(catalog) == 0:
        raise DataError("an empty catalog has no complete day; give through=YYYY-MM-DD")
    today = _day(today) if today is not None else np.datetime64(_dt.datetime.now(_dt.timezone.utc).date(), "D")
    return min(catalog.days()[-1], today - np.timedelta64(1, "D"))


def split_days(n: int, shares=SPLIT) -> tuple[int, int]:
    """(first validation day, first test day) as indices into n days, chronologically."""
    tv, tt = int(round(n * shares[0])), int(round(n * (shares[0] + shares[1])))
    if tv < 8 or tt - tv < 2 or n - tt < 2:
        raise DataError(f"{n} days are too few to split {shares[0]:.0%}/{shares[1]:.0%}/rest into train, "
                        "validation and test (need at least about 20)")
    return tv, tt


def _quake_meta(model_dir) -> dict:
    from ..core.checkpoint import task_config

    return task_config(model_dir, TASK, TASK)


def load_model(model_dir):
    """(torch model, config) of a quake checkpoint; CheckpointError for any other task's."""
    from ..core.checkpoint import load_task_model

    return load_task_model(model_dir, TASK, TASK)


def _batch_of(inputs: np.ndarray):
    """A model's input tensor for days of ``inputs``: (T, C) grid layout -> (1, T, C); (T, C, F)
    cells layout -> (C, T, F), one stream per cell."""
    import torch

    x = np.asarray(inputs, np.float32)
    return torch.from_numpy(np.ascontiguousarray(x[None] if x.ndim == 2 else x.transpose(1, 0, 2)))


def _per_cell(y) -> np.ndarray:
    """A model's output (1, T, C) or (C, T, 1) as (T, C)."""
    return y[0].numpy() if y.shape[-1] != 1 or y.shape[0] == 1 else y[..., 0].numpy().T


def predict_series(model, inputs: np.ndarray, chunk: int = 512) -> tuple[np.ndarray, tuple | None]:
    """Run the stateful model over ``inputs`` (:func:`model_inputs`: (D, C) or (D, C, F)) from a
    zero state. Returns (pred (D, C) with ``pred[d]`` read from days 0..d-1 only (row 0 NaN), the
    state after reading days 0..D-2)."""
    import torch

    D, C = inputs.shape[:2]
    pred = np.full((D, C), np.nan, np.float32)
    state = None
    if D < 2:
        return pred, state
    was = model.training
    model.eval()
    x = _batch_of(inputs[:-1])
    with torch.no_grad():
        for a in range(0, D - 1, chunk):
            y, state = model(x[:, a:a + chunk], state)
            pred[1 + a:1 + a + y.shape[1]] = _per_cell(y)
    model.train(was)
    return pred, state


def _prepare_out(out: Path, resume: bool, force: bool) -> None:
    from ..core.checkpoint import prepare_out

    prepare_out(out, resume, force, extra=("online", "forecasts"))


def _load_catalog(out: Path, catalog, years: float, data_seed: int, log) -> tuple[Path, Catalog, dict | None, bytes | None]:
    """(path, catalog, synthetic settings or None, the synthetic CSV's bytes to write to path or None).
    A synthetic catalog is simulated and read back from a temporary file; train writes it into OUT
    only once OUT is known to be free (or forced), so a refused call leaves OUT as it was."""
    if catalog is None:
        import tempfile

        synthetic = {"etas_days": float(years * 365), "seed": int(data_seed), "years": years}
        with tempfile.TemporaryDirectory() as tmp:
            tmp_path = write_comcat(etas_catalog(years * 365, data_seed), Path(tmp) / "catalog.csv")
            cat, text = read_comcat(tmp_path), tmp_path.read_bytes()
        path = out / "catalog.csv"
        cat.source = str(path)
        return path, cat, synthetic, text
    path = Path(catalog)
    cat = read_comcat(path)
    if cat.bad_rows:
        log(f"{path}: {cat.problems()}")
    return path, cat, None, None


def check_settings(*, loss: str = "smooth-l1", layout: str = "cells", min_events: int = 1,
                   hidden: int = DEFAULT_MODEL["hidden"], bptt: int = 64, years: float = 10, data_seed: int = 2024,
                   **core) -> tuple[dict, dict]:
    """Refuse (SettingsError, one line) settings no run can use, before any catalog is read or
    simulated; returns the core's (model, training) settings (``core.settings.check_core``)."""
    from ..core.errors import SettingsError
    from ..core.objectives import Regression

    Regression(loss)  # an unknown loss: one line naming the choices
    if min_events < 1 or hidden < 1 or bptt < 2:
        raise SettingsError(f"min_events and hidden must be >= 1 and bptt >= 2 (got {min_events}, {hidden}, {bptt})")
    if not years > 0:
        raise SettingsError(f"years must be > 0 (got {years})")
    if layout not in LAYOUTS:
        raise SettingsError(f"unknown layout {layout!r}: choose from {', '.join(LAYOUTS)}")
    if layout == "grid" and "batch" in core:
        raise SettingsError("the grid layout reads one stream of days (batch 1); batch cannot change")
    return check_core(core, DEFAULT_MODEL)


def train(out, *, catalog=None, years: float = 10, data_seed: int = 2024, seed: int = 0, loss: str = "smooth-l1",
          min_events: int = 1, steps: int | None = None, minutes: float | None = None, resume: bool = False,
          force: bool = False, progress: bool = True, log: Callable[[str], None] = print,
          hidden: int = DEFAULT_MODEL["hidden"], embed: int = DEFAULT_MODEL["embed"], bptt: int = 64,
          lr: float = 3e-3, patience: int = 10, through=None, max_steps: int | None = None, layout: str = "cells",
          **core) -> dict:
    """Train the online next-day model into the checkpoint folder ``out``.

    Data: ``catalog`` (a ComCat CSV path) or, by default, a synthetic ETAS catalog of ``years`` years
    simulated with ``data_seed`` (written to OUT/catalog.csv; ``force`` keeps nothing of an old one). Days: the catalog's first day to its
    last complete day (:func:`last_complete_day`; ``through`` overrides), split chronologically
    80/10/10 into train, validation and test. Cells: the ones with at least ``min_events`` quake days
    among the training days only. ``layout`` "grid" (the original predictor's input): the model (the core's
    RNN, ``features = outputs = C``) reads day d's values of the C cells and predicts day d+1's, in
    one long stream whose state carries across all days (``FeatureStreams``, batch 1, truncated BPTT
    of ``bptt`` days). ``layout`` "cells": one small RNN with weights shared by every cell reads each
    cell's own stream of :data:`CELL_FEATURES` and predicts its next day (C streams, state carried
    along each; ``batch`` streams a step, default 64); the default, as it forecasts better
    (docs/research.md). Either is trained by
    ``core.train.fit`` on the training days, validated (model selection, early stopping) on the
    validation days, the test days scored once at the end. Length: ``steps``, else ``minutes``
    worth, else 600 steps. ``resume`` continues the run in ``out``; ``force`` replaces a model there.
    ``core``: other settings of the core's model and training loop (``core.settings.CORE_MODEL`` /
    ``CORE_TRAIN``: cell, activation, attention, grad_scale, ...), recorded with the run.

    When the run finishes, the best model reads every day (state only, no training) and its online
    state and the forecast for the day after the last one are committed under OUT/online (what
    :func:`update` continues). Returns fit's summary; config.json records ``task: quake`` and under
    ``quake`` the cells, first / last day, splits, the catalog's sha256 and the settings.
    """
    import hashlib

    import torch

    from .. import __version__
    from ..core import models
    from ..core.data import FeatureStreams
    from ..core.objectives import Regression
    from ..core.train import TrainConfig, fit, training_threads

    out = Path(out)
    model_over, train_over = check_settings(loss=loss, layout=layout, min_events=min_events, hidden=hidden,
                                            bptt=bptt, years=years, **core)
    path, cat, synthetic, text = _load_catalog(out, catalog, years, data_seed, log)
    sha = hashlib.sha256(text).hexdigest() if text is not None else file_sha256(path)
    last = last_complete_day(cat, through)
    days, values = grid(cat, cat.days()[0], last + np.timedelta64(1, "D"))
    tv, tt = split_days(len(days))
    cells = active_cells(values[:tv], min_events)
    if cells.size == 0:
        raise DataError(f"no cell has {min_events}+ quake days in the {tv} training days")
    series = cell_series(values, cells)
    rates = (values[:tv].reshape(tv, -1)[:, cells] > NO_QUAKE).mean(0).round(6) if layout == "cells" else None
    inputs = model_inputs(values, cells, layout, rates)
    del values
    model_cfg = {**DEFAULT_MODEL, "hidden": int(hidden), "embed": int(embed), **model_over}
    settings = {"loss": loss, "seed": int(seed), "min_events": int(min_events), "model": model_cfg, "bptt": int(bptt),
                "lr": float(lr), "patience": int(patience), "catalog_sha256": sha, "through": str(last)}
    settings["layout"] = layout
    if core:
        settings["core"] = dict(sorted(core.items()))
    if resume:
        from ..core.checkpoint import check_resume

        check_resume(out, TASK, settings)
    _prepare_out(out, resume, force)
    if text is not None and not (path.is_file() and path.read_bytes() == text):
        from ..core.files import atomic_write

        atomic_write(path, lambda p: p.write_bytes(text))
    objective = Regression(loss)
    width = int(cells.size) if layout == "grid" else len(CELL_FEATURES)
    cfg = models.make_config("rnn", {**model_cfg, "vocab_size": 1, "features": width,
                                     "outputs": int(cells.size) if layout == "grid" else 1})
    if steps is None and minutes is None:
        steps = DEFAULT_STEPS
    tcfg = TrainConfig(**{"seed": seed, "batch": 1 if layout == "grid" else 64, "bptt": bptt, "lr": lr, "steps": steps,
                          "minutes": minutes, "max_steps": max_steps, "patience": patience, **train_over}).validate()
    # position i reads day i and predicts day i+1; every predicted day is a training day
    if layout == "grid":
        batches = FeatureStreams([inputs[:tv - 1]], [series[1:tv]], batch=1, bptt=bptt, seed=seed, shuffle=False)
    else:  # one stream per cell, in a shuffled order, laid end to end in `batch` lanes (state reset between cells)
        batches = FeatureStreams([inputs[:tv - 1, c] for c in range(cells.size)],
                                 [series[1:tv, c, None] for c in range(cells.size)], batch=tcfg.batch, bptt=bptt,
                                 seed=seed, shuffle=True)

    def scored(model, first: int, upto: int) -> dict:
        pred, _ = predict_series(model, inputs[:upto])
        return {"loss": objective.mean_over(pred[first:upto], series[first:upto]), "positions": upto - first}

    span = lambda a, b: [str(days[a]), str(days[b - 1])]
    meta = {"musicrnn_version": __version__, "task": TASK,
            "data": {"catalog": str(path.resolve()), "catalog_sha256": sha, "synthetic": synthetic,
                     "days": int(len(days))},
            "quake": {"cells": [int(c) for c in cells], "first_day": str(days[0]), "last_day": str(days[-1]),
                      "splits": {"train": span(0, tv), "valid": span(tv, tt), "test": span(tt, len(days))},
                      "settings": settings, "online": dict(ONLINE), "layout": layout,
                      "input": "day d's cell values (magnitude of summed energy, -1 = none); target day d+1's"
                      if layout == "grid" else "per cell and day d: " + "; ".join(CELL_FEATURES)
                      + "; target the cell's day d+1 value"}}
    if rates is not None:
        meta["quake"]["rates"] = [float(r) for r in rates]
    log(f"online RNN ({layout} layout), {cells.size} cells, {loss}: train {days[0]}..{days[tv - 1]} ({tv} days), validation "
        f"{days[tv]}..{days[tt - 1]} ({tt - tv}), test {days[tt]}..{days[-1]} ({len(days) - tt})")
    model = models.build("rnn", cfg, seed=seed)
    summary = fit(model, objective, batches, lambda m: scored(m, tv, tt), tcfg, out,
                  test=lambda m: scored(m, tt, len(days)), meta=meta, resume=resume,
                  valid_size=tt * cells.size, progress=progress, log=log)
    if summary.get("finished"):
        best, _ = load_model(out)
        torch.set_num_threads(training_threads())
        _, state = predict_series(best, inputs)
        _commit(out, best, _meta_of(out), state, inputs[-1], days[-1], {"days_updated": 0, "catalog_sha256": sha})
    return summary


def _inputs_of(values: np.ndarray, qm: dict) -> np.ndarray:
    """:func:`model_inputs` for a model's config (its cells, layout and training-day rates)."""
    return model_inputs(values, np.asarray(qm["cells"], np.int64), qm.get("layout", "grid"), qm.get("rates"))


def _meta_of(model_dir) -> dict:
    meta = _quake_meta(model_dir)
    for k in ("_folder", "format", "format_version", "weights_sha256", "metrics"):
        meta.pop(k, None)
    return meta


def _forecast_dict(meta: dict, day, pred: np.ndarray) -> dict:
    cells = np.asarray(meta["quake"]["cells"], np.int64)
    lat, lon = cell_center(cells)
    return {"task": TASK, "forecast_day": str(day + np.timedelta64(1, "D")), "from_days_through": str(day),
            "cells": [{"cell": int(c), "lat": float(a), "lon": float(o), "magnitude": round(float(m), 4)}
                      for c, a, o, m in zip(cells, lat, lon, pred)],
            "note": "predicted magnitude of the summed energy of the cell's quakes that day; -1 = none expected"}


def _commit(model_dir: Path, model, meta: dict, state, x_last: np.ndarray, day, info: dict) -> dict:
    """Write the online state after reading days through ``day`` (``state``: the carried state
    before it, ``x_last``: its values) and the forecast for the day after, then point CURRENT at it."""
    import torch
    from safetensors.torch import save_file

    from ..core.checkpoint import save_model
    from ..core.files import atomic_write

    online = Path(model_dir) / "online"
    name = str(day)
    folder = online / name
    with torch.no_grad():
        y, _ = model(_batch_of(np.asarray(x_last)[None]), state)
    pred = _per_cell(y)[0]
    fc = _forecast_dict(meta, day, pred)
    text = json.dumps(fc, indent=1) + "\n"
    meta = json.loads(json.dumps(meta))
    meta["quake"]["online_state"] = {"last_day": name, **info}
    save_model(folder, model, meta)
    tensors = {f"state.{i}": s.detach().contiguous() for i, s in enumerate(state or ())}
    tensors["x_last"] = torch.from_numpy(np.ascontiguousarray(x_last, np.float32))
    atomic_write(folder / STATE_FILE, lambda p: save_file(tensors, str(p)))
    fname = f"forecast-{fc['forecast_day']}.json"
    atomic_write(folder / fname, lambda p: p.write_text(text))
    atomic_write(Path(model_dir) / "forecasts" / fname, lambda p: p.write_text(text))
    if _HOOK:
        _HOOK("commit")
    atomic_write(online / CURRENT, lambda p: p.write_text(name + "\n"))
    _clean(online)
    return fc


def _clean(online: Path) -> None:
    """Remove online states other than the committed one (old ones, and half-written ones of a killed run)."""
    import shutil

    cur = (online / CURRENT).read_text().strip() if (online / CURRENT).is_file() else None
    for p in online.iterdir() if online.is_dir() else ():
        if p.is_dir() and p.name != cur:
            shutil.rmtree(p)


def _current(model_dir) -> Path:
    from ..core.errors import CheckpointError

    online = Path(model_dir) / "online"
    if not (online / CURRENT).is_file():
        raise CheckpointError(f"{model_dir}: no online state (online/{CURRENT}); the training run has not finished")
    return online / (online / CURRENT).read_text().strip()


def forecast(model_dir) -> dict:
    """The latest committed forecast of a quake model (the day after its last day): per active cell,
    its centre and predicted magnitude. CheckpointError for a model of another task."""
    _quake_meta(model_dir)
    folder = _current(model_dir)
    meta = _quake_meta(folder)
    nxt = _day(meta["quake"]["online_state"]["last_day"]) + np.timedelta64(1, "D")
    return json.loads((folder / f"forecast-{nxt}.json").read_text())


def _jsonable(v):
    return None if isinstance(v, float) and math.isnan(v) else v


def evaluate(model_dir, *, catalog=None) -> dict:
    """Score a quake checkpoint's best model over its test days (flat, JSON-ready; NaN -> None).

    The model reads every day from the first (state carried, no training) and its next-day
    predictions on the test days are scored with :func:`score` (hit rule, detection precision /
    recall, AUC at M >= 0 and, as separate keys, M >= 5) next to :func:`score_baselines` on the same
    days and cells. Keys: ``<predictor>_M>=<t>_<metric>`` with predictor model / yesterday /
    historical_rate / any_quake_rate (the rates over every day before the test period), plus the
    test span, cell count, test and validation loss, whether the catalog is synthetic, and
    ``model_M>=0_predicted_share`` (how often the model forecasts a quake). ``catalog``: another CSV (default the
    one it was trained on, whose sha256 must match). CheckpointError for a model of another task.
    """
    return _evaluate(model_dir, catalog)[0]


def _evaluate(model_dir, catalog=None) -> tuple[dict, dict]:
    """(:func:`evaluate`'s result, the arrays behind it: days, series, pred, test start, meta)."""
    import torch

    from ..core.objectives import from_dict
    from ..core.train import training_threads

    meta = _quake_meta(model_dir)
    qm = meta["quake"]
    path = Path(catalog if catalog is not None else meta["data"]["catalog"])
    if catalog is None and not path.is_file() and meta["data"].get("synthetic"):
        path = Path(model_dir) / "catalog.csv"
    cat = read_comcat(path)  # first: a missing or unreadable file gets its one line
    same = file_sha256(path) == meta["data"]["catalog_sha256"]
    if catalog is None and not same:
        raise DataError(f"{path}: not the catalog this model was trained on (sha256 differs); pass catalog=")
    days, values = grid(cat, qm["first_day"], _day(qm["last_day"]) + np.timedelta64(1, "D"))
    series = cell_series(values, np.asarray(qm["cells"], np.int64))
    inputs = _inputs_of(values, qm)
    tt = int(np.searchsorted(days, _day(qm["splits"]["test"][0])))
    model, _ = load_model(model_dir)
    torch.set_num_threads(training_threads())
    pred, _ = predict_series(model, inputs)
    m = {"model_dir": str(model_dir), "catalog": str(path), "same_data": same,
         "synthetic": bool(meta["data"].get("synthetic")), "loss": qm["settings"]["loss"],
         "seed": qm["settings"]["seed"], "cells": int(series.shape[1]), "test_from": str(days[tt]),
         "test_to": str(days[-1]), "test_days": int(len(days) - tt),
         "test_loss": from_dict(meta.get("objective")).mean_over(pred[tt:], series[tt:]),
         "valid_loss": (meta.get("metrics") or {}).get("valid_loss")}
    rows = {"model": score(pred[tt:], series[tt:]), **score_baselines(series, tt)}
    for name, by_t in rows.items():
        for t, r in by_t.items():
            for k, v in r.items():
                m[f"{name}_{t}_{k}"] = v
    m["model_M>=0_predicted_share"] = m["model_M>=0_predicted"] / max(1, series[tt:].size)
    return ({k: _jsonable(v) for k, v in m.items()},
            {"days": days, "series": series, "pred": pred, "test_start": tt, "meta": meta})


def format_evaluation(m: dict) -> str:
    """A Markdown table of :func:`evaluate`'s result, the M >= 5 rows in a table of their own."""
    out = []
    for t in ("M>=0", "M>=5"):
        out += [f"### {t}", "", "| predictor | positives | AUC | hit precision | hit recall |", "|---|---|---|---|---|"]
        for name in ("model", "yesterday", "historical_rate", "any_quake_rate"):
            g = lambda k: m.get(f"{name}_{t}_{k}")
            out.append(f"| {name} | {g('positives')} | {_fmt(g('auc'))} | {_fmt(g('precision'))} | {_fmt(g('recall'))} |")
        out.append("")
    return "\n".join(out)


MAX_UPDATE_DAYS = 366  # days one daily update may add; a longer gap is a retraining, or a catalog gone wrong


def update(model_dir, catalog_path, *, through=None, max_days: int | None = None,
           log: Callable[[str], None] = print) -> dict:
    """The daily update: bring a quake model's online state up to date and forecast the next day.

    Reads ``catalog_path`` (a ComCat CSV that reaches back to the model's last day or earlier),
    grids the days after the model's last day up to the catalog's last complete day
    (:func:`last_complete_day`; ``through`` overrides) and, for each missed day in order: takes
    ``steps_per_day`` (1) plain-SGD steps (lr 1e-3, gradient norm clipped to 1; the settings in
    config.json ``quake.online``) on the one-day pair "previous day's values -> this day's
    values" from the carried state (one-step truncated BPTT), then carries the state through the
    previous day with the updated weights. An update that would add more than ``max_days``
    (``MAX_UPDATE_DAYS``) days, or read days after today, is refused before anything is
    written (DataError, one line). Then commits the new online state and the forecast for
    the day after (OUT/online/<day>/ then CURRENT, see the layout above; a copy of the forecast in
    OUT/forecasts/). Deterministic per day, so a killed run rerun gives the same bytes as one clean
    run; with no new complete day nothing is written. Returns {"new_days", "last_day",
    "forecast_day", "forecast_file"}.
    """
    import torch

    from ..core.models import from_checkpoint
    from ..core.checkpoint import load_model_state
    from ..core.objectives import from_dict
    from ..core.train import training_threads
    from safetensors.torch import load_file

    model_dir = Path(model_dir)
    _quake_meta(model_dir)
    folder = _current(model_dir)
    online = folder.parent
    weights, meta = load_model_state(folder)
    meta = _meta_of(folder)
    qm = meta["quake"]
    last = _day(qm["online_state"]["last_day"])
    cat = read_comcat(catalog_path)
    if cat.bad_rows:
        log(f"{catalog_path}: {cat.problems()}")
    through = last_complete_day(cat, through)
    nxt = last + np.timedelta64(1, "D")
    today = np.datetime64(_dt.datetime.now(_dt.timezone.utc).date(), "D")
    if through >= today:
        raise DataError(f"--through {through}: today (UTC) is {today}; only days that are over can be read")
    max_days = MAX_UPDATE_DAYS if max_days is None else int(max_days)
    new_days = int((through - last) / np.timedelta64(1, "D"))
    if new_days > max_days:
        raise DataError(f"{catalog_path}: would add {new_days:,} days ({nxt}..{through}) in one update, more than "
                        f"{max_days:,}; update in steps with --through, raise --max-days, or retrain "
                        f"(musicrnn task quake train)")
    if through <= last:
        _clean(online)  # a killed run's half-written state, if any; the committed one is untouched
        log(f"nothing new: the model has read every day through {last} (catalog complete through {through})")
        return {"new_days": 0, "last_day": str(last), "forecast_day": str(nxt),
                "forecast_file": str(folder / f"forecast-{nxt}.json")}
    if cat.days()[0] > nxt:
        raise DataError(f"{catalog_path}: starts on {cat.days()[0]}, after {nxt}, the first day the model has "
                        f"not read; fetch a catalog from {last} on")
    days, values = grid(cat, nxt, through + np.timedelta64(1, "D"))
    series = cell_series(values, np.asarray(qm["cells"], np.int64))
    inputs = _inputs_of(values, qm)
    torch.set_num_threads(training_threads())
    torch.manual_seed(0)
    model = from_checkpoint(weights, {**meta, "_folder": str(folder)})
    model.train(False)  # no dropout: the online steps are deterministic
    t = load_file(str(folder / STATE_FILE))
    state = tuple(t[f"state.{i}"] for i in range(len(t) - 1)) or None
    x_last = t["x_last"]
    on = qm["online"]
    objective = from_dict(meta.get("objective"))
    opt = torch.optim.SGD(model.parameters(), lr=float(on["lr"]))
    params = list(model.parameters())
    for i in range(len(days)):
        x = _batch_of(x_last.numpy()[None])
        y = _batch_of(series[i][None]) if x_last.ndim == 1 else torch.from_numpy(series[i]).view(-1, 1, 1)
        for _ in range(int(on["steps_per_day"])):
            out, _ = model(x, state)
            lossv = objective.per_position(out, y).mean()
            opt.zero_grad(set_to_none=True)
            lossv.backward()
            norm = float(torch.sqrt(sum((p.grad.double() ** 2).sum() for p in params if p.grad is not None)))
            if math.isfinite(norm):
                if norm > on["grad_clip"]:
                    for p in params:
                        if p.grad is not None:
                            p.grad.mul_(on["grad_clip"] / (norm + 1e-6))
                opt.step()
        with torch.no_grad():
            _, state = model(x, state)
        state = tuple(s.detach() for s in state)
        x_last = torch.from_numpy(inputs[i])
        if _HOOK:
            _HOOK("day", i + 1)
    info = {"days_updated": int(qm["online_state"].get("days_updated", 0)) + len(days),
            "catalog_sha256": file_sha256(catalog_path)}
    fc = _commit(model_dir, model, meta, state, x_last.numpy(), days[-1], info)
    log(f"read {len(days)} new day{'s' * (len(days) > 1)} ({days[0]}..{days[-1]}); forecast for {fc['forecast_day']}")
    return {"new_days": int(len(days)), "last_day": str(days[-1]), "forecast_day": fc["forecast_day"],
            "forecast_file": str(online / str(days[-1]) / f"forecast-{fc['forecast_day']}.json")}


# ---------------------------------------------------------------------------------------------
# experiments and the report

# metric -> which direction is better (the experiment's table; the first is plotted)
METRICS = {"model_M>=0_auc": "higher", "model_M>=5_auc": "higher", "model_M>=0_precision": "higher",
           "model_M>=0_recall": "higher", "model_M>=5_recall": "higher", "model_M>=0_predicted_share":
           "(share of test cell-days forecast M >= 0; the actual share is far smaller)", "test_loss": "lower",
           "historical_rate_M>=0_auc": "(baseline: each cell's rate before the test period)",
           "historical_rate_M>=5_auc": "(baseline: each cell's rate of M >= 5 before the test period)",
           "any_quake_rate_M>=5_auc": "(baseline: each cell's rate of any quake before the test period)",
           "yesterday_M>=0_auc": "(baseline: yesterday's value)"}


@dataclass
class Settings:
    """What an experiment arm may change besides the core's model and training settings
    (``core.settings.CORE_MODEL`` / ``CORE_TRAIN``); ``years`` and ``data_seed`` shape the
    synthetic catalog used when no catalog is given."""

    loss: str = "smooth-l1"
    layout: str = "cells"
    min_events: int = 1
    years: float = 10.0
    data_seed: int = 2024


def recorded(model_dir) -> dict:
    """The settings a quake run was trained with, flat: its model and training configs (every
    field, defaults included), the task's own settings and the synthetic catalog's."""
    from ..core.experiment import flat_settings

    meta = _quake_meta(model_dir)
    synthetic = meta["data"].get("synthetic") or {}
    extra = {"years": synthetic.get("years", synthetic["etas_days"] / 365), "data_seed": synthetic["seed"]} \
        if synthetic else {}
    own = {k: v for k, v in meta["quake"]["settings"].items() if k not in ("model", "core")}
    return flat_settings({**meta.get("model", {}), **meta.get("train", {}), "layout": meta["quake"].get("layout", "grid"),
                          **own, **extra})


def experiment_runs(data=None, steps: int | None = None, minutes: float | None = None, report: bool = True,
                    **common):
    """The experiment runner's task (``core.experiment.TaskRuns``): one arm = one set of ``train``
    settings on the ComCat CSV ``data`` or, by default, a synthetic ETAS catalog (``years``,
    ``data_seed``); a finished run is read back. With ``report``, the experiment ends with
    OUT/report/ (:func:`report`)."""
    from ..core.experiment import TaskRuns

    sha = file_sha256(data) if data is not None else None

    def scored(out):
        meta = _quake_meta(out)
        if (meta["data"]["catalog_sha256"] != sha) if sha else not meta["data"].get("synthetic"):
            raise DataError(f"{out}: a finished run on another catalog; use a new experiment folder")
        return evaluate(out)

    finish = (lambda out, runs: globals()["report"]([out], Path(out) / "report")) if report else None
    return TaskRuns(TASK, METRICS, train, scored, recorded, source=data or "a synthetic ETAS catalog",
                    finish=finish, catalog=data, steps=steps, minutes=minutes, **common)


def roc_points(labels, scores) -> tuple[np.ndarray, np.ndarray]:
    """(false-positive rate, true-positive rate) of ``scores`` for boolean ``labels``, one point
    per distinct score from the highest down (ties taken together), from (0, 0) to (1, 1)."""
    y = np.asarray(labels, bool).reshape(-1)
    s = np.asarray(scores, np.float64).reshape(-1)
    order = np.argsort(-s, kind="mergesort")
    y, s = y[order], s[order]
    last = np.r_[s[1:] != s[:-1], True]  # the end of each tie group
    tp, fp = np.cumsum(y)[last], np.cumsum(~y)[last]
    return (np.r_[0.0, fp / max(1, (~y).sum())], np.r_[0.0, tp / max(1, y.sum())])


def _source_line(m: dict, meta: dict) -> str:
    syn = meta["data"].get("synthetic")
    if syn:
        return (f"**synthetic**: an ETAS catalog simulated by `etas_catalog` ({syn['etas_days'] / 365:g} years, "
                f"data seed {syn['seed']}), not real earthquakes")
    return f"real catalog `{m['catalog']}`"


def _group(m: dict) -> str:
    """A run's group in the report: its experiment variant (the folder above ``seedN``), else its loss."""
    from ..core.experiment import variant_of

    return variant_of(m["model_dir"]) or m["loss"]


def _plot_report(evals: list[tuple[dict, dict]], path: Path) -> None:
    """ROC curves at M >= 0 and M >= 5 of every run (one colour per variant) against the
    baselines (on the first run's data), and the busiest test cell: what happened, and the
    forecast of each variant's first run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(16, 4.8))
    _, a0 = evals[0]
    series, tt = a0["series"], a0["test_start"]
    actual = series[tt:]
    several = len({a["meta"]["data"]["catalog_sha256"] for _, a in evals}) > 1
    groups = list(dict.fromkeys(_group(m) for m, _ in evals))
    firsts = {}
    for ax, t in zip(axes[:2], (0.0, 5.0)):
        pos = actual >= t
        for m, a in evals:  # each run against its own catalog's days
            g = groups.index(_group(m))
            fpr, tpr = roc_points(a["series"][a["test_start"]:] >= t, a["pred"][a["test_start"]:])
            first = firsts.setdefault((t, g), m["model_dir"]) == m["model_dir"]
            ax.plot(fpr, tpr, c=f"C{g % 10}", lw=1, alpha=0.7, label=groups[g] if first else None)
        for name, sc, style in (("historical rate", historical_rate(series, tt, t), {"c": "k", "ls": "--"}),
                                ("any-quake rate", historical_rate(series, tt, 0.0), {"c": "k", "ls": "-."}),
                                ("yesterday", yesterday(series, tt), {"c": "grey", "ls": ":"})):
            if name == "any-quake rate" and t == 0.0:
                continue  # the same as the historical rate
            fpr, tpr = roc_points(pos, sc)
            ax.plot(fpr, tpr, lw=1.4, label=name + (" (first run's data)" if several else ""), **style)
        ax.plot([0, 1], [0, 1], c="lightgrey", lw=0.8)
        ax.set_xscale("symlog", linthresh=1e-3)
        ax.set_xlim(0, 1)
        ax.set_xticks([0, 1e-3, 1e-2, 1e-1, 1], ["0", "0.001", "0.01", "0.1", "1"])  # no mathtext labels
        ax.set_xlabel("false-positive rate (symlog)")
        ax.set_ylabel("true-positive rate")
        ax.set_title(f"ROC, 'M >= {t:g} tomorrow in this cell' ({int(pos.sum())} positives)", fontsize=9)
        ax.legend(fontsize=7, loc="upper left")
    busiest = int(np.argmax((actual >= 0).sum(0)))
    cell = int(a0["meta"]["quake"]["cells"][busiest])
    d = a0["days"][tt:].astype("datetime64[D]").astype(object)
    ax = axes[2]
    ax.plot(d, actual[:, busiest], ".", ms=3, c="k", label="actual")
    shown = set()
    for m, a in evals:  # each variant's first run on the same catalog and days, if it has that cell
        g = groups.index(_group(m))
        cells = a["meta"]["quake"]["cells"]
        if (g in shown or a["meta"]["data"]["catalog_sha256"] != a0["meta"]["data"]["catalog_sha256"]
                or a["test_start"] != tt or cell not in cells):
            continue
        shown.add(g)
        ax.plot(d, a["pred"][tt:, cells.index(cell)], lw=1, c=f"C{g % 10}", label=f"forecast, {groups[g]}")
    lat, lon = cell_center(cell)
    ax.set_title(f"busiest test cell ({float(lat):g}, {float(lon):g}); -1 = no quake", fontsize=9)
    ax.set_ylabel("magnitude of the day's summed energy")
    ax.legend(fontsize=7)
    for label in ax.get_xticklabels():
        label.set_rotation(30)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def report(paths, out_dir) -> Path:
    """A Markdown report (OUT_DIR/report.md, returned; report.json; report.png) of quake model
    folders or experiment folders (each run of one): per run, the model's AUC, hit precision /
    recall and how often it forecasts a quake, at M >= 0 and, separately, M >= 5, beside the
    baselines on the same days and cells; per loss, the mean and 95% CI over seeds; whether the
    catalog is synthetic or real, said in so many words."""
    from ..core.experiment import expand_runs, run_label
    from ..core.stats import summarize

    dirs = expand_runs(paths)
    if not dirs:
        raise DataError("no model folders to report on")
    evals = [_evaluate(d) for d in dirs]
    rows = [m for m, _ in evals]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    sources = list(dict.fromkeys(_source_line(m, a["meta"]) for m, a in evals))
    f = lambda v: _fmt(v)
    lines = ["# Earthquake forecasts: next day, 2-degree cells", "",
             "Data: " + "; ".join(sources) + ".", "",
             f"Test period {rows[0]['test_from']} .. {rows[0]['test_to']} ({rows[0]['test_days']} days), "
             f"{rows[0]['cells']} active cells. A cell-day's value is the magnitude of its summed energy "
             "(-1: no quake). AUC: ROC area of the forecast as a score for 'M >= t in this cell tomorrow'. "
             "Hit precision / recall: the original predictor's rule (a hit when the forecast is within +-1.0 of "
             "the actual value, counted where either is >= t). Baselines, on the same days and cells: each "
             "cell's rate of M >= t over the days before the test period (training and validation; historical "
             "rate), its rate of any quake over those days (any-quake rate; usually the stronger one for M >= 5, "
             "as large quakes happen where quakes are frequent) and yesterday's value.", ""]
    for t in ("M>=0", "M>=5"):
        lines += [f"## {t}" + (" (the rare large quakes)" if t == "M>=5" else ""), "",
                  "| run | loss | seed | positives | model AUC | forecasts >= t | hit precision | hit recall "
                  "| historical-rate AUC | any-quake-rate AUC | yesterday AUC | yesterday hit precision / recall |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for m in rows:
            g = lambda k, who="model": m.get(f"{who}_{t}_{k}")
            lines.append(f"| {run_label(m['model_dir'])} | {m['loss']} | {m['seed']} "
                         f"| {g('positives')} | {f(g('auc'))} | {g('predicted')} | {f(g('precision'))} "
                         f"| {f(g('recall'))} | {f(g('auc', 'historical_rate'))} | {f(g('auc', 'any_quake_rate'))} "
                         f"| {f(g('auc', 'yesterday'))} | {f(g('precision', 'yesterday'))} / {f(g('recall', 'yesterday'))} |")
        lines.append("")
    groups: dict[str, list[dict]] = {}  # an experiment's arms, else the runs by loss
    for m in rows:
        groups.setdefault(_group(m), []).append(m)
    if any(len(v) > 1 for v in groups.values()):
        lines += ["## Over seeds", "", "Mean and 95% CI (Student t over the runs) of the model's AUC against the "
                  "better of the two rate baselines (one number each: they have no seed).", "",
                  "| variant | runs | AUC M>=0 | AUC M>=5 | best rate baseline M>=0 / M>=5 | runs above it "
                  "(M>=0 / M>=5) |", "|---|---|---|---|---|---|"]
        for key, ms in groups.items():
            cells, best, beats = [], [], []
            for t in ("M>=0", "M>=5"):
                vals = [np.nan if m[f"model_{t}_auc"] is None else m[f"model_{t}_auc"] for m in ms]
                sm = summarize(vals)
                cells.append("n/a" if np.isnan(sm["mean"]) else f"{sm['mean']:.3f} [{sm['ci95'][0]:.3f}, "
                             f"{sm['ci95'][1]:.3f}]" if len(ms) > 1 else f"{sm['mean']:.3f}")
                b = max((v for v in (ms[0][f"historical_rate_{t}_auc"], ms[0][f"any_quake_rate_{t}_auc"])
                         if v is not None), default=None)  # None: no positives in the test days
                best.append(b)
                beats.append(sum(v > b for v in vals) if b is not None else 0)
            lines.append(f"| {key} | {len(ms)} | {cells[0]} | {cells[1]} | {f(best[0])} / {f(best[1])} "
                         f"| {beats[0]}/{len(ms)} / {beats[1]}/{len(ms)} |")
        lines.append("")
    lines += ["![ROC curves and the busiest cell](report.png)", ""]
    md = out_dir / "report.md"
    md.write_text("\n".join(lines))
    (out_dir / "report.json").write_text(json.dumps({"runs": rows, "sources": sources}, indent=1) + "\n")
    _plot_report(evals, out_dir / "report.png")
    return md


__all__ = ["Catalog", "ETASParams", "read_comcat", "load_shipped", "write_comcat", "grid", "cell_of", "cell_center",
           "summed_magnitude", "active_cells", "cell_series", "etas_catalog", "gr_magnitudes", "b_value",
           "roc_auc", "hit_table", "score", "yesterday", "historical_rate", "score_baselines", "format_baselines",
           "NO_QUAKE", "COMCAT_COLUMNS", "REQUIRED", "train", "evaluate", "forecast", "update",
           "format_evaluation", "load_model", "predict_series", "last_complete_day", "split_days", "report",
           "roc_points", "experiment_runs", "recorded", "Settings", "METRICS"]

"""The daily grid: 2-degree cells x UTC days (:func:`grid`), a cell-day's value the magnitude of its
quakes' summed energy (:func:`summed_magnitude`), -1.0 (:data:`NO_QUAKE`) for none; cell indices and
centres, the cells a model reads (:func:`active_cells`, :func:`cell_series`, :func:`neighbour_max`).
NumPy only."""

from __future__ import annotations

import datetime as _dt

import numpy as np

from ...core.errors import DataError
from .catalog import Catalog


CELL_DEG = 2.0
LAT_CELLS, LON_CELLS = 90, 180  # rows from -90 (south) up, columns from -180 (west) east
N_CELLS = LAT_CELLS * LON_CELLS
NO_QUAKE = -1.0


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

"""USGS ComCat catalogs: the :class:`Catalog` of events, :func:`read_comcat` (good rows kept, bad
rows counted and named), :func:`write_comcat` (the same columns, read back exactly) and the shipped
real catalogs (:func:`load_shipped`). NumPy only."""

from __future__ import annotations

import csv
import datetime as _dt
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from ...core.errors import DataError


SHIPPED = {"usgs_week": "usgs_week_2018-02.csv", "ridgecrest": "ridgecrest_2019-07.csv"}

# The columns of USGS ComCat's CSV, in its order; the first five are required to read a file.
COMCAT_COLUMNS = ("time", "latitude", "longitude", "depth", "mag", "magType", "nst", "gap", "dmin", "rms", "net",
                  "id", "updated", "place", "type", "horizontalError", "depthError", "magError", "magNst", "status",
                  "locationSource", "magSource")
REQUIRED = ("time", "latitude", "longitude", "depth", "mag")


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
    from ...core.files import csv_rows

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
    from ...shipped import task_data

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

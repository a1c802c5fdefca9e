"""Writing files so that a reader never sees half of one, and reading a CSV's rows with
their line numbers (standard library only)."""

from __future__ import annotations

import csv
import io
import os
import threading
from pathlib import Path
from typing import Callable


_UMASK = os.umask(0o022)
os.umask(_UMASK)  # read once, at import (os.umask can only be read by setting it)


def atomic_write(path: str | os.PathLike, write: Callable[[Path], object]) -> Path:
    """Call ``write(tmp)`` on a temporary name in the same folder (same suffix, so that
    writers that choose a format by suffix still work), then move it over ``path`` in one
    step. Parent folders are created; on failure the temporary file is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{os.getpid()}-{threading.get_ident()}{path.suffix}")
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)  # as open() would: some writers (safetensors) make files 0600
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def csv_rows(path: str | os.PathLike, what: str) -> tuple[list[str] | None, list[tuple[int, list[str]]]]:
    """(header row, data rows with their line numbers in the file) of a UTF-8 CSV (a byte-order
    mark allowed); blank rows are skipped; the header is None for an empty file. DataError (one
    line) for a missing file, a folder, one that is not UTF-8 text, or one the csv module cannot read.
    ``what``: what the file should hold, for the messages ("a CSV of draws")."""
    from .errors import DataError

    path = Path(path)
    if path.is_dir():
        raise DataError(f"{path}: a folder, not a file ({what} is expected)")
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise DataError(f"{path}: not a text CSV file (not UTF-8; {what} is expected)") from None
    reader = csv.reader(io.StringIO(text))
    header, rows = None, []
    try:
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            if header is None:
                header = row
            else:
                rows.append((reader.line_num, row))
    except csv.Error as e:
        raise DataError(f"{path}: not a readable CSV file (line {reader.line_num}: {e})") from None
    return header, rows

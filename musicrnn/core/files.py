"""Writing files so that a reader never sees half of one (standard library only)."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Callable


def atomic_write(path: str | os.PathLike, write: Callable[[Path], object]) -> Path:
    """Call ``write(tmp)`` on a temporary name in the same folder (same suffix, so that
    writers that choose a format by suffix still work), then move it over ``path`` in one
    step. Parent folders are created; on failure the temporary file is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{os.getpid()}-{threading.get_ident()}{path.suffix}")
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path

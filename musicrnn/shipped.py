"""Where the shipped checkpoints are, however musicrnn was installed.

They live in the repository's top-level folder ``checkpoints/`` (``folk-repeats/``, the
default, ``folk-attention/``, ``folk-transformer/``, ``folk/``, ``chorales/``, ``band/`` (multi-track) and the ``polymusic-*`` benchmark models, each a
``config.json`` and a ``model.safetensors``). A source checkout or an editable
install (``pip install -e .``, what ``python3 -m musicrnn.install`` does) reads them
there; a wheel or ``pip install .`` carries them as package data in
``musicrnn/_checkpoints/`` (see ``[tool.setuptools]`` in pyproject.toml).

Standard library only, so that importing it costs nothing.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV = "MUSICRNN_CHECKPOINTS"  # a folder holding checkpoints, e.g. your own copy
DEFAULT_MODEL = "folk-repeats"  # chosen by the comparison in checkpoints/README.md

_PACKAGE = Path(__file__).resolve().parent
INSTALLED = _PACKAGE / "_checkpoints"  # package data of a wheel / non-editable install
SOURCE = _PACKAGE.parent / "checkpoints"  # the repository's own folder


def checkpoints_dir() -> Path:
    """The folder of shipped checkpoints: $MUSICRNN_CHECKPOINTS if set, else the
    installed package data, else the source tree's ``checkpoints/``.

    Never raises: when nothing is found it returns where a wheel would have put them,
    and loading a checkpoint from there fails with the path in its message."""
    if os.environ.get(ENV):
        return Path(os.environ[ENV]).expanduser()
    if INSTALLED.is_dir():
        return INSTALLED
    if SOURCE.is_dir() and (SOURCE.parent / "pyproject.toml").is_file():  # a checkout, not site-packages/checkpoints
        return SOURCE
    return INSTALLED


DATA_INSTALLED = _PACKAGE / "_data"  # the research tasks' small data files, in a wheel
DATA_SOURCE = _PACKAGE.parent / "corpora"


def task_data(kind: str, name: str) -> Path:
    """A data file shipped for a research task: ``corpora/<kind>/<name>`` in a checkout (or an
    editable install), ``musicrnn/_data/<kind>/<name>`` in a wheel (the S&P 500 closes, the
    small real quake catalogs)."""
    src = DATA_SOURCE / kind / name
    if src.is_file() and (DATA_SOURCE.parent / "pyproject.toml").is_file():
        return src
    return DATA_INSTALLED / kind / name


def names() -> list[str]:
    """The checkpoints available, e.g. ['chorales', 'folk', 'folk-attention', ...]."""
    root = checkpoints_dir()
    return sorted(p.parent.name for p in root.glob("*/config.json")) if root.is_dir() else []


def shipped_checkpoint(name: str) -> Path:
    """The folder of the shipped checkpoint ``name`` ("folk-attention", "folk", "chorales", ...)."""
    if not name or Path(name).name != name or name in (".", ".."):
        raise ValueError(f"not a checkpoint name: {name!r} (one of: {', '.join(names()) or 'none found'})")
    return checkpoints_dir() / name


def default_checkpoint() -> Path:
    """The checkpoint ``musicrnn sample`` uses when given none."""
    return shipped_checkpoint(DEFAULT_MODEL)

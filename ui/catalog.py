"""Which models can generate music here: the shipped checkpoints and every trained one
found under the runs folders, each with a one-line description read from its config.

The page's model list comes from here (not from a fixed list), so a model trained with
``musicrnn train`` or on the page shows up as soon as its first best checkpoint exists.
Standard library only: listing models must not load weights or torch.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from musicrnn.shipped import DEFAULT_MODEL, checkpoints_dir

CONFIG = "config.json"
MAX_DEPTH = 3  # runs/NAME/config.json, runs/EXPERIMENT/RUN/config.json, one more level
SKIP_DIRS = {"last", "__pycache__", ".git", "node_modules"}


@dataclass(frozen=True)
class ModelEntry:
    path: Path          # the checkpoint folder
    name: str           # short name: "folk", or the path relative to its runs folder
    description: str    # one line: corpus, size, validation bits/token

    @property
    def label(self) -> str:
        return f"{self.name} — {self.description}"


def _size(n: int | None) -> str:
    if not n:
        return "? parameters"
    return f"{n / 1e6:.2f} M parameters" if n >= 1e6 else f"{n / 1e3:.0f} k parameters"


def describe(meta: dict) -> str:
    """One line from a checkpoint's config: corpus, size, validation bits/token (a config
    whose fields are of the wrong kinds is described as such, never raises)."""
    try:
        return _describe(meta)
    except (AttributeError, TypeError, ValueError, OverflowError):
        return "a checkpoint whose config.json cannot be described"


def _describe(meta: dict) -> str:
    data = meta.get("data", {})
    if meta.get("task") == "voice":
        m = meta.get("model", {})
        loss = meta.get("metrics", {}).get("valid_spectral_loss")
        return " · ".join([f"voice model of {data.get('seconds', 0) / 60:.1f} min of audio",
                           f"median pitch {m.get('f0_median', 0):.0f} Hz, {_size(meta.get('n_parameters'))}",
                           f"validation spectral loss {loss:.3f}" if isinstance(loss, (int, float)) else "not validated"])
    folder = data.get("folder") or "?"
    corpus = Path(folder).name or folder
    pieces = sum(data.get(k, 0) for k in ("train_pieces", "valid_pieces", "test_pieces"))
    m = meta.get("model", {})
    if meta.get("family") == "transformer":
        arch = f"Transformer {m.get('layers', '?')}x{m.get('dim', '?')}, context {m.get('context', '?')}"
    else:
        arch = f"{m.get('cell', 'lstm').upper()} {m.get('layers', '?')}x{m.get('hidden', '?')}"
    if m.get("activation", "tanh") != "tanh":
        arch += f" {m['activation']}"
    if m.get("attention"):
        arch += f" +attention {m['attention']}"
    metrics = meta.get("metrics", {})
    bits = metrics.get("valid_bits_per_token")
    parts = [f"trained on {corpus}" + (f" ({pieces:,} pieces)" if pieces else ""),
             f"{arch}, {_size(meta.get('n_parameters'))}",
             f"validation {bits:.3f} bits/token" if isinstance(bits, (int, float)) else "not validated"]
    return " · ".join(parts)


def _read(folder: Path) -> dict | None:
    from musicrnn.core.checkpoint import read_config  # bounded: size, nesting, the sections' types

    try:
        meta = read_config(folder)
    except (OSError, ValueError):  # CheckpointError is a ValueError
        return None
    if not (folder / "model.safetensors").is_file():
        return None
    return meta


def _walk(root: Path, depth: int):
    try:
        entries = sorted(os.scandir(root), key=lambda e: e.name)
    except OSError:
        return
    for e in entries:
        if e.is_dir(follow_symlinks=False) and e.name not in SKIP_DIRS and not e.name.startswith("."):
            p = Path(e.path)
            if (p / CONFIG).is_file():
                yield p
            elif depth > 1:
                yield from _walk(p, depth - 1)


def find_models(runs: list[str | os.PathLike] = (), task: str = "music") -> list[ModelEntry]:
    """The shipped checkpoints first (the default model leading), then every checkpoint found under ``runs`` (newest
    first), each once. Folders that are not readable checkpoints of ``task`` are left out."""
    found: list[ModelEntry] = []
    seen: set[Path] = set()
    ship = checkpoints_dir()
    shipped = sorted(ship.glob(f"*/{CONFIG}"), key=lambda p: (p.parent.name != DEFAULT_MODEL, p.parent.name)) if ship.is_dir() else []
    for p in shipped:  # the default model first
        meta = _read(p.parent)
        if meta and meta.get("task") == task:
            seen.add(p.parent.resolve())
            found.append(ModelEntry(p.parent, p.parent.name, describe(meta)))
    trained = []
    for root in map(Path, runs):
        for p in _walk(root, MAX_DEPTH) if root.is_dir() else []:
            meta = _read(p)
            if meta and meta.get("task") == task and p.resolve() not in seen:
                seen.add(p.resolve())
                mtime = (p / "model.safetensors").stat().st_mtime
                trained.append((mtime, ModelEntry(p, p.relative_to(root).as_posix(), describe(meta))))
    found += [e for _, e in sorted(trained, key=lambda t: -t[0])]
    return found


def resolve(choice: str | os.PathLike | None, models: list[ModelEntry]) -> ModelEntry:
    """The entry a user chose, by name or path; only listed models can be chosen."""
    if choice in (None, ""):
        return models[0]
    for e in models:
        if str(choice) in (e.name, str(e.path), e.label):
            return e
    try:
        want = Path(choice).resolve()
    except (OSError, ValueError):
        want = None
    for e in models:
        if want is not None and e.path.resolve() == want:
            return e
    raise LookupError(f"{choice}: not one of the models here ({', '.join(e.name for e in models)})")

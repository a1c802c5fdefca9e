"""Checkpoints: a folder holding ``model.safetensors`` and ``config.json``. Never pickle.

``config.json`` carries the format tag, the version, the model and codec configuration,
the training command and metrics, and the SHA-256 of the weights file, so a truncated or
swapped weights file is caught on load. Every file is written atomically (temp file,
then rename); ``config.json`` is written last and acts as the commit marker.

A resumable training state sits beside the model in ``train_state.safetensors`` and
``train_state.json`` (optimizer moments, RNG state, carried hidden state, position).

Reading a checkpoint (:func:`read_config`, :func:`load_arrays`) needs no torch: the
sampler runs on NumPy arrays. Only the functions that take or return torch tensors
import it.

Format 2 renamed two activations (``activations.LEGACY``): a format-1 checkpoint's
``iris`` is read as ``phi-tanh`` and its ``iris-mm`` as ``iris``, so old models keep
their meaning. Format 3 added the model ``family`` (``models.FAMILIES``) and moved the
output activation from the model config into the ``objective``; older checkpoints are
read as char-RNNs whose objective is next-token prediction with their ``output``.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from .errors import CheckpointError
from .files import atomic_write

FORMAT = "musicrnn-checkpoint"
FORMAT_VERSION = 3
WEIGHTS, CONFIG = "model.safetensors", "config.json"
STATE_T, STATE_J = "train_state.safetensors", "train_state.json"
UNTAGGED = {"task": None}  # the task of a checkpoint that names none (written before tasks had names): set above


def _write_json(path: Path, obj: dict) -> None:
    atomic_write(path, lambda p: p.write_text(json.dumps(obj, indent=2, sort_keys=False) + "\n"))


def _write_tensors(path: Path, tensors: dict) -> None:
    from safetensors.torch import save_file

    tensors = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    atomic_write(path, lambda p: save_file(tensors, str(p)))


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def save_model(folder: str | os.PathLike, model, config: dict) -> Path:
    """Write weights, then the config (with the weights' hash). Returns the folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    _write_tensors(folder / WEIGHTS, model.state_dict())
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, **config, "weights_sha256": sha256(folder / WEIGHTS)}
    _write_json(folder / CONFIG, meta)
    return folder


def _migrate(meta: dict) -> dict:
    """Read an older format as the current one (idempotent)."""
    model = meta.get("model")
    if not isinstance(model, dict):
        return meta
    if meta.get("format_version", 1) < 2:
        from .config import LEGACY

        act = model.get("activation")
        if act in LEGACY:
            model["activation"] = LEGACY[act]
    meta.setdefault("family", "rnn")
    output = model.pop("output", None)
    if "objective" not in meta:
        meta["objective"] = {"kind": "next-token", "output": output or "softmax"}
    return meta


def read_config(folder: str | os.PathLike) -> dict:
    folder = Path(folder)
    if not folder.exists():
        raise CheckpointError(f"{folder}: no such checkpoint")
    if folder.is_file():
        if folder.name in (WEIGHTS, CONFIG):
            folder = folder.parent
        else:
            raise CheckpointError(f"{folder}: a checkpoint is a folder holding {WEIGHTS} and {CONFIG}")
    if not (folder / CONFIG).is_file():
        raise CheckpointError(f"{folder}: not a musicrnn checkpoint (no {CONFIG})")
    meta = read_json(folder / CONFIG)
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{folder}: not a musicrnn checkpoint (config.json has no format {FORMAT!r})")
    version = meta.get("format_version", 1)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise CheckpointError(f"{folder}: config.json format_version {str(version)[:40]!r} is not a format number")
    if version > FORMAT_VERSION:
        raise CheckpointError(f"{folder}: checkpoint format {version} is newer than this musicrnn understands")
    for key in SECTIONS:
        if key in meta and not isinstance(meta[key], dict):
            raise CheckpointError(f"{folder}: config.json {key} must be an object of settings, "
                                  f"not {type(meta[key]).__name__}")
    meta["_folder"] = str(folder)
    return _migrate(meta)


MAX_CONFIG_BYTES = 4 * 2**20  # a config.json (the shipped ones are under 40 kB)
MAX_JSON_DEPTH = 32  # nesting; the shipped configs nest 4 deep
SECTIONS = ("model", "codec", "objective", "train", "data", "sampling")  # config.json parts that are objects


def _depth(text: str) -> int:
    """How deep the brackets of a JSON text nest (strings skipped), without parsing it."""
    import re

    bare = re.sub(r'"(?:[^"\\]|\\.)*"', "", text)
    depth = top = 0
    for c in re.findall(r"[\[\]{}]", bare):
        depth += 1 if c in "[{" else -1
        top = max(top, depth)
    return top


def read_json(path: Path):
    """A small JSON file read with bounds: CheckpointError (one line) for a file over
    ``MAX_CONFIG_BYTES``, nested deeper than ``MAX_JSON_DEPTH``, or not JSON text."""
    size = path.stat().st_size
    if size > MAX_CONFIG_BYTES:
        raise CheckpointError(f"{path}: {size / 2**20:.1f} MB; a config.json may have at most "
                              f"{MAX_CONFIG_BYTES // 2**20} MB")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise CheckpointError(f"{path}: unreadable JSON (not UTF-8 text)") from None
    if _depth(text) > MAX_JSON_DEPTH:
        raise CheckpointError(f"{path}: nested deeper than {MAX_JSON_DEPTH} levels (not a musicrnn config)")
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError) as e:
        raise CheckpointError(f"{path}: unreadable JSON ({e.__class__.__name__})") from None


def update_config(folder: str | os.PathLike, change) -> dict:
    """Rewrite a checkpoint's config.json with ``change(meta)`` applied (the weights, and
    so their hash, are untouched). Returns the new config."""
    meta = read_config(folder)
    meta.pop("_folder", None)
    meta["format_version"] = FORMAT_VERSION  # written as read: migrated to this format
    change(meta)
    _write_json(Path(folder) / CONFIG, meta)
    return meta


def _checked_weights(folder) -> tuple[Path, dict]:
    meta = read_config(folder)
    folder = Path(meta["_folder"])
    wpath = folder / WEIGHTS
    if not wpath.is_file():
        raise CheckpointError(f"{folder}: {WEIGHTS} is missing")
    if meta.get("weights_sha256") and sha256(wpath) != meta["weights_sha256"]:
        raise CheckpointError(f"{wpath}: weights do not match config.json (truncated or replaced file)")
    return wpath, meta


def _load_weights(folder, loader) -> tuple[dict, dict]:
    from safetensors import SafetensorError

    wpath, meta = _checked_weights(folder)
    try:
        return loader(str(wpath)), meta
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{wpath}: unreadable weights ({e})") from None


def load_arrays(folder: str | os.PathLike) -> tuple[dict, dict]:
    """(weights as NumPy arrays, config) after checking the weights' hash. No torch."""
    from safetensors.numpy import load_file

    return _load_weights(folder, load_file)


def load_model_state(folder: str | os.PathLike) -> tuple[dict, dict]:
    """(state_dict of torch tensors, config) after checking the weights' hash."""
    from safetensors.torch import load_file

    return _load_weights(folder, load_file)


def save_train_state(folder: str | os.PathLike, tensors: dict, info: dict) -> None:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    _write_tensors(folder / STATE_T, tensors)
    _write_json(folder / STATE_J, {**info, "tensors_sha256": sha256(folder / STATE_T)})


def load_train_state(folder: str | os.PathLike) -> tuple[dict, dict]:
    from safetensors.torch import load_file

    folder = Path(folder)
    if not (folder / STATE_J).is_file() or not (folder / STATE_T).is_file():
        raise CheckpointError(f"{folder}: no training state to resume from")
    info = json.loads((folder / STATE_J).read_text())
    if sha256(folder / STATE_T) != info.get("tensors_sha256"):
        raise CheckpointError(f"{folder / STATE_T}: does not match {STATE_J} (truncated or replaced)")
    return load_file(str(folder / STATE_T)), info


def check_writable_folder(out: str | os.PathLike) -> None:
    """CheckpointError (one line) unless ``out`` is, or can be made, a folder this process
    may write in: checked before any data is read, so a bad --out fails at once."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise CheckpointError(f"{out}: is a file; --out names a folder")
    up = out
    while not up.exists():
        up = up.parent
    if not up.is_dir():
        raise CheckpointError(f"{up}: is a file, so {out} cannot be made a folder")
    if not os.access(up, os.W_OK | os.X_OK):
        raise CheckpointError(f"{out}: cannot write in {up} (permission denied)")


def task_config(folder, task: str, section: str | None = None) -> dict:
    """A checkpoint's config, refusing (one line) a checkpoint of another task, or one
    without the task's own settings ``section`` in config.json."""
    meta = read_config(folder)
    have = meta.get("task", UNTAGGED["task"])  # checkpoints older than task names: the layer above says whose
    if have != task:
        raise CheckpointError(f"{folder}: a {have!r} model, not a {task} model "
                              f"(train one with musicrnn task {task} train)")
    if section and not isinstance(meta.get(section), dict):
        raise CheckpointError(f"{folder}: a {task} checkpoint without its task settings (config.json {section!r})")
    return meta

"""What every tab of the page shares: its fields checked (numbers, uploads) and the errors
a visitor sees, one line each, without the server's folders. Standard library only at
import (worker processes import the tabs)."""

from __future__ import annotations

import contextlib
import math
import os
import re
from pathlib import Path

MAX_AUDIO_BYTES = 40 * 2**20  # an uploaded or recorded clip (a primer to transcribe, a voice to convert)


def number(value, default, kind, name, lo, hi):
    """A page field as a number in [lo, hi]; empty means the default; anything else a message."""
    if value is None or value == "":
        return default
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: {value!r} is not a number") from None
    if not math.isfinite(v) or not lo <= v <= hi:
        raise ValueError(f"{name}: {value!r} must be between {lo:g} and {hi:g}")
    if kind is int:
        if v != int(v):
            raise ValueError(f"{name}: {value!r} must be a whole number")
        return int(v)
    return v


def upload_path(f) -> Path:
    """The path of an uploaded file, as Gradio hands it over (a path or a file object)."""
    return Path(f if isinstance(f, (str, os.PathLike)) else f.name)


class Errors:
    """The errors the page shows as a one-line message (anything else is a bug and shows as
    Gradio's generic error), with the server's temporary folders taken out."""

    def __init__(self, work: str | os.PathLike):
        from musicrnn.codec import MidiError
        from musicrnn.core.errors import CheckpointError, DataError, SettingsError
        from musicrnn.ui.uploads import UploadError

        self.readable = (ValueError, SettingsError, MidiError, CheckpointError, DataError, UploadError, OSError)
        self._server_paths = re.compile(re.escape(str(work)) + r"[^\s:'\"]*/")

    def message(self, e: Exception) -> str:
        """The error in words, without the server's temporary folders (a file keeps its name)."""
        return self._server_paths.sub("", str(e))

    @contextlib.contextmanager
    def shown(self):
        """Inside a handler: a readable error becomes the message the visitor sees (gr.Error)."""
        import gradio as gr

        try:
            yield
        except self.readable as e:
            raise gr.Error(self.message(e), print_exception=False) from None

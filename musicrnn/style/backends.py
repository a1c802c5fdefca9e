"""The optional third-party signal-processing libraries, imported on first use.

pyworld 0.3.5, pysptk 1.0.1 and webrtcvad (which Resemblyzer imports) still call
``import pkg_resources`` at import time, and setuptools >= 81 no longer ships it. If it
is missing, :func:`_ensure_pkg_resources` registers a two-function stand-in
(``get_distribution(name).version`` and ``resource_filename``, the only calls those three
make), so they import without pinning an old setuptools. A real ``pkg_resources`` is
always preferred when it exists.
"""

from __future__ import annotations

import functools
import sys
import types
import warnings


def _ensure_pkg_resources() -> None:
    """Make ``import pkg_resources`` succeed (real module if installed, else a stand-in)."""
    if "pkg_resources" in sys.modules:
        return
    try:
        import pkg_resources  # noqa: F401
        return
    except ImportError:
        pass
    import importlib.metadata
    import importlib.resources

    shim = types.ModuleType("pkg_resources")
    shim.__doc__ = "Stand-in registered by musicrnn.style.backends (setuptools no longer ships pkg_resources)."
    shim.get_distribution = lambda name: types.SimpleNamespace(version=importlib.metadata.version(name))
    shim.resource_filename = lambda package, resource: str(importlib.resources.files(package) / resource)
    sys.modules["pkg_resources"] = shim


@functools.cache
def pyworld():
    """The pyworld module (WORLD vocoder). Raises ImportError with the install hint."""
    _ensure_pkg_resources()
    try:
        import pyworld as pw
    except ImportError as e:
        raise ImportError(f"pyworld is needed for vocal style transfer: pip install pyworld ({e})") from e
    return pw


@functools.cache
def pysptk():
    """The pysptk module, or None when it is not installed (a NumPy sp2mc is used instead)."""
    _ensure_pkg_resources()
    try:
        import pysptk as sptk
    except ImportError:
        return None
    return sptk


@functools.cache
def voice_encoder():
    """Resemblyzer's speaker encoder on the CPU (loaded once per process), or None if missing."""
    _ensure_pkg_resources()
    try:
        with warnings.catch_warnings():  # resemblyzer 0.1.4 imports scipy.ndimage.morphology (deprecated)
            warnings.simplefilter("ignore", DeprecationWarning)
            from resemblyzer import VoiceEncoder
    except ImportError as e:
        warnings.warn(f"resemblyzer is not installed, so speaker similarity is not measured: pip install resemblyzer ({e})")
        return None
    return VoiceEncoder("cpu", verbose=False)

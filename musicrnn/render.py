"""MIDI -> audio: FluidSynth with the General MIDI SoundFont that pretty_midi ships
(TimGM6mb.sf2), or plain sine tones when FluidSynth is missing (with a warning)."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from .core.files import atomic_write

SAMPLE_RATE = 44100


def soundfont_path() -> Path:
    import pretty_midi

    return Path(pretty_midi.__file__).parent / "TimGM6mb.sf2"


def fluidsynth_problem() -> str | None:
    """Why FluidSynth cannot be used here, or None when it can."""
    try:
        import fluidsynth  # noqa: F401  (pyfluidsynth; loads the libfluidsynth shared library)
    except Exception as e:  # ImportError, or OSError when libfluidsynth is absent
        return f"{e.__class__.__name__}: {e}"
    return None


def synthesize(midi_path: str | os.PathLike, sample_rate: int = SAMPLE_RATE) -> tuple[np.ndarray, str]:
    """Audio as float32 in [-1, 1], shape (samples,), and the engine used."""
    import pretty_midi

    pm = pretty_midi.PrettyMIDI(str(midi_path))
    problem = fluidsynth_problem()
    if problem is None:
        audio, engine = pm.fluidsynth(fs=sample_rate, sf2_path=str(soundfont_path())), "fluidsynth"
    else:
        warnings.warn(f"FluidSynth unavailable ({problem}); rendering with plain sine tones", stacklevel=2)
        audio, engine = pm.synthesize(fs=sample_rate), "sine"
    audio = np.asarray(audio, dtype=np.float32)
    peak = float(np.abs(audio).max()) if audio.size else 0.0
    if peak > 0:
        audio *= 0.89 / peak  # -1 dBFS
    return audio, engine


def render_wav(midi_path: str | os.PathLike, wav_path: str | os.PathLike, sample_rate: int = SAMPLE_RATE) -> dict:
    import soundfile as sf

    audio, engine = synthesize(midi_path, sample_rate)
    wav_path = atomic_write(wav_path, lambda p: sf.write(str(p), audio, sample_rate, subtype="PCM_16"))
    return {"wav": str(wav_path), "engine": engine, "seconds": round(audio.size / sample_rate, 2),
            "peak": round(float(np.abs(audio).max()) if audio.size else 0.0, 3)}

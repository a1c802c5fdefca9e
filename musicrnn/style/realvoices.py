"""Real people's voices to develop and test vocal style transfer on: Debian's
``klettres-data`` (letters and syllables recorded by one person per language, for the
KLettres alphabet game; GPL). Nothing here is synthetic.

Each speaker gives three disjoint clips, built from their recordings in name order (every
file trimmed of leading and trailing silence, 0.12 s of silence between files, mono,
16 kHz): file 0, 3, 6, ... make the *source* clip (what is converted), 1, 4, 7, ... the
*reference* clip (the few seconds of the target voice the converter is given), 2, 5,
8, ... the *held-out* clip (what the output is compared with, never shown to the
converter). Pairs run around a ring of speakers (each speaker converted toward the next),
so every speaker is once a source and once a target.

The speakers are split once, by language code: :data:`DEV_SPEAKERS` for choosing
settings, :data:`TEST_SPEAKERS` for the figures reported.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from musicrnn.core.errors import DataError

KLETTRES = Path("/usr/share/klettres")
SR = 16000
GAP_S = 0.12
TRIM_DB = 35.0
DEV_SPEAKERS = ("en", "fr", "es", "ru", "nl", "da", "it", "he")
TEST_SPEAKERS = ("en_GB", "de", "cs", "hu", "pt_BR", "uk", "lt", "nds", "ar", "ml", "nb", "tn")
SETS = {"dev": DEV_SPEAKERS, "test": TEST_SPEAKERS}


@dataclass
class Speaker:
    name: str
    source: np.ndarray  # the clip that is converted
    reference: np.ndarray  # the few seconds of this voice a converter is given
    held_out: np.ndarray  # this voice, for scoring only


@dataclass
class RealPair:
    source: Speaker
    target: Speaker


def _read(path: Path) -> np.ndarray:
    import librosa
    import soundfile as sf

    y, sr = sf.read(path, dtype="float32", always_2d=True)
    y = librosa.resample(y.mean(1), orig_sr=sr, target_sr=SR) if sr != SR else y.mean(1)
    y, _ = librosa.effects.trim(y, top_db=TRIM_DB)
    return y


def _clip(files: list[Path], seconds: float) -> np.ndarray:
    parts, n, gap = [], 0, np.zeros(int(GAP_S * SR), np.float32)
    for f in files:
        y = _read(f)
        if y.size < 0.05 * SR:
            continue
        parts += [y, gap]
        n += y.size + gap.size
        if n >= seconds * SR:
            break
    if not parts:
        raise DataError(f"{files[0].parent}: no usable recordings")
    y = np.concatenate(parts)[: int(seconds * SR)]
    return (0.9 * y / max(float(np.abs(y).max()), 1e-9)).astype(np.float32)


def speaker(name: str, seconds: float = 5.0, root: Path = KLETTRES) -> Speaker:
    """One speaker's three clips of at most ``seconds`` each (see the module docstring)."""
    files = sorted((root / name).glob("*/*.ogg"))
    if len(files) < 6:
        raise DataError(f"{root / name}: no klettres recordings here (Debian package klettres-data)")
    return Speaker(name, *(_clip(files[k::3], seconds) for k in range(3)))


def available(root: Path = KLETTRES) -> bool:
    return (root / "en").is_dir()


def ring_pairs(names=TEST_SPEAKERS, seconds: float = 5.0, root: Path = KLETTRES) -> list[RealPair]:
    """Each speaker converted toward the next one of ``names`` (the last toward the first)."""
    people = [speaker(n, seconds, root) for n in names]
    return [RealPair(people[i], people[(i + 1) % len(people)]) for i in range(len(people))]


__all__ = ["DEV_SPEAKERS", "KLETTRES", "RealPair", "SETS", "Speaker", "TEST_SPEAKERS", "available", "ring_pairs",
           "speaker"]

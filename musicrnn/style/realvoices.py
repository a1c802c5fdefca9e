"""Real people's voices to develop and test vocal style transfer on. Nothing here is
synthetic. Two collections, each a Debian package:

* ``klettres-data`` (:data:`KLETTRES`): letters and syllables recorded by one person per
  language, for the KLettres alphabet game (GPL). The ``dev`` and ``test`` sets.
* ``hedgewars-data`` (:data:`HEDGEWARS`): the Hedgewars game's voice packs, one performer
  each, 40-80 s of short acted phrases ("Hello", "Missed", "Incoming"); one pack, ``Singer``,
  sings every phrase (pYIN: 85% of its frames voiced, median 421 Hz, 316-566 Hz from the 10th
  to the 90th percentile). The ``actors`` set (every pack but ``Robot``, which is vocoded),
  and the ``singer`` set: six klettres test speakers converted toward the singer and the
  singer converted toward the other six (a real singer as target, and real singing as
  source). Several packs are cartoon voices, acted high or sped up (median f0 280-390 Hz).

Each speaker gives three disjoint clips, built from their recordings in name order (every
file trimmed of leading and trailing silence, 0.12 s of silence between files, mono,
16 kHz): file 0, 3, 6, ... make the *source* clip (what is converted), 1, 4, 7, ... the
*reference* clip (the few seconds of the target voice the converter is given), 2, 5,
8, ... the *held-out* clip (what the output is compared with, never shown to the
converter). Pairs run around a ring of speakers (each speaker converted toward the next),
so every speaker is once a source and once a target.

The klettres speakers are split once, by language code: :data:`DEV_SPEAKERS` for choosing
settings, :data:`TEST_SPEAKERS` for the figures reported. A speaker's name is its folder in
its collection; a Hedgewars pack is named ``hedgewars/<pack>``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from musicrnn.core.errors import DataError

KLETTRES = Path("/usr/share/klettres")
HEDGEWARS = Path("/usr/share/games/hedgewars/Data/Sounds/voices")
SR = 16000
GAP_S = 0.12
TRIM_DB = 35.0
DEV_SPEAKERS = ("en", "fr", "es", "ru", "nl", "da", "it", "he")
TEST_SPEAKERS = ("en_GB", "de", "cs", "hu", "pt_BR", "uk", "lt", "nds", "ar", "ml", "nb", "tn")
ACTORS = tuple(f"hedgewars/{p}" for p in ("British", "Classic", "Default", "Default_es", "Default_pl", "Default_ru",
                                          "Default_uk", "HillBilly", "Mobster", "Pirate", "Russian", "Russian_pl",
                                          "Singer", "Surfer"))
SINGER = "hedgewars/Singer"
SETS = {"dev": DEV_SPEAKERS, "test": TEST_SPEAKERS, "actors": ACTORS, "singer": (SINGER, *TEST_SPEAKERS)}
PACKAGES = {"klettres": "klettres-data", "hedgewars": "hedgewars-data"}


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


def _files(name: str, klettres: Path = KLETTRES, hedgewars: Path = HEDGEWARS) -> tuple[list[Path], str]:
    """A speaker's recordings in name order, and the Debian package that ships them."""
    if name.startswith("hedgewars/"):
        return sorted((hedgewars / name.split("/", 1)[1]).glob("*.ogg")), PACKAGES["hedgewars"]
    return sorted((klettres / name).glob("*/*.ogg")), PACKAGES["klettres"]


def speaker(name: str, seconds: float = 5.0, root: Path = KLETTRES, hedgewars: Path = HEDGEWARS) -> Speaker:
    """One speaker's three clips of at most ``seconds`` each (see the module docstring)."""
    files, package = _files(name, root, hedgewars)
    if len(files) < 6:
        raise DataError(f"{name}: no recordings of this voice here (Debian package {package})")
    return Speaker(name, *(_clip(files[k::3], seconds) for k in range(3)))


def available(names=TEST_SPEAKERS, root: Path = KLETTRES, hedgewars: Path = HEDGEWARS) -> str | None:
    """None when every voice of ``names`` has recordings here, else the Debian package
    that ships the first one missing."""
    for n in names:
        files, package = _files(n, root, hedgewars)
        if not files:
            return package
    return None


def ring_pairs(names=TEST_SPEAKERS, seconds: float = 5.0, root: Path = KLETTRES,
               hedgewars: Path = HEDGEWARS) -> list[RealPair]:
    """Each speaker converted toward the next one of ``names`` (the last toward the first)."""
    people = [speaker(n, seconds, root, hedgewars) for n in names]
    return [RealPair(people[i], people[(i + 1) % len(people)]) for i in range(len(people))]


def star_pairs(centre: str, others, seconds: float = 5.0, root: Path = KLETTRES,
               hedgewars: Path = HEDGEWARS) -> list[RealPair]:
    """The first half of ``others`` converted toward ``centre``, then ``centre`` converted
    toward the second half: the ``singer`` set (a real singer as target, and as source)."""
    c = speaker(centre, seconds, root, hedgewars)
    people = [speaker(n, seconds, root, hedgewars) for n in others]
    half = len(people) // 2
    return [RealPair(p, c) for p in people[:half]] + [RealPair(c, p) for p in people[half:]]


def set_pairs(name: str, seconds: float = 5.0, root: Path = KLETTRES, hedgewars: Path = HEDGEWARS) -> list[RealPair]:
    """The pairs of the set ``name`` (:data:`SETS`): a ring, or for ``singer`` a star."""
    if name == "singer":
        return star_pairs(SINGER, TEST_SPEAKERS, seconds, root, hedgewars)
    return ring_pairs(SETS[name], seconds, root, hedgewars)


__all__ = ["ACTORS", "DEV_SPEAKERS", "HEDGEWARS", "KLETTRES", "RealPair", "SETS", "SINGER", "Speaker", "TEST_SPEAKERS",
           "available", "ring_pairs", "set_pairs", "speaker", "star_pairs"]

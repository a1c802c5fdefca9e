"""Parallel test sets for vocal style transfer with no human in the loop: the same words
spoken (espeak-ng) or sung (Festival singing mode) by two synthetic voices.

Each set has scored pairs (source voice, target voice, same text), on request
(``tuning=True``) a couple of tuning pairs (other sentences, for choosing settings without
touching the scored ones), and a separate clip of the target voice (other sentences again)
that the instant tier builds its profile from. Synthesis is deterministic, and the WAV files
are kept in ``workdir`` and reused.

Voices used: espeak-ng ``en-us+m3`` (male) and ``en-us+f3`` (female), 22,050 Hz;
Festival ``kal_diphone`` (the default, American male) and ``ked_diphone`` (American male),
16 kHz (Debian festival, festvox-kallpc16k, festvox-kdlpc16k).
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np

from musicrnn.core.errors import SettingsError
from musicrnn.core.files import atomic_write

# Scored sentences (speech_pairs takes the first n), then the tuning and target-clip sentences.
SENTENCES = [
    "The old lighthouse keeper climbed the stairs every evening at dusk.",
    "Please bring the blue folder to the meeting on Thursday morning.",
    "A sudden gust of wind scattered the papers across the yard.",
    "My grandmother grew tomatoes, beans and sunflowers behind the house.",
    "How many miles is it from here to the nearest train station?",
    "The children laughed as the puppy chased its own tail.",
    "We watched the storm roll in over the dark green hills.",
    "She paid for the coffee with a handful of shiny coins.",
    "Turn left at the bakery and walk until you see the river.",
    "The violin sounded warm and bright in the empty concert hall.",
    "Nobody expected the quiet student to win the chess tournament.",
    "Fresh snow covered the cars parked along the narrow street.",
    "Could you tell me why the museum closes so early today?",
    "Thick smoke rose slowly from the chimney of the farmhouse.",
    "The pilot announced that we would land twenty minutes ahead of schedule.",
    "His jacket was torn at the elbow but he wore it proudly.",
    "Seven ducks waddled across the road and into the pond.",
    "The recipe calls for two eggs, a cup of flour and some butter.",
    "They painted the kitchen yellow to make it feel more cheerful.",
    "After the long hike, everyone slept soundly under the stars.",
]
TUNING_SENTENCES = [
    "The mechanic wiped his hands and closed the heavy garage door.",
    "Are you sure that the library is open on Sunday afternoons?",
]
TARGET_CLIP_SENTENCES = [
    "On clear nights you can see thousands of stars above the valley.",
    "Our neighbour keeps bees, and every summer she gives us a jar of honey.",
    "I would like a window seat, please, if there is one left.",
]

# Tunes as (word, notes, beats): one note per syllable (Festival's syllabification). Festival's
# note names sound an octave below scientific pitch (its G3 is 98 Hz), so C4..C5 here is a
# baritone's 131..262 Hz, like the daisy.xml example.
Tune = list[tuple[str, str, str]]
TUNES: dict[str, Tune] = {
    "twinkle": [("twinkle", "C4,C4", "1,1"), ("twinkle", "G4,G4", "1,1"), ("little", "A4,A4", "1,1"), ("star", "G4", "2"),
                ("how", "F4", "1"), ("I", "F4", "1"), ("wonder", "E4,E4", "1,1"), ("what", "D4", "1"), ("you", "D4", "1"), ("are", "C4", "2")],
    "mary": [("Mary", "E4,D4", "1,1"), ("had", "C4", "1"), ("a", "D4", "1"), ("little", "E4,E4", "1,1"), ("lamb", "E4", "2"),
             ("little", "D4,D4", "1,1"), ("lamb", "D4", "2"), ("little", "E4,G4", "1,1"), ("lamb", "G4", "2")],
    "rowboat": [("row", "C4", "1.5"), ("row", "C4", "1.5"), ("row", "C4", "1"), ("your", "D4", "0.5"), ("boat", "E4", "1.5"),
                ("gently", "E4,D4", "1,0.5"), ("down", "E4", "1"), ("the", "F4", "0.5"), ("stream", "G4", "3")],
    "sleeping": [("are", "F4", "1"), ("you", "G4", "1"), ("sleeping", "A4,F4", "1,1"), ("are", "F4", "1"), ("you", "G4", "1"),
                 ("sleeping", "A4,F4", "1,1"), ("brother", "A4,Bb4", "1,1"), ("John", "C5", "2")],
    "bridge": [("London", "G4,A4", "1.5,0.5"), ("bridge", "G4", "1"), ("is", "F4", "1"), ("falling", "E4,F4", "1,1"), ("down", "G4", "2"),
               ("falling", "D4,E4", "1,1"), ("down", "F4", "2"), ("falling", "E4,F4", "1,1"), ("down", "G4", "2")],
    "daisy": [("Daisy", "F4,D4", "1,1"), ("Daisy", "Bb3,F3", "1,1"), ("give", "G3", "0.33"), ("me", "A3", "0.33"), ("your", "Bb3", "0.34"),
              ("answer", "G3,Bb3", "0.67,0.33"), ("do", "F3", "2")],
    "saints": [("oh", "C4", "1"), ("when", "E4", "1"), ("the", "F4", "1"), ("saints", "G4", "4"), ("go", "C4", "1"), ("marching", "E4,F4", "1,1"),
               ("in", "G4", "4")],
    "grace": [("amazing", "D4,G4,B4", "1,2,0.5"), ("grace", "G4", "2"), ("how", "B4", "1"), ("sweet", "A4", "2"), ("the", "G4", "1"),
              ("sound", "E4", "2")],
}
TUNING_TUNES = ["hotcross"]
TARGET_CLIP_TUNES = ["doodle", "macdonald"]
TUNES.update({
    "hotcross": [("hot", "E4", "1"), ("cross", "D4", "1"), ("buns", "C4", "2"), ("hot", "E4", "1"), ("cross", "D4", "1"), ("buns", "C4", "2"),
                 ("one", "C4", "0.5"), ("a", "C4", "0.5"), ("penny", "C4,C4", "0.5,0.5"), ("two", "D4", "0.5"), ("a", "D4", "0.5"),
                 ("penny", "D4,D4", "0.5,0.5"), ("hot", "E4", "1"), ("cross", "D4", "1"), ("buns", "C4", "2")],
    "doodle": [("Yankee", "C4,C4", "0.5,0.5"), ("doodle", "D4,E4", "0.5,0.5"), ("went", "C4", "0.5"), ("to", "E4", "0.5"), ("town", "D4", "1"),
               ("riding", "C4,C4", "0.5,0.5"), ("on", "D4", "0.5"), ("a", "E4", "0.5"), ("pony", "C4,B3", "1,1")],
    "macdonald": [("old", "G4", "1"), ("Macdonald", "G4,G4,D4", "1,1,1"), ("had", "E4", "1"), ("a", "E4", "1"), ("farm", "D4", "2"),
                  ("ee", "B4", "1"), ("i", "B4", "1"), ("ee", "A4", "1"), ("i", "A4", "1"), ("oh", "G4", "3")],
})
SCORED_TUNES = ["twinkle", "mary", "rowboat", "sleeping", "bridge", "daisy", "saints", "grace"]

ESPEAK_HINT = "espeak-ng not found; install it (Debian: apt install espeak-ng)"
NOTE_NAMES = ["C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"]
NOTE_OFFSETS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}


def _load(path: str | Path, sr: int) -> np.ndarray:
    """Mono float64 audio [N] from a sound file, resampled to ``sr`` Hz (``codec.audio.load_audio``)."""
    from ..codec.audio import load_audio

    return load_audio(path, sr=sr)[0].astype(np.float64)


@dataclass
class Pair:
    """The same text by two voices: source [N] and target [M] at the set's rate."""

    text: str
    source: np.ndarray
    target: np.ndarray


@dataclass
class ParallelSet:
    """Scored pairs, tuning pairs (empty unless asked for) and a separate target clip [N], all at ``sr`` Hz."""

    sr: int
    source_voice: str
    target_voice: str
    pairs: list[Pair]
    tuning: list[Pair]
    target_clip: np.ndarray
    target_clip_text: str
    notes: dict = field(default_factory=dict)


def _cache_name(kind: str, voice: str, text: str) -> str:
    """Stable file name for one synthesized clip."""
    digest = hashlib.sha1(f"{kind}|{voice}|{text}".encode()).hexdigest()[:12]
    return f"{kind}-{voice.replace('+', '_').replace('/', '_')}-{digest}.wav"


def _workdir(workdir: str | Path | None) -> Path:
    """The folder for synthesized WAVs (a fresh temporary folder when None)."""
    path = Path(workdir) if workdir is not None else Path(tempfile.mkdtemp(prefix="musicrnn-style-"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def espeak_wav(text: str, voice: str, path: Path, wpm: int | None = None) -> Path:
    """Speak ``text`` with espeak-ng ``voice`` (e.g. en-us+f3), at ``wpm`` words a minute
    (None: espeak-ng's default, 175), into ``path`` (22,050 Hz WAV); kept if already there."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise RuntimeError(ESPEAK_HINT)
    if not path.exists():
        speed = ["-s", str(int(wpm))] if wpm else []

        def speak(tmp: Path) -> None:
            r = subprocess.run([exe, "-v", voice, *speed, "-w", str(tmp), text], capture_output=True, text=True)
            if r.returncode != 0 or not tmp.exists():
                raise RuntimeError(f"espeak-ng -v {voice} failed: {r.stderr.strip() or r.returncode}")

        atomic_write(path, speak)
    return path


def speech_pairs(n: int = 10, sr: int = 16000, source_voice: str = "en-us+m3", target_voice: str = "en-us+f3",
                 workdir: str | Path | None = None, tuning: bool = False) -> ParallelSet:
    """The first ``n`` of SENTENCES spoken by both espeak-ng voices, at ``sr`` Hz.

    Also: with ``tuning``, TUNING_SENTENCES by both voices (for choosing settings; without it
    no tuning pairs), and TARGET_CLIP_SENTENCES by the target voice, joined with 0.3 s pauses
    (about 10 s), as the clip the instant tier learns the target from. None of these overlap the scored sentences.
    """
    if not 1 <= n <= len(SENTENCES):
        raise SettingsError(f"n {n}: use 1 to {len(SENTENCES)} sentences")
    wd = _workdir(workdir)

    def say(text: str, voice: str) -> np.ndarray:
        return _load(espeak_wav(text, voice, wd / _cache_name("espeak", voice, text)), sr)

    pairs = [Pair(t, say(t, source_voice), say(t, target_voice)) for t in SENTENCES[:n]]
    tuning = [Pair(t, say(t, source_voice), say(t, target_voice)) for t in TUNING_SENTENCES] if tuning else []
    gap = np.zeros(int(0.3 * sr))
    clip = np.concatenate([part for t in TARGET_CLIP_SENTENCES for part in (say(t, target_voice), gap)][:-1])
    return ParallelSet(sr=sr, source_voice=f"espeak-ng {source_voice}", target_voice=f"espeak-ng {target_voice}",
                       pairs=pairs, tuning=tuning, target_clip=clip, target_clip_text=" ".join(TARGET_CLIP_SENTENCES))


def transpose_note(note: str, semitones: int) -> str:
    """A note name like "Bb3" or "F#4" moved by ``semitones`` (spelled with # or b as NOTE_NAMES)."""
    name, octave = note[:-1], int(note[-1])
    midi = 12 * (octave + 1) + NOTE_OFFSETS[name[0]] + name[1:].count("#") - name[1:].count("b") + semitones
    return f"{NOTE_NAMES[midi % 12]}{midi // 12 - 1}"


def score_xml(tune: Tune, bpm: int = 90, transpose: int = 0) -> str:
    """Festival SINGING XML for ``tune`` ((word, notes, beats) triples), moved by ``transpose`` semitones."""
    lines = ['<?xml version="1.0"?>',
             '<!DOCTYPE SINGING PUBLIC "-//SINGING//DTD SINGING mark up//EN" "Singing.v0_1.dtd" []>',
             f'<SINGING BPM="{bpm}">']
    for word, notes, beats in tune:
        notes = ",".join(transpose_note(x, transpose) for x in notes.split(","))
        lines.append(f'<DURATION BEATS="{beats}"><PITCH NOTE="{notes}">{escape(word)}</PITCH></DURATION>')
    lines.append("</SINGING>")
    return "\n".join(lines) + "\n"


def festival_sing(xml: str, voice: str, path: Path) -> Path:
    """Sing SINGING XML with Festival ``voice`` (kal or ked) into ``path`` (16 kHz WAV; kept
    if already there)."""
    from ..codec.synth import SynthError, festival_xml_to_wav

    if not path.exists():
        try:
            festival_xml_to_wav(xml, voice, path)
        except SynthError as e:
            raise RuntimeError(str(e)) from None
    return path


def singing_pairs(n: int = len(SCORED_TUNES), sr: int = 16000, source_voice: str = "kal", target_voice: str = "ked",
                  workdir: str | Path | None = None, target_transpose: int = 0, bpm: int = 90,
                  tuning: bool = False) -> ParallelSet:
    """The first ``n`` of SCORED_TUNES sung by two Festival voices, at ``sr`` Hz.

    Both voices sing the same score; the target's is moved by ``target_transpose``
    semitones (0: the same notes; e.g. +5 with source_voice == target_voice gives a
    same-timbre, different-register pair). Tuning pair (only with ``tuning``): TUNING_TUNES;
    target clip: TARGET_CLIP_TUNES sung by the target voice (transposed likewise), joined
    with 0.3 s pauses.
    """
    if not 1 <= n <= len(SCORED_TUNES):
        raise SettingsError(f"n {n}: use 1 to {len(SCORED_TUNES)} tunes")
    wd = _workdir(workdir)

    def sing(name: str, voice: str, shift: int) -> np.ndarray:
        xml = score_xml(TUNES[name], bpm, shift)
        return _load(festival_sing(xml, voice, wd / _cache_name("festival", voice, xml)), sr)

    def pair(name: str) -> Pair:
        return Pair(name, sing(name, source_voice, 0), sing(name, target_voice, target_transpose))

    gap = np.zeros(int(0.3 * sr))
    clip = np.concatenate([part for t in TARGET_CLIP_TUNES for part in (sing(t, target_voice, target_transpose), gap)][:-1])
    return ParallelSet(sr=sr, source_voice=f"festival {source_voice}", target_voice=f"festival {target_voice}"
                       + (f" ({target_transpose:+d} semitones)" if target_transpose else ""),
                       pairs=[pair(t) for t in SCORED_TUNES[:n]],
                       tuning=[pair(t) for t in TUNING_TUNES] if tuning else [],
                       target_clip=clip, target_clip_text=" + ".join(TARGET_CLIP_TUNES), notes={"bpm": bpm})

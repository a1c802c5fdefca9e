"""Piano-roll pictures of a piece: time (s) on x, MIDI pitch on y, one colour per instrument.

Made for a web page that shows a picture after every generation, so it is built for speed
and for concurrent requests:

* matplotlib through its object API only (``Figure`` + ``FigureCanvasAgg``), never pyplot:
  no global figure registry, nothing leaks, each call owns its figure, threads don't share one;
* one ``PolyCollection`` per instrument (not one patch per note) and one scatter for drums;
* fixed pixel margins instead of ``tight_layout``/``bbox_inches='tight'``, so the PNG is
  exactly ``width_px`` x ``height_px``;
* no torch import (only numpy, matplotlib and the MIDI codec).

>>> pianoroll_png("song.mid", "out/song.png", title="song")   # doctest: +SKIP
PosixPath('out/song.png')
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Iterable

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from .codec.midi import Score, read_midi
from .core.files import atomic_write

__all__ = [
    "DRUM_COLOR", "GM_FAMILIES", "GM_PROGRAMS", "note_name", "pianoroll_png", "program_choices", "program_colors",
    "program_family", "program_name", "program_number",
]

# General MIDI Level 1 program names; index = program number 0..127.
GM_PROGRAMS: tuple[str, ...] = (
    # Piano 0-7
    "Acoustic Grand Piano", "Bright Acoustic Piano", "Electric Grand Piano", "Honky-tonk Piano",
    "Electric Piano 1", "Electric Piano 2", "Harpsichord", "Clavi",
    # Chromatic Percussion 8-15
    "Celesta", "Glockenspiel", "Music Box", "Vibraphone", "Marimba", "Xylophone",
    "Tubular Bells", "Dulcimer",
    # Organ 16-23
    "Drawbar Organ", "Percussive Organ", "Rock Organ", "Church Organ", "Reed Organ",
    "Accordion", "Harmonica", "Tango Accordion",
    # Guitar 24-31
    "Acoustic Guitar (nylon)", "Acoustic Guitar (steel)", "Electric Guitar (jazz)",
    "Electric Guitar (clean)", "Electric Guitar (muted)", "Overdriven Guitar",
    "Distortion Guitar", "Guitar harmonics",
    # Bass 32-39
    "Acoustic Bass", "Electric Bass (finger)", "Electric Bass (pick)", "Fretless Bass",
    "Slap Bass 1", "Slap Bass 2", "Synth Bass 1", "Synth Bass 2",
    # Strings 40-47
    "Violin", "Viola", "Cello", "Contrabass", "Tremolo Strings", "Pizzicato Strings",
    "Orchestral Harp", "Timpani",
    # Ensemble 48-55
    "String Ensemble 1", "String Ensemble 2", "SynthStrings 1", "SynthStrings 2",
    "Choir Aahs", "Voice Oohs", "Synth Voice", "Orchestra Hit",
    # Brass 56-63
    "Trumpet", "Trombone", "Tuba", "Muted Trumpet", "French Horn", "Brass Section",
    "SynthBrass 1", "SynthBrass 2",
    # Reed 64-71
    "Soprano Sax", "Alto Sax", "Tenor Sax", "Baritone Sax", "Oboe", "English Horn",
    "Bassoon", "Clarinet",
    # Pipe 72-79
    "Piccolo", "Flute", "Recorder", "Pan Flute", "Blown Bottle", "Shakuhachi", "Whistle",
    "Ocarina",
    # Synth Lead 80-87
    "Lead 1 (square)", "Lead 2 (sawtooth)", "Lead 3 (calliope)", "Lead 4 (chiff)",
    "Lead 5 (charang)", "Lead 6 (voice)", "Lead 7 (fifths)", "Lead 8 (bass + lead)",
    # Synth Pad 88-95
    "Pad 1 (new age)", "Pad 2 (warm)", "Pad 3 (polysynth)", "Pad 4 (choir)",
    "Pad 5 (bowed)", "Pad 6 (metallic)", "Pad 7 (halo)", "Pad 8 (sweep)",
    # Synth Effects 96-103
    "FX 1 (rain)", "FX 2 (soundtrack)", "FX 3 (crystal)", "FX 4 (atmosphere)",
    "FX 5 (brightness)", "FX 6 (goblins)", "FX 7 (echoes)", "FX 8 (sci-fi)",
    # Ethnic 104-111
    "Sitar", "Banjo", "Shamisen", "Koto", "Kalimba", "Bag pipe", "Fiddle", "Shanai",
    # Percussive 112-119
    "Tinkle Bell", "Agogo", "Steel Drums", "Woodblock", "Taiko Drum", "Melodic Tom",
    "Synth Drum", "Reverse Cymbal",
    # Sound Effects 120-127
    "Guitar Fret Noise", "Breath Noise", "Seashore", "Bird Tweet", "Telephone Ring",
    "Helicopter", "Applause", "Gunshot",
)
assert len(GM_PROGRAMS) == 128

# The 16 GM instrument families, eight programs each: family of program p = GM_FAMILIES[p // 8].
GM_FAMILIES: tuple[str, ...] = (
    "Piano", "Chromatic Percussion", "Organ", "Guitar", "Bass", "Strings", "Ensemble", "Brass",
    "Reed", "Pipe", "Synth Lead", "Synth Pad", "Synth Effects", "Ethnic", "Percussive",
    "Sound Effects",
)

DRUM_COLOR = "#26184a"  # drum hits: a dark indigo, unlike any tab10/tab20 colour and unlike black text
_NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
_DPI = 100


def program_name(program: int) -> str:
    """General MIDI name of ``program`` (0..127), e.g. ``program_name(40) == "Violin"``."""
    p = int(program)
    if not 0 <= p < 128:
        raise ValueError(f"MIDI program must be 0..127, not {program!r}")
    return GM_PROGRAMS[p]


def program_family(program: int) -> str:
    """General MIDI instrument family of ``program``, e.g. ``program_family(40) == "Strings"``."""
    program_name(program)  # validates
    return GM_FAMILIES[int(program) // 8]


def program_choices() -> list[str]:
    """Every General MIDI program as "number name" ("73 Flute"), in program order: a list to
    choose from whose entries :func:`program_number` reads back."""
    return [f"{i} {name}" for i, name in enumerate(GM_PROGRAMS)]


def program_number(instrument) -> int:
    """The General MIDI program (0..127) that ``instrument`` names: "73 Flute", "73", 73,
    73.0 or "flute" (any case). Anything else is a ValueError naming it."""
    text = str(instrument).strip()
    m = re.match(r"(\d+)(\.0)?(\s|$)", text)
    names = [n.lower() for n in GM_PROGRAMS]
    if m and int(m.group(1)) < 128:
        return int(m.group(1))
    if not m and text.lower() in names:
        return names.index(text.lower())
    raise ValueError(f"instrument {instrument!r}: choose a General MIDI instrument from the list (0 to 127)")


DRUM_WORDS = ("drums", "drum kit", "drumkit", "percussion kit", "kit", "128")


def instrument_keys(instruments) -> list[int]:
    """A band: the program keys (0..127, 128 for drums) that ``instruments`` names, a list
    of :func:`program_number` names or one comma-separated string ("flute, 33, drums").
    Ascending, each once; a ValueError names any word that is not an instrument."""
    words = [w.strip() for w in instruments.split(",")] if isinstance(instruments, str) else list(instruments)
    keys = set()
    for w in words:
        if w in ("", None):
            continue
        if str(w).strip().lower() in DRUM_WORDS or str(w).strip().lower().startswith("128 "):
            keys.add(128)
        else:
            keys.add(_loose_program(w))
    if not keys:
        raise ValueError("no instruments named: give General MIDI names or numbers, or drums")
    return sorted(keys)


def _loose_program(word) -> int:
    """:func:`program_number`, or else the first General MIDI program whose name holds the
    word ("piano" -> 0 Acoustic Grand Piano, "bass" -> 32 Acoustic Bass)."""
    try:
        return program_number(word)
    except ValueError:
        w = str(word).strip().lower()
        hits = [i for i, name in enumerate(GM_PROGRAMS) if w and w in name.lower()]
        if not hits:
            raise
        return hits[0]


def key_name(key: int) -> str:
    """The name of a program key: "Drums" for 128, else :func:`program_name`."""
    return "Drums" if int(key) == 128 else program_name(key)


def note_name(pitch: int) -> str:
    """Scientific pitch name with MIDI 60 = C4, e.g. ``note_name(69) == "A4"``."""
    p = int(pitch)
    return f"{_NOTE_NAMES[p % 12]}{p // 12 - 1}"


def program_colors(programs: Iterable[int]) -> dict[int, tuple[float, float, float]]:
    """The RGB colour (0..1 floats) each pitched program gets, as :func:`pianoroll_png` draws it.

    Programs are coloured in ascending order from tab10 (up to 10 programs) or tab20 (more;
    its dark shades first, then the light ones), cycling past 20.
    """
    from matplotlib import colormaps

    progs = sorted({int(p) for p in programs})
    if len(progs) <= 10:
        palette = list(colormaps["tab10"].colors)
    else:
        tab20 = colormaps["tab20"].colors
        palette = list(tab20[0::2]) + list(tab20[1::2])
    return {p: tuple(float(c) for c in palette[i % len(palette)][:3]) for i, p in enumerate(progs)}


def _escape(text: str) -> str:
    # '$' would switch matplotlib to mathtext, whose parser is neither fast nor thread-safe.
    return text.replace("$", r"\$")


def _pitch_ticks(lo: int, hi: int) -> list[int]:
    ticks = [p for p in range(lo, hi + 1) if p % 12 == 0]
    if len(ticks) < 2:  # a narrow range: name every E and A too, so the axis is still readable
        ticks = [p for p in range(lo, hi + 1) if p % 12 in (0, 4, 9)] or [lo, hi]
    return ticks


def _draw(fig: Figure, score: Score, title: str | None, width_px: int, height_px: int) -> None:
    left, bottom = 52 / width_px, 40 / height_px
    top = 1 - (30 if title else 12) / height_px
    n = score.n_notes
    if n == 0:
        ax = fig.add_axes((left, bottom, 1 - left - 12 / width_px, top - bottom))
        ax.text(0.5, 0.5, "no notes", ha="center", va="center", fontsize=16, color="0.4",
                transform=ax.transAxes)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlabel("time (s)")
        ax.set_ylabel("pitch")
        if title:
            ax.set_title(_escape(title), fontsize=11)
        return

    t0 = score.seconds(score.start)
    t1 = score.seconds(np.maximum(score.end, score.start))
    pitch = score.pitch.astype(np.float64)
    drum = score.drum.astype(bool)
    pitched = ~drum
    t_end = max(float(t1.max()), float(t0.max()), 1e-3)

    handles: list = []
    colors = program_colors(score.program[pitched].tolist())
    for prog, rgb in colors.items():
        handles.append(Patch(facecolor=rgb, edgecolor="none", label=_escape(f"{prog} {GM_PROGRAMS[prog]}")))
    if drum.any():
        handles.append(Line2D([], [], marker="x", linestyle="none", color=DRUM_COLOR,
                              markersize=6, markeredgewidth=1.6, label="drums"))

    # Legend outside the plot on the right, its width estimated from the longest label
    # (a tight layout would cost more than the drawing itself).
    longest = max(len(h.get_label()) for h in handles)
    per_col = max(1, int((top - bottom) * height_px // 15))
    ncol = -(-len(handles) // per_col)
    legend_px = ncol * (28 + 6.3 * longest) + 10
    right = 1 - min(legend_px, 0.45 * width_px) / width_px

    ax = fig.add_axes((left, bottom, right - left, top - bottom))
    ax.set_axisbelow(True)
    ax.grid(True, color="0.88", linewidth=0.7)
    ax.set_facecolor("white")

    # Bars at least ~1 px wide so very short notes stay visible on a long piece.
    min_w = t_end * 1.02 / max(1.0, (right - left) * width_px)
    for prog, rgb in colors.items():
        m = pitched & (score.program == prog)
        a, b, y = t0[m], np.maximum(t1[m], t0[m] + min_w), pitch[m]
        verts = np.empty((a.shape[0], 4, 2))
        verts[:, 0, 0] = verts[:, 1, 0] = a
        verts[:, 2, 0] = verts[:, 3, 0] = b
        verts[:, 0, 1] = verts[:, 3, 1] = y - 0.4
        verts[:, 1, 1] = verts[:, 2, 1] = y + 0.4
        face = np.empty((a.shape[0], 4))
        face[:, :3] = rgb
        face[:, 3] = 0.45 + 0.55 * (score.velocity[m] / 127.0)  # louder = more opaque
        edge = tuple(0.6 * c for c in rgb)
        ax.add_collection(PolyCollection(verts, closed=True, facecolors=face, edgecolors=[edge],
                                         linewidths=0.4, antialiaseds=True, zorder=2))
    if drum.any():
        ax.scatter(t0[drum], pitch[drum], marker="x", s=18, c=DRUM_COLOR, linewidths=1.6, zorder=3)

    lo, hi = int(score.pitch.min()) - 2, int(score.pitch.max()) + 2
    ax.set_ylim(lo - 0.5, hi + 0.5)
    ticks = _pitch_ticks(lo, hi)
    ax.set_yticks(ticks, [note_name(p) for p in ticks])
    ax.set_xlim(0, t_end * 1.02)
    ax.set_xlabel("time (s)")
    ax.tick_params(labelsize=9)
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.005, 1.0), borderaxespad=0.0,
              fontsize=8, ncol=ncol, frameon=False, handlelength=1.2, handletextpad=0.5)
    if title:
        ax.set_title(_escape(title), fontsize=11)


def pianoroll_png(score_or_path: Score | str | os.PathLike, png_path: str | os.PathLike, *,
                  title: str | None = None, width_px: int = 1200, height_px: int = 420) -> Path:
    """Draw a piano roll of a :class:`Score` (or a MIDI file) to a PNG of exactly
    ``width_px`` x ``height_px`` pixels; return its path.

    Pitched notes are bars coloured by GM program (more opaque = louder), drums are
    ``DRUM_COLOR`` crosses at their onsets (y = drum note number). A score without notes
    gives a picture saying "no notes". A path is read with :func:`read_midi`, whose
    :class:`MidiError` propagates. The file is written atomically (``atomic_write``);
    missing parent folders are created.
    """
    width_px, height_px = int(width_px), int(height_px)
    if width_px < 200 or height_px < 120:
        raise ValueError(f"picture too small: {width_px}x{height_px} px (need at least 200x120)")
    score = score_or_path if isinstance(score_or_path, Score) else read_midi(score_or_path)
    fig = Figure(figsize=(width_px / _DPI, height_px / _DPI), dpi=_DPI, facecolor="white")
    canvas = FigureCanvasAgg(fig)
    _draw(fig, score, title, width_px, height_px)
    return atomic_write(png_path, lambda p: canvas.print_png(str(p)))

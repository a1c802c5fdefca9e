"""Known melodies -> audio, to measure transcription against a reference.

Two renderers of a monophonic :class:`~musicrnn.codec.melody.Melody`: FluidSynth
with the General MIDI SoundFont pretty_midi ships (any GM program), and Festival's
singing mode (a diphone voice singing one syllable per note).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from ..core.files import atomic_write
from .melody import Melody

SINGING_MODE_SCM = Path("/usr/share/festival/singing-mode.scm")
FESTIVAL_VOICES = {"kal": "voice_kal_diphone", "ked": "voice_ked_diphone"}
_NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


class SynthError(RuntimeError):
    """A renderer that cannot run here (missing program, voice or SoundFont); one line."""


def _monophonic(melody: Melody) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Notes sorted by onset, each cut at the next onset: onsets, offsets (s), pitches, velocities."""
    o = np.argsort(melody.onsets_s, kind="stable")
    on = np.asarray(melody.onsets_s, np.float64)[o]
    off = np.asarray(melody.offsets_s, np.float64)[o]
    off = np.minimum(off, np.concatenate([on[1:], [np.inf]]))
    return on, off, np.asarray(melody.pitches, np.int64)[o], np.asarray(melody.velocities, np.int64)[o]


def render_melody_fluidsynth(notes: Melody, sr: int = 22050, program: int = 0, tail_s: float = 0.5) -> np.ndarray:
    """FluidSynth rendering of ``notes`` with GM ``program``: float32 (samples,) at ``sr`` Hz.

    Uses the TimGM6mb.sf2 SoundFont found by :func:`musicrnn.render.soundfont_path`.
    The audio lasts until the last offset plus ``tail_s`` and peaks at -1 dBFS.
    Raises :class:`SynthError` when FluidSynth is unavailable (no silent sine fallback:
    a measurement must say what it measured).
    """
    import pretty_midi

    from ..render import fluidsynth_problem, soundfont_path

    problem = fluidsynth_problem()
    if problem is not None:
        raise SynthError(f"FluidSynth is unavailable ({problem}); install pyfluidsynth and libfluidsynth3")
    pm = pretty_midi.PrettyMIDI(initial_tempo=float(notes.tempo_qpm or 120.0))
    inst = pretty_midi.Instrument(program=int(program))
    for a, b, p, v in zip(*_monophonic(notes)):
        velocity = int(np.clip(v, 1, 127))
        inst.notes.append(pretty_midi.Note(velocity=velocity, pitch=int(p), start=float(a), end=float(max(b, a + 0.01))))
    pm.instruments.append(inst)
    y = np.asarray(pm.fluidsynth(fs=sr, synthesizer=str(soundfont_path())), np.float32)
    end = float(np.max(notes.offsets_s)) if notes.n_notes else 0.0
    n = int(round((end + tail_s) * sr))
    y = np.concatenate([y, np.zeros(max(0, n - y.size), np.float32)])[:n]
    peak = float(np.abs(y).max()) if y.size else 0.0
    return y * (0.89 / peak) if peak > 0 else y


def festival_note_name(pitch: int) -> str:
    """Festival's name for MIDI ``pitch``: its singing mode counts octaves from MIDI 0
    (``A5`` = MIDI 69 = 440 Hz), one higher than scientific pitch notation."""
    pitch = int(pitch)
    if not 12 <= pitch <= 119:
        raise ValueError(f"MIDI pitch {pitch} is outside what Festival's note names can spell (12-119)")
    return f"{_NOTE_NAMES[pitch % 12]}{pitch // 12}"


def festival_beat_divisor(scm: Path = SINGING_MODE_SCM) -> float:
    """Seconds-per-beat divisor Festival's singing mode uses: one beat lasts divisor / BPM s.

    Debian's singing-mode.scm reads ``(/ singing_bpm 50.0) ;; change this back to 60``,
    so a BPM of 60 would sing 1.2x too slowly; read the installed file, default 60.
    """
    try:
        m = re.search(r"singing_bps\s+\(/\s*singing_bpm\s+([0-9.]+)\)", scm.read_text())
    except OSError:
        return 60.0
    return float(m.group(1)) if m else 60.0


def festival_onset_offset(syllable: str, scm: Path = SINGING_MODE_SCM) -> float:
    """Seconds by which Festival starts a syllable before its note so that it is heard
    on time (``phoneme_offsets`` in singing-mode.scm, e.g. 0.03 for "l"); 0 if unknown.

    Festival applies it to every syllable but the first, so :func:`singing_xml` moves
    the first note earlier by it to keep all onsets consistent.
    """
    try:
        text = scm.read_text()
    except OSError:
        return 0.0
    block = text[text.find("(defvar phoneme_offsets"):]
    m = re.search(rf"\({re.escape(syllable[:1])}\s+([0-9.]+)\)", block)
    return float(m.group(1)) if m else 0.0


def singing_xml(notes: Melody, tempo: float, syllable: str = "la", divisor: float = 60.0,
                min_rest_s: float = 0.05, first_offset_s: float = 0.0) -> str:
    """Festival SINGING markup for ``notes``: one ``syllable`` per note, rests in the gaps.

    Durations are in beats of ``tempo`` qpm; the BPM attribute is scaled by
    ``divisor / 60`` so that Festival's clock gives each note its length in seconds.
    A gap shorter than ``min_rest_s`` is sung legato (the note before is lengthened):
    Festival turns every rest into a pause, and MIDI files often leave 1 ms gaps.
    The first note starts ``first_offset_s`` early when the leading rest allows it.
    """
    on, off, pitch, _ = _monophonic(notes)
    nxt = np.concatenate([on[1:], [np.inf]])
    off = np.where(nxt - off < min_rest_s, nxt, off)
    if on.size and on[0] >= first_offset_s:
        on = on.copy()
        on[0] -= first_offset_s
    beat = 60.0 / float(tempo)
    lines = [
        '<?xml version="1.0"?>',
        '<!DOCTYPE SINGING PUBLIC "-//SINGING//DTD SINGING mark up//EN" "Singing.v0_1.dtd" []>',
        f'<SINGING BPM="{tempo * divisor / 60.0:.6f}">',
    ]
    t = 0.0
    for a, b, p in zip(on.tolist(), off.tolist(), pitch.tolist()):
        if a - t > 1e-4:
            lines.append(f'<REST BEATS="{(a - t) / beat:.6f}"></REST>')
        note = f'<PITCH NOTE="{festival_note_name(p)}">{syllable}</PITCH>'
        lines.append(f'<DURATION BEATS="{(b - a) / beat:.6f}">{note}</DURATION>')
        t = b
    lines.append("</SINGING>")
    return "\n".join(lines) + "\n"


def sing_festival(notes: Melody, tempo: float | None = None, voice: str = "kal", syllable: str = "la",
                  timeout_s: float = 120.0) -> tuple[np.ndarray, int]:
    """``notes`` sung by Festival (``text2wave -mode singing``): float32 (samples,) and its rate.

    voice: "kal" or "ked" (the Debian diphone voices, 16 kHz). tempo: qpm for the
    score's beats (default ``notes.tempo_qpm``); it changes only how the XML reads,
    not the timing, which follows ``notes`` in seconds (see :func:`festival_beat_divisor`).
    Raises :class:`SynthError` when Festival or the voice is missing or fails.
    """
    import soundfile as sf

    if not re.fullmatch(r"[a-z]+", syllable):
        raise SynthError(f"syllable must be lower-case letters, not {syllable!r}")
    tempo = float(tempo or notes.tempo_qpm or 120.0)
    xml = singing_xml(notes, tempo, syllable, festival_beat_divisor(), first_offset_s=festival_onset_offset(syllable))
    with tempfile.TemporaryDirectory(prefix="musicrnn-festival-") as tmp:
        wav = festival_xml_to_wav(xml, voice, Path(tmp) / "song.wav", timeout_s)
        y, sr = sf.read(str(wav), dtype="float32", always_2d=True)
    return y.mean(axis=1), int(sr)


def festival_xml_to_wav(xml: str, voice: str, path, timeout_s: float = 120.0) -> Path:
    """Sing a Festival SINGING score (XML text) with ``voice`` ("kal" or "ked") into the
    WAV ``path`` (16 kHz; written atomically). :class:`SynthError` when Festival or the
    voice is missing or fails."""
    exe = shutil.which("text2wave")
    if exe is None:
        raise SynthError("Festival is not installed (no text2wave); "
                         "Debian: apt install festival festvox-kallpc16k festvox-kdlpc16k")
    if voice not in FESTIVAL_VOICES:
        raise SynthError(f"unknown Festival voice {voice!r}; choose from {', '.join(FESTIVAL_VOICES)}")
    with tempfile.TemporaryDirectory(prefix="musicrnn-festival-") as tmp:
        song, wav = Path(tmp) / "song.xml", Path(tmp) / "song.wav"
        song.write_text(xml)
        cmd = [exe, "-mode", "singing", "-eval", f"({FESTIVAL_VOICES[voice]})", str(song), "-o", str(wav)]
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, cwd=tmp)
        except subprocess.TimeoutExpired:
            raise SynthError(f"Festival took longer than {timeout_s:g} s") from None
        err = (r.stderr or "").strip().splitlines()
        if r.returncode != 0 or not wav.exists() or wav.stat().st_size <= 44:
            raise SynthError(f"Festival failed (exit {r.returncode}): {err[-1] if err else 'no output'}")
        if any("not defined" in line or "unbound variable" in line for line in err):
            raise SynthError(f"Festival voice {voice!r} is not installed: {err[-1]}")
        return atomic_write(path, lambda dest: shutil.move(str(wav), str(dest)))

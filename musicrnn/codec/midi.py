"""MIDI files <-> :class:`Score`, the codec's plain-array view of a piece.

Parsing and writing go through symusic (a C++ MIDI library, the backend of MidiTok):
it reads MIDI about 150x faster than mido/pretty_midi, which matters when a corpus
holds thousands of files. Everything above this module sees only :class:`Score`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import symusic

from ..core.files import atomic_write  # standard library only

MIDI_SUFFIXES = (".mid", ".midi", ".smf", ".kar")

# Bounds on what one MIDI file may turn into, applied where a file enters (load_midi_bytes),
# before anything is expanded: a 37-byte file can declare a note 268 million beats long.
# Real music lies far inside them (the shipped corpora and OpenMSX's 44 songs: notes of at
# most 40 quarter notes, pieces of at most 700 quarter notes and 18,000 tokens).
MAX_MIDI_BYTES = 16 * 2**20  # a file (the largest public piano MIDI files are about 1 MB)
MAX_NOTES = 250_000  # notes in one file
MAX_EVENTS = 100_000  # tempo and time-signature changes in one file
MAX_NOTE_QUARTERS = 128  # a longer note is cut to this length (32 bars of 4/4), and counted
MAX_PIECE_QUARTERS = 16_384  # the last note's end: 2.3 hours at 120 quarter notes a minute. A score
#   written back at 480 ticks a quarter stays under the 10^7 ticks that pretty_midi reads.


class MidiError(ValueError):
    """A MIDI file that cannot be used; ``str(err)`` is one line naming file and problem."""

    def __init__(self, path: str | os.PathLike | None, problem: str):
        self.path = None if path is None else str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}" if self.path else problem)


def _i64(x=()) -> np.ndarray:
    return np.asarray(x, dtype=np.int64)


@dataclass
class Score:
    """A piece as flat arrays, times in ticks of ``tpq`` ticks per quarter note.

    notes: ``start``, ``end``, ``pitch``, ``velocity``, ``program`` (0-127) and
    ``drum`` (bool) are parallel arrays of shape (n_notes,).
    tempos: ``tempo_time`` (ticks) and ``tempo_qpm`` (quarter notes per minute).
    time signatures: ``ts_time`` (ticks), ``ts_num``, ``ts_den``.
    """

    tpq: int
    start: np.ndarray = field(default_factory=_i64)
    end: np.ndarray = field(default_factory=_i64)
    pitch: np.ndarray = field(default_factory=_i64)
    velocity: np.ndarray = field(default_factory=_i64)
    program: np.ndarray = field(default_factory=_i64)
    drum: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    tempo_time: np.ndarray = field(default_factory=_i64)
    tempo_qpm: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float64))
    ts_time: np.ndarray = field(default_factory=_i64)
    ts_num: np.ndarray = field(default_factory=_i64)
    ts_den: np.ndarray = field(default_factory=_i64)
    notes_cut: int = 0  # notes longer than MAX_NOTE_QUARTERS, cut to that length when read

    @property
    def keys(self) -> np.ndarray:
        """Each note's instrument: its General MIDI program, 128 for drums (one kit)."""
        return np.where(self.drum, 128, self.program)

    def instruments(self) -> list[int]:
        """The instruments that play (``keys``), ascending, each once."""
        return sorted(set(self.keys.tolist()))

    @property
    def n_notes(self) -> int:
        return int(self.start.shape[0])

    def _tempo_segments(self):
        """(segment start ticks, seconds per tick, segment start seconds) of the tempo map
        (120 qpm before the first tempo)."""
        t0 = np.concatenate([[0], self.tempo_time]).astype(np.float64)
        sec_per_tick = 60.0 / (np.concatenate([[120.0], self.tempo_qpm]) * self.tpq)
        return t0, sec_per_tick, np.concatenate([[0.0], np.cumsum(np.diff(t0) * sec_per_tick[:-1])])

    def seconds(self, ticks: np.ndarray) -> np.ndarray:
        """Convert tick times to seconds through the tempo map (120 qpm before the first tempo)."""
        ticks = np.asarray(ticks, dtype=np.float64)
        t0, sec_per_tick, seg_start = self._tempo_segments()
        i = np.searchsorted(t0, ticks, side="right") - 1
        return seg_start[i] + (ticks - t0[i]) * sec_per_tick[i]

    def ticks(self, seconds: float) -> int:
        """The tick at ``seconds`` through the tempo map (the inverse of :meth:`seconds`), rounded down."""
        t0, sec_per_tick, seg_start = self._tempo_segments()
        i = int(np.searchsorted(seg_start, seconds, side="right") - 1)
        return int(np.floor(t0[i] + (seconds - seg_start[i]) / sec_per_tick[i] + 1e-9))

    NOTE_FIELDS = ("start", "end", "pitch", "velocity", "program", "drum")

    def _keep(self, mask: np.ndarray) -> None:
        for name in self.NOTE_FIELDS:
            setattr(self, name, getattr(self, name)[mask])

    def subset(self, mask: np.ndarray) -> "Score":
        """A copy holding only the notes where ``mask`` is True (tempos and metres kept)."""
        import copy

        out = copy.copy(self)
        out._keep(np.asarray(mask, bool))
        return out

    def cut_at(self, seconds: float) -> int:
        """End every note at ``seconds`` at the latest and drop notes that start there or
        later (in place); returns how many notes were shortened or dropped."""
        limit = self.ticks(seconds)
        over = int((self.end > limit).sum())
        self._keep(self.start < limit)
        self.end = np.minimum(self.end, limit)
        return over


def _from_symusic(s: symusic.Score) -> Score:
    cols = {k: [] for k in ("start", "end", "pitch", "velocity", "program", "drum")}
    for track in s.tracks:
        a = track.notes.numpy()
        n = a["time"].shape[0]
        if n == 0:
            continue
        start = a["time"].astype(np.int64)
        cols["start"].append(start)
        cols["end"].append(start + np.maximum(a["duration"].astype(np.int64), 0))
        cols["pitch"].append(a["pitch"].astype(np.int64) & 0x7F)
        cols["velocity"].append(np.clip(a["velocity"].astype(np.int64), 1, 127))
        cols["program"].append(np.full(n, int(track.program) & 0x7F, np.int64))
        cols["drum"].append(np.full(n, bool(track.is_drum)))
    arrays = {k: (np.concatenate(v) if v else None) for k, v in cols.items()}
    tempos = s.tempos.numpy()
    ts = s.time_signatures.numpy()
    score = Score(
        tpq=int(s.ticks_per_quarter),
        tempo_time=tempos["time"].astype(np.int64),
        tempo_qpm=60_000_000.0 / np.maximum(tempos["mspq"].astype(np.float64), 1.0),
        ts_time=ts["time"].astype(np.int64),
        ts_num=ts["numerator"].astype(np.int64),
        ts_den=ts["denominator"].astype(np.int64),
    )
    for k, v in arrays.items():
        if v is not None:
            setattr(score, k, v)
    return score


def bound(score: Score, path: str | os.PathLike | None = None) -> Score:
    """``score`` held inside the bounds above, before anything downstream expands it: notes
    longer than ``MAX_NOTE_QUARTERS`` are cut to it (counted in ``notes_cut``), tempo and
    metre changes after ``MAX_PIECE_QUARTERS`` are dropped (nothing sounds there); a file
    with too many notes or events, or whose music lasts longer, raises :class:`MidiError`."""
    if score.n_notes > MAX_NOTES:
        raise MidiError(path, f"{score.n_notes:,} notes; at most {MAX_NOTES:,} in one file")
    if score.tempo_time.size + score.ts_time.size > MAX_EVENTS:
        raise MidiError(path, f"{score.tempo_time.size + score.ts_time.size:,} tempo and time-signature changes; "
                              f"at most {MAX_EVENTS:,} in one file")
    tpq = score.tpq
    if min(score.start.min(initial=0), score.tempo_time.min(initial=0), score.ts_time.min(initial=0)) < 0:
        raise MidiError(path, "event times run past what a MIDI file can count (corrupt or hostile file)")
    longest = MAX_NOTE_QUARTERS * tpq
    too_long = score.end - score.start > longest
    if too_long.any():
        score.end = np.where(too_long, score.start + longest, score.end)
        score.notes_cut += int(too_long.sum())
    last = int(score.end.max(initial=0))
    if last > MAX_PIECE_QUARTERS * tpq:
        raise MidiError(path, f"its music lasts {last / tpq:,.0f} quarter notes (about {last / tpq / 120:,.0f} "
                              f"minutes at 120 a minute); at most {MAX_PIECE_QUARTERS:,} in one piece")
    for t, cols in (("tempo_time", ("tempo_time", "tempo_qpm")), ("ts_time", ("ts_time", "ts_num", "ts_den"))):
        keep = getattr(score, t) <= MAX_PIECE_QUARTERS * tpq
        if not keep.all():
            for c in cols:
                setattr(score, c, getattr(score, c)[keep])
    return score


def load_midi_bytes(data: bytes, path: str | os.PathLike | None = None) -> Score:
    """Parse MIDI bytes into a :class:`Score` held inside the bounds (:func:`bound`); raise
    :class:`MidiError` on anything unusable."""
    if len(data) == 0:
        raise MidiError(path, "empty file (0 bytes)")
    if len(data) > MAX_MIDI_BYTES:
        raise MidiError(path, f"{len(data) / 2**20:.1f} MB; a MIDI file may have at most {MAX_MIDI_BYTES // 2**20} MB")
    if data[:4] != b"MThd":
        raise MidiError(path, "not a MIDI file (it does not start with the 'MThd' header)")
    try:
        s = symusic.Score.from_midi(data)
    except Exception as e:  # symusic raises RuntimeError with a parser message
        msg = str(e).replace("MiniMidi: ", "").replace(": iostream error", "").strip()
        raise MidiError(path, f"corrupt MIDI file ({msg})") from None
    if s.ticks_per_quarter <= 0:
        raise MidiError(path, "unsupported MIDI timing (SMPTE time division)")
    score = _from_symusic(s)
    if score.n_notes == 0:
        raise MidiError(path, "the MIDI file contains no notes")
    return bound(score, path)


def read_midi(path: str | os.PathLike) -> Score:
    """Read a MIDI file. Errors come as :class:`MidiError` with a one-line message."""
    p = Path(path)
    try:
        if p.is_file() and p.stat().st_size > MAX_MIDI_BYTES:  # refused before it is read
            raise MidiError(p, f"{p.stat().st_size / 2**20:.1f} MB; a MIDI file may have at most "
                               f"{MAX_MIDI_BYTES // 2**20} MB")
        data = p.read_bytes()
    except IsADirectoryError:
        raise MidiError(p, "is a folder, not a MIDI file") from None
    except FileNotFoundError:
        raise MidiError(p, "no such file") from None
    except OSError as e:
        raise MidiError(p, f"cannot be read ({e.strerror})") from None
    return load_midi_bytes(data, p)


def to_symusic(score: Score) -> symusic.Score:
    """Build a symusic score: one track per (program, drum) pair, in first-appearance order."""
    s = symusic.Score(score.tpq)
    for t, q in zip(score.tempo_time.tolist(), score.tempo_qpm.tolist()):
        s.tempos.append(symusic.Tempo(int(t), qpm=float(q)))
    for t, n, d in zip(score.ts_time.tolist(), score.ts_num.tolist(), score.ts_den.tolist()):
        s.time_signatures.append(symusic.TimeSignature(int(t), int(n), int(d)))
    key = (score.program + 128 * score.drum.astype(np.int64)) * 1024 + _layers(score)
    _, first = np.unique(key, return_index=True)
    for k in key[np.sort(first)].tolist():
        m = key == k
        program, drum = k // 1024 % 128, k // 1024 >= 128
        track = symusic.Track("Drums" if drum else f"Program {program}", program, drum)
        track.notes = symusic.Note.from_numpy(
            score.start[m].astype(np.int32),
            (score.end[m] - score.start[m]).astype(np.int32),
            score.pitch[m].astype(np.int8),
            score.velocity[m].astype(np.int8),
        )
        s.tracks.append(track)
    if not s.tracks:  # a file with no track chunk trips some readers: keep one, empty
        s.tracks.append(symusic.Track("Program 0", 0, False))
    return s


def _layers(score: Score) -> np.ndarray:
    """Track layer per note: 0, or higher where a same-pitch note of the same instrument overlaps.

    One MIDI channel cannot hold two sounding notes of one pitch (a reader pairs the
    note-offs the wrong way), so overlapping ones go to extra tracks of the same program.
    """
    layer = np.zeros(score.n_notes, np.int64)
    inst = score.program + 128 * score.drum.astype(np.int64)
    o = np.lexsort((score.start, score.pitch, inst))
    same = (inst[o][1:] == inst[o][:-1]) & (score.pitch[o][1:] == score.pitch[o][:-1])
    if not np.any(same & (score.start[o][1:] < score.end[o][:-1])):
        return layer
    ends: dict[tuple[int, int], list[int]] = {}
    for i in o.tolist():  # rare: only files with overlapping unisons get here
        lanes = ends.setdefault((int(inst[i]), int(score.pitch[i])), [])
        free = next((j for j, e in enumerate(lanes) if e <= score.start[i]), len(lanes))
        if free == len(lanes):
            lanes.append(0)
        lanes[free] = int(score.end[i])
        layer[i] = min(free, 1023)
    return layer


def midi_bytes(score: Score) -> bytes:
    return bytes(to_symusic(score).dumps_midi())


def write_midi(score: Score, path: str | os.PathLike) -> Path:
    """Write ``score`` as a standard MIDI file, atomically (temp file, then rename)."""
    p = Path(path)
    if p.is_dir():
        raise IsADirectoryError(21, "is a folder; give a file name", str(p))
    for up in p.parents:  # the nearest existing ancestor must be a folder
        if up.exists():
            if not up.is_dir():
                raise NotADirectoryError(20, "is a file, not a folder", str(up))
            break
    return atomic_write(p, lambda tmp: tmp.write_bytes(midi_bytes(score)))


def iter_midi_files(paths, suffixes: tuple[str, ...] = MIDI_SUFFIXES) -> list[Path]:
    """Every MIDI file named or found (recursively, sorted) under ``paths``; with
    ``suffixes`` (lower case, with the dot), every file of those kinds instead."""
    found: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found.extend(sorted(f for f in path.rglob("*") if f.is_file() and f.suffix.lower() in suffixes))
        else:
            found.append(path)
    return found

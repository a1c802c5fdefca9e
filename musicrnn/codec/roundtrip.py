"""Round-trip checking: how many notes survive MIDI -> tokens -> MIDI.

A note *matches* when the decoded file holds a note of the same pitch, program and
drum flag whose onset and offset are each within one grid step (in beats) of the
original's and whose velocity falls in the same velocity bin.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np

from .midi import MidiError, Score, iter_midi_files, load_midi_bytes, midi_bytes, read_midi
from .tokens import decode, encode, quantize
from .vocab import Vocab


def _keys(score: Score, on: np.ndarray, off: np.ndarray, vocab: Vocab) -> np.ndarray:
    """One int64 per note packing drum, program, pitch, velocity bin, grid onset and length."""
    vb = vocab.velocity_bin(score.velocity)
    program = np.where(score.drum, 0, score.program)  # drum kits count as one instrument
    head = ((score.drum.astype(np.int64) * 128 + program) * 128 + score.pitch) * 16 + vb
    return (head << 40) | (on << 20) | np.minimum(off - on, (1 << 20) - 1)


def count_matched(original: Score, decoded: Score, vocab: Vocab) -> int:
    """Number of ``original`` notes that have a matching note in ``decoded`` (one-to-one)."""
    g = vocab.cfg.resolution
    q_on, q_off = quantize(original, g)
    raw_on = original.start * g / original.tpq
    raw_off = original.end * g / original.tpq
    ok = (np.abs(q_on - raw_on) <= 1 + 1e-9) & (np.abs(q_off - raw_off) <= 1 + 1e-9)
    d_on, d_off = quantize(decoded, g)  # decoded notes sit on the grid already
    k_orig, c_orig = np.unique(_keys(original, q_on, q_off, vocab)[ok], return_counts=True)
    k_dec, c_dec = np.unique(_keys(decoded, d_on, d_off, vocab), return_counts=True)
    _, i, j = np.intersect1d(k_orig, k_dec, assume_unique=True, return_indices=True)
    return int(np.minimum(c_orig[i], c_dec[j]).sum())


@dataclass
class FileResult:
    notes: int
    matched: int
    tokens: int
    invalid_tokens: int


def roundtrip_score(score: Score, vocab: Vocab) -> FileResult:
    """Encode, decode, write real MIDI bytes, parse them again, and count matched notes."""
    ids = encode(score, vocab)
    dec = decode(ids, vocab)
    reread = load_midi_bytes(midi_bytes(dec.score), "<decoded>") if dec.score.n_notes else dec.score
    return FileResult(score.n_notes, count_matched(score, reread, vocab), len(ids), dec.n_invalid)


@dataclass
class CheckReport:
    files: int = 0
    unreadable: int = 0
    notes: int = 0
    matched: int = 0
    tokens: int = 0
    invalid_tokens: int = 0
    seconds: float = 0.0
    unreadable_files: list = field(default_factory=list)

    @property
    def match_rate(self) -> float:
        return self.matched / self.notes if self.notes else 0.0

    def summary(self) -> dict:
        d = asdict(self)
        d.pop("unreadable_files")
        d["match_rate"] = round(self.match_rate, 6)
        d["seconds"] = round(self.seconds, 3)
        return d


def check_paths(paths, vocab: Vocab | None = None, progress=None) -> CheckReport:
    """Round-trip every MIDI file under ``paths``; unreadable ones are counted and named.

    ``progress`` wraps the file list (e.g. ``tqdm``) when given.
    """
    vocab = vocab or Vocab()
    files = iter_midi_files(paths)
    rep = CheckReport()
    t0 = time.perf_counter()
    for path in progress(files) if progress else files:
        rep.files += 1
        try:
            score = read_midi(path)
        except MidiError as e:
            rep.unreadable += 1
            rep.unreadable_files.append(str(e))
            continue
        r = roundtrip_score(score, vocab)
        rep.notes += r.notes
        rep.matched += r.matched
        rep.tokens += r.tokens
        rep.invalid_tokens += r.invalid_tokens
    rep.seconds = time.perf_counter() - t0
    return rep

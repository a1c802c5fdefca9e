"""What the corpus builders share: music21's ABC tune books and abc2midi, run the same way
for ``corpora/folk`` (:mod:`musicrnn.corpora`) and ``corpora/band`` (:mod:`musicrnn.bandcorpus`)."""

from __future__ import annotations

import io
import re
import subprocess
import warnings
from dataclasses import dataclass
from pathlib import Path

BAND = "band"
ABC_COLLECTIONS = ("essenFolksong", "oneills1850", "ryansMammoth", "airdsAirs")
ABC2MIDI = "abc2midi"
ABC2MIDI_FLAGS = ("-silent", "-quiet")
ABC2MIDI_TIMEOUT_S = 60
X_FIELD = re.compile(r"^X:\s*(\d+)", re.MULTILINE)


@dataclass
class Result:
    """What a task wrote: (file name, size in bytes) pairs, and tunes skipped."""

    collection: str
    written: list[tuple[str, int]]
    skipped: int


def corpus_dir() -> Path:
    """The folder of music21's bundled corpus."""
    from music21 import common

    return Path(common.getCorpusFilePath())


def progress_bar(total: int, enabled: bool):
    """A tqdm bar, or a silent stand-in when disabled or tqdm is missing."""
    try:
        from tqdm import tqdm
    except ImportError:
        enabled, tqdm = False, None
    if enabled:
        return tqdm(total=total, unit="file", desc="corpora")

    class _NoBar:
        def update(self, n: int = 1) -> None: ...
        def close(self) -> None: ...

    return _NoBar()


def abc2midi_all(book: bytes, tmp: Path) -> dict[int, bytes]:
    """Run abc2midi on a whole tune book; returns {X number: MIDI bytes}.

    The book is copied to a fixed name (``t.abc``) so that abc2midi's output
    names (``t<X>.mid``) are predictable and no source path leaks into them.
    """
    (tmp / "t.abc").write_bytes(book)
    call_abc2midi(tmp, [])
    return {int(p.stem[1:]): p.read_bytes() for p in tmp.glob("t[0-9]*.mid")}


def abc2midi_one(tmp: Path, number: int) -> bytes | None:
    """Retry a single tune (e.g. after abc2midi aborted mid-book)."""
    out = tmp / "single.mid"
    out.unlink(missing_ok=True)
    call_abc2midi(tmp, [str(number), "-o", out.name])
    return out.read_bytes() if out.exists() else None


def call_abc2midi(cwd: Path, args: list[str]) -> None:
    """Run abc2midi on ``t.abc`` in ``cwd``, silently; failures are ignored."""
    try:
        subprocess.run(
            [ABC2MIDI, "t.abc", *args, *ABC2MIDI_FLAGS],
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=ABC2MIDI_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pass


def count_notes(data: bytes) -> int:
    """Number of notes pretty_midi reads from MIDI bytes (0 if it cannot)."""
    import pretty_midi

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            midi = pretty_midi.PrettyMIDI(io.BytesIO(data))
    except Exception:  # pretty_midi/mido raise assorted errors on bad files
        return 0
    return sum(len(instrument.notes) for instrument in midi.instruments)

"""Uploaded files (MIDI files and/or zip archives) -> one flat folder of MIDI files.

Called by the web page with the paths of the uploaded temporary files. Nothing an
upload says about itself is trusted: zip member names may try to leave the folder
(``../../x.mid``, ``/etc/x.mid``, ``C:\\x.mid``), declared sizes may lie, and a small
archive may inflate to gigabytes. So members are never extracted by name: each one is
streamed through ``zf.open`` into a sanitised flat name directly inside ``dest``,
counting the bytes actually read against a per-file and a per-job limit.
:func:`keep_readable` then keeps the files that read as MIDI.
"""

from __future__ import annotations

import os
import re
import stat
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from musicrnn.codec.midi import MIDI_SUFFIXES

MAX_FILES = 5000  # MIDI files accepted per job
MAX_FILE_BYTES = 10 * 2**20  # one MIDI file (uncompressed)
MAX_TOTAL_BYTES = 200 * 2**20  # all MIDI of a job together (uncompressed)
MAX_RATIO = 200  # uncompressed/compressed size of a zip member above this is refused
MAX_SKIPPED_LINES = 50  # skipped reasons listed one by one; the rest are only counted
MAX_NAME = 120  # characters in a written file name
_CHUNK = 2**20
# What reading a damaged upload or zip member can raise (zipfile is not consistent).
_READ_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError,
                RuntimeError, ValueError)


class UploadError(ValueError):
    """Nothing usable was uploaded; str() is one readable line for the page."""


@dataclass
class Collected:
    folder: Path  # where the MIDI files were written (== dest)
    files: list[str] = field(default_factory=list)  # names written, relative to folder
    skipped: list[str] = field(default_factory=list)  # "<name as uploaded>: <reason>"


def _mb(n: int) -> str:
    return f"{n / 2**20:.3g} MB"


def _show(name: str) -> str:
    """A name as uploaded, made safe to print on one line."""
    return "".join(c if c.isprintable() else "?" for c in name)[:200]


def _suffix(name: str) -> str:
    return PurePosixPath(name.replace("\\", "/")).suffix.lower()


def safe_name(raw: str) -> str:
    """Flatten a (possibly hostile) path into one file name of [A-Za-z0-9._-]:
    ``../../x.mid`` -> ``x.mid``, ``a/b/c.mid`` -> ``a__b__c.mid``."""
    parts = [p for p in PurePosixPath(raw.replace("\\", "/")).parts
             if p.strip("/") not in ("", ".", "..")]  # drops '/', '//', '.', '..'
    if parts and re.fullmatch(r"[A-Za-z]:", parts[0]):  # Windows drive: 'C:\x.mid'
        parts = parts[1:]
    name = "__".join(re.sub(r"[^A-Za-z0-9._-]", "_", p) for p in parts) or "upload"
    if name.startswith("."):  # no hidden files ('.x.mid'), and never '.' or '..'
        name = "_" + name[1:]
    suffix = PurePosixPath(name).suffix
    suffix = suffix if len(suffix) <= 10 else ""
    return name if len(name) <= MAX_NAME else name[: MAX_NAME - len(suffix)] + suffix


class _Collector:
    def __init__(self, dest, max_files: int, max_file_bytes: int, max_total_bytes: int):
        self.dest = Path(dest)
        self.dest.mkdir(parents=True, exist_ok=True)
        self.root = self.dest.resolve()
        self.max_files, self.max_file_bytes, self.max_total_bytes = max_files, max_file_bytes, max_total_bytes
        self.result = Collected(self.dest)
        self.total = 0  # bytes written so far
        self.used: set[str] = set()  # lower-cased: safe on case-insensitive file systems
        self.hidden = self.unused = self.empty = 0

    def skip(self, shown: str, reason: str) -> None:
        if len(self.result.skipped) < MAX_SKIPPED_LINES:
            self.result.skipped.append(f"{_show(shown)}: {reason}")
        else:
            self.hidden += 1

    def fail(self, message: str):
        """Stop the job, removing what this call wrote so a refused job leaves no half set."""
        for name in self.result.files:
            (self.dest / name).unlink(missing_ok=True)
        raise UploadError(message)

    def claim(self, name: str) -> str:
        """``name``, or ``stem_2.mid``, ``stem_3.mid``... if taken (in this job or on disk)."""
        suffix = PurePosixPath(name).suffix
        stem, candidate, k = name[: len(name) - len(suffix)], name, 1
        while candidate.lower() in self.used or os.path.lexists(self.dest / candidate):
            k += 1
            candidate = f"{stem[: MAX_NAME - len(suffix) - len(str(k)) - 1]}_{k}{suffix}"
        self.used.add(candidate.lower())
        return candidate

    def add(self, src, shown: str, raw: str) -> None:
        """Stream one MIDI candidate (an open binary file) into dest, within the limits."""
        if len(self.result.files) >= self.max_files:
            self.unused += 1
            return
        try:
            head = src.read(4)
        except _READ_ERRORS as e:
            return self.skip(shown, f"damaged ({e})")
        if not head:
            return self.skip(shown, "empty file (0 bytes)")
        if head != b"MThd":
            return self.skip(shown, "not a MIDI file (no MThd header)")
        name = self.claim(safe_name(raw))
        target = self.dest / name
        if target.resolve().parent != self.root:  # cannot happen after safe_name; belt and braces
            return self.skip(shown, "unsafe file name")
        size, problem = len(head), None
        with open(target, "xb") as out:  # 'x': never overwrite, never follow a planted link
            out.write(head)
            while problem is None:
                try:
                    chunk = src.read(_CHUNK)
                except _READ_ERRORS as e:
                    problem = f"damaged ({e})"
                    break
                if not chunk:
                    break
                size += len(chunk)  # bytes actually read, whatever the zip declared
                if size > self.max_file_bytes:
                    problem = f"larger than the {_mb(self.max_file_bytes)} limit for one file"
                elif self.total + size > self.max_total_bytes:
                    problem = "total"
                else:
                    out.write(chunk)
        if problem:
            target.unlink()
            self.used.discard(name.lower())
            if problem == "total":
                self.fail(f"the uploads hold more than {_mb(self.max_total_bytes)} of MIDI, "
                          f"the limit per job")
            return self.skip(shown, problem)
        self.total += size
        self.result.files.append(name)

    def upload(self, path) -> None:
        path = Path(path)
        shown = path.name or str(path)  # uploads keep the user's file name as basename
        try:
            with open(path, "rb") as f:
                head = f.read(4)
            # A MIDI file is never taken for a zip (is_zipfile looks for a trailer anywhere).
            is_zip = head != b"MThd" and zipfile.is_zipfile(path)
        except OSError as e:
            return self.skip(shown, f"could not be read ({e.strerror or e})")
        if is_zip:
            return self.archive(path, shown)
        if _suffix(shown) not in MIDI_SUFFIXES:
            return self.skip(shown, "not a MIDI file or zip archive")
        with open(path, "rb") as f:
            self.add(f, shown, shown)

    def archive(self, path: Path, shown: str) -> None:
        try:
            zf = zipfile.ZipFile(path)
        except _READ_ERRORS as e:
            return self.skip(shown, f"not a readable zip archive ({e})")
        with zf:
            infos = zf.infolist()
            declared = sum(i.file_size for i in infos)
            if declared > 4 * self.max_total_bytes:
                self.fail(f"{_show(shown)}: the archive claims {_mb(declared)} once unpacked, "
                          f"more than {_mb(4 * self.max_total_bytes)} (zip bomb?)")
            members = [i for i in infos if not (i.is_dir() or stat.S_ISDIR(i.external_attr >> 16))]
            if not members:
                self.empty += 1
                return self.skip(shown, "the zip archive is empty")
            for info in members:
                self.member(zf, info, f"{shown}/{info.filename}")

    def member(self, zf: zipfile.ZipFile, info: zipfile.ZipInfo, shown: str) -> None:
        mode = info.external_attr >> 16  # Unix mode, when the zip was made on Unix
        if stat.S_ISLNK(mode):
            return self.skip(shown, "a link")
        if stat.S_IFMT(mode) not in (0, stat.S_IFREG):
            return self.skip(shown, "not a regular file")
        if _suffix(info.filename) not in MIDI_SUFFIXES:
            return self.skip(shown, "not a MIDI file")
        if info.flag_bits & 0x1:
            return self.skip(shown, "encrypted")
        # Declared sizes are checked up front only to refuse early; add() counts real bytes.
        ratio = info.file_size / max(info.compress_size, 1)
        if ratio > MAX_RATIO:
            return self.skip(shown, f"compression ratio {ratio:.0f}:1 looks like a zip bomb")
        if info.file_size > self.max_file_bytes:
            return self.skip(shown, f"{_mb(info.file_size)}, over the {_mb(self.max_file_bytes)} "
                                    f"limit for one file")
        try:
            src = zf.open(info)
        except _READ_ERRORS as e:
            return self.skip(shown, f"damaged ({e})")
        with src:
            self.add(src, shown, info.filename)


def collect_midi(uploads: list[str | os.PathLike], dest: str | os.PathLike, *, max_files: int = MAX_FILES,
                 max_file_bytes: int = MAX_FILE_BYTES, max_total_bytes: int = MAX_TOTAL_BYTES) -> Collected:
    """Write the MIDI files among ``uploads`` (MIDI files and zip archives of them) flat into
    ``dest`` (created if missing). Raises :class:`UploadError` when nothing usable remains or
    a job-wide limit is exceeded; what was skipped, and why, is in ``Collected.skipped``."""
    uploads = [u for u in (uploads or []) if u]
    if not uploads:
        raise UploadError("no files uploaded")
    c = _Collector(dest, max_files, max_file_bytes, max_total_bytes)
    for upload in uploads:
        c.upload(upload)
    skipped = c.result.skipped
    if c.unused:
        skipped.append(f"{c.unused} more MIDI file(s) not used: the limit is {max_files} per job")
    if c.hidden:
        skipped.append(f"... and {c.hidden} more skipped")
    if not c.result.files:
        if c.empty and c.empty == len(skipped):  # only empty archives were uploaded
            raise UploadError("; ".join(skipped))
        raise UploadError(f"no MIDI files among the uploads ({'; '.join(skipped[:3]) or 'nothing usable'})")
    return c.result


def keep_readable(got: Collected) -> tuple[list[str], list[str]]:
    """Read each MIDI file that :func:`collect_midi` wrote and delete the ones that cannot be
    read. Returns (the usable file names, every skipped reason: ``got.skipped`` and then one
    "<name>: <problem>" per unreadable file); raises :class:`UploadError` when none is usable."""
    from musicrnn.codec import MidiError, read_midi

    skipped = list(got.skipped)
    usable = []
    for name in list(got.files):
        try:
            read_midi(got.folder / name)
            usable.append(name)
        except MidiError as e:
            skipped.append(f"{name}: {e.problem}")
            (got.folder / name).unlink(missing_ok=True)
    if not usable:
        raise UploadError("none of the uploaded MIDI files could be read: " + "; ".join(skipped[:3]))
    return usable, skipped

"""Reproducible builder for the MIDI corpora shipped with musicrnn.

Two kinds of source material are taken from music21's bundled corpus:

* ``chorales``: the Bach chorales in Riemenschneider order, converted with
  music21 (one MIDI track per voice, plus music21's conductor track holding
  the tempo, key and time signatures).
* ``folk/<collection>``: the ABC tune books essenFolksong, oneills1850,
  ryansMammoth and airdsAirs, converted with ``abc2midi`` (one MIDI file per
  ``X:`` tune).

* ``band``: folk tunes from those books arranged for a small band (melody,
  drums, bass, comping) with the grooves of MMA (Musical MIDI Accompaniment);
  see :mod:`musicrnn.bandcorpus`.  Built only when asked for
  (``collections=("band",)``, or ``python -m musicrnn.corpora --collections band``),
  because it needs the ``mma`` executable.

Every output is checked with pretty_midi; files that fail to load or contain
no notes are not written.  Output file names and bytes depend only on the
music21 corpus and the converter versions, so rebuilding gives identical files.

music21, pretty_midi and tqdm are imported lazily so that this module can be
imported without them.
"""

from __future__ import annotations

import json
import multiprocessing
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .abcbooks import ABC2MIDI, ABC_COLLECTIONS, BAND, X_FIELD as _X_FIELD, Result as _Result
from .abcbooks import abc2midi_all as _abc2midi_all, abc2midi_one as _abc2midi_one, corpus_dir as _corpus_dir
from .abcbooks import count_notes as _count_notes, progress_bar as _progress_bar

CHORALES = "chorales"
FOLK = "folk"
ALL_COLLECTIONS = (CHORALES, FOLK, BAND)
DEFAULT_COLLECTIONS = (CHORALES, FOLK)  # band needs mma, so it is built only on request
CHORALE_SOURCE = "music21/corpus/bach (corpus.chorales.Iterator, numberingSystem='riemenschneider')"


@dataclass(frozen=True)
class _Task:
    """One unit of work: a chorale (music21 work name) or one ABC file."""

    collection: str  # "chorales" or "folk/<name>"
    source: str  # music21 corpus work name, or path of an .abc file
    stem: str  # stem of the output file name(s)


def build_corpora(
    out_dir: Path,
    *,
    jobs: int = 2,
    limit: int | None = None,
    progress: bool = True,
    collections: tuple[str, ...] | list[str] = DEFAULT_COLLECTIONS,
) -> dict:
    """Regenerate corpora under ``out_dir`` and update ``manifest.json``.

    ``collections`` picks what to build, among ``"chorales"``, ``"folk"`` and
    ``"band"`` (default: chorales and folk).  Existing ``*.mid`` files in the
    built collection folders are deleted first, so the folders hold exactly
    what this build produced; the manifest entries of collections not built
    are kept.  ``jobs`` worker processes do the conversion; ``limit`` caps the
    number of source files (chorales, or ABC files) per collection, or for
    ``band`` the number of tunes arranged per folk collection, for quick trial
    runs.

    Returns a summary: per-collection ``files``, ``skipped``, ``duplicates``
    and ``bytes``, plus the totals of each.
    """
    out_dir = Path(out_dir)
    unknown = set(collections) - set(ALL_COLLECTIONS)
    if unknown or not collections:
        raise ValueError(f"collections must be among {ALL_COLLECTIONS}, got {list(collections)}")
    if shutil.which(ABC2MIDI) is None:
        raise RuntimeError("abc2midi not found; install it (Debian: apt install abcmidi)")
    names: list[str] = []
    results: list[_Result] = []
    duplicates: dict[str, int] = {}
    extra: dict[str, dict] = {}
    if CHORALES in collections or FOLK in collections:
        tasks, duplicates = _all_tasks(limit)
        names = ([CHORALES] if CHORALES in collections else []) + (
            [f"folk/{name}" for name in ABC_COLLECTIONS] if FOLK in collections else [])
        tasks = [t for t in tasks if t.collection in names]
        _clean(out_dir, names)
        results = _run_tasks(tasks, out_dir, jobs, progress)
    if BAND in collections:
        from .bandcorpus import build_band_collection

        _clean(out_dir, [BAND])
        result, extra[BAND] = build_band_collection(out_dir / BAND, jobs=jobs, limit=limit, progress=progress)
        names.append(BAND)
        results.append(result)
    summary = _summarise(names, results, duplicates)
    for name, info in extra.items():
        summary["collections"][name].update(info)
    _write_manifest(out_dir, summary)
    return summary


def _all_tasks(limit: int | None) -> tuple[list[_Task], dict[str, int]]:
    """All tasks, chorales (the slow ones) first, and duplicate counts."""
    chorale_tasks, chorale_dups = _chorale_tasks(limit)
    abc_tasks = [t for name in ABC_COLLECTIONS for t in _abc_tasks(name, limit)]
    return chorale_tasks + abc_tasks, {CHORALES: chorale_dups}


def _chorale_tasks(limit: int | None) -> tuple[list[_Task], int]:
    """Tasks for the Riemenschneider chorales, and how many were duplicates.

    The Riemenschneider numbering lists some chorales twice (same music21
    source file); only the first occurrence is kept.
    """
    from music21 import corpus

    names = corpus.chorales.Iterator(
        numberingSystem="riemenschneider", returnType="filename"
    )
    tasks, seen, dups = [], set(), 0
    for number, name in enumerate(names, start=1):
        if limit is not None and len(tasks) >= limit:
            break
        if name in seen:
            dups += 1
            continue
        seen.add(name)
        stem = f"riemenschneider{number:03d}_{name.split('/')[-1]}"
        tasks.append(_Task(CHORALES, name, stem))
    return tasks, dups


def _chorale_source(name: str) -> Path:
    """The corpus file for a chorale work name such as ``bach/bwv277``.

    A name can match several files (``bwv277.krn`` and ``bwv277.mxl``;
    ``bwv190.7.mxl`` and the orchestral ``bwv190.7-inst.mxl``; also other
    works, e.g. ``bwv244.32`` for ``bwv244.3``).  Keep the same work (exact
    stem or ``<stem>-<variant>``), prefer MusicXML over Humdrum, then the
    setting with the fewest parts (the plain four-part chorale), then the
    exact stem.  music21's own ``corpus.parse`` would just take the first.
    """
    from music21 import converter, corpus

    found = corpus.getWork(name)
    if not isinstance(found, list):
        return Path(found)
    stem = name.split("/")[-1]
    same = [Path(p) for p in found if Path(p).stem == stem or Path(p).stem.startswith(stem + "-")]
    same = same or [Path(p) for p in found]

    def rank(path: Path) -> tuple:
        parts = len(converter.parse(path).parts)
        return (path.suffix == ".krn", parts, path.stem != stem, path.name)

    return min(same, key=rank)


def _abc_tasks(name: str, limit: int | None) -> list[_Task]:
    """One task per ``.abc`` file of a music21 corpus folder, sorted by name."""
    files = sorted(_corpus_dir().joinpath(name).glob("*.abc"))
    return [_Task(f"folk/{name}", str(f), f.stem) for f in files][:limit]


def _clean(out_dir: Path, collections: list[str]) -> None:
    """Create the collection folders and delete stale ``*.mid`` files."""
    for collection in collections:
        folder = out_dir / collection
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob("*.mid"):
            stale.unlink()


def _run_tasks(tasks: list[_Task], out_dir: Path, jobs: int, progress: bool) -> list[_Result]:
    """Run all tasks on ``jobs`` processes (in-process if jobs <= 1)."""
    args = [(task, out_dir) for task in tasks]
    bar = _progress_bar(len(args), progress)
    results = []
    if jobs <= 1:
        for arg in args:
            results.append(_run_task(arg))
            bar.update()
    else:
        with multiprocessing.Pool(jobs) as pool:
            for result in pool.imap_unordered(_run_task, args, chunksize=1):
                results.append(result)
                bar.update()
    bar.close()
    return results


def _run_task(arg: tuple[_Task, Path]) -> _Result:
    """Pool entry point: convert one source and write its MIDI files."""
    task, out_dir = arg
    dest = out_dir / task.collection
    if task.collection == CHORALES:
        midis, skipped = _convert_chorale(task)
    else:
        midis, skipped = _convert_abc_file(task)
    written = []
    for name, data in midis:
        (dest / name).write_bytes(data)
        written.append((name, len(data)))
    return _Result(task.collection, written, skipped)


def _convert_chorale(task: _Task) -> tuple[list[tuple[str, bytes]], int]:
    """Convert one chorale with music21; returns ([(name, bytes)], skipped)."""
    try:
        data = _chorale_midi(task.source)
    except Exception:  # music21 raises many exception types on bad input
        return [], 1
    if _count_notes(data) == 0:
        return [], 1
    return [(f"{task.stem}.mid", data)], 0


def _chorale_midi(name: str) -> bytes:
    """MIDI bytes of a chorale: one track per part, repeats expanded."""
    from music21 import converter
    from music21.midi.translate import music21ObjectToMidiFile

    return music21ObjectToMidiFile(converter.parse(_chorale_source(name))).writestr()


def _convert_abc_file(task: _Task) -> tuple[list[tuple[str, bytes]], int]:
    """Convert every tune of one ABC file; returns ([(name, bytes)], skipped).

    Output names are ``<abc stem>_<X number>.mid``.  Tunes that abc2midi
    cannot convert, or whose MIDI has no notes, are counted as skipped.
    """
    book = Path(task.source).read_bytes()
    numbers = sorted({int(x) for x in _X_FIELD.findall(book.decode("latin-1"))})
    with tempfile.TemporaryDirectory() as tmp:
        outputs = _abc2midi_all(book, Path(tmp))
        midis = []
        for number in numbers:
            data = outputs.get(number) or _abc2midi_one(Path(tmp), number)
            if data and _count_notes(data) > 0:
                midis.append((f"{task.stem}_{number}.mid", data))
    return midis, len(numbers) - len(midis)


def _summarise(collections: list[str], results: list[_Result], duplicates: dict[str, int]) -> dict:
    """Fold task results into per-collection counts and overall totals."""
    per = {
        c: {"files": 0, "skipped": 0, "duplicates": duplicates.get(c, 0), "bytes": 0}
        for c in collections
    }
    for result in results:
        entry = per[result.collection]
        entry["files"] += len(result.written)
        entry["skipped"] += result.skipped
        entry["bytes"] += sum(size for _, size in result.written)
    keys = ("files", "skipped", "bytes")
    totals = {key: sum(entry[key] for entry in per.values()) for key in keys}
    return {"collections": per, **totals}


def _write_manifest(out_dir: Path, summary: dict) -> None:
    """Update ``manifest.json``: source, converter and counts per built collection.

    Entries of collections that this build did not touch are kept as they were.
    """
    import music21

    path = out_dir / "manifest.json"
    old = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    entries = dict(old.get("collections", {}))
    for collection, counts in summary["collections"].items():
        if collection == CHORALES:
            source = CHORALE_SOURCE
            converter = f"music21 {music21.__version__}"
        elif collection == BAND:
            from .bandcorpus import BAND_SOURCE, mma_version

            source = BAND_SOURCE
            converter = f"{_abc2midi_version()} + MMA {mma_version()}"
        else:
            source = f"music21/corpus/{collection.split('/', 1)[1]}"
            converter = _abc2midi_version()
        entries[collection] = {"source": source, "converter": converter, **counts}
    manifest = {"music21_version": music21.__version__, "collections": entries}
    text = json.dumps(manifest, indent=2, sort_keys=True) + "\n"
    path.write_text(text, encoding="utf-8")


def _abc2midi_version() -> str:
    """abc2midi's version line, e.g. ``abc2midi 4.84 January 20 2023``."""
    out = subprocess.run([ABC2MIDI, "-ver"], capture_output=True, text=True, check=False)
    words = out.stdout.split()
    if words and words[-1] == ABC2MIDI:  # it prints "4.84 January 20 2023 abc2midi"
        words = [ABC2MIDI] + words[:-1]
    return " ".join(words)


def main(argv: list[str] | None = None) -> int:
    """``python -m musicrnn.corpora [--collections band] [--jobs 1] [--out corpora]``."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m musicrnn.corpora", description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("corpora"), help="folder to write")
    parser.add_argument("--collections", nargs="+", choices=ALL_COLLECTIONS, default=list(DEFAULT_COLLECTIONS),
                        help="what to build (default: chorales folk; band needs mma)")
    parser.add_argument("--jobs", type=int, default=2, help="parallel conversions")
    parser.add_argument("--limit", type=int, default=None, help="at most this many pieces a collection, for a quick try")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    if args.jobs < 1 or (args.limit is not None and args.limit < 1):
        parser.error("--jobs and --limit must be at least 1")
    summary = build_corpora(args.out, jobs=args.jobs, limit=args.limit, progress=not args.quiet,
                            collections=args.collections)
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

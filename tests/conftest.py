import os
import sys
from pathlib import Path

import pytest

# Tests pin every thread pool to one thread: tiny models gain nothing from threads, and a
# spinning pool collapses on a shared 2-core machine (see docs/benchmarks.md).
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "MUSICRNN_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

ROOT = Path(__file__).resolve().parent.parent
CORPORA = ROOT / "corpora"
OPENMSX = Path("/usr/share/games/openttd/baseset/openmsx")  # Debian openttd-openmsx (GPL-2)


def music21_test_midis() -> list[Path]:
    import music21

    return sorted((Path(music21.__file__).parent / "midi" / "testPrimitive").glob("*.mid"))


@pytest.fixture(scope="session")
def vocab():
    from musicrnn.codec import Vocab

    return Vocab()


@pytest.fixture(scope="session")
def third_party_midis() -> list[Path]:
    """Real multi-track MIDI we did not write: OpenMSX (drums, many programs, tempo changes)."""
    if not OPENMSX.is_dir():
        pytest.fail("Debian package openttd-openmsx is missing: run `python3 -m musicrnn.install --test`")
    return sorted(OPENMSX.glob("*.mid"))


def run_cli(*args, cwd=ROOT, fresh: bool = False):
    """``musicrnn ARGS`` as a user runs it: exit code, stdout and stderr (a
    ``subprocess.CompletedProcess``). By default it runs in this process (``cli.main`` with
    its output captured, warnings off as ``PYTHONWARNINGS=ignore`` would have them): the same
    code path, without paying for a new interpreter and torch's import on every call, and a
    stricter test of determinism (a run must not depend on what ran before it in the
    process). An exception that would have been a traceback comes back as exit code 1 with
    the traceback on stderr. ``fresh=True`` starts a new interpreter, for tests of
    start-up, imports, signals or anything a process keeps."""
    import subprocess

    argv = [str(a) for a in args]
    if fresh or os.environ.get("MUSICRNN_TEST_SUBPROCESS"):
        env = dict(os.environ, PYTHONWARNINGS="ignore")
        return subprocess.run([sys.executable, "-m", "musicrnn", *argv], capture_output=True, text=True, cwd=cwd,
                              env=env)
    import contextlib
    import io
    import traceback
    import warnings

    from musicrnn.cli import main

    out, err = io.StringIO(), io.StringIO()
    here = os.getcwd()
    try:
        os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                code = main(argv)
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
                if isinstance(e.code, str):
                    err.write(e.code + "\n")
            except Exception:
                err.write(traceback.format_exc())
                code = 1
    finally:
        os.chdir(here)
    return subprocess.CompletedProcess(["musicrnn", *argv], code, out.getvalue(), err.getvalue())


def folk_folder(tmp_path_factory, n: int) -> Path:
    """A fresh folder holding the first ``n`` of O'Neill's 1850 tunes (real folk MIDI)."""
    import shutil

    from musicrnn.codec import iter_midi_files

    d = tmp_path_factory.mktemp(f"folk{n}")
    for f in iter_midi_files([CORPORA / "folk" / "oneills1850"])[:n]:
        shutil.copy(f, d / f.name)
    return d


def one_note_midi(path: Path, start: int, length: int, ticks_per_beat: int = 1) -> Path:
    """A hostile MIDI file (issue 19): one note, with any delta times (mido writes them as given)."""
    import mido

    m = mido.MidiFile(ticks_per_beat=ticks_per_beat)
    t = mido.MidiTrack()
    m.tracks.append(t)
    t.append(mido.Message("note_on", note=60, velocity=80, time=start))
    t.append(mido.Message("note_off", note=60, velocity=0, time=length))
    m.save(str(path))
    return path


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def page_server(tmp_path_factory):
    """The page, served in this process on a free port, with its own empty runs folder."""
    from types import SimpleNamespace

    from musicrnn.ui.app import launch

    runs = tmp_path_factory.mktemp("page_runs")
    port = free_port()
    demo, page = launch("127.0.0.1", port, False, str(runs), max_train_minutes=5, block=False)
    yield SimpleNamespace(url=f"http://127.0.0.1:{port}/", page=page, runs=runs, demo=demo)
    demo.close()
    page.cleanup()


@pytest.fixture(scope="session")
def chorale_zip(tmp_path_factory):
    """A small real upload: 12 Bach chorales and a text file, zipped."""
    import zipfile

    z = tmp_path_factory.mktemp("uploads") / "chorales12.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for f in sorted((CORPORA / "chorales").glob("*.mid"))[:12]:
            zf.write(f, f"chorales/{f.name}")
        zf.writestr("README.txt", "not music")
    return z


SCREENSHOTS = Path(os.environ.get("MUSICRNN_SCREENSHOTS", ROOT / "runs" / "screenshots"))


def pytest_collection_modifyitems(config, items):
    """The modules holding slow end-to-end tests first, each module's tests kept together
    and in order (their shared fixtures are made once), so that with two workers no slow
    test starts last and leaves one worker running alone at the end."""
    slow = {item.module.__name__ for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.module.__name__ not in slow)


def pytest_configure(config):
    """In the main process, before any test worker starts: run librosa's beat tracker once, so
    its numba functions (``cache=True``) are compiled and cached by one process. In a fresh
    venv two workers compiling them at once have crashed (a segfault inside numba's gufunc,
    10 worker crashes in one run), which a warm cache avoids."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        return
    import numpy as np
    import librosa

    y = np.random.default_rng(0).standard_normal(22050 * 3).astype(np.float32)
    librosa.beat.beat_track(y=y, sr=22050)

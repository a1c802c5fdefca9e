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


def run_cli(*args, cwd=ROOT):
    import subprocess

    env = dict(os.environ, PYTHONWARNINGS="ignore")
    return subprocess.run([sys.executable, "-m", "musicrnn", *map(str, args)], capture_output=True, text=True, cwd=cwd, env=env)

"""Set musicrnn up on a Debian/Ubuntu machine: system packages, a virtual env, Python packages.

Run from the repository root with the system Python (nothing else needs to be installed):

    python3 -m musicrnn.install          # what you need to generate music
    python3 -m musicrnn.install --test   # plus what the test suite needs

It is safe to run again: it skips what is already there. torch is installed as the
CPU build 2.13.0 unless torch is already in the venv; set MUSICRNN_TORCH_INDEX to an
index URL (e.g. https://download.pytorch.org/whl/cpu) where plain PyPI would give you
the multi-GB CUDA build.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
APT_RUN = ["libfluidsynth3", "abcmidi"]
APT_TEST = ["openttd-openmsx"]  # third-party multi-track GM MIDI files (GPL-2) used by the tests
TORCH = "torch==2.13.0"


def say(msg: str) -> None:
    print(f"[install] {msg}", flush=True)


def run(cmd: list[str], **kw) -> None:
    say(" ".join(cmd))
    subprocess.run(cmd, check=True, **kw)


def apt_install(packages: list[str]) -> None:
    missing = [p for p in packages if subprocess.run(["dpkg", "-s", p], capture_output=True).returncode != 0]
    if not missing:
        return
    if shutil.which("apt-get") is None:
        say(f"not a Debian system: install these yourself if you need them: {' '.join(missing)}")
        return
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    run(sudo + ["apt-get", "update", "-qq"], env=env)
    run(sudo + ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing], env=env)


def make_venv() -> Path:
    py = VENV / "bin" / "python"
    if not py.exists():
        try:
            run([sys.executable, "-m", "venv", str(VENV)])
        except subprocess.CalledProcessError:
            apt_install([f"python3.{sys.version_info.minor}-venv"])
            shutil.rmtree(VENV, ignore_errors=True)
            run([sys.executable, "-m", "venv", str(VENV)])
    return py


def pip_install(py: Path, test: bool) -> None:
    pip = [str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    if subprocess.run([str(py), "-c", "import torch"], capture_output=True).returncode != 0:
        index = os.environ.get("MUSICRNN_TORCH_INDEX")
        run(pip + [TORCH] + (["--index-url", index] if index else []))
    extras = "audio,test" if test else "audio"
    run(pip + ["-e", f"{ROOT}[{extras}]"])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m musicrnn.install", description=__doc__.splitlines()[0])
    ap.add_argument("--test", action="store_true", help="also install what the test suite needs")
    args = ap.parse_args(argv)
    apt_install(APT_RUN + (APT_TEST if args.test else []))
    py = make_venv()
    pip_install(py, args.test)
    say(f"ready: {VENV}/bin/musicrnn")
    return 0


if __name__ == "__main__":
    sys.exit(main())

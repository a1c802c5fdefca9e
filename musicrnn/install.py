"""Set musicrnn up: system packages (Debian/Ubuntu), a virtual env, Python packages.

Run from the repository root with the system Python 3.10+ (nothing else needs to be installed):

    python3 -m musicrnn.install          # what you need to generate music
    python3 -m musicrnn.install --test   # plus what the test suite needs

System packages: as root it runs apt-get, otherwise `sudo -n` (it never asks for a
password). Where it cannot (no sudo, sudo wants a password, not Debian) it prints the
command to run yourself and goes on: FluidSynth's library is optional (audio falls back
to sine tones), abcmidi only rebuilds corpora, openttd-openmsx is only for the tests
(with --test its absence makes the exit status 1).

torch 2.13.0: on Linux x86-64/aarch64 without an NVIDIA GPU it comes from PyTorch's CPU
index (PyPI would give the multi-GB CUDA build), or from the default index when that
cannot be reached within seconds. MUSICRNN_TORCH_INDEX=<url> chooses the index yourself.

Safe to run again: .venv/.musicrnn-ready is written only when everything succeeded. With
it (same extras, same pyproject.toml) pip is skipped; without it the pip steps are run
again, and a .venv whose python does not run is made anew.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
MARKER = ".musicrnn-ready"
MIN_PYTHON = (3, 10)
TORCH = "torch==2.13.0"
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
OPENMSX = Path("/usr/share/games/openttd/baseset/openmsx")  # where the tests look
APT_RUN = ["libfluidsynth3", "abcmidi", "espeak-ng", "festival", "festvox-kallpc16k", "festvox-kdlpc16k"]
APT_TEST = ["openttd-openmsx", "chromium", "mma", "klettres-data"]  # mma: the band corpus rebuild test; klettres-data: real voices
# Debian package: (what you lose without it, what to install off Debian)
WHY = {
    "libfluidsynth3": ("WAVs are rendered with sine tones",
                       "the FluidSynth library: brew install fluid-synth / dnf install fluidsynth-libs / pacman -S fluidsynth"),
    "abcmidi": ("`musicrnn corpora` cannot rebuild corpora/", "abcmidi: brew install abcmidi / dnf install abcMIDI"),
    "espeak-ng": ("`musicrnn voice eval` cannot build its speech test set", "espeak-ng: brew install espeak-ng / dnf install espeak-ng"),
    "festival": ("`musicrnn voice eval` cannot build its singing test set", "festival: dnf install festival"),
    "festvox-kallpc16k": ("festival has no first singing voice (kal)", "festival's kal_diphone voice"),
    "festvox-kdlpc16k": ("festival has no second singing voice (ked)", "festival's ked_diphone voice"),
    "openttd-openmsx": ("the tests that read its MIDI files fail", f"the OpenMSX music set's .mid files in {OPENMSX}"),
    "chromium": ("the browser tests of the page fail", "Chromium (the tests drive it headless through Playwright)"),
}


class InstallError(Exception):
    pass


def say(msg: str) -> None:
    print(f"[install] {msg}", flush=True)


def sh(cmd: list[str], quiet: bool = False, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run cmd, echoed unless quiet (then its output is captured). Never raises."""
    if not quiet:
        say(" ".join(cmd))
    pipe = subprocess.PIPE if quiet else None
    try:
        return subprocess.run(cmd, env=env, text=True, stdout=pipe, stderr=pipe)
    except OSError as e:  # the program is missing or cannot run
        return subprocess.CompletedProcess(cmd, 127, "", str(e))


def must(run, cmd: list[str]) -> None:
    if run(cmd).returncode != 0:
        raise InstallError(f"this failed: {' '.join(cmd)}")


def check_python(version=sys.version_info) -> str | None:
    """One line saying why this Python is too old, or None."""
    if tuple(version[:2]) < MIN_PYTHON:
        have = ".".join(map(str, version[:3]))
        return f"musicrnn needs Python {'.'.join(map(str, MIN_PYTHON))} or newer; this is {have} ({sys.executable})"
    return None


# -- system packages ---------------------------------------------------------------

def system_packages(packages: list[str], run=sh, which=None, euid=None) -> list[str]:
    """apt-get install those of `packages` that are missing. Returns the ones still
    missing, having said what they are for and the command to install them."""
    which = which or shutil.which
    if which("dpkg") is None or which("apt-get") is None:
        say("not Debian/Ubuntu (no dpkg/apt-get): install these yourself if you need them:")
        for p in packages:
            why, how = WHY.get(p, ("", p))
            say(f"  {how}" + (f" (without it {why})" if why else ""))
        return list(packages)
    status = "dpkg-query -W -f=${Status}".split()
    missing = [p for p in packages if not (run(status + [p], quiet=True).stdout or "").endswith("install ok installed")]
    if not missing:
        return []
    root = (euid or getattr(os, "geteuid", lambda: -1))() == 0
    sudo = "" if root else "sudo "
    fix = f"{sudo}apt-get update && {sudo}apt-get install -y {' '.join(missing)}"
    if root:
        prefix = []
    elif which("sudo") is None:
        prefix, problem = None, "not root and there is no sudo"
        fix = f"su -c 'apt-get update && apt-get install -y {' '.join(missing)}'"
    elif run(["sudo", "-n", "true"], quiet=True).returncode != 0:
        prefix, problem = None, "sudo wants a password, and this installer never asks for one"
    else:
        prefix = ["sudo", "-n"]
    if prefix is not None:
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        run(prefix + ["apt-get", "update", "-qq"], env=env)  # a failing repository need not stop the install
        if run(prefix + ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing], env=env).returncode == 0:
            return []
        problem = "apt-get failed"
    say(f"{problem}: run this yourself: {fix}")
    for p in missing:
        if p in WHY:
            say(f"  until then, without {p} {WHY[p][0]}")
    return missing


# -- torch ---------------------------------------------------------------------------

def has_nvidia_gpu(run=sh) -> bool:
    if os.path.exists("/proc/driver/nvidia"):
        return True
    return shutil.which("nvidia-smi") is not None and run(["nvidia-smi", "-L"], quiet=True).returncode == 0


def index_reachable(url: str, timeout: float = 5.0) -> bool:
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/torch/", timeout=timeout) as r:
            return r.status == 200
    except Exception:
        return False


def torch_index(env, gpu: bool, system: str, machine: str, reachable) -> tuple[str | None, str]:
    """(the index to install torch from, None for pip's default; a line saying why)."""
    if env.get("MUSICRNN_TORCH_INDEX"):
        url = env["MUSICRNN_TORCH_INDEX"]
        return url, f"using MUSICRNN_TORCH_INDEX ({TORCH} --index-url {url})"
    if gpu:
        return None, f"NVIDIA GPU found; using the default index, CUDA build (pip install {TORCH})"
    if system != "Linux" or machine.lower() not in ("x86_64", "amd64", "aarch64", "arm64"):
        return None, f"using the default index, CPU build on {system} {machine} (pip install {TORCH})"
    if reachable(CPU_INDEX):
        return CPU_INDEX, f"using PyTorch's CPU index (pip install {TORCH} --index-url {CPU_INDEX})"
    return None, f"PyTorch CPU index unreachable; using the default index (pip install {TORCH})"


def torch_version(py: Path, run=sh) -> str | None:
    r = run([str(py), "-c", "import torch; print(torch.__version__)"], quiet=True)
    return r.stdout.strip() if r.returncode == 0 else None


def install_torch(py: Path, run=sh) -> tuple[str, str]:
    """Install torch unless the venv has it; returns (its version, where it came from)."""
    have = torch_version(py, run)
    if have:
        say(f"torch: {have} is already in the venv")
        return have, "already there"
    url, why = torch_index(os.environ, has_nvidia_gpu(run), platform.system(), platform.machine(), index_reachable)
    say(f"torch: {why}")
    pip = [str(py), "-m", "pip", "install", "--disable-pip-version-check", "--force-reinstall"]  # replaces a half-installed torch
    must(run, pip + [TORCH] + (["--index-url", url] if url else []))
    have = torch_version(py, run)
    if not have:
        raise InstallError("torch was installed but does not import")
    return have, url or "default index"


# -- the virtual env -------------------------------------------------------------------

def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def venv_works(venv: Path, run=sh) -> bool:
    py = venv_python(venv)
    return py.exists() and run([str(py), "-c", "import pip"], quiet=True).returncode == 0


def make_venv(venv: Path, run=sh) -> Path:
    """The venv's python; makes the venv, or makes it anew when its python does not run."""
    if venv.exists() and not venv_works(venv, run):
        say(f"{venv} is there but its python does not run (or has no pip): making it anew")
        shutil.rmtree(venv)
    if not venv.exists():
        if run([sys.executable, "-m", "venv", str(venv)]).returncode != 0:
            shutil.rmtree(venv, ignore_errors=True)
            if system_packages([f"python3.{sys.version_info.minor}-venv"], run):
                raise InstallError("cannot make a virtual env (see above)")
            must(run, [sys.executable, "-m", "venv", str(venv)])
    return venv_python(venv)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def read_marker(venv: Path) -> dict | None:
    try:
        return json.loads((venv / MARKER).read_text())
    except (OSError, ValueError):
        return None


def is_ready(venv: Path, extras: list[str], root: Path = ROOT) -> bool:
    """True when a previous run finished with these extras for this pyproject.toml."""
    m = read_marker(venv)
    return (isinstance(m, dict) and set(extras) <= set(m.get("extras", [])) and m.get("root") == str(root)
            and m.get("pyproject") == digest(root / "pyproject.toml"))


def write_marker(venv: Path, extras: list[str], torch: str, torch_from: str, root: Path = ROOT) -> None:
    info = {"extras": sorted(extras), "torch": torch, "torch_from": torch_from, "root": str(root),
            "pyproject": digest(root / "pyproject.toml")}
    (venv / MARKER).write_text(json.dumps(info, indent=1) + "\n")


# -- main ------------------------------------------------------------------------------

def main(argv=None, run=sh, version=sys.version_info) -> int:
    problem = check_python(version)
    if problem:
        print(problem, file=sys.stderr)
        return 2
    ap = argparse.ArgumentParser(prog="python3 -m musicrnn.install", description=__doc__.splitlines()[0])
    ap.add_argument("--test", action="store_true", help="also install what the test suite needs")
    args = ap.parse_args(argv)
    missing = system_packages(APT_RUN + (APT_TEST if args.test else []), run)
    extras = ["audio", "voice-eval", "test"] if args.test else ["audio", "voice-eval"]
    try:
        py = make_venv(VENV, run)
        if is_ready(VENV, extras):
            m = read_marker(VENV)
            say(f"{VENV} is complete (extras {','.join(m['extras'])}, torch {m['torch']}): nothing to install")
        else:
            (VENV / MARKER).unlink(missing_ok=True)
            torch, torch_from = install_torch(py, run)
            must(run, [str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check", "-e", f"{ROOT}[{','.join(extras)}]"])
            write_marker(VENV, extras, torch, torch_from)
    except InstallError as e:
        say(str(e))
        say("fix that and run this again: it goes on where it stopped")
        return 1
    if args.test and "openttd-openmsx" in missing and not OPENMSX.is_dir():
        say(f"not ready for the tests: openttd-openmsx is missing (see above), and the tests read {OPENMSX}")
        return 1
    say(f"ready: {VENV / 'bin' / 'musicrnn'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

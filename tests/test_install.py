"""The installer (no network, no apt: its steps run against fakes) and the wheel it packs."""

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from conftest import ROOT
from musicrnn import install


class FakeRun:
    """Stands in for install.sh: records commands; answers from a function of the command."""

    def __init__(self, answer=lambda cmd: (0, "")):
        self.answer, self.cmds = answer, []

    def __call__(self, cmd, quiet=False, env=None):
        self.cmds.append(list(cmd))
        rc, out = self.answer(list(cmd))
        return subprocess.CompletedProcess(cmd, rc, out, "")

    def ran(self, *words):
        return [c for c in self.cmds if all(w in c for w in words)]


# -- Python version ------------------------------------------------------------------

def test_python_version_check(capsys):
    assert install.check_python((3, 10, 0)) is None and install.check_python((3, 13, 1)) is None
    msg = install.check_python((3, 9, 18))
    assert "3.10" in msg and "3.9.18" in msg and "\n" not in msg
    assert install.main([], run=FakeRun(), version=(3, 8, 10, "final", 0)) == 2
    assert capsys.readouterr().err.strip().count("\n") == 0


# -- torch's index ---------------------------------------------------------------------

def never(url):
    raise AssertionError("must not probe the network here")


def test_torch_index_override_gpu_and_other_systems():
    url, why = install.torch_index({"MUSICRNN_TORCH_INDEX": "https://mirror/whl"}, True, "Linux", "x86_64", never)
    assert url == "https://mirror/whl" and "MUSICRNN_TORCH_INDEX" in why
    assert install.torch_index({}, True, "Linux", "x86_64", never)[0] is None  # GPU: the CUDA build from PyPI
    assert install.torch_index({}, False, "Darwin", "arm64", never)[0] is None  # PyPI's macOS wheel is the CPU one
    assert install.torch_index({}, False, "Linux", "ppc64le", never)[0] is None


@pytest.mark.parametrize("machine", ["x86_64", "aarch64"])
def test_torch_index_prefers_cpu_index_and_falls_back(machine):
    url, why = install.torch_index({}, False, "Linux", machine, lambda u: True)
    assert url == install.CPU_INDEX and install.CPU_INDEX in why
    url, why = install.torch_index({}, False, "Linux", machine, lambda u: False)
    assert url is None
    assert why == "PyTorch CPU index unreachable; using the default index (pip install torch==2.13.0)"


def test_index_probe_fails_fast_when_unreachable():
    assert install.index_reachable("http://127.0.0.1:9/whl/cpu", timeout=2) is False  # port 9: nothing listens


@pytest.mark.parametrize("reachable", [True, False])
def test_install_torch_uses_the_probe(monkeypatch, capsys, reachable):
    installed = []

    def answer(cmd):  # no torch until pip has run
        if "pip" in cmd:
            installed.append(cmd)
        return (0, "2.13.0+cpu") if installed else (1, "")

    run = FakeRun(answer)
    monkeypatch.delenv("MUSICRNN_TORCH_INDEX", raising=False)
    monkeypatch.setattr(install, "has_nvidia_gpu", lambda run: False)
    monkeypatch.setattr(install.platform, "system", lambda: "Linux")
    monkeypatch.setattr(install.platform, "machine", lambda: "x86_64")
    monkeypatch.setattr(install, "index_reachable", lambda url: reachable)
    assert install.install_torch(Path("/venv/bin/python"), run)[0] == "2.13.0+cpu"
    [pip] = run.ran("pip", "install", "torch==2.13.0")
    out = capsys.readouterr().out
    if reachable:
        assert pip[-2:] == ["--index-url", install.CPU_INDEX]
    else:
        assert "--index-url" not in pip
        assert "[install] torch: PyTorch CPU index unreachable; using the default index (pip install torch==2.13.0)" in out


def test_torch_already_there_is_kept(monkeypatch):
    run = FakeRun(lambda cmd: (0, "2.13.0+cpu"))
    monkeypatch.setattr(install, "index_reachable", never)
    assert install.install_torch(Path("/venv/bin/python"), run) == ("2.13.0+cpu", "already there")
    assert not run.ran("pip")


# -- system packages -------------------------------------------------------------------

def debian(have_sudo=True):
    return lambda name: None if name == "sudo" and not have_sudo else f"/usr/bin/{name}"


def nothing_installed(sudo_ok=True):
    def answer(cmd):
        if cmd[0] == "dpkg-query":
            return 1, ""
        if cmd[:3] == ["sudo", "-n", "true"]:
            return (0 if sudo_ok else 1), ""
        return 0, ""
    return answer


def test_apt_without_sudo_prints_the_command(capsys):
    run = FakeRun(nothing_installed())
    missing = install.system_packages(["libfluidsynth3", "abcmidi"], run, which=debian(have_sudo=False), euid=lambda: 1000)
    assert missing == ["libfluidsynth3", "abcmidi"]
    assert "apt-get update && apt-get install -y libfluidsynth3 abcmidi" in capsys.readouterr().out
    assert not run.ran("install")


def test_apt_when_sudo_wants_a_password(capsys, monkeypatch):
    monkeypatch.setattr(install.shutil, "which", debian())  # also the default lookup
    monkeypatch.setattr(install.os, "geteuid", lambda: 1000)
    run = FakeRun(nothing_installed(sudo_ok=False))
    assert install.system_packages(["libfluidsynth3", "abcmidi"], run) == ["libfluidsynth3", "abcmidi"]
    out = capsys.readouterr().out
    assert "sudo apt-get update && sudo apt-get install -y libfluidsynth3 abcmidi" in out
    assert "sine tones" in out  # what you lose, said once
    assert ["sudo", "-n", "true"] in run.cmds and not run.ran("apt-get")


def test_apt_with_passwordless_sudo_and_as_root():
    run = FakeRun(nothing_installed())
    assert install.system_packages(["abcmidi"], run, which=debian(), euid=lambda: 1000) == []
    assert run.cmds[-1][:5] == ["sudo", "-n", "apt-get", "install", "-y"] and run.cmds[-1][-1] == "abcmidi"
    run = FakeRun(nothing_installed())
    assert install.system_packages(["abcmidi"], run, which=debian(have_sudo=False), euid=lambda: 0) == []
    assert run.cmds[-1][:3] == ["apt-get", "install", "-y"] and not run.ran("sudo")


def test_apt_skips_what_is_installed():
    run = FakeRun(lambda cmd: (0, "install ok installed"))
    assert install.system_packages(["abcmidi", "libfluidsynth3"], run, which=debian(), euid=lambda: 1000) == []
    assert all(c[0] == "dpkg-query" for c in run.cmds)


def test_apt_failure_is_reported_not_raised(capsys):
    run = FakeRun(lambda cmd: (1, "") if cmd[0] in ("dpkg-query", "apt-get") else (0, ""))
    assert install.system_packages(["abcmidi"], run, which=debian(), euid=lambda: 0) == ["abcmidi"]
    assert "apt-get failed: run this yourself: apt-get update && apt-get install -y abcmidi" in capsys.readouterr().out


def test_off_debian_says_what_to_install(capsys):
    run = FakeRun(lambda cmd: pytest.fail(f"ran {cmd} off Debian"))
    missing = install.system_packages(install.APT_RUN + install.APT_TEST, run, which=lambda name: None, euid=lambda: 0)
    assert missing == install.APT_RUN + install.APT_TEST
    out = capsys.readouterr().out
    assert "not Debian/Ubuntu" in out and "brew install fluid-synth" in out and "abcmidi" in out and "OpenMSX" in out


def test_sh_does_not_raise_on_a_missing_program():
    assert install.sh(["no-such-program-musicrnn"], quiet=True).returncode == 127


# -- the venv and its marker ---------------------------------------------------------------

def fake_venv(tmp_path, works=True):
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    py = install.venv_python(venv)
    if works:
        py.symlink_to(sys.executable)  # a python that runs and has pip
    else:
        py.write_text("#!/bin/sh\nexit 1\n")
        py.chmod(0o755)
    return venv


def test_half_built_venv_is_kept_but_not_ready(tmp_path):
    venv = fake_venv(tmp_path)
    assert not install.is_ready(venv, ["audio"])
    run = FakeRun()
    assert install.make_venv(venv, run) == install.venv_python(venv) and venv.exists()
    assert not run.ran("venv")


def test_broken_venv_is_made_anew(tmp_path, capsys):
    venv = fake_venv(tmp_path, works=False)
    (venv / "junk").write_text("")
    run = FakeRun(lambda cmd: (venv.mkdir(), (0, ""))[1] if "venv" in cmd else (1, ""))
    install.make_venv(venv, run)
    assert run.ran("-m", "venv", str(venv)) and not (venv / "junk").exists()
    assert "making it anew" in capsys.readouterr().out


def test_marker_records_extras_and_pyproject(tmp_path):
    root = tmp_path / "repo"
    root.mkdir()
    (root / "pyproject.toml").write_text("[project]\n")
    venv = fake_venv(tmp_path)
    install.write_marker(venv, ["audio"], "2.13.0+cpu", install.CPU_INDEX, root=root)
    assert json.loads((venv / install.MARKER).read_text())["torch"] == "2.13.0+cpu"
    assert install.is_ready(venv, ["audio"], root=root)
    assert not install.is_ready(venv, ["audio", "test"], root=root)  # --test after a plain run: pip again
    (root / "pyproject.toml").write_text("[project]\n# new dependency\n")
    assert not install.is_ready(venv, ["audio"], root=root)


def test_main_writes_the_marker_only_after_pip_succeeds(tmp_path, monkeypatch):
    venv = fake_venv(tmp_path)
    monkeypatch.setattr(install, "VENV", venv)
    monkeypatch.setattr(install, "system_packages", lambda packages, run: [])
    def pip_says(rc):
        return FakeRun(lambda cmd: (rc, "") if "-e" in cmd else (0, "2.13.0+cpu"))

    run = pip_says(1)  # interrupted or failed: no marker
    assert install.main([], run=run) == 1 and run.ran("-e") and not (venv / install.MARKER).exists()
    run = pip_says(0)
    assert install.main([], run=run) == 0 and run.ran("-e") and (venv / install.MARKER).exists()
    run = pip_says(1)  # the marker is there: no pip at all
    assert install.main([], run=run) == 0 and not run.ran("pip")
    run = pip_says(0)  # but --test asks for more
    assert install.main(["--test"], run=run) == 0 and run.ran("-e")
    assert json.loads((venv / install.MARKER).read_text())["extras"] == ["audio", "test", "voice-eval"]


def test_main_with_test_fails_without_openmsx(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(install, "VENV", fake_venv(tmp_path))
    monkeypatch.setattr(install, "OPENMSX", tmp_path / "nowhere")
    monkeypatch.setattr(install, "is_ready", lambda venv, extras: True)
    monkeypatch.setattr(install, "read_marker", lambda venv: {"extras": ["audio", "test"], "torch": "2.13.0+cpu"})
    monkeypatch.setattr(install, "system_packages", lambda packages, run: ["libfluidsynth3", "openttd-openmsx"])
    assert install.main(["--test"], run=FakeRun()) == 1
    assert "openttd-openmsx is missing" in capsys.readouterr().out
    assert install.main([], run=FakeRun()) == 0  # FluidSynth is optional


# -- the wheel ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The working tree built as a wheel and installed with --target: (wheel, site, env)
    where env's PYTHONPATH makes that copy shadow the editable one."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"  # a copy, so that the build leaves no build/ or stale files in the checkout
    src.mkdir()
    for f in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / f, src)
    skip = shutil.ignore_patterns("__pycache__", "*.pyc", "last")
    for d in ("musicrnn", "checkpoints", "ui", "corpora/stock", "corpora/quake"):
        shutil.copytree(ROOT / d, src / d, ignore=skip)
    env = {k: v for k, v in os.environ.items() if k not in ("MUSICRNN_CHECKPOINTS", "PYTHONPATH")}
    env.update(PIP_DISABLE_PIP_VERSION_CHECK="1", PYTHONWARNINGS="ignore")
    pip = [sys.executable, "-m", "pip"]
    r = subprocess.run(pip + ["wheel", "-q", "--no-deps", "--no-build-isolation", "-w", tmp / "dist", src],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    [wheel] = (tmp / "dist").glob("musicrnn-*.whl")
    site = tmp / "site"
    r = subprocess.run(pip + ["install", "-q", "--no-deps", "--target", site, wheel], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    return wheel, site, dict(env, PYTHONPATH=str(site))


def test_wheel_carries_the_shipped_checkpoints(installed, tmp_path):
    """A non-editable install finds the checkpoints in its own package data."""
    wheel, site, env = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in ("folk-repeats", "folk-attention", "folk-transformer", "folk", "chorales"):
        assert {f"musicrnn/_checkpoints/{name}/config.json", f"musicrnn/_checkpoints/{name}/model.safetensors"} <= names
    assert not [n for n in names if "/last/" in n]
    sources = {p.relative_to(ROOT).as_posix() for p in (ROOT / "musicrnn").rglob("*.py")}
    sources |= {f"musicrnn/ui/{p.name}" for p in (ROOT / "ui").glob("*.py")}  # the page, installed as musicrnn.ui
    assert not sources - names, "add the new subpackage to [tool.setuptools] packages in pyproject.toml"

    code = ("import json, musicrnn, musicrnn.shipped as s; "
            "print(json.dumps([musicrnn.__file__, str(s.default_checkpoint()), s.names()]))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr
    package, ckpt, names = json.loads(r.stdout)
    assert Path(package).is_relative_to(site) and Path(ckpt).is_relative_to(site)
    assert (Path(ckpt) / "config.json").is_file() and (Path(ckpt) / "model.safetensors").is_file()
    assert {"chorales", "folk", "folk-repeats", "folk-attention", "folk-transformer"} <= set(names)


def test_wheel_carries_the_research_tasks_data(installed, tmp_path):
    """The S&P 500 closes and the small real quake catalogs travel in the wheel: the installed
    copy loads them without the repository."""
    wheel, site, env = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"musicrnn/_data/stock/sp500_1950_2018.csv", "musicrnn/_data/quake/usgs_week_2018-02.csv",
            "musicrnn/_data/quake/ridgecrest_2019-07.csv", "musicrnn/_data/stock/README.md"} <= names
    code = ("import json; from musicrnn.tasks import stock, quake; d, c = stock.load_closes(); "
            "print(json.dumps([str(stock.DEFAULT_CSV), len(c), len(quake.load_shipped('ridgecrest'))]))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr
    path, closes, events = json.loads(r.stdout)
    assert Path(path).is_relative_to(site) and closes > 17000 and events > 800


def test_installed_wheel_samples(installed, tmp_path):
    """The installed copy makes music from its own default checkpoint, found as package data."""
    wheel, site, env = installed
    r = subprocess.run([sys.executable, "-m", "musicrnn", "sample", "--out", tmp_path / "x.mid",
                        "--seconds", "5", "--seed", "1"], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "x.mid").stat().st_size > 50
    import json as _json

    assert Path(_json.loads(r.stdout.strip().splitlines()[-1])["midi"]) == tmp_path / "x.mid"
    r = subprocess.run([sys.executable, "-c", "import musicrnn.ui.app as a; print(a.__file__)"], capture_output=True,
                       text=True, cwd=tmp_path, env=env)
    assert r.returncode == 0 and Path(r.stdout.strip()).is_relative_to(site), r.stderr  # the page travels too


def test_editable_install_finds_the_source_checkpoints():
    from musicrnn import shipped

    if os.environ.get(shipped.ENV):
        pytest.skip(f"{shipped.ENV} is set")
    assert shipped.checkpoints_dir() == ROOT / "checkpoints"
    assert shipped.default_checkpoint() == ROOT / "checkpoints" / "folk-repeats" == \
        shipped.shipped_checkpoint("folk-repeats")
    with pytest.raises(ValueError):
        shipped.shipped_checkpoint("../folk")


def test_checkpoints_env_var_wins(monkeypatch, tmp_path):
    from musicrnn import shipped

    monkeypatch.setenv(shipped.ENV, str(tmp_path))
    assert shipped.shipped_checkpoint("chorales") == tmp_path / "chorales"

"""The task registry (issue 20): a task is a registry entry over a module with one
interface, and the command line is built from the registry. A toy task defined outside
the package (tests/sine_task.py, ~100 lines) trains, resumes exactly, evaluates, reports and
runs an experiment through the command line, and cli.py does not name it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import ROOT

TESTS = Path(__file__).resolve().parent


def sine_cli(*args):
    env = dict(os.environ, PYTHONWARNINGS="ignore", MUSICRNN_TASKS="sine_task",
               PYTHONPATH=os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")])))
    r = subprocess.run([sys.executable, "-m", "musicrnn", *map(str, args)], capture_output=True, text=True, cwd=ROOT,
                       env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(r.stdout.strip().splitlines()[-1]), r.stderr


def test_the_built_in_tasks_are_registry_entries():
    from musicrnn.core.tasks import TASKS
    from musicrnn.tasks import registry

    assert list(registry())[:6] == ["music", "polymusic", "voice", "quake", "stock", "lotto"] and registry() is TASKS
    for t in registry().values():
        assert {"Settings", "train", "evaluate"} <= set(t.roles()), t.name
        for name in t.roles():
            assert callable(t.function(name)), (t.name, name)
    # music, the benchmark and the voice model keep their own commands; the others are `musicrnn task NAME`
    assert [n for n, t in registry().items() if t.command is None][:3] == ["quake", "stock", "lotto"]
    assert [n for n, t in registry().items() if t.experiment][:5] == ["music", "polymusic", "quake", "stock", "lotto"]


def test_a_toy_task_runs_through_the_cli_without_touching_it(tmp_path):
    """The first command runs in a new interpreter that finds the task through
    MUSICRNN_TASKS; the rest run in this process, the task registered by importing its module."""
    import re

    from conftest import run_cli
    from musicrnn.core.tasks import TASKS

    assert not re.search(r"\bsine\b", (ROOT / "musicrnn" / "cli.py").read_text())
    summary, _ = sine_cli("task", "sine", "train", "--out", tmp_path / "a", "--steps", 30, "--period", 16)
    assert summary["finished"] and summary["steps"] == 30
    sys.path.insert(0, str(TESTS))
    try:
        import sine_task
    finally:
        sys.path.remove(str(TESTS))

    def cli(*args):
        r = run_cli(*args)
        assert r.returncode == 0, r.stderr[-2000:]
        return json.loads(r.stdout.strip().splitlines()[-1])

    try:
        sine_task.register(sine_task.TASK)  # again: an earlier test in this process may have removed it
        # stopped at step 12 (the library's max_steps), then resumed from the command line: the same bytes
        half = sine_task.train(tmp_path / "b", steps=30, period=16, max_steps=12, log=lambda m: None)
        assert not half["finished"]
        cli("task", "sine", "train", "--out", tmp_path / "b", "--steps", 30, "--period", 16, "--resume")
        assert (tmp_path / "a" / "model.safetensors").read_bytes() == (tmp_path / "b" / "model.safetensors").read_bytes()
        m = cli("task", "sine", "eval", "--model", tmp_path / "a")
        assert m["test_loss"] < 0.5 * m["zero_loss"]  # it learned the wave
        rep = cli("task", "sine", "report", tmp_path / "a", "--out", tmp_path / "rep")
        assert Path(rep["report"]).read_text().count("|") > 6
        cli("experiment", "--task", "sine", "--vary", "period=8,16", "--seeds", 2, "--steps", 20, "--out", tmp_path / "exp")
    finally:
        TASKS.pop("sine", None)  # the registry of this process is as it was
    results = json.loads((tmp_path / "exp" / "results.json").read_text())
    assert results["variants"] == ["period=8", "period=16"] and set(results["runs"]["period=8"]) == {"0", "1"}
    assert "test_loss" in results["summary"]["period=16"]

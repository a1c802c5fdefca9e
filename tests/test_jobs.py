"""Training jobs behind the page: one at a time, a live progress log, stop keeps the best model."""

from __future__ import annotations

import shutil
import time

import pytest

from conftest import CORPORA
from musicrnn.core.errors import SettingsError
from musicrnn.ui.jobs import PRESETS, Trainer, check_budget

TINY = "tiny from scratch (1x64, quick test)"


def _data(tmp_path, jid_folder, n=10):
    d = jid_folder / "tunes"
    d.mkdir()
    for f in sorted((CORPORA / "chorales").glob("*.mid"))[:n]:
        shutil.copy(f, d)
    return d


def _wait(job, states, timeout=120):
    t = time.time()
    while job.state not in states:
        assert time.time() - t < timeout, job.status()
        time.sleep(0.2)


def test_budget_and_preset_are_checked(tmp_path):
    for bad in (0, -1, float("nan"), 1e9, "abc", None):
        with pytest.raises(SettingsError, match="time budget"):
            check_budget(bad)
    assert check_budget("2") == 2.0
    tr = Trainer(tmp_path / "runs", tmp_path / "work")
    jid, folder = tr.new_job_folder()
    with pytest.raises(SettingsError, match="size"):
        tr.submit(jid, _data(tmp_path, folder), "x", "huge", 1, [])


@pytest.mark.slow
def test_jobs_run_one_at_a_time_and_stop_keeps_the_best_model(tmp_path):
    tr = Trainer(tmp_path / "runs", tmp_path / "work")
    jid1, f1 = tr.new_job_folder()
    a = tr.submit(jid1, _data(tmp_path, f1), "first", TINY, 2, [])
    jid2, f2 = tr.new_job_folder()
    b = tr.submit(jid2, _data(tmp_path, f2), "second", TINY, 0.05, ["x.txt: not a MIDI file"])
    _wait(a, ("running",))
    assert b.state == "waiting" and tr.ahead_of(b) == 1
    # wait for a first validation (a best model exists), then stop
    t = time.time()
    while not a.status()["valid_curve"]:
        assert time.time() - t < 90, a.status()
        time.sleep(0.2)
    assert a.status()["train_curve"] or a.status()["step"] > 0
    msg = tr.stop(a.id)
    assert "stopping" in msg
    _wait(a, ("stopped", "done", "failed"), timeout=60)
    assert a.state == "stopped", a.status()
    assert (a.out / "config.json").is_file() and (a.out / "model.safetensors").is_file()
    assert not f1.exists()  # the job's uploads are deleted when it ends
    _wait(b, ("done", "stopped", "failed"), timeout=120)  # the second ran after the first
    assert b.state == "done", b.status()
    assert b.started >= a.ended
    st = b.status()
    assert st["skipped"] == ["x.txt: not a MIDI file"] and st["has_model"] and st["best_valid_bits"] > 0
    assert "tunes" in (b.out / "config.json").read_text()  # the corpus is named after the upload
    ev = b.events()  # OUT/progress.jsonl, written by the training loop itself
    assert ev[0]["event"] == "start" and ev[-1]["event"] == "end" and ev[-1]["finished"] is True
    valid = [e["valid_bits"] for e in ev if e["event"] == "valid"]
    assert min(valid) == pytest.approx(st["best_valid_bits"])
    steps = [e["step"] for e in ev if e["event"] in ("step", "valid")]
    assert steps == sorted(steps) and steps[-1] == ev[-1]["step"]
    a_ev = a.events()
    assert a_ev[-1]["event"] == "end" and a_ev[-1]["stopped_by"] == "SIGINT" and not a_ev[-1]["finished"]


def test_cancel_a_waiting_job(tmp_path):
    tr = Trainer(tmp_path / "runs", tmp_path / "work")
    jid1, f1 = tr.new_job_folder()
    a = tr.submit(jid1, _data(tmp_path, f1), "first", TINY, 0.1, [])
    jid2, f2 = tr.new_job_folder()
    b = tr.submit(jid2, _data(tmp_path, f2), "second", TINY, 0.1, [])
    assert tr.stop(b.id) == "cancelled before it started" and b.state == "cancelled"
    _wait(a, ("running",))
    tr.stop(a.id)  # the first need not train on: only the cancelled one is looked at
    _wait(a, ("done", "stopped", "failed"))
    time.sleep(0.5)
    assert not b.out.exists() and not f2.exists()
    assert set(PRESETS) >= {TINY}

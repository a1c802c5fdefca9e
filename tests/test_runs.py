"""The run folder (core.runs): one rule for what a resumed run may change, one message
naming what differs, `--out RUN --resume` needing no other flag for every task, and a
seed whose streams do not depend on the order the run's parts are made in."""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


def _last_json(r):
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_a_research_task_resumes_with_no_other_flag_and_refuses_a_changed_one(tmp_path):
    from conftest import run_cli

    run = tmp_path / "s"
    first = _last_json(run_cli("task", "stock", "train", "--out", run, "--seed", 3, "--stateless", "--steps", 4, "-q"))
    assert first["finished"]
    again = _last_json(run_cli("task", "stock", "train", "--out", run, "--resume", "-q"))
    assert again["steps"] == 4 and again["best_valid_loss"] == first["best_valid_loss"]
    r = run_cli("task", "stock", "train", "--out", run, "--resume", "--seed", 4, "--loss", "exp-or-log", "-q")
    assert r.returncode == 2
    assert ("--resume continues the run with its own settings; these differ: loss ('smooth-l1' -> 'exp-or-log'), "
            "seed (3 -> 4). Leave them out, or start a new run (new --out or --force)") in r.stderr


def test_the_session_settings_are_never_taken_from_the_record():
    from musicrnn.core.runs import RESUME_MAY_CHANGE, SESSION_ONLY, differences, resumed
    from musicrnn.tasks.musicsettings import with_run

    assert set(SESSION_ONLY) <= set(RESUME_MAY_CHANGE)
    record = {"family": "rnn", "model": {"hidden": 32}, "objective": {"output": "softmax"},
              "train": {"lr": 0.01, "device": "cuda", "max_steps": 5, "compile": True, "minutes": 2.0}, "data": {}}
    got = with_run({"lr": None, "device": None, "max_steps": None, "minutes": None, "hidden": None}, record,
                   resume=True, where="run")
    assert (got["lr"], got["hidden"], got["minutes"]) == (0.01, 32, 2.0)  # the run's own
    assert got["device"] is None and got["max_steps"] is None  # the asking session's
    assert resumed({"lr": None, "device": None}, record["train"]) == {"lr": 0.01, "device": None}
    assert differences({"lr": 0.02, "minutes": 9, "device": "cpu"}, record["train"]) == ["lr (0.01 -> 0.02)"]


def test_a_voice_run_resumes_by_the_same_rule(tmp_path):
    """A resumed voice run refuses a changed model setting with the one message, before it
    reads any audio (the data named does not even exist)."""
    from musicrnn.core.checkpoint import save_model
    from musicrnn.core.errors import SettingsError
    from musicrnn.style.voice import train_voice

    out = tmp_path / "v"
    (out / "last").mkdir(parents=True)
    import torch

    save_model(out / "last", torch.nn.Linear(1, 1), {"task": "voice", "model": {"hidden": 16, "layers": 1},
                                                      "train": {"lr": 2e-3, "batch": 4}})
    (out / "last" / "train_state.json").write_text("{}")
    with pytest.raises(SettingsError, match=r"these differ: hidden \(16 -> 32\), lr \(0.002 -> 0.01\)\. Leave"):
        train_voice(tmp_path / "no-such-audio", out, model_settings={"hidden": 32}, train_settings={"lr": 1e-2},
                    resume=True)


def test_the_seed_gives_the_same_run_whatever_is_made_first(tmp_path):
    """The seed (TrainConfig.seed) feeds three streams, each seeded in one place: the
    initial weights (models.build), the data order (the data source's own generator) and
    dropout (fit). Making the data first, or drawing from torch's global generator between
    building the model and training it, changes nothing."""
    import numpy as np
    import torch

    from musicrnn.core import models
    from musicrnn.core.data import FeatureStreams
    from musicrnn.core.objectives import Regression
    from musicrnn.core.train import TrainConfig, fit

    z = np.sin(np.arange(200) / 5.0).astype(np.float32)
    cfg = models.make_config("rnn", {"hidden": 8, "embed": 4, "layers": 1, "dropout": 0.2, "vocab_size": 1,
                                     "features": 1, "outputs": 1})
    tcfg = TrainConfig(seed=5, batch=2, bptt=16, steps=6, lr=1e-2)

    def run(out, data_first: bool, noise: bool):
        data = lambda: FeatureStreams([z[:-1, None]], [z[1:, None]], batch=2, bptt=16, seed=tcfg.seed)  # noqa: E731
        batches = data() if data_first else None
        model = models.build("rnn", cfg, seed=tcfg.seed)
        if noise:
            torch.rand(1000), np.random.rand(10)
        batches = batches or data()
        fit(model, Regression("smooth-l1"), batches, lambda m: {"loss": 0.0, "positions": 1}, tcfg, out,
            progress=False, log=lambda m: None)
        return {k: v.clone() for k, v in model.state_dict().items()}

    a = run(tmp_path / "a", False, False)
    b = run(tmp_path / "b", True, True)
    assert all(torch.equal(a[k], b[k]) for k in a)

"""Training runs as a user drives them: exact scoring, resume after a signal at any
moment, fine-tuning, refusing to clobber a model, resume with changed settings."""

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from conftest import CORPORA, ROOT, run_cli
from musicrnn.codec import iter_midi_files
from musicrnn.core.evaluate import bits_per_token, score_tokens
from musicrnn.core.rnn import CharRNN, RNNConfig

TINY = ["--hidden", 32, "--embed", 16, "--layers", 1, "--batch", 4, "--bptt", 32, "--warmup", 5, "--patience", 9]


@pytest.fixture(scope="module")
def folk_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("folk40")
    for f in iter_midi_files([CORPORA / "folk" / "oneills1850"])[:40]:
        shutil.copy(f, d / f.name)
    return d


@pytest.mark.parametrize("extra", [{}, {"cell": "gru"}, {"fused": False, "activation": "iris"}, {"attention": 5},
                                   {"output": "topcat-sigmoid"}])
def test_exact_scorer_scores_every_token_once_whatever_the_batch_and_chunk(extra):
    torch.manual_seed(0)
    extra = dict(extra)
    output = extra.pop("output", "softmax")
    m = CharRNN(RNNConfig(vocab_size=40, embed=8, hidden=16, layers=2, dropout=0.0, **extra)).eval()
    rng = np.random.default_rng(0)
    seqs = [rng.integers(0, 40, n) for n in (1, 2, 9, 40, 17, 100, 3)]
    a = score_tokens(m, seqs, batch=1, chunk=7, output=output)
    b = score_tokens(m, seqs, batch=5, chunk=512, output=output)
    assert a["loglik"].size == sum(len(s) - 1 for s in seqs) == b["loglik"].size
    assert np.allclose(a["loglik"], b["loglik"], atol=1e-5)
    # reference: each piece alone, from a fresh state, in one forward pass
    from musicrnn.core.topcat import log_probs

    ref = []
    with torch.no_grad():
        for s in seqs:
            if len(s) > 1:
                x = torch.as_tensor(s)[None]
                lp = log_probs(m(x[:, :-1])[0].float(), output)
                ref.append(lp.gather(-1, x[:, 1:, None]).flatten().numpy())
    assert np.allclose(np.concatenate(ref), a["loglik"], atol=1e-5)
    assert bits_per_token(m, seqs, output=output) == pytest.approx(-np.concatenate(ref).mean() / np.log(2), abs=1e-5)


def _train(*args, out, data):
    return run_cli("train", "--data", data, "--out", out, *TINY, "-q", *args)


@pytest.mark.slow
def test_interrupt_at_random_moments_resumes_to_the_same_bytes(folk_dir, tmp_path):
    """SIGINT/SIGTERM at a random moment mid-run, then --resume: same bytes as no stop."""
    args = ["--epochs", 3, "--seed", 5]
    env = dict(os.environ, PYTHONWARNINGS="ignore")

    def launch(out):
        cmd = [sys.executable, "-m", "musicrnn", "train", "--data", str(folk_dir), "--out", str(out),
               *map(str, TINY), "-q", *map(str, args)]
        p = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT, env=env)
        line = p.stderr.readline()  # "N training, M validation and K test pieces ...": training begins
        assert "pieces" in line, line
        return p

    ref = run_cli("train", "--data", folk_dir, "--out", tmp_path / "ref", *TINY, "-q", *args)  # in this process
    assert ref.returncode == 0, ref.stderr
    length = json.loads(ref.stdout.strip().splitlines()[-1])["train_seconds"]  # the run itself, without start-up
    rng = random.Random(int.from_bytes(os.urandom(4), "little"))
    stopped = 0
    for k, sig in enumerate([signal.SIGINT, signal.SIGTERM]):
        out = tmp_path / f"run{k}"
        p = launch(out)
        time.sleep(rng.uniform(0.0, 0.8) * length)
        p.send_signal(sig)
        err = p.communicate(timeout=120)[1]
        assert "Traceback" not in err, err
        if p.returncode != 130:  # the run had finished (the signal came as it exited): nothing to resume
            assert json.loads((out / "metrics.json").read_text())["finished"], (p.returncode, err)
            continue
        assert p.returncode == 130, err
        assert "continue with --resume" in err
        stopped += 1
        r = run_cli("train", "--out", out, "--resume", "-q")  # no other flag: the run's own settings and folder
        assert r.returncode == 0, r.stderr
        for f in ("model.safetensors", "last/model.safetensors"):
            assert (out / f).read_bytes() == (tmp_path / "ref" / f).read_bytes(), (sig, f)
    assert stopped >= 1


def test_out_folder_is_not_clobbered_and_resume_refuses_changed_settings(folk_dir, tmp_path):
    out = tmp_path / "m"
    r = _train("--max-steps", 6, out=out, data=folk_dir)
    assert r.returncode == 0, r.stderr
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    r = _train("--epochs", 1, out=out, data=folk_dir)
    assert r.returncode == 2 and "--resume" in r.stderr and "--force" in r.stderr
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    r = run_cli("train", "--data", folk_dir, "--out", out, "--resume", "--hidden", 48, "--lr", 0.01, "-q")
    assert r.returncode == 2 and "hidden (32 -> 48)" in r.stderr and "lr (0.003 -> 0.01)" in r.stderr, r.stderr
    r = _train("--force", "--max-steps", 3, "--seed", 9, out=out, data=folk_dir)
    assert r.returncode == 0 and json.loads(r.stdout.strip().splitlines()[-1])["steps"] == 3


def test_fine_tuning_starts_from_the_given_model(folk_dir, tmp_path):
    base = tmp_path / "base"
    assert _train("--epochs", 2, out=base, data=folk_dir).returncode == 0
    r = run_cli("train", "--data", folk_dir, "--out", tmp_path / "ft", "--init", base, "--steps", 8, "--lr", 1e-3, "-q")
    assert r.returncode == 0, r.stderr
    assert "warning: only" not in r.stderr  # short runs are expected when fine-tuning
    ft = json.loads(r.stdout.strip().splitlines()[-1])
    scratch = json.loads(_train("--steps", 8, out=tmp_path / "scratch", data=folk_dir).stdout.strip().splitlines()[-1])
    meta = json.loads((tmp_path / "ft" / "config.json").read_text())
    assert meta["init"]["path"] == str(base) and meta["model"]["hidden"] == 32  # the size came from the checkpoint
    assert ft["best_valid_bits_per_token"] < scratch["best_valid_bits_per_token"] - 0.5
    assert "test_bits_per_token" in ft and ft["test_bits_per_token"] > 0
    r = run_cli("train", "--data", folk_dir, "--out", tmp_path / "ft2", "--init", base, "--hidden", 64, "-q")
    assert r.returncode == 2 and "hidden" in r.stderr
    # a shipped checkpoint (an older config that omits default settings) fine-tunes too
    r = run_cli("train", "--data", folk_dir, "--out", tmp_path / "ft3", "--init", ROOT / "checkpoints" / "folk",
                "--steps", 2, "--batch", 2, "--bptt", 16, "-q")
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "ft3" / "config.json").read_text())["model"]["hidden"] == 256


def test_short_run_from_scratch_warns_and_time_budget_plans_steps(folk_dir, tmp_path):
    r = _train("--epochs", 1, out=tmp_path / "a", data=folk_dir)
    assert r.returncode == 0 and "warning: only" in r.stderr and "--init" in r.stderr
    r = _train("--minutes", 0.1, out=tmp_path / "b", data=folk_dir)
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout.strip().splitlines()[-1])
    assert "time budget" in r.stderr and s["finished"] and s["planned_steps"] >= s["steps"] > 0
    assert s["train_seconds"] < 0.1 * 60 * 1.5


def test_a_killed_run_resumes_from_its_last_epoch_end(folk_dir, tmp_path, monkeypatch):
    """SIGKILL cannot be caught; OUT/last is also written at epoch ends (every SAVE_EVERY_S),
    so the run continues from there, still to the same bytes."""
    from musicrnn.core import train as train_mod
    from musicrnn.core.objectives import NextToken
    from musicrnn.core.train import TrainConfig
    from musicrnn.tasks.music import train_music

    mcfg = {"hidden": 16, "embed": 8, "layers": 1}
    cfg = TrainConfig(seed=2, batch=4, bptt=32, epochs=3, warmup=5, patience=9)
    full = train_music(folk_dir, tmp_path / "full", mcfg, cfg, log=lambda m: None)
    monkeypatch.setattr(train_mod, "SAVE_EVERY_S", 0.0)
    calls = {"n": 0}
    real = NextToken.score

    def dies_in_epoch_2_validation(*a, **k):  # a kill just after epoch 1's state was saved
        calls["n"] += 1
        if calls["n"] == 2:
            raise SystemExit("killed")
        return real(*a, **k)

    monkeypatch.setattr(NextToken, "score", dies_in_epoch_2_validation)
    with pytest.raises(SystemExit):
        train_music(folk_dir, tmp_path / "part", mcfg, cfg, log=lambda m: None)
    monkeypatch.setattr(NextToken, "score", real)
    rest = train_music(folk_dir, tmp_path / "part", mcfg, cfg, resume=True, log=lambda m: None)
    assert rest["finished"] and rest["loss_history"] == full["loss_history"]
    assert (tmp_path / "part" / "model.safetensors").read_bytes() == (tmp_path / "full" / "model.safetensors").read_bytes()

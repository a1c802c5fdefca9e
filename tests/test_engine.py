"""One engine for every family, objective and batch source: the guarantees the char-RNN
has (same seed -> same bytes; stopped + resumed == never stopped) hold for the
transformer, for float regression streams and for stateless clips; data-parallel
training over two gloo processes keeps the ranks identical and resumes exactly."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch

from conftest import CORPORA, ROOT
from musicrnn.codec import iter_midi_files

TF = {"dim": 32, "heads": 2, "layers": 2, "context": 64, "dropout": 0.1}


@pytest.fixture(scope="module")
def folk20(tmp_path_factory):
    d = tmp_path_factory.mktemp("folk20")
    for f in iter_midi_files([CORPORA / "folk" / "oneills1850"])[:20]:
        shutil.copy(f, d / f.name)
    return d


def _tcfg(**kw):
    from musicrnn.core.train import TrainConfig

    return TrainConfig(**{**dict(seed=4, batch=4, bptt=48, primer=16, lr=3e-3, epochs=2, warmup=5, patience=9), **kw})


def test_transformer_same_seed_same_bytes_and_resume_is_exact(folk20, tmp_path):
    from musicrnn.tasks.music import load_generator, load_model, train_music

    q = dict(log=lambda m: None, family="transformer")
    a = train_music(folk20, tmp_path / "a", TF, _tcfg(), **q)
    b = train_music(folk20, tmp_path / "b", TF, _tcfg(), **q)
    assert (tmp_path / "a" / "model.safetensors").read_bytes() == (tmp_path / "b" / "model.safetensors").read_bytes()
    assert a["loss_history"] == b["loss_history"] and a["loss_history"][-1] < a["loss_history"][0]
    k = a["steps"] // 2 + 1  # stop mid-epoch, then resume
    part = train_music(folk20, tmp_path / "p", TF, _tcfg(max_steps=k), **q)
    assert not part["finished"] and part["steps"] == k
    rest = train_music(folk20, tmp_path / "p", TF, _tcfg(), resume=True, **q)
    assert rest["finished"] and rest["loss_history"] == a["loss_history"]
    assert (tmp_path / "p" / "model.safetensors").read_bytes() == (tmp_path / "a" / "model.safetensors").read_bytes()
    meta = json.loads((tmp_path / "a" / "config.json").read_text())
    assert meta["family"] == "transformer" and meta["model"]["dim"] == 32 and meta["objective"]["output"] == "softmax"
    assert "test_bits_per_token" in meta["metrics"]
    # the checkpoint loads as the family it holds, in torch and in NumPy, and they agree
    model, vocab, _ = load_model(tmp_path / "a")
    stepper, _, _ = load_generator(tmp_path / "a")
    x = torch.tensor([[1, 3, 9, 40, 41]])
    want = model(x)[0][0, -1].detach().numpy()
    got, _ = stepper.start([1, 3, 9, 40, 41], 1)
    assert np.allclose(got[0], want, atol=1e-4)


def test_training_windows_with_a_primer_score_only_their_own_tokens():
    from musicrnn.core.data import Streams

    seqs = [np.arange(100 * i, 100 * i + 50) for i in range(1, 9)]
    st = Streams(seqs, batch=2, bptt=10, primer=4, seed=0, stateful=False)
    wins = [w for _, w in st.epoch(0)]
    assert all(w.x.shape == (2, 14) and w.score_from == 4 for w in wins)
    for a, b in zip(wins[:-1], wins[1:]):  # window w+1's primer is window w's last 4 inputs
        assert torch.equal(a.x[:, -4:], b.x[:, :4])
        assert torch.equal(a.y[:, -1], b.y[:, 3])  # scored targets continue without a gap or overlap
    assert not st.carries_state


def test_regression_on_float_streams_trains_and_resumes_exactly(tmp_path):
    """The same loop, a regression objective (Smooth L1) on float feature streams with a
    carried state: predict the next value of noisy sine waves."""
    from musicrnn.core import models
    from musicrnn.core.data import FeatureStreams
    from musicrnn.core.objectives import Regression
    from musicrnn.core.train import fit

    rng = np.random.default_rng(0)
    waves = [np.sin(np.arange(200) * f + p) for f, p in rng.uniform(0.1, 0.5, (12, 2))]
    xs = [np.stack([w[:-1], np.full(199, 1.0)], 1) for w in waves]
    ys = [w[1:, None] for w in waves]
    obj = Regression("smooth-l1")

    def run(out, resume=False, **kw):
        cfg = models.make_config("rnn", {"vocab_size": 1, "features": 2, "outputs": 1, "embed": 8, "hidden": 16,
                                         "layers": 1, "dropout": 0.0})
        src = FeatureStreams(xs[:10], ys[:10], batch=4, bptt=25, seed=1)
        return fit(models.build("rnn", cfg, seed=1), obj, src, lambda m: obj.score(m, list(zip(xs[10:], ys[10:]))),
                   _tcfg(epochs=6, primer=0, **kw), out, resume=resume, progress=False, log=lambda m: None)

    full = run(tmp_path / "f")
    assert full["best_valid_loss"] < 0.25 * full["valid"][0]["valid_loss"]  # it learned the waves
    assert run(tmp_path / "p", max_steps=7)["steps"] == 7
    rest = run(tmp_path / "p", resume=True)
    assert rest["loss_history"] == full["loss_history"]
    assert (tmp_path / "p" / "model.safetensors").read_bytes() == (tmp_path / "f" / "model.safetensors").read_bytes()


def test_stateless_clips_with_a_frame_objective():
    """Independent clips (no carried state) and the piano-roll frame objective."""
    from musicrnn.core import models
    from musicrnn.core.data import Clips
    from musicrnn.core.objectives import FrameBCE
    from musicrnn.core.train import fit

    rng = np.random.default_rng(0)
    K = 6
    # frame t+1 = frame t shifted by one key: learnable from the previous frame alone
    clips = []
    for _ in range(40):
        f = np.zeros((17, K), np.float32)
        f[0, rng.integers(0, K)] = 1
        for t in range(16):
            f[t + 1] = np.roll(f[t], 1)
        clips.append((f[:-1], f[1:]))
    obj = FrameBCE()
    cfg = models.make_config("rnn", {"vocab_size": 1, "features": K, "outputs": K, "embed": 8, "hidden": 16,
                                     "layers": 1, "dropout": 0.0})
    src = Clips(clips[:32], batch=8, seed=0)
    assert not src.carries_state and src.windows_per_epoch() == 4
    import tempfile

    with tempfile.TemporaryDirectory() as out:
        s = fit(models.build("rnn", cfg, seed=0), obj, src, lambda m: obj.score(m, clips[32:]),
                _tcfg(epochs=40, lr=1e-2, patience=40, primer=0), out, progress=False, log=lambda m: None)
    assert s["valid"][0]["valid_nll_per_frame"] > 3.0  # about 6 * log 2 at the start
    assert s["best_valid_nll_per_frame"] < 1.0


def _torchrun(*args, timeout=240):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "musicrnn", *map(str, args)]
    env = {**__import__("os").environ, "OMP_NUM_THREADS": "1", "MUSICRNN_THREADS": "1"}
    return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=timeout, env=env)


@pytest.mark.slow
def test_data_parallel_two_processes_stay_identical_and_resume_exactly(folk20, tmp_path):
    flags = ["--data", folk20, "--hidden", 16, "--embed", 8, "--layers", 1, "--batch", 4, "--bptt", 32,
             "--epochs", 1, "--warmup", 5, "--patience", 9, "--seed", 3, "-q"]
    r = _torchrun("train", "--out", tmp_path / "ddp", *flags)
    assert r.returncode == 0, r.stderr[-3000:]
    m = json.loads((tmp_path / "ddp" / "metrics.json").read_text())
    assert m["world_size"] == 2 and m["ranks_agree"] and m["finished"]
    h = m["loss_history"]
    assert np.mean(h[-5:]) < np.mean(h[:5]) - 0.5  # the loss falls
    meta = json.loads((tmp_path / "ddp" / "config.json").read_text())
    assert meta["distributed"] == {"world_size": 2}
    # stopped after 5 steps; resuming it in one process is refused in one line (and changes
    # nothing); resumed by 2 processes again: the same run, to the byte
    from conftest import run_cli

    r = _torchrun("train", "--out", tmp_path / "part", *flags, "--max-steps", 5)
    assert r.returncode == 0, r.stderr[-3000:]
    r1 = run_cli("train", "--out", tmp_path / "part", "--resume", "-q")
    assert r1.returncode == 2 and "saved by 2 processes; resume it with as many (now 1)" in r1.stderr, r1.stderr
    r = _torchrun("train", "--out", tmp_path / "part", *flags, "--resume")
    assert r.returncode == 0, r.stderr[-3000:]
    rest = json.loads((tmp_path / "part" / "metrics.json").read_text())
    assert rest["loss_history"] == h and rest["ranks_agree"]
    assert (tmp_path / "part" / "model.safetensors").read_bytes() == (tmp_path / "ddp" / "model.safetensors").read_bytes()


def test_family_flags_are_checked_against_the_family(tmp_path, folk20):
    from conftest import run_cli

    r = run_cli("train", "--model", "transformer", "--hidden", 64, "--data", folk20, "--out", tmp_path / "x")
    assert r.returncode == 2 and "--hidden is not a setting of the transformer model" in r.stderr
    r = run_cli("train", "--dim", 64, "--data", folk20, "--out", tmp_path / "x")
    assert r.returncode == 2 and "--dim is not a setting of the rnn model" in r.stderr
    r = run_cli("train", "--model", "transformer", "--dim", 30, "--heads", 4, "--data", folk20, "--out", tmp_path / "x")
    assert r.returncode == 2 and "heads" in r.stderr and not (tmp_path / "x").exists()
    r = run_cli("train", "--model", "transformer", "--context", 64, "--bptt", 64, "--primer", 16, "--data", folk20,
                "--out", tmp_path / "x")
    assert r.returncode == 2 and "must fit the model's context" in r.stderr
    # a transformer cannot fine-tune from an RNN checkpoint
    r = run_cli("train", "--model", "transformer", "--init", ROOT / "checkpoints" / "folk", "--data", folk20,
                "--out", tmp_path / "x")
    assert r.returncode == 2 and "a rnn model; it cannot start a --model transformer run" in r.stderr


def test_sample_evaluate_experiment_and_the_model_list_serve_a_transformer(folk20, tmp_path):
    from conftest import run_cli
    from musicrnn.ui.catalog import find_models

    arms = ["--variant", "model=rnn hidden=16 embed=8 layers=1 bptt=32",
            "--variant", "model=transformer dim=16 heads=2 layers=1 context=64 bptt=48 primer=16"]
    r = run_cli("experiment", *arms, "--seeds", 2, "--epochs", 1, "--batch", 4, "--warmup", 3, "-q",
                "--data", folk20, "--out", tmp_path / "exp")
    assert r.returncode == 0, r.stderr
    res = json.loads((tmp_path / "exp" / "results.json").read_text())
    names = res["variants"]
    assert res["configs"][names[1]]["model"] == "transformer" and res["configs"][names[1]]["dim"] == 16
    assert all(np.isfinite(res["summary"][n]["test_bits_per_token"]["mean"]) for n in names)
    ckpt = tmp_path / "exp" / "model=transformer_dim=16_heads=2_layers=1_context=64_bptt=48_primer=16" / "seed0"
    assert json.loads((ckpt / "config.json").read_text())["family"] == "transformer"
    r = run_cli("sample", "--checkpoint", ckpt, "--seconds", 5, "--seed", 1, "--out", tmp_path / "s.mid")
    assert r.returncode == 0 and (tmp_path / "s.mid").is_file(), r.stderr
    r = run_cli("evaluate", "--checkpoint", ckpt, "--data", folk20, "--samples", 2, "--seconds", 5, "--seed", 0)
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout.strip().splitlines()[-1])
    assert rep["bits_per_token"] > 0 and "bar_repeat_rate" in rep["corpus"]
    listed = {e.name: e for e in find_models([tmp_path / "exp"])}
    entry = [e for n, e in listed.items() if "transformer" in n and n.endswith("seed0")][0]
    assert "Transformer 1x16" in entry.description


def test_settings_are_typed_by_their_fields_and_checked_early(tmp_path, folk20):
    from conftest import run_cli
    from musicrnn import cli
    from musicrnn.core.errors import SettingsError
    from musicrnn.core.objectives import from_dict
    from musicrnn.tasks.musicsettings import split_settings

    from musicrnn.core.experiment import arms as arms_of
    from musicrnn.tasks.musicsettings import grad_scale, setting_fields

    args = cli.build_parser().parse_args(["experiment", "--vary", "grad_scale=off,phi", "--vary", "fused=false,true",
                                          "--data", "d", "--out", "o"])
    arms = arms_of(args.vary, args.variant, setting_fields("rnn"), {"grad_scale": grad_scale})
    assert list(arms) == ["grad_scale=off,fused=false", "grad_scale=off,fused=true", "grad_scale=phi,fused=false",
                          "grad_scale=phi,fused=true"]
    assert arms["grad_scale=phi,fused=false"] == {"grad_scale": pytest.approx(1.618034, abs=1e-6), "fused": False}
    assert arms["grad_scale=off,fused=true"]["grad_scale"] == 0.0
    # an older activation name is stored and compared as its current one
    assert split_settings({"activation": "iris-mm"})[1]["activation"] == "iris"
    family, mcfg, output, tcfg, _ = split_settings({"model": "transformer", "dim": 64})
    assert family == "transformer" and (tcfg.bptt, tcfg.primer, tcfg.lr) == (384, 128, 1e-3)  # the family's defaults
    # a char-RNN carries its state: a primer would make it read tokens twice
    r = run_cli("train", "--primer", 8, "--data", folk20, "--out", tmp_path / "x")
    assert r.returncode == 2 and "--primer is for the transformer" in r.stderr
    # a constrained model cannot be scored as if it were not
    with pytest.raises(SettingsError, match="ascending-keys"):
        from_dict({"kind": "next-token", "output": "softmax", "constraint": "ascending-keys"})

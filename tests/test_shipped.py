"""The shipped checkpoints: small, self-describing, and they make music from the CLI."""

import json

import numpy as np
import pytest

from conftest import ROOT, run_cli
from musicrnn.codec import CodecConfig, Vocab, decode
from musicrnn.shipped import default_checkpoint
from musicrnn.tasks.music import generate, load_generator, load_model

SHIPPED = [ROOT / "checkpoints" / name for name in ("folk-repeats", "folk-attention", "folk-transformer", "folk", "chorales")]


@pytest.mark.parametrize("ckpt", SHIPPED, ids=lambda p: p.name)
def test_shipped_checkpoint_is_small_and_documented(ckpt):
    size = sum(f.stat().st_size for f in ckpt.iterdir() if f.is_file())
    assert size < 25 * 2**20
    meta = json.loads((ckpt / "config.json").read_text())
    assert meta["command"].startswith("musicrnn train ") and "--data corpora/" in meta["command"]
    assert meta["metrics"]["valid_bits_per_token"] < 3.0
    codec = CodecConfig.from_dict(meta["codec"])  # the default codec, or the 'repeats' one (folk-repeats)
    assert meta["vocabulary"] == Vocab(codec).names and codec.drum_repeats in (0, 8)
    assert f"`{ckpt.name}/`" in (ROOT / "checkpoints" / "README.md").read_text()
    assert "test_bits_per_token" in meta["metrics"] or ckpt.name == "chorales"  # trained with a held-out test split


@pytest.mark.parametrize("ckpt", SHIPPED, ids=lambda p: p.name)
def test_shipped_model_samples_valid_music(ckpt):
    model, vocab, _ = load_generator(ckpt)  # NumPy, no torch
    pieces = generate(model, vocab, n=4, seconds=15, seed=0, temperature=1.0)
    torch_model, _, _ = load_model(ckpt)  # the torch model in memory samples the same tokens
    same = generate(torch_model, vocab, n=4, seconds=15, seed=0, temperature=1.0)
    assert all(np.array_equal(a, b) for a, b in zip(pieces, same))
    decoded = [decode(p, vocab) for p in pieces]
    assert all(d.score.n_notes >= 8 for d in decoded)
    assert np.mean([d.invalid_rate for d in decoded]) < 0.05


def test_default_sample_command(tmp_path):
    assert default_checkpoint() == SHIPPED[0]
    r = run_cli("sample", "--out", tmp_path / "song.mid", "--seconds", 10, "--seed", 1)
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout.strip().splitlines()[-1])
    assert info["notes"] > 5 and (tmp_path / "song.mid").stat().st_size > 50


@pytest.mark.slow
@pytest.mark.parametrize("name", ["jsb", "nottingham", "musedata", "piano"])
def test_polymusic_checkpoints_reproduce_their_test_figure(name):
    """Each benchmark checkpoint alone reproduces the test figure its run recorded."""
    from musicrnn.tasks.polymusic import evaluate_checkpoint

    ckpt = ROOT / "checkpoints" / f"polymusic-{name}"
    meta = json.loads((ckpt / "config.json").read_text())
    assert meta["data"]["dataset"] == name and meta["data"]["trained_on"] == "traindata"
    assert sum(f.stat().st_size for f in ckpt.iterdir()) < 25 * 2**20
    r = evaluate_checkpoint(ckpt, "test")
    assert r["nll"] == pytest.approx(meta["metrics"]["test_nll_per_frame"], abs=1e-3)
    assert r["nll"] < r["baseline_nll"]


def test_default_model_samples_at_its_own_temperature(tmp_path):
    """The default model's config stores the temperature chosen on its validation tunes;
    sampling without --temperature uses it (the same bytes as asking for it), and a given
    --temperature wins."""
    from musicrnn.tasks.music import sample_to_files, sampling_temperature

    meta = json.loads((SHIPPED[0] / "config.json").read_text())
    own = sampling_temperature(meta)
    assert 0.5 < own < 1.0 and "chosen_on" in meta["sampling"]
    default = sample_to_files(None, tmp_path / "a.mid", seconds=8, seed=3)
    assert default["temperature"] == own
    explicit = sample_to_files(None, tmp_path / "b.mid", seconds=8, seed=3, temperature=own)
    hotter = sample_to_files(None, tmp_path / "c.mid", seconds=8, seed=3, temperature=1.0)
    assert (tmp_path / "a.mid").read_bytes() == (tmp_path / "b.mid").read_bytes()
    assert (tmp_path / "a.mid").read_bytes() != (tmp_path / "c.mid").read_bytes()
    assert explicit["temperature"] == own and hotter["temperature"] == 1.0
    assert sampling_temperature({}) == 1.0  # a model with no stored temperature samples at 1


def test_shipped_voice_model_is_small_documented_and_converts(tmp_path):
    """The shipped voice model loads, is a voice (not listed among music models), and
    turns a male espeak clip into audio of the same length near the female register."""
    import soundfile as sf

    from musicrnn.ui.catalog import find_models
    from musicrnn.style.voice import convert_trained, frames_of, load_voice

    ckpt = ROOT / "checkpoints" / "voice-espeak-f3"
    assert sum(f.stat().st_size for f in ckpt.iterdir()) < 25 * 2**20
    meta = json.loads((ckpt / "config.json").read_text())
    assert meta["command"].startswith("musicrnn voice train ") and meta["family"] == "ddsp"
    assert f"`{ckpt.name}/`" in (ROOT / "checkpoints" / "README.md").read_text()
    assert "voice-espeak-f3" not in [e.name for e in find_models()]
    assert "voice-espeak-f3" in [e.name for e in find_models(task="voice")]
    v = load_voice(ckpt)
    assert v.profile is not None and len(v.index) > 1000
    y, sr = sf.read(ROOT / "corpora" / "voice" / "demo-source-male.wav", dtype="float32")
    out, info = convert_trained(y, sr, v)
    assert out.shape == y.shape and np.abs(out).max() <= 0.99 and info["transpose"] > 6
    f0 = frames_of(out).f0
    assert 160 < np.median(f0[f0 > 0]) < 300  # Hz: the female voice's register (its median is 210 Hz)

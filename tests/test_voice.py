"""The trained voice model (DDSP decoder through the core's fit) and the transfer command:
determinism, exact resume, conversion that keeps length, melody and level, and one-line
answers to bad input."""

import json
import shutil
import subprocess

import numpy as np
import pytest
import soundfile as sf

from conftest import run_cli

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is missing: "
                                "python3 -m musicrnn.install --test")

TINY = {"hidden": 32, "layers": 1, "embed": 16, "harmonics": 16, "noise_bands": 17}


@pytest.fixture(scope="module")
def voice_data(tmp_path_factory):
    from musicrnn.style.voicedata import espeak_voice_files

    folder = tmp_path_factory.mktemp("f3")
    files = espeak_voice_files("en-us+f3", folder, speeds=(175,))[:10]  # ~25 s of a female voice
    for extra in set(folder.iterdir()) - set(files):
        extra.unlink()
    return folder


@pytest.fixture(scope="module")
def male_clip(tmp_path_factory):
    p = tmp_path_factory.mktemp("m3") / "m3.wav"
    subprocess.run(["espeak-ng", "-v", "en-us+m3", "-w", str(p), "The rain in Spain stays mainly in the plain."],
                   check=True)
    return p


def _train(data, out, steps=8, max_steps=None, resume=False, seed=0):
    from musicrnn.core.train import TrainConfig
    from musicrnn.style.voice import train_voice

    cfg = TrainConfig(batch=4, lr=2e-3, steps=steps, max_steps=max_steps, seed=seed)
    return train_voice(data, out, train_cfg=cfg, model_settings=TINY, resume=resume, force=not resume,
                       progress=False, log=lambda m: None)


@pytest.fixture(scope="module")
def tiny_voice(voice_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("voice") / "v"
    _train(voice_data, out)
    return out


@pytest.mark.slow
def test_voice_training_is_deterministic_and_resumes_exactly(voice_data, tiny_voice, tmp_path):
    # a second run of the same seed, stopped after 3 steps and resumed, ends in the same
    # bytes as the fixture's uninterrupted run: deterministic and exactly resumable at once
    split = tmp_path / "split"
    first = _train(voice_data, split, max_steps=3)
    assert first["stopped_by"] == "max_steps"
    s = _train(voice_data, split, resume=True)
    assert s["steps"] == 8 and np.isfinite(s["best_valid_spectral_loss"])
    assert (split / "model.safetensors").read_bytes() == (tiny_voice / "model.safetensors").read_bytes()
    other = tmp_path / "seed1"
    _train(voice_data, other, seed=1)
    assert (other / "model.safetensors").read_bytes() != (tiny_voice / "model.safetensors").read_bytes()
    meta = json.loads((tiny_voice / "config.json").read_text())
    assert meta["family"] == "ddsp" and meta["objective"]["kind"] == "spectral" and meta["task"] == "voice"
    assert 150 < meta["model"]["f0_median"] < 300  # espeak's female voice, median f0 in Hz


def test_trained_conversion_keeps_length_melody_and_never_clips(tiny_voice, male_clip):
    from musicrnn.codec.audio import load_audio
    from musicrnn.style.voice import convert_trained, frames_of, load_voice

    v = load_voice(tiny_voice)
    y, sr = load_audio(male_clip, sr=22050)
    out, info = convert_trained(y, sr, v, transpose=12.0, index_rate=0.5)
    assert out.shape == y.shape and out.dtype == np.float32
    assert 0 < np.abs(out).max() <= 0.99 and np.isfinite(out).all()
    assert info["transpose"] == 12.0
    # the synthesizer plays the source's pitch an octave up: compare median f0 where both are voiced
    import librosa

    f_in = frames_of(librosa.resample(y, orig_sr=sr, target_sr=16000)).f0
    f_out = frames_of(librosa.resample(out, orig_sr=sr, target_sr=16000)).f0
    both = (f_in > 0) & (f_out > 0)
    assert both.sum() > 50
    assert abs(np.median(np.log2(f_out[both] / f_in[both])) - 1.0) < 0.1
    again, _ = convert_trained(y, sr, v, transpose=12.0, index_rate=0.5)
    assert np.array_equal(out, again)  # deterministic (the noise has a fixed seed)
    silent, _ = convert_trained(np.zeros(sr, np.float32), sr, v)
    assert not silent.any() and silent.shape == (sr,)


def test_transfer_command_with_a_clip_and_with_a_voice_model(tiny_voice, male_clip, voice_data, tmp_path):
    target_clip = sorted(voice_data.glob("*.wav"))[0]
    for target, tier in ((target_clip, "instant"), (tiny_voice, "trained")):
        out = tmp_path / f"{tier}.wav"
        r = run_cli("transfer", "--input", male_clip, "--target", target, "--out", out)
        assert r.returncode == 0, r.stderr
        res = json.loads(r.stdout.strip().splitlines()[-1])
        assert res["tier"] == tier and res["transpose"] > 3  # a male voice moves up toward a female one
        y, sr = sf.read(out)
        x, sr_in = sf.read(male_clip)
        assert sr == sr_in and len(y) == len(x) and np.abs(y).max() <= 0.99
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(male_clip, folder / "a.wav")
    (folder / "broken.wav").write_bytes(b"RIFF garbage")
    r = run_cli("transfer", "--input", folder, "--target", target_clip, "--out", tmp_path / "outdir")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "outdir" / "a.wav").is_file() and "skipped" in r.stderr and "broken.wav" in r.stderr


def _bad(tmp_path):
    sr = 16000
    rng = np.random.default_rng(0)
    files = {}
    for name, y, rate in (("silence.wav", np.zeros(sr * 2), sr), ("noise.wav", rng.uniform(-0.5, 0.5, sr * 2), sr),
                          ("short.wav", 0.3 * np.sin(np.arange(sr // 4) * 0.1), sr)):
        sf.write(tmp_path / name, y, rate)
        files[name] = tmp_path / name
    (tmp_path / "tune.mid").write_bytes(b"MThd\x00\x00\x00\x06\x00\x00\x00\x01\x01\xe0")
    files["midi.wav"] = tmp_path / "midi.wav"
    shutil.copy(tmp_path / "tune.mid", files["midi.wav"])
    (tmp_path / "corrupt.flac").write_bytes(b"fLaC" + bytes(100))
    files["corrupt.flac"] = tmp_path / "corrupt.flac"
    return files


def test_bad_input_gets_one_line_never_a_traceback(tiny_voice, male_clip, voice_data, tmp_path):
    target_clip = sorted(voice_data.glob("*.wav"))[0]
    bad = _bad(tmp_path)
    for name in ("short.wav", "midi.wav", "corrupt.flac"):
        r = run_cli("transfer", "--input", bad[name], "--target", target_clip, "--out", tmp_path / "o.wav")
        assert r.returncode == 2 and "Traceback" not in r.stderr, (name, r.stderr)
        assert r.stderr.count("\n") == 1 and name in r.stderr, (name, r.stderr)
    for name in ("silence.wav", "noise.wav"):  # a sensible result: same length, no clipping
        r = run_cli("transfer", "--input", bad[name], "--target", target_clip, "--out", tmp_path / "o.wav")
        assert r.returncode == 0 and "Traceback" not in r.stderr, (name, r.stderr)
        y, _ = sf.read(tmp_path / "o.wav")
        assert len(y) == 32000 and np.abs(y).max() <= 0.99
    for name in ("silence.wav", "midi.wav"):  # as a target
        r = run_cli("transfer", "--input", male_clip, "--target", bad[name], "--out", tmp_path / "o.wav")
        assert r.returncode == 2 and "Traceback" not in r.stderr and r.stderr.count("\n") == 1, (name, r.stderr)
    # a voice model of another format version, and a folder that is no voice model
    old = tmp_path / "old"
    shutil.copytree(tiny_voice, old, ignore=shutil.ignore_patterns("last"))
    meta = json.loads((old / "config.json").read_text())
    meta["model"]["format"] = 99
    (old / "config.json").write_text(json.dumps(meta))
    for target, words in ((old, "format 99"), (tmp_path, "not a voice model")):
        r = run_cli("transfer", "--input", male_clip, "--target", target, "--out", tmp_path / "o.wav")
        assert r.returncode == 2 and words in r.stderr and "Traceback" not in r.stderr, r.stderr
    # 8 kHz telephone audio, stereo: converted, at their own rate and length
    y, sr = sf.read(male_clip)
    import librosa

    sf.write(tmp_path / "phone.wav", librosa.resample(y, orig_sr=sr, target_sr=8000), 8000)
    sf.write(tmp_path / "stereo.wav", np.stack([y, y * 0.5], 1), sr)
    for name, rate in (("phone.wav", 16000), ("stereo.wav", sr)):
        r = run_cli("transfer", "--input", tmp_path / name, "--target", tiny_voice, "--out", tmp_path / "o.wav")
        assert r.returncode == 0, (name, r.stderr)
        out, out_sr = sf.read(tmp_path / "o.wav")
        assert out.ndim == 1 and out_sr == rate and np.abs(out).max() <= 0.99

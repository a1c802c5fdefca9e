"""Live conversion (musicrnn.style.live, `musicrnn transfer --live`)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT, run_cli
from musicrnn.codec.audio import load_audio
from musicrnn.style import metrics as M
from musicrnn.style.instant import build_profile, convert_with_info
from musicrnn.style.live import LiveConverter, convert_stream

VOICE = ROOT / "corpora" / "voice"


@pytest.fixture(scope="module")
def pair():
    y, sr = load_audio(VOICE / "demo-source-male.wav", sr=16000)
    t, _ = load_audio(VOICE / "demo-target-female.wav", sr=16000)
    return y, sr, build_profile(t, sr)


def test_blocks_of_any_size_come_back_as_many_samples_delayed_80_ms(pair):
    y, sr, profile = pair
    live = LiveConverter(profile, sr)
    assert live.delay_s == pytest.approx(0.08)
    sizes = [1, 100, 639, 640, 2000, 17]
    got = [live.process(y[:n]).size for n in sizes]
    assert got == sizes
    with pytest.raises(ValueError, match="16000"):
        LiveConverter(profile, 22050)


def test_the_stream_follows_the_offline_conversion_keeps_the_melody_and_keeps_up(pair):
    y, sr, profile = pair
    out, st = convert_stream(y, sr, profile)
    off = convert_with_info(y, sr, profile)
    assert out.shape == y.shape and np.abs(out).max() <= 0.99 + 1e-9 and np.isfinite(out).all()
    assert st["semitones"] == off.semitones == 12.0
    src, live_f0 = M.metric_f0(y, sr), M.metric_f0(out, sr)
    assert M.f0_kept(src, live_f0, 12.0) >= 0.9  # the melody, an octave up, in the stream too
    # nearer the offline conversion than the source is (offline vs source: 13.4 dB)
    assert M.mcd(off.audio, sr, out, sr) < 0.7 * M.mcd(off.audio, sr, y, sr)
    assert st["rtf"] < 1.0  # a block computes faster than it lasts (0.2-0.3 here, alone)


def test_live_from_standard_input_to_standard_output_and_from_a_file(pair, tmp_path):
    y, sr, _ = pair
    raw = (y[: sr * 2] * 32767).astype("<i2").tobytes()
    cmd = [sys.executable, "-m", "musicrnn", "transfer", "--live", "--input", "-", "--target",
           str(VOICE / "demo-target-female.wav"), "--out", "-"]
    r = subprocess.run(cmd, input=raw, capture_output=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stderr.decode()[-2000:]
    out = np.frombuffer(r.stdout, "<i2")
    assert abs(out.size - (len(raw) // 2 + int(0.08 * sr))) <= 1000 and np.abs(out).max() > 1000
    assert b"delay 80 ms" in r.stderr
    r = run_cli("transfer", "--live", "--fast", "--input", VOICE / "demo-source-male.wav", "--target",
                VOICE / "demo-target-female.wav", "--out", tmp_path / "live.wav")
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert res["delay_ms"] == 80 and res["transpose"] == 12.0 and (tmp_path / "live.wav").stat().st_size > 44
    r = run_cli("transfer", "--live", "--input", VOICE / "demo-source-male.wav", "--target",
                ROOT / "checkpoints" / "voice-espeak-f3", "--out", tmp_path / "x.wav")
    assert r.returncode == 2 and "a clip of the target voice" in r.stderr

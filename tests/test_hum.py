"""Hum a primer: a sung melody becomes MIDI (`musicrnn codec transcribe`) and primes
`musicrnn sample --primer tune.wav`, on the command line as on the page's API."""

import json
import shutil

import numpy as np
import pytest
import soundfile as sf

from conftest import run_cli
from musicrnn.codec import read_midi

pytestmark = pytest.mark.skipif(shutil.which("text2wave") is None, reason="festival is missing: "
                                "python3 -m musicrnn.install --test")

PITCHES = [60, 62, 64, 60, 67, 65, 64, 62]  # a tune of quarter notes at 100 qpm


@pytest.fixture(scope="module")
def sung(tmp_path_factory):
    from musicrnn.codec.melody import Melody
    from musicrnn.codec.synth import sing_festival

    beat = 0.6
    on = np.arange(len(PITCHES)) * beat
    mel = Melody(onsets_s=on, offsets_s=on + beat * 0.9, pitches=np.array(PITCHES), velocities=np.full(8, 90),
                 tempo_qpm=100.0)
    y, sr = sing_festival(mel, voice="kal")
    path = tmp_path_factory.mktemp("hum") / "sung.wav"
    sf.write(path, y, sr)
    return path


def test_transcribe_command_recovers_the_sung_tune(sung, tmp_path):
    r = run_cli("codec", "transcribe", sung, "--out", tmp_path / "tune.mid")
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout.strip().splitlines()[-1])
    score = read_midi(tmp_path / "tune.mid")
    got = score.pitch[np.argsort(score.start, kind="stable")].tolist()
    assert res["notes"] == len(got)
    # pitch classes relative to the first note: festival sings in tune, an octave choice aside
    assert [(p - got[0]) % 12 for p in got] == [(p - PITCHES[0]) % 12 for p in PITCHES], got


def test_sample_continues_a_hummed_primer(sung, tmp_path):
    r = run_cli("sample", "--primer", sung, "--seconds", 8, "--seed", 0, "--out", tmp_path / "cont.mid")
    assert r.returncode == 0, r.stderr
    score = read_midi(tmp_path / "cont.mid")
    first = score.pitch[np.argsort(score.start, kind="stable")][:8].tolist()
    assert [(p - first[0]) % 12 for p in first] == [(p - PITCHES[0]) % 12 for p in PITCHES]
    assert score.n_notes > 8  # and it went on


def test_unusable_primer_audio_gets_one_line(tmp_path):
    sf.write(tmp_path / "silence.wav", np.zeros(16000 * 2), 16000)
    rng = np.random.default_rng(0)
    sf.write(tmp_path / "noise.wav", rng.uniform(-0.5, 0.5, 16000 * 2), 16000)
    for name in ("silence.wav", "noise.wav"):
        r = run_cli("sample", "--primer", tmp_path / name, "--seconds", 5, "--out", tmp_path / "x.mid")
        assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
        assert name in r.stderr and "melody" in r.stderr and r.stderr.count("\n") == 1, r.stderr

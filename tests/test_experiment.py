"""The ablation runner: same seeds for every variant, deterministic numbers, CI and paired tests."""

import json
import shutil

from conftest import CORPORA, run_cli
from musicrnn.codec import iter_midi_files

FLAGS = ["--hidden", 12, "--embed", 8, "--layers", 1, "--epochs", 1, "--batch", 4, "--bptt", 32, "--warmup", 5, "-q"]


def test_experiment_is_deterministic_and_reports_intervals(tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    for f in iter_midi_files([CORPORA / "folk" / "airdsAirs"])[:8]:
        shutil.copy(f, d / f.name)
    outs = []
    # the same two arms, once as a grid (--vary) and once listed explicitly (--variant)
    specs = {"a": ["--vary", "cell=lstm,lstm-lite"], "b": ["--variant", "cell=lstm", "--variant", "cell=lstm-lite"]}
    for name, spec in specs.items():
        r = run_cli("experiment", *spec, "--seeds", 2, "--data", d, "--out", tmp_path / name, *FLAGS)
        assert r.returncode == 0, r.stderr
        outs.append(json.loads((tmp_path / name / "results.json").read_text()))
    a, b = outs
    assert a["summary"] == b["summary"] and a["paired_vs_first"] == b["paired_vs_first"]
    assert a["variants"] == ["cell=lstm", "cell=lstm-lite"] and a["seeds"] == [0, 1]
    s = a["summary"]["cell=lstm"]["valid_bits_per_token"]
    assert s["n"] == 2 and s["ci95"][0] <= s["mean"] <= s["ci95"][1]
    p = a["paired_vs_first"]["cell=lstm-lite"]["valid_bits_per_token"]
    assert 0 <= p["p_t"] <= 1 and p["ci95_diff"][0] <= p["mean_diff"] <= p["ci95_diff"][1]
    assert a["configs"]["cell=lstm-lite"]["cell"] == "lstm-lite" and a["configs"]["cell=lstm"]["hidden"] == 12
    md = (tmp_path / "a" / "results.md").read_text()
    assert md.count("| cell=lstm-lite |") == 12  # 6 metrics x (summary, paired)
    assert "## test_bits_per_token (lower is better)" in md
    assert "## valid_ece (lower is better)" in md and "## valid_accuracy (higher is better)" in md
    run = a["runs"]["cell=lstm"]["0"]
    assert 0 < run["valid_ece"] < 1 and 0 < run["valid_accuracy"] < 1 and 0 < run["valid_mean_confidence"] < 1
    for png in ("results.png", "reliability.png"):
        assert (tmp_path / "a" / png).read_bytes()[:4] == b"\x89PNG"
    # re-running reads finished runs back: identical numbers, no retraining
    r = run_cli("experiment", "--vary", "cell=lstm,lstm-lite", "--seeds", 2, "--data", d, "--out", tmp_path / "a", *FLAGS)
    assert r.returncode == 0, r.stderr
    assert "seed 0" in r.stderr and len(list((tmp_path / "a").rglob("last"))) == 4  # the same 4 runs, none new
    assert json.loads((tmp_path / "a" / "results.json").read_text())["summary"] == a["summary"]


def test_experiment_rejects_bad_specs(tmp_path):
    r = run_cli("experiment", "--vary", "nonsense=1,2", "--data", CORPORA / "chorales", "--out", tmp_path / "x")
    assert r.returncode == 2 and "--vary" in r.stderr
    r = run_cli("experiment", "--vary", "cell=lstm,gru", "--seeds", 1, "--data", CORPORA / "chorales", "--out", tmp_path / "x")
    assert r.returncode == 2 and "seeds" in r.stderr
    r = run_cli("experiment", "--variant", "cell", "--data", CORPORA / "chorales", "--out", tmp_path / "x")
    assert r.returncode == 2 and "FLAG=VALUE" in r.stderr
    r = run_cli("experiment", "--variant", "cell=gru", "--vary", "hidden=8,16", "--data", CORPORA / "chorales",
                "--out", tmp_path / "x")
    assert r.returncode == 2 and "not both" in r.stderr
    # a bad value in any arm is refused before any arm trains
    r = run_cli("experiment", "--vary", "activation=tanh,bogus", "--seeds", 2, "--data", CORPORA / "chorales",
                "--out", tmp_path / "z")
    assert r.returncode == 2 and "unknown activation 'bogus'" in r.stderr and not (tmp_path / "z").exists()


def test_experiment_refuses_to_reuse_runs_trained_with_other_settings(tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    for f in iter_midi_files([CORPORA / "folk" / "airdsAirs"])[:4]:
        shutil.copy(f, d / f.name)
    r = run_cli("experiment", "--vary", "cell=lstm,gru", "--seeds", 2, "--data", d, "--out", tmp_path / "x", *FLAGS)
    assert r.returncode == 0, r.stderr
    flags = [str(v) for v in FLAGS]
    flags[flags.index("--hidden") + 1] = "10"
    r = run_cli("experiment", "--vary", "cell=lstm,gru", "--seeds", 2, "--data", d, "--out", tmp_path / "x", *flags)
    assert r.returncode == 2 and "other settings (hidden)" in r.stderr

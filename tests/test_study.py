"""``musicrnn study``: parts run as experiments, finished runs are read back (so it resumes),
and the answers table carries Holm-adjusted p-values over the whole family."""

import json

import pytest

from conftest import folk_folder, run_cli
from musicrnn import study


@pytest.fixture(scope="module")
def folk_dir(tmp_path_factory):
    return folk_folder(tmp_path_factory, 24)


def test_the_study_runs_resumes_and_answers_with_holm(folk_dir, tmp_path, monkeypatch):
    tiny = {**study.CHAR_RNN, "data": str(folk_dir), "hidden": 16, "embed": 8, "batch": 4, "bptt": 16, "steps": 6}
    parts = [study.Part("t-a", 1, "music", tiny, ["stateless=false", "stateless=true"], seeds=2),
             study.Part("t-b", 2, "music", tiny, ["output=softmax", "output=topcat", "output=topcat-sigmoid"], seeds=2,
                        compare=[("output=topcat", "output=topcat-sigmoid")])]
    monkeypatch.setattr(study, "PARTS", parts)
    monkeypatch.setattr(study, "HEADLINES", {**study.HEADLINES, 1: ("t-a", "stateless=true", "stateless=false",
                                                                     "test_bits_per_token")})
    monkeypatch.setattr(study, "PROBE", None)  # the attention probe reads the whole folk corpus: tested on its own
    research = tmp_path / "research.md"
    research.write_text("# Research\n\nThe old text.\n")
    out, docs = tmp_path / "runs", tmp_path / "docs"
    run_cli("study", "--only", "t-a", "--out", str(out), "--docs", str(docs), "--research", str(research))
    assert (docs / "t-a" / "results.md").is_file() and not (docs / "t-b").exists()
    assert (docs / "t-a" / "reliability.png").stat().st_size > 10_000  # the arms' calibration, pooled over seeds
    text = research.read_text()
    assert text.startswith("# Research\n") and "The old text." in text
    assert text.count(study.MARK_START) == 1 and "| 2. Topcat" in text and "not run yet" in text
    rows = json.loads((docs / "answers.json").read_text())
    assert len(rows) == 1 and rows[0]["arm"] == "stateless=true" and rows[0]["seeds"] == 2
    stamp = (out / "t-a" / "stateless=true" / "seed1" / "model.safetensors").stat().st_mtime_ns
    run_cli("study", "--out", str(out), "--docs", str(docs), "--research", str(research))  # all parts: t-a read back
    assert (out / "t-a" / "stateless=true" / "seed1" / "model.safetensors").stat().st_mtime_ns == stamp
    rows = json.loads((docs / "answers.json").read_text())
    assert [r["part"] for r in rows] == ["t-a", "t-b", "t-b", "t-b"]
    assert [(r["baseline"], r["arm"]) for r in rows][-1] == ("output=topcat", "output=topcat-sigmoid")  # a compare pair
    head = next(line for line in research.read_text().splitlines() if line.startswith("| 1. "))
    assert "t-a: stateless=true vs stateless=false, test_bits_per_token" in head and "not run yet" not in head
    assert f"{rows[0]['diff']:+.4f}" in head  # the headline row carries the test's numbers
    assert "### Every test" in research.read_text()
    # every test in one picture, linked from both tables by a path that resolves from each
    assert (docs / "answers.png").stat().st_size > 10_000
    assert "](answers.png)" in (docs / "answers.md").read_text() and "](docs/answers.png)" in research.read_text()
    ps = sorted(r["p"] for r in rows)
    assert min(r["holm"] for r in rows) == pytest.approx(min(1.0, len(rows) * ps[0]))  # Holm over both parts' tests
    assert research.read_text().count(study.MARK_START) == 1  # refreshed in place, not added twice
    for r in rows:
        assert r["says"] == "not shown" or r["holm"] < 0.05

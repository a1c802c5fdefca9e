"""What a new user hit when sampling and evaluating (issue 21's papercuts): each of
several pieces has its own seed and can be made again alone; a piece is as long as asked
(the primer's length plus --seconds); the `wrote` line names invalid tokens; an early
stop is recorded; --split all says it scores the training files too."""

import json
import re
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from conftest import CORPORA, run_cli  # noqa: E402

CHORALE = CORPORA / "chorales" / "riemenschneider001_bwv269.mid"


def _pieces(r):
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    return out if isinstance(out, list) else [out]


def test_each_piece_has_its_own_seed_and_is_made_again_alone(tmp_path):
    three = _pieces(run_cli("sample", "--num", 3, "--seconds", 8, "--seed", 5, "--out", tmp_path / "p.mid"))
    assert [p["seed"] for p in three] == [5, 6, 7]
    alone = _pieces(run_cli("sample", "--seconds", 8, "--seed", 6, "--out", tmp_path / "q.mid"))
    assert (tmp_path / "p_2.mid").read_bytes() == (tmp_path / "q.mid").read_bytes() and alone[0]["seed"] == 6
    r = run_cli("sample", "--num", 2, "--seconds", 4, "--out", tmp_path / "r.mid")
    assert re.search(r"wrote \S+r_2\.mid: \d+ notes, [\d.]+ s, seed \d+", r.stderr), r.stderr
    assert "a piece's own seed, on its line, makes that piece alone" in r.stderr


def test_the_length_asked_for_is_the_length_written(tmp_path, vocab):
    from musicrnn.codec import encode, read_midi
    from musicrnn.tasks.music import prompt_seconds

    for p in _pieces(run_cli("sample", "--num", 3, "--seconds", 12, "--seed", 1, "--out", tmp_path / "a.mid")):
        assert 12 - 2.5 <= p["seconds"] <= 12.0 + 1e-6, p  # within a bar (2 s at the folk tunes' tempo)
    # a primer: its length, then --seconds more, whatever the notes held at the end
    start = prompt_seconds(encode(read_midi(CHORALE), vocab), vocab)
    [p] = _pieces(run_cli("sample", "--primer", CHORALE, "--seconds", 10, "--seed", 73950022,
                          "--out", tmp_path / "c.mid"))
    assert start + 10 - 4 <= p["seconds"] <= start + 10 + 1e-6, (start, p)
    assert read_midi(tmp_path / "c.mid").seconds(read_midi(tmp_path / "c.mid").end.max()) <= start + 10 + 0.01


def test_a_chorale_continued_by_the_folk_model_is_valid_and_keeps_its_band(tmp_path):
    """The issue's case: the folk model continuing a Bach chorale wrote 3.9% invalid tokens
    and about 200 program-0 tracks. The sampler draws only what the grammar allows."""
    r = run_cli("sample", "--primer", CHORALE, "--seconds", 10, "--seed", 73950022, "--out", tmp_path / "c.mid")
    [p] = _pieces(r)
    assert p["invalid_tokens"] == 0 and "invalid" not in r.stderr
    assert p["instruments"] == [0] and "; 1 instrument: Acoustic Grand Piano" in r.stderr


def test_an_early_stop_is_recorded_and_split_all_says_what_it_scores(tmp_path):
    few = tmp_path / "few"
    few.mkdir()
    for f in sorted((CORPORA / "chorales").glob("riemenschneider00*.mid"))[:4]:
        shutil.copy(f, few)
    r = run_cli("train", "--data", few, "--out", tmp_path / "m", "--hidden", 16, "--embed", 8, "--layers", 1,
                "--batch", 2, "--bptt", 16, "--epochs", 30, "--lr", 0.3, "--patience", 1, "--seed", 0, "-q")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert summary["finished"] and summary["epochs_done"] < 30 and summary["stopped_by"] == "early_stop", summary
    r = run_cli("evaluate", "--checkpoint", tmp_path / "m", "--data", few, "--split", "all", "--samples", 1,
                "--seconds", 2, "--seed", 0)
    assert r.returncode == 0, r.stderr
    assert "the model's training files included: its bits/token is not a held-out figure" in r.stderr
    assert "not a held-out figure" in json.loads(r.stdout)["note"]


def test_a_primer_far_from_the_corpus_is_named_with_the_model_that_fits_it(tmp_path):
    """The folk model continuing a Bach chorale says the primer is far from what it learned
    and names the chorale model; a folk tune gets no such line."""
    r = run_cli("sample", "--primer", CHORALE, "--seconds", 4, "--seed", 1, "--out", tmp_path / "c.mid")
    [p] = _pieces(r)
    assert re.search(r"primer: [\d.]+ bits/token under folk-repeats, against 1\.03 on its own held-out pieces: "
                     r"far from what it learned.*chorales fits it better \([\d.]+ bits/token\): --checkpoint \S+chorales",
                     r.stderr), r.stderr
    from musicrnn.tasks.music import primer_ids, load_generator, primer_fit

    stepper, vocab, meta = load_generator()
    fit = primer_fit(primer_ids(CHORALE, vocab)[0], stepper, meta, vocab)
    assert fit["far"] and fit["better"]["name"] == "chorales" and fit["better"]["bits_per_token"] < fit["bits_per_token"]
    tune = sorted((CORPORA / "folk").rglob("*.mid"))[0]
    r = run_cli("sample", "--primer", tune, "--seconds", 4, "--seed", 1, "--out", tmp_path / "t.mid")
    assert r.returncode == 0 and "far from what it learned" not in r.stderr, r.stderr


def test_a_primer_no_shipped_model_fits_is_said_so(tmp_path):
    """A multi-track song (OpenMSX) is far from every shipped model: no model is named."""
    from conftest import OPENMSX

    song = sorted(OPENMSX.glob("*.mid"))[2]
    r = run_cli("sample", "--primer", song, "--seconds", 2, "--seed", 3, "--out", tmp_path / "b.mid")
    assert r.returncode == 0, r.stderr
    assert "far from what it learned" in r.stderr and "no shipped model fits it closely" in r.stderr, r.stderr

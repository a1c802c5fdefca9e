"""The polyphonic piano-roll benchmarks: data, serialisation, canonical mask, metric and baseline."""

import itertools
import math

import numpy as np
import pytest

from conftest import ROOT
from musicrnn.core.errors import DataError
from musicrnn.tasks import polymusic as pm

# Frame-independent Bernoulli fitted on train, nats/frame: the published test figures, and the
# valid figures this implementation gives (not published; pinned against regressions).
PUBLISHED_TEST = {"jsb": 11.06, "nottingham": 10.25, "musedata": 11.51, "piano": 11.05}
OURS_VALID = {"jsb": 10.952, "nottingham": 10.003, "musedata": 11.847, "piano": 11.491}
PIECES = {"jsb": (229, 76, 77), "nottingham": (694, 173, 170), "musedata": (524, 135, 124), "piano": (87, 12, 25)}
TEST_FRAMES = {"jsb": 4725, "nottingham": 44463, "musedata": 64339, "piano": 19036}


def _frames(keys):
    """All 2**keys frames as (keys,) bool arrays."""
    return [np.array(bits, bool) for bits in itertools.product([0, 1], repeat=keys)]


def _padded(seqs, pad=-1):
    out = np.full((len(seqs), max(len(s) for s in seqs)), pad, np.int64)
    for i, s in enumerate(seqs):
        out[i, : len(s)] = s
    return out


# ---------------------------------------------------------------------------------------------
# Data and baseline


@pytest.mark.parametrize("dataset", list(pm.DATASETS))
def test_layout_and_bernoulli_baseline(dataset):
    splits = {s: pm.load(dataset, s) for s in pm.SPLITS}
    assert tuple(len(splits[s]) for s in pm.SPLITS) == PIECES[dataset]
    assert sum(len(r) for r in splits["test"]) == TEST_FRAMES[dataset]
    for rolls in splits.values():
        assert all(r.dtype == bool and r.ndim == 2 and r.shape[1] == pm.KEYS for r in rolls)
    test = pm.bernoulli_baseline(splits["train"], splits["test"])
    valid = pm.bernoulli_baseline(splits["train"], splits["valid"])
    assert abs(test - PUBLISHED_TEST[dataset]) < 0.05, test
    assert abs(valid - OURS_VALID[dataset]) < 0.005, valid


def test_bernoulli_hand_computed():
    train = [np.array([[1, 0], [1, 0]], bool)]  # Laplace: p = (3/4, 1/4)
    ev = [np.array([[1, 1], [0, 0]], bool)]
    want = -(np.log(0.75) + np.log(0.25) + np.log(0.25) + np.log(0.75)) / 2
    assert pm.bernoulli_baseline(train, ev) == pytest.approx(want)


def test_load_returns_copies():
    a = pm.load("jsb", "test")
    a[0][:] = True
    assert not pm.load("jsb", "test")[0].all()


def test_unknown_dataset_split_and_missing_file(tmp_path):
    with pytest.raises(DataError, match="bogus"):
        pm.load("bogus", "train")
    with pytest.raises(DataError, match="validation"):
        pm.load("jsb", "validation")
    with pytest.raises(DataError, match="not found"):
        pm.load("jsb", "train", root=tmp_path)


def test_root_override_and_note_list_layout(tmp_path):
    import scipy.io

    pieces = np.empty((1, 2), object)
    pieces[0, 0] = np.eye(88, dtype=np.uint8)[:3]
    pieces[0, 1] = np.zeros((2, 88), np.uint8)
    scipy.io.savemat(tmp_path / "JSB_Chorales.mat", {f"{s}data": pieces for s in pm.SPLITS})
    rolls = pm.load("jsb", "valid", root=tmp_path)
    assert [r.shape for r in rolls] == [(3, 88), (2, 88)]
    assert (rolls[0] == np.eye(88, dtype=bool)[:3]).all() and not rolls[1].any()
    # The original Boulanger-Lewandowski layout: frames listing MIDI pitches 21..108.
    roll = pm._to_roll([[60, 64], [], [21, 108]], "x")
    assert roll.shape == (3, 88)
    assert sorted(np.nonzero(roll[0])[0]) == [39, 43] and not roll[1].any() and roll[2, [0, 87]].all()
    with pytest.raises(DataError, match="outside"):
        pm._to_roll([[20]], "x")


# ---------------------------------------------------------------------------------------------
# Serialisation


def test_encode_example():
    roll = np.zeros((3, 88), bool)
    roll[0, [40, 3]] = True
    roll[2, 87] = True
    assert pm.encode(roll).tolist() == [pm.BOS, 3, 40, pm.EOF, pm.EOF, 87, pm.EOF]
    assert pm.encode(roll).dtype == np.int64
    assert pm.encode(np.zeros((0, 88), bool)).tolist() == [pm.BOS]
    assert pm.decode([pm.BOS]).shape == (0, 88)
    # Tolerant of a missing final EOF and of a missing BOS.
    assert (pm.decode([pm.BOS, 3, 40, pm.EOF, pm.EOF, 87]) == roll).all()
    assert (pm.decode([3, 40, pm.EOF, pm.EOF, 87, pm.EOF]) == roll).all()
    with pytest.raises(ValueError):
        pm.decode([pm.BOS, 3, pm.BOS, pm.EOF])
    # Generic key count.
    assert pm.encode(np.array([[1, 0, 1], [0, 0, 0]], bool)).tolist() == [4, 0, 2, 3, 3]
    assert pm.decode([4, 0, 2, 3, 3], keys=3).tolist() == [[True, False, True], [False, False, False]]


@pytest.mark.parametrize("dataset", ["jsb", "nottingham"])
def test_roundtrip_every_piece(dataset):
    for split in pm.SPLITS:
        for roll in pm.load(dataset, split):
            toks = pm.encode(roll)
            assert pm.frames_of([toks]) == len(roll)
            assert len(toks) == 1 + len(roll) + int(roll.sum())
            back = pm.decode(toks)
            assert back.shape == roll.shape and (back == roll).all()


# ---------------------------------------------------------------------------------------------
# The mask


def test_canonical_next_token_always_allowed_jsb():
    seqs = [pm.encode(r) for s in pm.SPLITS for r in pm.load("jsb", s)]
    x = _padded(seqs)
    allowed = pm.allowed_next(x).numpy()
    assert allowed.shape == x.shape + (pm.VOCAB,)
    lengths = np.array([len(s) for s in seqs])
    b, t = np.nonzero(np.arange(x.shape[1] - 1)[None] < (lengths - 1)[:, None])
    assert allowed[b, t, x[b, t + 1]].all()
    assert not allowed[..., pm.BOS].any()


def test_mask_rules():
    import torch

    x = torch.arange(pm.VOCAB)[None]  # every token once
    a = pm.allowed_next(x)[0].numpy()
    assert not a[:, pm.BOS].any() and a[:, pm.EOF].all()
    for k in range(pm.KEYS):
        assert not a[k, : k + 1].any() and a[k, k + 1 : pm.KEYS].all()
    assert a[pm.BOS, : pm.EOF + 1].all() and a[pm.EOF, : pm.EOF + 1].all()


@pytest.mark.parametrize("keys", [1, 3, 88])
def test_numpy_and_torch_masks_agree(keys):
    import torch

    rng = np.random.default_rng(keys)
    x = rng.integers(-2, keys + 2, size=(5, 100))  # includes padding values -1, -2
    x[0, : keys + 2] = np.arange(keys + 2)
    t = pm.allowed_next(torch.from_numpy(x), keys).numpy()
    assert t.shape == (5, 100, keys + 2) and t.dtype == bool
    assert (pm.allowed_next_np(x, keys) == t).all()
    assert (pm.allowed_next_np(x[:, 7], keys) == t[:, 7]).all()


def _tiny_model(keys, seed):
    import torch

    torch.manual_seed(seed)
    emb = torch.nn.Embedding(keys + 2, 8)
    gru = torch.nn.GRU(8, 16, batch_first=True)
    out = torch.nn.Linear(16, keys + 2)

    def logits(x):
        with torch.no_grad():
            return 4.0 * out(gru(emb(x))[0])  # scaled: sharp, far from uniform

    return logits


def _position_table(keys, seed):
    import torch

    table = torch.randn(64, keys + 2, generator=torch.Generator().manual_seed(seed)) * 5.0

    def logits(x):
        return table[: x.shape[1]].expand(x.shape[0], -1, -1)  # a fixed random function of position

    return logits


@pytest.mark.parametrize("keys", [3, 5])
@pytest.mark.parametrize("source", ["gru", "position"])
def test_masked_chain_rule_is_a_distribution_over_frames(keys, source):
    import torch

    logits_of = (_tiny_model if source == "gru" else _position_table)(keys, seed=keys)
    rng = np.random.default_rng(0)
    contexts = [np.zeros((0, keys), bool), rng.random((3, keys)) < 0.5, np.ones((2, keys), bool)]
    for context in contexts:
        prefix = pm.encode(context, keys)
        seqs = [np.concatenate([prefix, pm.encode(f[None], keys)[1:]]) for f in _frames(keys)]
        x = torch.from_numpy(_padded(seqs, pad=keys))
        logits = logits_of(x).double()
        masked = torch.log_softmax(pm.masked_logits(logits, x, keys), -1)
        plain = torch.log_softmax(logits, -1)
        n = len(prefix)
        totals = {}
        for name, lp in (("masked", masked), ("plain", plain)):
            p = [
                float(torch.exp(lp[i, torch.arange(n - 1, len(s) - 1), torch.from_numpy(s[n:])].sum()))
                for i, s in enumerate(seqs)
            ]
            totals[name] = sum(p)
        assert totals["masked"] == pytest.approx(1.0, abs=1e-6)
        assert totals["plain"] < 0.999  # without the mask, probability leaks to other orderings


def test_noncanonical_orderings_get_zero_probability():
    import torch

    keys = 3
    x = torch.tensor([[keys + 1, 2, 1, keys], [keys + 1, 1, 1, keys]])  # descending, repeated
    lp = torch.log_softmax(pm.masked_logits(torch.randn(2, 4, keys + 2), x, keys), -1)
    assert torch.isinf(lp[0, 1, 1]) and torch.isinf(lp[1, 1, 1])
    assert torch.isinf(lp[:, :, keys + 1]).all()


# ---------------------------------------------------------------------------------------------
# The metric


def test_nll_per_frame_hand_computed():
    seqs = [np.array([pm.BOS, 3, pm.EOF, pm.EOF]), np.array([pm.BOS, pm.EOF])]
    loglik = np.array([-1.0, -0.5, -0.25, -0.25])  # 3 tokens of seq 0, 1 of seq 1
    assert pm.frames_of(seqs) == 3
    assert pm.nll_per_frame(loglik, seqs) == pytest.approx(2.0 / 3)
    assert pm.nll_per_frame([loglik[:3], loglik[3:]], seqs) == pytest.approx(2.0 / 3)
    assert pm.nll_per_frame(np.array([-0.7, -0.1]), [np.array([4, 0, 3])], keys=3) == pytest.approx(0.8)
    with pytest.raises(DataError, match="scored tokens"):
        pm.nll_per_frame(loglik[:3], seqs)
    with pytest.raises(DataError, match="<= 0"):
        pm.nll_per_frame(-loglik, seqs)
    with pytest.raises(DataError, match="whole piece"):
        pm.nll_per_frame(np.array([-1.0, -1.0]), [np.array([pm.BOS, pm.EOF, 5])])


def test_nll_per_frame_matches_bernoulli_as_token_model():
    """The token chain rule reproduces the frame metric: a Bernoulli model expressed as masked
    next-token probabilities (P(next key j after key k) = p_j prod_{k<i<j}(1-p_i), EOF = prod of the
    rest) gives exactly the Bernoulli frame NLL."""
    train, test = pm.load("jsb", "train"), pm.load("jsb", "test")[:10]
    ones = np.concatenate(train).sum(0)
    p = (ones + 1.0) / (len(np.concatenate(train)) + 2.0)
    log_on, log_off = np.log(p), np.log1p(-p)
    cum_off = np.concatenate([[0.0], np.cumsum(log_off)])  # cum_off[j] = sum_{i<j} log(1-p_i)
    seqs = [pm.encode(r) for r in test]
    loglik = []
    for s in seqs:
        prev = -1
        for tok in s[1:]:
            if tok == pm.EOF:
                loglik.append(cum_off[pm.KEYS] - cum_off[prev + 1])
                prev = -1
            else:
                loglik.append(log_on[tok] + cum_off[tok] - cum_off[prev + 1])
                prev = tok
    got = pm.nll_per_frame(np.array(loglik), seqs)
    assert got == pytest.approx(pm.bernoulli_baseline(train, test), abs=1e-9)


def test_bench_command_trains_then_reproduces_its_figure_from_the_checkpoint(tmp_path):
    """`musicrnn bench polymusic`: train a tiny model on JSB's training split (selected on
    validation), print the literature's metric as a JSON last line; evaluating the saved
    checkpoint alone gives the same figure, and the config records the training data."""
    import json

    from conftest import run_cli

    out = tmp_path / "jsb"
    r = run_cli("bench", "polymusic", "--dataset", "jsb", "--out", out, "--hidden", 32, "--embed", 16,
                "--layers", 1, "--epochs", 2, "--batch", 8, "--bptt", 64, "-q")
    assert r.returncode == 0, r.stderr
    a = json.loads(r.stdout.strip().splitlines()[-1])
    assert a["dataset"] == "jsb" and a["split"] == "test" and a["frames"] == 4725
    assert abs(a["baseline_nll"] - 11.06) < 0.05 and 5 < a["nll"] < a["baseline_nll"]
    r = run_cli("bench", "polymusic", "--dataset", "jsb", "--checkpoint", out)
    assert r.returncode == 0, r.stderr
    b = json.loads(r.stdout.strip().splitlines()[-1])
    assert b["nll"] == a["nll"]
    meta = json.loads((out / "config.json").read_text())
    assert meta["task"] == "polymusic" and meta["data"]["dataset"] == "jsb" and meta["data"]["trained_on"] == "traindata"
    assert meta["metrics"]["test_nll_per_frame"] == pytest.approx(a["nll"], abs=1e-4)
    # the training loss leaves out the step from one piece's last EOF to the next piece's BOS
    # (the mask forbids it: it was infinite)
    steps = [json.loads(line) for line in (out / "progress.jsonl").read_text().splitlines()]
    bits = [e["train_bits"] for e in steps if e["event"] == "step"]
    assert bits and all(math.isfinite(b) for b in bits)
    # --resume continues the same run or says what differs
    r = run_cli("bench", "polymusic", "--dataset", "nottingham", "--out", out, "--resume")
    assert r.returncode == 2 and "dataset ('jsb' -> 'nottingham')" in r.stderr
    r = run_cli("bench", "polymusic", "--dataset", "jsb", "--out", out, "--resume", "--transpose", 2)
    assert r.returncode == 2 and "transpose (0 -> 2)" in r.stderr
    # a music checkpoint is not a benchmark model
    r = run_cli("bench", "polymusic", "--dataset", "jsb", "--checkpoint", ROOT / "checkpoints" / "chorales")
    assert r.returncode == 2 and "not a polyphonic benchmark model" in r.stderr


def test_transposed_training_pieces_stay_on_the_keys():
    """--transpose N: each training roll plus every shift up to +-N that keeps its notes on the 88 keys."""
    from musicrnn.core.errors import SettingsError

    low = np.zeros((3, 88), bool)
    low[0, 1] = low[2, 40] = True  # lowest note on key 1: a shift down by 2 would fall off
    high = np.zeros((2, 88), bool)
    high[1, 86] = True  # highest on key 86: up by 2 would fall off
    out = pm.transposed([low, high], 2)
    assert np.array_equal(out[0], low) and np.array_equal(out[1], high)  # the pieces as published come first
    shifts = {(i, int(np.flatnonzero(r.any(axis=0)).min()) - int(np.flatnonzero(src.any(axis=0)).min()))
              for r in out[2:] for i, src in enumerate([low, high]) if r.sum() == src.sum() and
              np.array_equal(np.roll(r, -(np.flatnonzero(r.any(axis=0)).min() - np.flatnonzero(src.any(axis=0)).min()), axis=1), src)}
    assert len(out) == 2 + 3 + 3  # low: -1, +1, +2; high: -2, -1, +1
    assert (0, -2) not in shifts and (1, 2) not in shifts and (0, 2) in shifts and (1, -2) in shifts
    assert all(r.sum() == 2 for r in out if r.shape == low.shape) and pm.transposed([low], 0)[0] is low
    with pytest.raises(SettingsError, match="0..12"):
        pm.transposed([low], 13)


def test_experiment_on_a_benchmark_compares_outputs_and_reads_finished_runs_back(tmp_path):
    """`experiment --task polymusic --data jsb`: each arm trains on JSB's training split; a Topcat
    model is scored by its renormalised distribution (an exact likelihood, as `bench --checkpoint`
    gives it); a second call trains nothing."""
    import json

    from conftest import run_cli

    out = tmp_path / "exp"
    args = ("experiment", "--task", "polymusic", "--data", "jsb", "--out", out, "--seeds", 2, "--vary",
            "output=softmax,topcat", "--hidden", 16, "--embed", 8, "--layers", 1, "--steps", 12, "--batch", 8,
            "--bptt", 32)
    r = run_cli(*args)
    assert r.returncode == 0, r.stderr
    res = json.loads((out / "results.json").read_text())
    assert res["variants"] == ["output=softmax", "output=topcat"] and res["data"] == "jsb"
    top = res["runs"]["output=topcat"]["0"]
    assert 5 < top["test_nll_per_frame"] < 60 and top["test_nll_per_frame"] != res["runs"]["output=softmax"]["0"]["test_nll_per_frame"]
    model = out / "output=topcat" / "seed0"
    assert json.loads((model / "config.json").read_text())["objective"]["output"] == "topcat"
    b = json.loads(run_cli("bench", "polymusic", "--dataset", "jsb", "--checkpoint", model).stdout.strip().splitlines()[-1])
    assert b["nll"] == pytest.approx(top["test_nll_per_frame"], abs=1e-4)
    # calibration too: the validation ECE, and the bins behind it for the reliability diagram
    cal = json.loads((model / "calibration.json").read_text())
    assert 0 < top["valid_ece"] < 1 and cal["ece"] == pytest.approx(top["valid_ece"], abs=1e-4)
    assert sum(cal["bins"]["count"]) > 1000 and (out / "reliability.png").is_file()
    stamp = (model / "model.safetensors").stat().st_mtime_ns
    r = run_cli(*args)
    assert r.returncode == 0, r.stderr
    assert (model / "model.safetensors").stat().st_mtime_ns == stamp  # read back, not trained again
    r = run_cli("experiment", "--task", "polymusic", "--data", "bach", "--out", tmp_path / "x", "--seeds", 2,
                "--vary", "output=softmax,topcat")
    assert r.returncode == 2 and "jsb, nottingham, musedata, piano" in r.stderr

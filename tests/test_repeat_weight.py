"""The repeat weight (issue 21): a model with repeat tokens draws "this bar again" that much
likelier; `train` chooses it on the folder so that the samples repeat bars as the folder's
pieces do, stores it, and `sample` uses it unless told otherwise."""

import json
import math
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from conftest import OPENMSX, ROOT, run_cli  # noqa: E402

BAND = ROOT / "checkpoints" / "band"


def test_the_weights_fall_on_the_repeat_tokens_alone():
    from musicrnn.codec import Vocab
    from musicrnn.codec.vocab import codec_named
    from musicrnn.tasks.music import repeat_pair, repeat_weights

    v = Vocab(codec_named("repeats"))
    w = repeat_weights(v, (6, 2))
    drums = [i for i, n in enumerate(v.names) if n.startswith("DrumRepeat_")]
    bars = [i for i, n in enumerate(v.names) if n.startswith("BarRepeat_")]
    assert len(drums) == len(bars) == 8
    assert np.all(w[drums] == 6) and np.all(w[bars] == 2)
    assert np.all(np.delete(w, drums + bars) == 1)
    assert repeat_weights(v, 1) is None and repeat_weights(Vocab(), 5) is None  # the default codec has none
    assert repeat_pair(3) == (3.0, 3.0) and repeat_pair({"drums": 4, "bars": 1.5}) == (4.0, 1.5)
    for bad in (0, -1, math.inf, (1, 2, 3), "2", True, {"drums": 2}):
        with pytest.raises(ValueError):
            repeat_pair(bad)


def test_a_heavier_weight_makes_the_band_model_repeat_its_bars_more():
    """The shipped band model, the same seed: weight 8 repeats drum bars and pitched bars
    more often than weight 1, and still draws no invalid token."""
    from musicrnn.tasks import music

    stepper, vocab, _ = music.load_generator(BAND)
    rates = {}
    for w in (1, 8):
        gen = music.generate(stepper, vocab, n=6, seconds=12, temperature=0.6, seed=3, repeat_weight=w)
        st = music.sample_stats(gen, vocab)
        assert st["invalid_token_rate"] == 0
        rates[w] = (st["drum_bar_repeat_rate"], st["bar_repeat_rate"])
    assert rates[8][0] > rates[1][0] + 0.05 and rates[8][1] > rates[1][1] + 0.05, rates


def _songs(tmp_path, n=6):
    songs = tmp_path / "songs"
    songs.mkdir()
    for f in sorted(OPENMSX.glob("*.mid"))[:n]:
        shutil.copy(f, songs / f.name)
    return songs


def test_the_fitting_draws_each_setting_with_its_own_seed_and_chooses_on_them_all(tmp_path):
    """The tuning on a copy of the band model and real songs (no temperature steps): every
    weight tried for both kinds at the model's own temperature, each setting with a seed of
    its own; the step-2 choice halved and doubled; the choice is what the lines fitted
    through every setting drawn put nearest the songs, and what it ``got`` is a fresh
    draw of it, with a seed no other setting had; the checkpoint then samples with it."""
    from musicrnn.tasks.music import _vocab_of, choose_setting, load_corpus
    from musicrnn.tasks.music import tune_sampling

    ck = tmp_path / "band"
    shutil.copytree(BAND, ck)
    cfg = json.loads((ck / "config.json").read_text())
    vocab = _vocab_of(ck, cfg)
    songs = load_corpus(_songs(tmp_path, 10), vocab, 0.0, 0.0).train
    lines = []
    choice = tune_sampling(ck, songs, vocab, samples=3, seconds=10, weights=(1, 4, 16), temperature_steps=(),
                           log=lines.append)
    rows = {step: [r for r in choice["tried"] if step in r["steps"]] for step in (1, 2, 3, 4, 5)}
    assert [r["drums_weight"] for r in rows[1]][:3] == [1, 4, 16] and choice["temperature"] == cfg["sampling"]["temperature"]
    seeds = [r["seed"] for r in choice["tried"]]
    assert len(set(seeds)) == len(seeds)
    [middle] = rows[2]  # one temperature: the step-1 fit's weights
    step3 = sorted(r["drums_weight"] for r in rows[3])
    assert step3 == [middle["drums_weight"] / 2, middle["drums_weight"] * 2], (step3, middle)
    fitted = [r for r in choice["tried"] if 5 not in r["steps"]]
    again = choose_setting(fitted, choice["target"], choice["own_temperature_before"], 32.0)
    assert again["weights"] == choice["repeat_weight"] and again["temperature"] == choice["temperature"]
    assert again["predicted"] == choice["predicted"]
    [final] = rows[5]
    assert final["steps"] == [5] and (final["drums_weight"], final["bars_weight"]) == tuple(choice["repeat_weight"].values())
    assert choice["got"] == {k: final[k] for k in ("drums", "bars", "scale")}
    assert 0 < choice["target"]["drums"] <= 1 and lines[0].startswith("sampling fitted to ")
    sampling = json.loads((ck / "config.json").read_text())["sampling"]
    assert sampling["repeat_weight"] == choice["repeat_weight"] and sampling["tuning"] == choice
    assert sampling["drums_weight"] == choice["drums_weight"] >= 1 and choice["drums_chance"] >= choice["drums_chance_before"]
    assert 0 < choice["pieces_with_drums"] <= 1 and choice["batch"] == 20

    r = run_cli("sample", "--checkpoint", ck, "--seconds", 5, "--seed", 1, "--out", tmp_path / "a.mid")
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)["repeat_weight"]
    assert got == [choice["repeat_weight"]["drums"], choice["repeat_weight"]["bars"]]
    assert ("the model's own, chosen on its folder" in r.stderr) == (got != [1.0, 1.0])
    r = run_cli("sample", "--checkpoint", ck, "--seconds", 5, "--seed", 1, "--repeat-weight", "2.5,1",
                "--out", tmp_path / "b.mid")
    assert json.loads(r.stdout)["repeat_weight"] == [2.5, 1.0] and "the model's own, chosen" not in r.stderr


def test_a_temperature_far_too_cold_for_the_folder_is_warmed(tmp_path):
    """The band model told to sample at 0.2 keeps to one scale far more tightly than
    OpenMSX's songs do; the tuning's temperature step moves it up, and `train` stores
    what it chose (here called directly, on the songs, with a small budget)."""
    from musicrnn.tasks.music import _vocab_of, load_corpus
    from musicrnn.tasks.music import tune_sampling

    ck = tmp_path / "band"
    shutil.copytree(BAND, ck)
    cfg = json.loads((ck / "config.json").read_text())
    cfg["sampling"]["temperature"] = 0.2
    (ck / "config.json").write_text(json.dumps(cfg))
    vocab = _vocab_of(ck, cfg)
    songs = load_corpus(_songs(tmp_path, 10), vocab, 0.0, 0.0).train
    choice = tune_sampling(ck, songs, vocab, samples=3, seconds=10, weights=(1, 8), log=lambda m: None)
    cold = [r for r in choice["tried"] if r["temperature"] == 0.2]
    assert choice["own_temperature_before"] == 0.2 and choice["temperature"] > 0.2, choice
    assert min(r["scale"] for r in cold) > choice["target"]["scale"], choice
    assert json.loads((ck / "config.json").read_text())["sampling"]["temperature"] == choice["temperature"]


def test_train_ends_by_fitting_the_sampler(tmp_path):
    from musicrnn.core.train import TrainConfig
    from musicrnn.tasks.music import train_music

    tiny = {"cell": "lstm", "embed": 16, "hidden": 32, "layers": 1, "dropout": 0.1}
    s = train_music(_songs(tmp_path, 4), tmp_path / "m", tiny, TrainConfig(seed=7, batch=4, bptt=64, steps=4, warmup=1),
                    codec="repeats", tune_pieces=1, valid_fraction=0.25, test_fraction=0.25, log=lambda m: None)
    meta = json.loads((tmp_path / "m" / "config.json").read_text())
    sampling = meta["sampling"]
    assert s["sampling"] == sampling["tuning"] and sampling["tuning"]["samples"] == 1
    # fitted against every piece of the folder: the test piece too, as no score depends on the sampler
    d = meta["data"]
    assert d["test_pieces"] >= 1 and sampling["tuning"]["pieces"] == d["train_pieces"] + d["valid_pieces"] + d["test_pieces"] == 4
    assert sampling["temperature"] == s["sampling"]["temperature"]


@pytest.mark.parametrize("args, says", [
    (["sample", "--repeat-weight", "0"], "--repeat-weight"),
    (["sample", "--repeat-weight", "1,2,3"], "--repeat-weight"),
    (["sample", "--repeat-weight", "nan"], "--repeat-weight"),
    (["evaluate", "--data", "corpora/folk", "--repeat-weight", "-2"], "--repeat-weight"),
    (["train", "--data", "corpora/folk", "--out", "x", "--tune-pieces", "-1"], "--tune-pieces"),
])
def test_bad_weights_are_one_line(tmp_path, args, says):
    r = run_cli(*args, *(["--out", tmp_path / "o.mid"] if args[0] == "sample" else []))
    assert r.returncode == 2 and says in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_a_weight_for_a_model_without_repeat_tokens_is_refused(tmp_path):
    r = run_cli("sample", "--checkpoint", ROOT / "checkpoints" / "folk", "--repeat-weight", 4, "--out", tmp_path / "o.mid")
    assert r.returncode == 2 and "has no repeat tokens" in r.stderr and "--codec repeats" in r.stderr, r.stderr
    assert not (tmp_path / "o.mid").exists()
    r = run_cli("sample", "--checkpoint", ROOT / "checkpoints" / "folk", "--repeat-weight", 1, "--seconds", 2,
                "--out", tmp_path / "o.mid")
    assert r.returncode == 0, r.stderr  # 1 changes nothing either way


def test_a_stored_weight_that_is_not_one_is_named(tmp_path):
    ck = tmp_path / "band"
    shutil.copytree(BAND, ck)
    cfg = json.loads((ck / "config.json").read_text())
    cfg["sampling"]["repeat_weight"] = "lots"
    (ck / "config.json").write_text(json.dumps(cfg))
    r = run_cli("sample", "--checkpoint", ck, "--seconds", 2, "--out", tmp_path / "o.mid")
    assert r.returncode == 2 and "sampling.repeat_weight" in r.stderr and "--repeat-weight" in r.stderr, r.stderr
    r = run_cli("sample", "--checkpoint", ck, "--seconds", 2, "--repeat-weight", 2, "--out", tmp_path / "o.mid")
    assert r.returncode == 0, r.stderr
    cfg["sampling"].update(repeat_weight=1, drums_weight=-3)
    (ck / "config.json").write_text(json.dumps(cfg))
    r = run_cli("sample", "--checkpoint", ck, "--seconds", 2, "--out", tmp_path / "o.mid")
    assert r.returncode == 2 and "sampling.drums_weight" in r.stderr, r.stderr
    cfg["sampling"]["drums_weight"] = 4
    (ck / "config.json").write_text(json.dumps(cfg))
    r = run_cli("sample", "--checkpoint", ck, "--seconds", 2, "--out", tmp_path / "o.mid")
    assert r.returncode == 0 and "drums weighed 4 in the band the model picks" in r.stderr, r.stderr
    r = run_cli("sample", "--checkpoint", ck, "--seconds", 2, "--instruments", "piano,bass", "--out", tmp_path / "o.mid")
    assert r.returncode == 0 and "drums weighed" not in r.stderr, r.stderr  # a band asked for is not weighed


def test_a_short_budget_gets_a_short_tuning():
    from musicrnn.tasks.music import TUNE_PIECES, tune_pieces_for

    assert tune_pieces_for(None) == tune_pieces_for(6) == tune_pieces_for(30) == TUNE_PIECES == 20
    assert tune_pieces_for(2) == 7 and tune_pieces_for(0.08) == 2  # the page's default; the browser test's
    assert tune_pieces_for(0.08, 0) == 0 and tune_pieces_for(30, 5) == 5  # --tune-pieces wins


def test_a_slow_fitting_draws_fewer_samples(tmp_path):
    """When the first setting shows the fitting would overrun its time, every setting is
    drawn with proportionally fewer samples (at least 2), from the start again."""
    from musicrnn.tasks.music import _vocab_of, load_corpus, tune_sampling

    ck = tmp_path / "band"
    shutil.copytree(BAND, ck)
    vocab = _vocab_of(ck, json.loads((ck / "config.json").read_text()))
    songs = load_corpus(_songs(tmp_path, 4), vocab, 0.0, 0.0).train
    choice = tune_sampling(ck, songs, vocab, samples=6, seconds=4, weights=(1, 4), temperature_steps=(),
                           max_seconds=1e-3, log=lambda m: None)
    assert choice["samples_asked"] == 6 and choice["samples"] == 2
    assert [r["drums_weight"] for r in choice["tried"] if 1 in r["steps"]] == [1, 4]  # step 1 drawn once, anew


def test_the_drums_weight_falls_on_the_header_the_model_writes():
    """``drums_weight`` weighs the drum Program token while the model declares its band,
    until drums are declared, and never a band asked for: the band model, the same seeds,
    declares drums in no piece at 1e-4 and in every piece at 1e4."""
    from musicrnn.codec.grammar import DRUMS, Grammar
    from musicrnn.codec.vocab import BAR, BOS
    from musicrnn.tasks import music

    stepper, vocab, _ = music.load_generator(BAND)
    drums = vocab.offset["Program"] + DRUMS
    g = Grammar(vocab, drums_weight=5.0).feed_all([BOS])
    w = g.weights()
    assert w[drums] == 5.0 and np.all(np.delete(w, drums) == 1)
    assert g.feed_all([drums]).weights() is None  # declared: no more weight
    assert Grammar(vocab, programs=[0, DRUMS], drums_weight=5.0).feed_all([BOS]).weights() is None
    assert Grammar(vocab).feed_all([BOS]).weights() is None
    declared = {}
    for dw in (1e-4, 1e4):
        gen = music.generate(stepper, vocab, n=8, seconds=2, temperature=1.0, seed=5, drums_weight=dw)
        declared[dw] = sum(drums in g[1:list(g).index(BAR)] for g in gen)
    assert declared == {1e-4: 0, 1e4: 8}, declared


def test_the_drums_weight_is_the_smallest_that_keeps_a_batch_from_falling_short():
    """The exact chance the model declares drums, and the weight: a model at 98.5% against a
    folder with drums in 51 of 53 songs (a batch of 20 then needs all 20) gets 4, the
    smallest weight under which a batch falls short less than one time in ten; one already
    above the folder keeps 1; a folder without drums never changes the model."""
    from musicrnn.tasks import music

    w, q, batch = music.drums_weight_for(0.985, 51 / 53)
    assert w == 4 and 0.996 < q < 0.997 and batch >= 0.9
    assert music.drums_weight_for(0.985, 51 / 53, weights=(1, 2))[0] == 2  # none enough: the largest
    assert music.drums_weight_for(0.993, 28 / 31)[0] == 1
    assert music.drums_weight_for(0.3, 0.0)[0] == 1
    stepper, vocab, meta = music.load_generator(BAND)
    chance = music.header_drums_chance(stepper, vocab, 1.0)
    from musicrnn.codec.grammar import Grammars
    from musicrnn.codec.vocab import BOS, EOS, PAD
    from musicrnn.core.sample import sample

    first = sample(stepper, [BOS], 400, 1, temperature=1.0, seed=11, forbid=[PAD, BOS, EOS],
                   grammar=Grammars(vocab, [BOS], 400))  # the header's first token only
    drawn = np.mean([r[0] == vocab.offset["Program"] + 128 for r in first])
    assert abs(drawn - chance) < 4 * math.sqrt(chance * (1 - chance) / 400), (drawn, chance)
    assert music.header_drums_chance(stepper, vocab, 0.5) > chance  # colder: the likelier choice likelier still
    folk, fv, _ = music.load_generator(ROOT / "checkpoints" / "folk")
    assert music.header_drums_chance(folk, fv, 1.0) is None  # no header: not one draw


def _law(t, wd, wb):
    """A made-up model's statistics at a setting, shaped like OpenMSX's fitted model's (runs/mine):
    repeat rates' log odds rise by 0.35 and 0.25 a doubling and with temperature; scale
    consistency falls with temperature."""
    d = t - 0.6
    sig = lambda y: 1 / (1 + math.exp(-y))  # noqa: E731
    return {"drums": sig(-0.5 + 0.35 * math.log2(wd) + 2.0 * d), "bars": sig(-1.2 + 0.25 * math.log2(wb) + 1.0 * d),
            "scale": 0.955 - 0.12 * d - 0.1 * d * d}


def _design(rng=None):
    """The settings the tuning draws (steps 1-3 around OpenMSX's choice), each measured by
    the law, plus noise like a batch of 20's (``rng``)."""
    settings = [(0.6, w, w) for w in (1, 4, 16, 64)] + [(t, 4, 4) for t in (0.4, 0.5, 0.7, 0.8, 0.9, 1.0)]
    settings += [(0.8, 2, 2), (0.8, 8, 8)]
    rows = []
    for t, wd, wb in settings:
        v = _law(t, wd, wb)
        if rng is not None:
            lo = lambda p, sd: 1 / (1 + math.exp(-(math.log(p / (1 - p)) + rng.normal(0, sd))))  # noqa: E731
            v = {"drums": lo(v["drums"], 0.25), "bars": lo(v["bars"], 0.25), "scale": v["scale"] + rng.normal(0, 0.015)}
        rows.append({"temperature": t, "drums_weight": float(wd), "bars_weight": float(wb), **v})
    return rows


TARGET = {"drums": 0.6115, "bars": 0.3053, "scale": 0.9245}  # OpenMSX's songs' first 30 s


def test_the_choice_is_read_off_lines_through_every_setting():
    """Without noise the fitted lines are the law itself: the choice lands on the target to
    within the grid (a half doubling of weight, 0.05 of temperature). With a batch's noise
    on every setting (±0.015 scale, ±0.25 log odds), over 40 draws of that noise, the
    choice's true statistics stay nearer the target than the nearest single draw's do
    (the old rule): the fit pools the settings' luck instead of picking it."""
    from musicrnn.tasks.music import _tune_off, choose_setting

    c = choose_setting(_design(), TARGET, 0.6, 128.0)
    truth = _law(c["temperature"], c["weights"]["drums"], c["weights"]["bars"])
    assert abs(truth["scale"] - TARGET["scale"]) < 0.004, (c, truth)
    for k in ("drums", "bars"):
        assert abs(truth[k] - TARGET[k]) < 0.045 and abs(c["predicted"][k] - truth[k]) < 1e-3, (k, c, truth)
    rng = np.random.default_rng(0)
    fit_off, nearest_off = [], []
    for _ in range(40):
        rows = _design(rng)
        c = choose_setting(rows, TARGET, 0.6, 128.0)
        truth = _law(c["temperature"], c["weights"]["drums"], c["weights"]["bars"])
        fit_off.append(abs(truth["scale"] - TARGET["scale"]))
        near = min(rows, key=lambda r: _tune_off(r["scale"], TARGET["scale"], False))
        nearest_off.append(abs(_law(near["temperature"], near["drums_weight"], near["bars_weight"])["scale"]
                               - TARGET["scale"]))
    assert np.mean(fit_off) < 0.7 * np.mean(nearest_off) and np.quantile(fit_off, 0.9) < 0.015, (
        np.mean(fit_off), np.mean(nearest_off))


def test_a_rate_weights_do_not_move_keeps_the_nearest_drawn_weight_and_weights_stay_in_range():
    from musicrnn.tasks.music import choose_setting

    rows = _design()
    for r in rows:
        r["bars"] = 0.2  # pitched bars never repeat more, whatever their weight
    c = choose_setting(rows, TARGET, 0.6, 128.0)
    near_t = min({r["temperature"] for r in rows}, key=lambda v: abs(v - c["temperature"]))
    assert c["weights"]["bars"] in {r["bars_weight"] for r in rows if r["temperature"] == near_t}
    far = choose_setting(_design(), {**TARGET, "drums": 0.995}, 0.6, 16.0)  # out of reach: the largest weight
    assert far["weights"]["drums"] == 16.0
    low = choose_setting(_design(), {**TARGET, "drums": 0.01}, 0.6, 16.0)  # below weight 1's: weight 1
    assert low["weights"]["drums"] == 1.0
    one_t = choose_setting([r for r in _design() if r["temperature"] == 0.6], TARGET, 0.6, 128.0)
    assert one_t["temperature"] == 0.6  # one temperature drawn: nothing to choose
    from musicrnn.tasks.music import TUNE_TEMPERATURE_STEPS

    assert max(TUNE_TEMPERATURE_STEPS) == 0.4 and min(TUNE_TEMPERATURE_STEPS) == -0.2

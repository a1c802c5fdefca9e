"""Stateful training, determinism, resume, checkpoints and sampling, on real folk tunes."""

import json
import shutil

import numpy as np
import pytest
import torch

from conftest import CORPORA, run_cli
from musicrnn.codec import BOS, Vocab, iter_midi_files
from musicrnn.core.checkpoint import CheckpointError, load_model_state
from musicrnn.core.data import Streams
from musicrnn.core.rnn import CharRNN, RNNConfig
from musicrnn.core.train import TrainConfig
from musicrnn.tasks.music import generate, load_corpus, load_model, train_music

TINY = {"cell": "lstm", "embed": 16, "hidden": 32, "layers": 1, "dropout": 0.1}


@pytest.fixture(scope="module")
def folk_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("folk")
    files = iter_midi_files([CORPORA / "folk" / "oneills1850"])[:40]
    for f in files:
        shutil.copy(f, d / f.name)
    return d


def tcfg(**kw):
    base = dict(seed=7, batch=4, bptt=32, epochs=2, warmup=5, patience=5)
    return TrainConfig(**{**base, **kw})


def test_streams_are_contiguous_and_mark_piece_starts():
    seqs = [np.array([BOS] + [10 + i] * (5 + 3 * i)) for i in range(12)]
    st = Streams(seqs, batch=3, bptt=4, seed=1)
    wins = [w for _, w in st.epoch(0)]
    for a, b in zip(wins[:-1], wins[1:]):
        assert torch.equal(a.y[:, -1], b.x[:, 0])  # row b of window w+1 continues row b of window w
    for w in wins:
        assert torch.equal(w.reset, w.x == BOS)
        assert torch.equal(w.x[:, 1:], w.y[:, :-1])
    t0, _ = st.layout(0)
    assert np.array_equal(t0, Streams(seqs, 3, 4, seed=1).layout(0)[0])
    assert not np.array_equal(t0, st.layout(1)[0])


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_reset_zeroes_state_exactly_where_a_piece_starts(cell):
    torch.manual_seed(0)
    m = CharRNN(RNNConfig(vocab_size=20, embed=8, hidden=16, layers=2, cell=cell, dropout=0.0)).eval()
    x = torch.randint(2, 20, (2, 12))
    reset = torch.zeros(2, 12, dtype=torch.bool)
    reset[0, 5] = True
    warm = m.init_state(2)
    warm = tuple(torch.randn_like(s) for s in warm)
    out, _ = m(x, warm, reset)
    fresh, _ = m(x[:1, 5:])  # row 0 from position 5 on, from a zero state
    assert torch.allclose(out[0, 5:], fresh[0], atol=1e-6)
    carried, _ = m(x[1:], tuple(s[:, 1:] for s in warm))  # row 1 never resets
    assert torch.allclose(out[1], carried[0], atol=1e-6)


def _bytes(folder):
    return (folder / "last" / "model.safetensors").read_bytes()


def test_same_seed_same_weights_and_loss_curve(folk_dir, tmp_path):
    a = train_music(folk_dir, tmp_path / "a", TINY, tcfg(max_steps=25), log=lambda m: None)
    b = train_music(folk_dir, tmp_path / "b", TINY, tcfg(max_steps=25), log=lambda m: None)
    c = train_music(folk_dir, tmp_path / "c", TINY, tcfg(max_steps=25, seed=8), log=lambda m: None)
    assert a["loss_history"] == b["loss_history"] and len(a["loss_history"]) == 25
    assert _bytes(tmp_path / "a") == _bytes(tmp_path / "b")
    assert _bytes(tmp_path / "a") != _bytes(tmp_path / "c")
    assert a["loss_history"][-1] < a["loss_history"][0]


def test_stop_and_resume_equals_uninterrupted(folk_dir, tmp_path):
    full = train_music(folk_dir, tmp_path / "full", TINY, tcfg(), log=lambda m: None)
    total = full["steps"]
    assert full["finished"] and total > 30
    k = total // 2 + 3  # mid-epoch
    part = train_music(folk_dir, tmp_path / "part", TINY, tcfg(max_steps=k), log=lambda m: None)
    assert part["steps"] == k and not part["finished"]
    rest = train_music(folk_dir, tmp_path / "part", TINY, tcfg(), resume=True, log=lambda m: None)
    assert rest["finished"] and rest["steps"] == total
    assert rest["loss_history"] == full["loss_history"]
    assert _bytes(tmp_path / "part") == _bytes(tmp_path / "full")
    assert (tmp_path / "part" / "model.safetensors").read_bytes() == (tmp_path / "full" / "model.safetensors").read_bytes()


def test_validation_split_is_by_file_and_bad_files_are_skipped(folk_dir, tmp_path):
    d = tmp_path / "data"
    shutil.copytree(folk_dir, d)
    (d / "junk.mid").write_text("not midi")
    (d / "empty.mid").write_bytes(b"")
    v = Vocab()
    c = load_corpus(d, v, 0.2)
    assert len(c.skipped) == 2 and any("junk.mid" in s for s in c.skipped)
    assert set(c.train_files).isdisjoint(c.valid_files)
    assert len(c.train_files) + len(c.valid_files) == 40
    assert load_corpus(d, v, 0.2).valid_files == c.valid_files


@pytest.fixture(scope="module")
def trained(folk_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("ckpt")
    train_music(folk_dir, out, TINY, tcfg(epochs=3), log=lambda m: None)
    return out


def test_checkpoint_is_safetensors_plus_json(trained):
    meta = json.loads((trained / "config.json").read_text())
    assert meta["format"] == "musicrnn-checkpoint" and meta["task"] == "music"
    assert meta["vocabulary"] == Vocab().names and meta["model"]["hidden"] == 32
    assert "valid_bits_per_token" in meta["metrics"]
    assert not list(trained.rglob("*.pt")) and not list(trained.rglob("*.pkl"))
    state, _ = load_model_state(trained)
    assert set(state) == set(CharRNN(RNNConfig(vocab_size=len(Vocab()), **TINY)).state_dict())


def test_broken_checkpoints_give_one_line(trained, tmp_path):
    trunc = tmp_path / "trunc"
    shutil.copytree(trained, trunc)
    w = trunc / "model.safetensors"
    w.write_bytes(w.read_bytes()[:1000])
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "config.json").write_text('{"model_type": "bert"}')
    for bad, msg in [(tmp_path / "missing", "no such checkpoint"), (trunc, "truncated"), (foreign, "not a musicrnn checkpoint")]:
        with pytest.raises(CheckpointError, match=msg):
            load_model(bad)
        r = run_cli("sample", "--checkpoint", bad, "--out", tmp_path / "x.mid")
        assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and msg in r.stderr
        assert "Traceback" not in r.stderr


def test_sampling_is_seeded_and_streams(trained, tmp_path):
    model, vocab, _ = load_model(trained)
    a = generate(model, vocab, n=2, seconds=8, seed=5)
    b = generate(model, vocab, n=2, seconds=8, seed=5)
    c = generate(model, vocab, n=2, seconds=8, seed=6)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c))
    # the same bytes through the CLI
    for name in ("one", "two"):
        r = run_cli("sample", "--checkpoint", trained, "--seconds", 6, "--seed", 3, "--out", tmp_path / f"{name}.mid")
        assert r.returncode == 0, r.stderr
    assert (tmp_path / "one.mid").read_bytes() == (tmp_path / "two.mid").read_bytes()
    info = json.loads(r.stdout.strip().splitlines()[-1])
    assert info["notes"] > 0 and info["seconds"] <= 6 + 4  # last onset before 6 s, plus its note


def test_primer_is_kept_and_continued(trained, folk_dir, tmp_path):
    from musicrnn.codec import decode, encode, read_midi

    model, vocab, _ = load_model(trained)
    primer = encode(read_midi(sorted(folk_dir.iterdir())[0]), vocab)[:60]
    out = generate(model, vocab, n=1, tokens=50, primer=primer, seed=1)[0]
    assert np.array_equal(out[: len(primer) - 1], primer[:-1]) or np.array_equal(out[: len(primer)], primer)
    assert len(out) > len(primer)


def test_wav_rendering_fluidsynth_and_fallback(trained, tmp_path, monkeypatch):
    import soundfile as sf

    # a fixed seed: this tiny model writes few notes, and some seeds give none at all
    r = run_cli("sample", "--checkpoint", trained, "--seconds", 5, "--seed", 3, "--out", tmp_path / "s.mid",
                "--wav", tmp_path / "s.wav")
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout.strip().splitlines()[-1])
    assert info["engine"] == "fluidsynth" and info["notes"] >= 5
    audio, sr = sf.read(tmp_path / "s.wav")
    assert sr == 44100 and 3 < len(audio) / sr < 15
    assert np.sqrt(np.mean(audio ** 2)) > 0.01  # audible, not silence
    from musicrnn import render

    monkeypatch.setattr(render, "fluidsynth_problem", lambda: "ImportError: no fluidsynth")
    with pytest.warns(UserWarning, match="sine"):
        res = render.render_wav(tmp_path / "s.mid", tmp_path / "fallback.wav")
    assert res["engine"] == "sine" and res["peak"] > 0.5


@pytest.mark.parametrize("cell,extra", [("lstm", {}), ("gru", {}), ("lstm", {"fused": False}),
                                        ("lstm-lite", {"activation": "iris"}), ("lstm", {"activation": "phi-tanh"}),
                                        ("lstm-lite", {"activation": "iris2"}), ("lstm", {"attention": 4}),
                                        ("gru", {"attention": 3})])
def test_streaming_step_matches_full_forward(cell, extra):
    from musicrnn.core.stepper_torch import TorchStepper
    from musicrnn.core.sample import NumpyStepper

    torch.manual_seed(0)
    m = CharRNN(RNNConfig(vocab_size=50, embed=8, hidden=24, layers=2, cell=cell, **extra)).eval()
    if m.att is not None:
        torch.nn.init.normal_(m.att.o.weight)  # a trained layer, not the identity it starts as
    toks = torch.randint(0, 50, (3, 15))
    with torch.no_grad():
        ref, ref_state = m(toks)
    np_step, t_step = NumpyStepper.from_model(m), TorchStepper(m)
    np_state, t_state = np_step.init_state(3), None
    for t in range(15):
        np_logits, np_state = np_step.step(toks[:, t].numpy(), np_state)
        assert np.allclose(np_logits, ref[:, t].numpy(), atol=1e-4)
        if t == 0:
            t_logits, t_state = t_step.start([int(toks[0, 0])], 1)
        else:
            t_logits, t_state = t_step.step(toks[:1, t].numpy(), t_state)
        assert np.allclose(t_logits[0], ref[0, t].numpy(), atol=1e-5)
    n_rnn = 1 if cell == "gru" else 2  # the recurrent state; attention keeps projected keys/values instead
    assert all(np.allclose(a, b.numpy(), atol=1e-4) for a, b in zip(np_state[:n_rnn], ref_state[:n_rnn]))
    if m.att is not None:
        # which remembered outputs are valid (NumPy keeps them in a ring, then the next slot)
        assert np.array_equal(np_state[-2], ref_state[-1].numpy()) and int(np_state[-1][0]) == toks.shape[1]


def test_tiny_folder_trains_or_says_why(folk_dir, tmp_path):
    d = tmp_path / "tiny"
    d.mkdir()
    for f in sorted(folk_dir.iterdir())[:2]:
        shutil.copy(f, d / f.name)
    r = run_cli("train", "--data", d, "--out", tmp_path / "o", "--hidden", 16, "--embed", 8, "--layers", 1,
                "--epochs", 1, "--batch", 2, "--bptt", 16, "-q")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.strip().splitlines()[-1])["best_valid_bits_per_token"] > 0
    r = run_cli("train", "--data", d, "--out", tmp_path / "o2", "--bptt", 100000, "-q")
    assert r.returncode == 2 and "--bptt" in r.stderr and "Traceback" not in r.stderr


def test_a_new_model_trains_with_the_repeats_codec_and_its_fine_tunes_keep_it(tmp_path):
    """`train --codec repeats` on real multi-track songs: the model's config holds the codec,
    it samples drum repeats through the grammar, and a model grown from it keeps the codec
    (asking for another one is refused, naming --init)."""
    from conftest import OPENMSX
    from musicrnn.codec import decode
    from musicrnn.core.errors import SettingsError
    from musicrnn.tasks.music import _vocab_of, sample_to_files

    songs = tmp_path / "songs"
    songs.mkdir()
    for f in sorted(OPENMSX.glob("*.mid"))[:6]:
        shutil.copy(f, songs / f.name)
    train_music(songs, tmp_path / "m", TINY, tcfg(steps=12, bptt=64), codec="repeats", log=lambda m: None)
    cfg = json.loads((tmp_path / "m" / "config.json").read_text())
    assert cfg["codec"]["drums_first"] is True and cfg["codec"]["drum_repeats"] == cfg["codec"]["bar_repeats"] == 8
    vocab = _vocab_of(tmp_path / "m", cfg)
    assert vocab.names[-1] == "BarRepeat_8"
    r = sample_to_files(tmp_path / "m", tmp_path / "s.mid", n=2, seconds=8, seed=0)
    assert all(p["invalid_tokens"] == 0 for p in r["pieces"])
    train_music(songs, tmp_path / "f", TINY, tcfg(steps=2, bptt=64), init=tmp_path / "m", log=lambda m: None)
    assert json.loads((tmp_path / "f" / "config.json").read_text())["codec"] == cfg["codec"]
    with pytest.raises(SettingsError, match="--init"):
        train_music(songs, tmp_path / "g", TINY, tcfg(max_steps=2), init=tmp_path / "m", codec="default", log=lambda m: None)
    with pytest.raises(SettingsError, match="repeats"):
        train_music(songs, tmp_path / "h", TINY, tcfg(max_steps=2), codec="bnad", log=lambda m: None)
    assert decode([1], vocab).n_invalid == 0


def test_a_run_records_where_it_trained(tmp_path):
    """The same seed gives the same weights on the same kind of machine only, so config.json
    says which: the library versions, the CPU and its vector instructions, the threads."""
    import json

    from musicrnn.core.train import environment

    env = environment()
    assert env["torch"].startswith("2.") and env["cpu_capability"] and env["threads"] >= 1 and env["cpu"]
    from musicrnn.core.train import TrainConfig
    from musicrnn.tasks.music import train_music

    from pathlib import Path

    songs = Path(__file__).resolve().parent.parent / "corpora" / "folk"
    one = tmp_path / "one"
    one.mkdir()
    for f in sorted(songs.rglob("*.mid"))[:6]:
        (one / f.name).write_bytes(f.read_bytes())
    train_music(one, tmp_path / "m", {"cell": "lstm", "embed": 8, "hidden": 16, "layers": 1, "dropout": 0.0},
                TrainConfig(seed=1, batch=2, bptt=16, steps=2, warmup=0), log=lambda m: None)
    assert json.loads((tmp_path / "m" / "config.json").read_text())["environment"] == env

"""The ``musicrnn`` command itself: help for every command, start-up cost, absurd values
(one readable line on stderr, exit code 2, never a traceback), codec pipes and seeds."""

import argparse
import hashlib
import json
import re
import shutil
import subprocess
import sys
import time

import pytest

from conftest import CORPORA, ROOT, run_cli
from musicrnn.cli import build_parser, main

AIRS = CORPORA / "folk" / "airdsAirs"
TUNE = AIRS / "book1_1.mid"


def call(argv, capsys):
    """``main(argv)`` in-process: (exit code, stdout, stderr); argparse's SystemExit counts."""
    try:
        code = main([str(a) for a in argv])
    except SystemExit as e:
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code, err, argv):
    lines = err.strip().splitlines()
    shown = f"musicrnn {' '.join(map(str, argv))}\nexit {code}, stderr:\n{err}"
    assert code == 2, shown
    assert "Traceback" not in err, shown
    assert len(lines) == 1, shown
    assert lines[0].startswith("musicrnn"), shown
    return lines[0]


def _python(*args, timeout=60):
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=ROOT, timeout=timeout)


# --- 1. help ---------------------------------------------------------------------------------
def _walk(parser, path=()):
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _walk(sub, (*path, name))


def test_every_help_renders_and_every_option_shows_its_default():
    parsers = list(_walk(build_parser()))
    assert {p for p, _ in parsers} >= {("sample",), ("train",), ("evaluate",), ("calibrate",), ("experiment",),
                                       ("codec", "decode"), ("corpora", "build")}
    checked = 0
    for path, parser in parsers:
        text = parser.format_help()
        assert text.startswith("usage: musicrnn"), path
        for action in parser._actions:
            if isinstance(action, (argparse._HelpAction, argparse._VersionAction, argparse._SubParsersAction)):
                continue
            where = f"musicrnn {' '.join(path)} {'/'.join(action.option_strings) or action.dest}"
            assert action.help and action.help.strip(), f"{where}: no help text"
            if not action.option_strings:
                continue
            formatter = parser._get_formatter()
            rendered = " ".join(formatter._format_action(action).split())
            assert "(default:" in rendered or "(required)" in rendered or "default" in rendered, \
                f"{where}: the help does not show the default: {rendered!r}"
            assert action.option_strings[-1] in text, where
            checked += 1
    assert checked > 50


def test_help_is_fast_and_loads_neither_torch_nor_numpy():
    for args in (["--help"], ["train", "--help"], ["sample", "--help"]):
        best = float("inf")
        for _ in range(2):  # the better of two: this machine is shared
            t = time.perf_counter()
            r = _python("-m", "musicrnn", *args)
            best = min(best, time.perf_counter() - t)
            assert r.returncode == 0 and "usage: musicrnn" in r.stdout, r.stderr
        assert best < 1.0, f"musicrnn {' '.join(args)} took {best:.2f} s (target 0.3 s)"
    r = _python("-X", "importtime", "-m", "musicrnn", "sample", "--help")
    assert r.returncode == 0, r.stderr
    modules = {line.rsplit("|", 1)[-1].strip().split(".")[0] for line in r.stderr.splitlines() if "|" in line}
    assert "musicrnn" in modules and not modules & {"torch", "numpy"}, sorted(modules)
    r = _python("-c", "import sys, musicrnn.cli as c; c.build_parser(); print('torch' in sys.modules, 'numpy' in sys.modules)")
    assert r.stdout.split() == ["False", "False"], r.stdout + r.stderr


# --- 2. sample needs no torch ------------------------------------------------------------------
def test_sample_does_not_import_torch(tmp_path):
    out = tmp_path / "a.mid"
    code = ("import sys; from musicrnn.cli import main; "
            f"rc = main(['sample', '--out', {str(out)!r}, '--seconds', '5', '--seed', '1']); "
            "print(rc, 'torch' in sys.modules)")
    r = _python("-c", code)
    assert r.stdout.split()[-2:] == ["0", "False"], r.stdout + r.stderr
    assert out.is_file() and out.stat().st_size > 0


def test_bad_values_are_refused_without_loading_torch(tmp_path):
    code = ("import sys; from musicrnn.cli import main; "
            f"rcs = [main(['sample', '--out', {str(tmp_path / 'a.mid')!r}, '--top-p', '2']), "
            f"main(['evaluate', '--data', {str(tmp_path)!r}, '--seconds', '0']), "
            f"main(['evaluate', '--data', {str(tmp_path / 'nope')!r}]), "
            f"main(['calibrate', '--checkpoint', 'x', '--data', {str(tmp_path)!r}, '--bins', '0'])]; "
            "print(*rcs, 'torch' in sys.modules)")
    r = _python("-c", code)
    assert r.stdout.split() == ["2", "2", "2", "2", "False"], r.stdout + r.stderr


# --- 3. absurd values: one line, exit 2 ----------------------------------------------------------
@pytest.fixture(scope="module")
def env(tmp_path_factory):
    t = tmp_path_factory.mktemp("cli")
    (t / "folder").mkdir()
    (t / "afile").write_text("I am a regular file\n")
    (t / "textmid").mkdir()
    (t / "textmid" / "x.mid").write_text("hello, I am a text file\n")
    (t / "bad_ids.txt").write_text("12 7 three 4\n")
    (t / "empty.txt").write_text("")
    (t / "newout").mkdir()
    (t / "data").mkdir()
    for f in sorted(AIRS.glob("*.mid"))[:3]:
        shutil.copy(f, t / "data" / f.name)
    return t


TINY = ["--hidden", 8, "--embed", 4, "--layers", 1, "--batch", 2, "--bptt", 16, "-q"]


def _sample(*a):
    return lambda t: ["sample", "--out", t / "s.mid", *a]


def _evaluate(*a):
    return lambda t: ["evaluate", "--data", t / "data", *a]


def _train(*a, data=None):
    return lambda t: ["train", "--data", data(t) if data else t / "data", "--out", t / "run", *TINY, *a]


SAMPLE = {
    "top-p 2": _sample("--top-p", 2), "top-p 0": _sample("--top-p", 0), "top-k -5": _sample("--top-k", -5),
    "temperature 0": _sample("--temperature", 0), "temperature -1": _sample("--temperature", -1),
    "temperature nan": _sample("--temperature", "nan"), "temperature inf": _sample("--temperature", "inf"),
    "seconds 0": _sample("--seconds", 0), "seconds -5": _sample("--seconds", -5),
    "seconds 1e9": _sample("--seconds", "1e9"), "seconds abc": _sample("--seconds", "abc"),
    "tokens -5": _sample("--tokens", -5), "tokens 0": _sample("--tokens", 0),
    "seconds and tokens": _sample("--seconds", 5, "--tokens", 5),
    "num 0": _sample("--num", 0), "num -1": _sample("--num", -1),
    "checkpoint missing": _sample("--checkpoint", "/nonexistent"),
    "checkpoint is a data folder": lambda t: ["sample", "--out", t / "s.mid", "--checkpoint", t / "data"],
    "primer missing": _sample("--primer", "/nonexistent.mid"),
    "primer is text": lambda t: ["sample", "--out", t / "s.mid", "--primer", t / "textmid" / "x.mid"],
    "out is a folder": lambda t: ["sample", "--out", t / "folder", "--tokens", 20, "--seed", 1],
    "out under a file": lambda t: ["sample", "--out", t / "afile" / "x.mid", "--tokens", 20, "--seed", 1],
    "out under /proc": lambda t: ["sample", "--out", "/proc/nope/x.mid", "--tokens", 20, "--seed", 1],
    "no out": lambda t: ["sample"],
    "unknown flag": _sample("--bogus"),
}
OTHER = {
    "evaluate seconds 0": _evaluate("--seconds", 0),
    "evaluate samples 0": _evaluate("--samples", 0),
    "evaluate data missing": lambda t: ["evaluate", "--data", "/nonexistent"],
    "evaluate split bogus": _evaluate("--split", "bogus"),
    "calibrate bins 0": lambda t: ["calibrate", "--checkpoint", ROOT / "checkpoints" / "folk", "--data", t / "data", "--bins", 0],
    "experiment vary abc": lambda t: ["experiment", "--vary", "hidden=abc", "--data", t / "data", "--out", t / "exp", *TINY],
    "experiment vary unknown": lambda t: ["experiment", "--vary", "bogus=1,2", "--data", t / "data", "--out", t / "exp"],
    "experiment one seed": lambda t: ["experiment", "--vary", "hidden=8,9", "--seeds", 1, "--data", t / "data", "--out", t / "exp"],
    "experiment no arms": lambda t: ["experiment", "--data", t / "data", "--out", t / "exp"],
    "experiment hidden 0": lambda t: ["experiment", "--vary", "hidden=0,8", "--data", t / "data", "--out", t / "exp"],
    "codec decode non-integer ids": lambda t: ["codec", "decode", t / "bad_ids.txt", "--format", "ids", "--out", t / "d.mid"],
    "codec decode missing": lambda t: ["codec", "decode", t / "nope.txt", "--out", t / "d.mid"],
    "codec decode empty": lambda t: ["codec", "decode", t / "empty.txt", "--out", t / "d.mid"],
    "codec decode folder": lambda t: ["codec", "decode", t / "folder", "--out", t / "d.mid"],
    "codec decode binary": lambda t: ["codec", "decode", TUNE, "--out", t / "d.mid"],
    "codec encode missing": lambda t: ["codec", "encode", t / "nope.mid"],
    "codec encode bad format": lambda t: ["codec", "encode", TUNE, "--format", "bogus"],
    "codec no action": lambda t: ["codec"],
    "corpora build jobs 0": lambda t: ["corpora", "build", "--jobs", 0, "--out", t / "corp"],
    "corpora build limit 0": lambda t: ["corpora", "build", "--limit", 0, "--out", t / "corp"],
    "no command": lambda t: [],
    "unknown command": lambda t: ["bogus"],
}
# train: every case must fail before training; those not about the data before the corpus loads
TRAIN = {
    "epochs 0": _train("--epochs", 0), "epochs -1": _train("--epochs", -1), "batch 0": _train("--batch", 0),
    "bptt 0": _train("--bptt", 0), "lr -1": _train("--lr", -1), "lr nan": _train("--lr", "nan"),
    "hidden 0": _train("--hidden", 0), "embed 0": _train("--embed", 0), "layers 0": _train("--layers", 0),
    "dropout 1.5": _train("--dropout", 1.5), "attention -1": _train("--attention", -1),
    "steps 0": _train("--steps", 0), "max-steps 0": _train("--max-steps", 0), "minutes -1": _train("--minutes", -1),
    "warmup -1": _train("--warmup", -1), "patience 0": _train("--patience", 0),
    "grad-clip -1": _train("--grad-clip", -1), "grad-scale -1": _train("--grad-scale", -1),
    "grad-scale abc": _train("--grad-scale", "abc"), "weight-decay -1": _train("--weight-decay", -1),
    "gru with iris": _train("--cell", "gru", "--activation", "iris"),
    "cell bogus": _train("--cell", "bogus"),
    "init missing": _train("--init", "/nonexistent"),
    "init is a data folder": lambda t: [*_train()(t), "--init", t / "data"],
    "resume empty out": lambda t: ["train", "--data", t / "data", "--out", t / "newout", "--resume", *TINY],
    "no data": lambda t: ["train", "--out", t / "run"],
    # these are about the data, so the corpus is looked at (and must be refused before training)
    "valid-fraction 1.5": _train("--valid-fraction", 1.5),
    "test-fraction -0.5": _train("--test-fraction", -0.5),
    "data missing": _train(data=lambda t: "/nonexistent"),
    "data is text named .mid": _train(data=lambda t: t / "textmid"),
    "data has no MIDI": _train(data=lambda t: t / "folder"),
}
ABOUT_DATA = {"valid-fraction 1.5", "test-fraction -0.5", "data missing", "data is text named .mid", "data has no MIDI"}


@pytest.mark.parametrize("case", [*SAMPLE, *OTHER])
def test_absurd_values_give_one_line_and_exit_2(case, env, capsys):
    argv = {**SAMPLE, **OTHER}[case](env)
    code, out, err = call(argv, capsys)
    assert_one_line_error(code, err, argv)
    assert not (env / "s.mid").exists() and not (env / "d.mid").exists() and not (env / "corp").exists()


@pytest.fixture
def no_training(monkeypatch):
    """Make starting a training run, or loading the corpus, visible to the test."""
    import musicrnn.core.train
    import musicrnn.tasks.music as music

    def refuse(*a, **kw):
        raise AssertionError("training started: the settings were not checked before")

    loaded = []
    real = music.load_corpus
    monkeypatch.setattr(musicrnn.core.train, "fit", refuse)
    monkeypatch.setattr(music, "load_corpus", lambda *a, **kw: loaded.append(a) or real(*a, **kw))
    return loaded


@pytest.mark.parametrize("case", TRAIN)
def test_absurd_train_settings_are_refused_before_training(case, env, capsys, no_training):
    argv = TRAIN[case](env)
    code, out, err = call(argv, capsys)
    assert_one_line_error(code, err, argv)
    if case not in ABOUT_DATA:
        assert not no_training, f"{case}: the corpus was loaded before the settings were checked"
    assert not (env / "run").exists() or not any((env / "run").iterdir())


@pytest.mark.parametrize("device", ["foo", "cuda", "cuda:7", "mps"])
def test_train_device_is_refused_before_the_corpus_loads(device, env, capsys, no_training):
    import torch

    if device.startswith("cuda") and torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    argv = _train("--device", device)(env)
    code, out, err = call(argv, capsys)
    line = assert_one_line_error(code, err, argv)
    assert device in line and not no_training


@pytest.mark.parametrize("command", ["sample", "evaluate", "train"])
def test_negative_seed_is_refused_in_one_line(command, env, capsys, no_training):
    base = {"sample": _sample("--tokens", 20), "evaluate": _evaluate("--samples", 1, "--seconds", 1), "train": _train()}
    argv = [*base[command](env), "--seed", -1]
    code, out, err = call(argv, capsys)
    assert "--seed" in assert_one_line_error(code, err, argv) and not no_training


def test_evaluate_samples_0_names_samples(env, capsys):
    argv = _evaluate("--samples", 0)(env)
    code, out, err = call(argv, capsys)
    assert "--samples" in assert_one_line_error(code, err, argv)


def test_train_into_an_existing_model_needs_resume_or_force(env, tmp_path, capsys, no_training):
    model = tmp_path / "model"
    shutil.copytree(ROOT / "checkpoints" / "chorales", model)
    before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in model.iterdir()}
    argv = ["train", "--data", env / "data", "--out", model, *TINY]
    code, out, err = call(argv, capsys)
    line = assert_one_line_error(code, err, argv)
    assert "--resume" in line and "--force" in line and str(model) in line
    assert {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in model.iterdir()} == before
    assert not no_training


def test_experiment_can_vary_the_run_length(tmp_path):
    """`--vary max_steps=3,4` used to die in a TypeError; max_steps stops a run before it
    finishes, so the experiment refuses it in one line and points to steps, which works."""
    data = tmp_path / "d"
    data.mkdir()
    for f in sorted(AIRS.glob("*.mid"))[:6]:
        shutil.copy(f, data / f.name)
    flags = ["--data", data, "--out", tmp_path / "x", "--seeds", 2, "--hidden", 8, "--embed", 4, "--layers", 1,
             "--batch", 2, "--bptt", 16, "--epochs", 1, "-q"]
    r = run_cli("experiment", "--vary", "max_steps=3,4", *flags)
    assert r.returncode == 2 and "steps" in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    t = time.perf_counter()
    r = run_cli("experiment", "--vary", "steps=3,4", *flags)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    res = json.loads(r.stdout.strip().splitlines()[-1])
    assert res["variants"] == ["steps=3", "steps=4"] and (tmp_path / "x" / "results.md").is_file()
    steps = json.loads((tmp_path / "x" / "results.json").read_text())["runs"]
    assert [steps[v]["0"]["steps"] for v in res["variants"]] == [3, 4]
    assert time.perf_counter() - t < 60


@pytest.mark.parametrize("command", ["decode", "roundtrip"])
def test_codec_out_is_a_folder(command, tmp_path, capsys):
    (tmp_path / "ids.txt").write_text("1 2 3\n")
    (tmp_path / "folder").mkdir()
    argv = ["codec", command, tmp_path / "ids.txt" if command == "decode" else TUNE, "--out", tmp_path / "folder"]
    code, out, err = call(argv, capsys)
    line = assert_one_line_error(code, err, argv)
    assert f"{tmp_path / 'folder'}:" in line and sorted(p.name for p in tmp_path.iterdir()) == ["folder", "ids.txt"]


# --- 4. codec encode | decode -----------------------------------------------------------------------
def test_encode_then_decode_in_every_format(tmp_path, capsys):
    from musicrnn.codec import read_midi

    code, out, err = call(["codec", "roundtrip", TUNE, "--out", tmp_path / "rt.mid"], capsys)
    assert code == 0, err
    m = re.search(r"\((\d+)/(\d+) notes match\)", out)
    assert m, out
    want = read_midi(tmp_path / "rt.mid").n_notes
    assert want > 0 and want == int(m.group(2))
    for fmt in ("names", "ids", "text"):
        code, out, err = call(["codec", "encode", TUNE, "--format", fmt], capsys)
        assert code == 0, err
        tokens = tmp_path / f"tokens.{fmt}"
        tokens.write_text(out)
        for decode_as in ("auto", fmt):
            code, out, err = call(["codec", "decode", tokens, "--format", decode_as, "--out", tmp_path / f"{fmt}.mid"], capsys)
            assert code == 0, err
            rep = json.loads(out)
            assert rep["notes"] == want and rep["invalid_tokens"] == 0, (fmt, decode_as, rep)
            assert read_midi(tmp_path / f"{fmt}.mid").n_notes == want


# --- 5. seeds ------------------------------------------------------------------------------------------
def test_sample_without_seed_names_it_and_the_seed_repeats_the_music(tmp_path, capsys):
    seeds, files = [], []
    for name in ("a", "b"):
        out = tmp_path / f"{name}.mid"
        code, stdout, err = call(["sample", "--out", out, "--seconds", 5], capsys)
        assert code == 0, err
        m = re.search(r"seed (\d+) \(add --seed \1", err)
        assert m, err
        seeds.append(int(m.group(1)))
        assert json.loads(stdout)["seed"] == seeds[-1]
        files.append(out.read_bytes())
    assert seeds[0] != seeds[1] and files[0] != files[1]
    code, stdout, err = call(["sample", "--out", tmp_path / "again.mid", "--seconds", 5, "--seed", seeds[0]], capsys)
    assert code == 0, err
    assert "add --seed" not in err
    assert (tmp_path / "again.mid").read_bytes() == files[0]

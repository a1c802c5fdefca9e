"""The ``musicrnn`` command: parse arguments, call library functions, print results.

Start-up matters: nothing heavy is imported here. Each command imports what it needs
when it runs (``sample`` never imports torch), so ``--help`` and ``sample`` answer fast.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from . import __version__


class UsageError(Exception):
    """A problem with the user's input: printed as one line, exit code 2."""


def _progress(disable: bool):
    from tqdm import tqdm

    return lambda it, **kw: tqdm(it, disable=disable, file=sys.stderr, dynamic_ncols=True, **kw)


def _existing(path, what: str = "file") -> Path:
    p = Path(path)
    if not p.exists():
        raise UsageError(f"{p}: no such {what}")
    return p


# --- codec ----------------------------------------------------------------------------
def cmd_codec_check(args) -> int:
    from .codec import check_paths

    for p in args.paths:
        _existing(p, "file or folder")
    rep = check_paths(args.paths, progress=_progress(args.quiet or len(args.paths) == 1 and Path(args.paths[0]).is_file()))
    for line in rep.unreadable_files:
        print(f"skipped {line}", file=sys.stderr)
    print(json.dumps(rep.summary()))
    named_bad = any(Path(p).is_file() for p in args.paths) and rep.unreadable and rep.files == rep.unreadable
    return 2 if named_bad or rep.files == 0 else 0


def cmd_codec_encode(args) -> int:
    from .codec import Vocab, encode, read_midi

    vocab = Vocab()
    ids = encode(read_midi(args.file), vocab)
    if args.format == "text":
        print(vocab.to_text(ids))
    elif args.format == "ids":
        print(" ".join(map(str, ids.tolist())))
    else:
        print("\n".join(vocab.describe(ids)))
    return 0


def cmd_codec_decode(args) -> int:
    from .codec import Vocab, decode, write_midi
    from .codec.vocab import parse_tokens

    src = _existing(args.file)
    if src.is_dir():
        raise UsageError(f"{src}: is a folder; give a file of tokens")
    try:
        text = src.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{src}: not a text file of tokens (token names, ids or characters)") from None
    vocab = Vocab()
    try:
        ids = parse_tokens(text, vocab, args.format)
    except ValueError as e:
        raise UsageError(f"{src}: {e}") from None
    dec = decode(ids, vocab)
    write_midi(dec.score, args.out)
    print(json.dumps({"out": str(args.out), "notes": dec.score.n_notes, "tokens": dec.n_tokens, "invalid_tokens": dec.n_invalid}))
    return 0


def cmd_codec_roundtrip(args) -> int:
    from .codec import Vocab, count_matched, decode, encode, read_midi, write_midi

    vocab = Vocab()
    score = read_midi(args.file)
    ids = encode(score, vocab)
    dec = decode(ids, vocab)
    write_midi(dec.score, args.out)
    matched = count_matched(score, dec.score, vocab)
    print(f"{args.file}: {score.n_notes} notes -> {len(ids)} tokens -> {args.out} ({matched}/{score.n_notes} notes match)")
    print(vocab.to_text(ids[:120]) + (" ..." if len(ids) > 120 else ""))
    return 0


# --- corpora --------------------------------------------------------------------------
def cmd_corpora_build(args) -> int:
    from .corpora import build_corpora

    if args.jobs < 1 or (args.limit is not None and args.limit < 1):
        raise UsageError("--jobs and --limit must be at least 1")
    summary = build_corpora(Path(args.out), jobs=args.jobs, limit=args.limit, progress=not args.quiet)
    print(json.dumps(summary))
    return 0


# --- train / experiment ---------------------------------------------------------------
MODEL_FLAGS = ("cell", "embed", "hidden", "layers", "dropout", "activation", "output", "attention")
TRAIN_FLAGS = ("seed", "batch", "bptt", "lr", "weight_decay", "warmup", "epochs", "steps", "minutes", "max_steps",
               "grad_clip", "grad_scale", "patience", "device")


def _grad_scale(value) -> float:
    from .core.train import parse_grad_scale

    if value is None or str(value).lower() in ("0", "off", "none"):
        return 0.0
    try:
        return parse_grad_scale(str(value))
    except ValueError:
        raise UsageError(f"--grad-scale {value}: give a positive number, phi, golden or phi-conjugate") from None


def _train_configs(args):
    """(model config dict, TrainConfig) from parsed train flags."""
    from .core.config import RNNConfig
    from .core.train import TrainConfig

    if args.model != "rnn":
        raise UsageError(f"--model {args.model}: only 'rnn' is available in this version")
    tcfg = TrainConfig(**{k: getattr(args, k) for k in TRAIN_FLAGS if k != "grad_scale"},
                       grad_scale=_grad_scale(args.grad_scale))
    mcfg = {k: getattr(args, k) for k in MODEL_FLAGS}
    mcfg["fused"] = not args.unfused
    mcfg["activation"] = RNNConfig(vocab_size=1, **mcfg).validate().activation  # iris-mm -> iris
    tcfg.validate()  # both raise SettingsError: one line, exit 2
    return mcfg, tcfg


def _explicit(args) -> set[str]:
    """The dests of the flags the user actually typed (abbreviations are off)."""
    given = {a.split("=", 1)[0] for a in args.argv if a.startswith("-")}
    return {a.dest for a in args.actions.values() if set(a.option_strings) & given}


def _overlay(args, settings: dict, why: str) -> None:
    """Take every model/train flag the user did not type from ``settings`` (a run's saved
    settings: {"model", "train", "data"})."""
    typed = _explicit(args)
    m, t, d = settings["model"], settings["train"], settings.get("data", {})
    for k in MODEL_FLAGS:
        if k not in typed and k in m:
            setattr(args, k, m[k])
    if "unfused" not in typed and "fused" in m:
        args.unfused = not m["fused"]
    if why == "resume":
        for k in TRAIN_FLAGS:
            if k not in typed and k in t:
                setattr(args, k, t[k] if k != "grad_scale" else (t[k] or None))
        for flag, key in (("valid_fraction", "valid_fraction"), ("test_fraction", "test_fraction"), ("transpose", "max_transpose")):
            if flag not in typed and key in d:
                setattr(args, flag, d[key])
        if "init" not in typed and settings.get("init"):
            args.init = settings["init"]["path"]


def cmd_train(args) -> int:
    from .tasks.music import run_settings, train_music

    if args.resume:
        _overlay(args, run_settings(args.out), "resume")
    elif args.init:
        from .core.checkpoint import read_config

        _overlay(args, {"model": read_config(args.init)["model"], "train": {}}, "init")
    mcfg, tcfg = _train_configs(args)
    command = "musicrnn " + " ".join(args.argv)
    summary = train_music(args.data, args.out, mcfg, tcfg, valid_fraction=args.valid_fraction,
                          test_fraction=args.test_fraction, max_transpose=args.transpose, resume=args.resume,
                          force=args.force, init=args.init, command=command,
                          progress=None if args.quiet else _progress(False), log=lambda m: print(m, file=sys.stderr))
    summary.pop("loss_history")
    summary["skipped_files"] = len(summary["skipped_files"])
    print(json.dumps(summary))
    return 130 if summary.get("stopped_by") in ("SIGINT", "SIGTERM") else 0


def _arm_value(args, dest: str, value: str, spec: str):
    """A --vary/--variant value converted as the flag itself would convert it."""
    action = args.actions[dest]
    if isinstance(action, argparse._StoreTrueAction):
        return value.lower() in ("1", "true", "yes", "on")
    try:
        v = action.type(value) if action.type else value
    except (ValueError, TypeError, argparse.ArgumentTypeError):
        raise UsageError(f"{spec}: {value!r} is not a valid value for --{dest.replace('_', '-')}") from None
    if action.choices and v not in action.choices:
        raise UsageError(f"{spec}: {value!r} is not one of {', '.join(map(str, action.choices))}")
    return v


def cmd_experiment(args) -> int:
    import copy

    from .tasks.experiment import run_experiment

    if args.task != "music":
        raise UsageError(f"--task {args.task}: only 'music' is available in this version")
    if args.seeds < 2:
        raise UsageError("--seeds must be at least 2 (a claim needs several seeds)")
    if bool(args.vary) == bool(args.variant):
        raise UsageError("give either --vary (a grid) or --variant (explicit arms), not both or neither")
    not_varied = {"data", "out", "seed", "seeds", "vary", "variant", "task", "resume", "force", "quiet", "init", "max_steps"}
    if args.max_steps is not None:
        raise UsageError("--max-steps stops a run before it finishes; an experiment compares finished runs: "
                         "use --steps (the run's length) instead")

    def flag(key: str, spec: str) -> str:
        dest = key.strip().lstrip("-").replace("-", "_")
        if dest == "max_steps":
            raise UsageError(f"{spec}: an experiment compares finished runs; vary steps (the run's length), "
                             f"not max_steps (which stops a run before it finishes)")
        if dest not in args.actions or dest in not_varied:
            raise UsageError(f"{spec}: {key!r} is not a train flag that can vary (e.g. activation=tanh,iris)")
        return dest

    if args.vary:
        variants = {}
        for spec in args.vary:
            key, _, values = spec.partition("=")
            if not values:
                raise UsageError(f"--vary {spec}: give a train flag and values, e.g. activation=tanh,iris")
            dest = flag(key, f"--vary {spec}")
            variants[dest] = [(v, _arm_value(args, dest, v, f"--vary {spec}")) for v in values.split(",") if v]
        grid = [{}]
        for dest, values in variants.items():
            grid = [dict(g, **{dest: v}) for g in grid for v in values]
    else:  # each --variant is one arm: space-separated FLAG=VALUE settings
        grid = []
        for spec in args.variant:
            arm = {}
            for item in spec.split():
                key, _, value = item.partition("=")
                if not value:
                    raise UsageError(f"--variant {spec!r}: write FLAG=VALUE pairs, e.g. 'cell=lstm-lite hidden=231'")
                dest = flag(key, f"--variant {spec!r}")
                arm[dest] = (value, _arm_value(args, dest, value, f"--variant {spec!r}"))
            grid.append(arm)
    configs = {}
    for g in grid:  # every arm is checked before any is trained
        a = copy.copy(args)
        for dest, (_, v) in g.items():
            setattr(a, dest, v)
        name = ",".join(f"{k}={text}" for k, (text, _) in g.items())
        try:
            configs[name] = (*_train_configs(a), a.transpose)
        except (ValueError, UsageError) as e:
            raise UsageError(f"{name}: {e}") from None
    run_experiment(args.data, args.out, configs, seeds=list(range(args.seeds)), valid_fraction=args.valid_fraction,
                   test_fraction=args.test_fraction, log=lambda m: print(m, file=sys.stderr))
    print(json.dumps({"out": str(args.out), "variants": list(configs), "seeds": args.seeds,
                      "table": str(Path(args.out) / "results.md")}))
    return 0


# --- sample / evaluate / calibrate ------------------------------------------------------
def cmd_sample(args) -> int:
    from .tasks.music import sample_to_files

    if args.primer:
        _existing(args.primer)

    def report(r):
        print(f"wrote {r['midi']}: {r['notes']} notes, {r['seconds']} s"
              + (f", audio {r['wav']} ({r['engine']})" if "wav" in r else ""), file=sys.stderr)

    res = sample_to_files(args.checkpoint, args.out, n=args.num, seconds=args.seconds, tokens=args.tokens,
                          primer=args.primer, temperature=args.temperature, top_k=args.top_k, top_p=args.top_p,
                          seed=args.seed, wav=args.wav, report=report)
    if args.seed is None:
        print(f"seed {res['seed']} (add --seed {res['seed']} to make the same music again)", file=sys.stderr)
    pieces = [dict(r, seed=res["seed"]) for r in res["pieces"]]
    print(json.dumps(pieces[0] if args.num == 1 else pieces))
    return 0


def cmd_evaluate(args) -> int:
    from .tasks import musicstats as ms
    from .tasks.music import evaluation_report

    _existing(args.data, "file or folder")
    report = evaluation_report(args.checkpoint, args.data, split=args.split, samples=args.samples, seconds=args.seconds,
                               temperature=args.temperature, top_k=args.top_k, top_p=args.top_p, seed=args.seed)
    w = max(len(m) for m in ms.METRICS)
    print(f"{args.split}: {report['bits_per_token']:.4f} bits/token over {report['pieces']} pieces "
          f"({report['tokens_scored']:,} tokens, each scored once); {args.samples} samples of {args.seconds:g} s, "
          f"seed {report['seed']}", file=sys.stderr)
    print(f"{'metric':<{w}}  {'corpus':>9}  {'samples':>9}", file=sys.stderr)
    for m in ms.METRICS:
        print(f"{m:<{w}}  {report['corpus'][m]:>9.4f}  {report['generated'][m]:>9.4f}", file=sys.stderr)
    print(f"pitch-class histogram distance (total variation, 0 = same): {report['pitch_class_distance']:.4f} "
          f"in scale degrees, {report['pitch_class_distance_absolute']:.4f} in absolute pitch classes", file=sys.stderr)
    print(json.dumps(report))
    return 0


def cmd_calibrate(args) -> int:
    if args.bins < 1:
        raise UsageError("--bins must be at least 1")
    _existing(args.data, "file or folder")
    from .core.calibration import calibration_report, plot_reliability
    from .tasks.music import held_out, load_model

    reports, encoded = {}, {}  # the folder is encoded once per codec and split, not once per model
    for ckpt in args.checkpoint:
        model, vocab, meta = load_model(ckpt)
        d = meta.get("data", {})
        key = (json.dumps(meta["codec"], sort_keys=True), d.get("valid_fraction"), d.get("test_fraction"))
        if key not in encoded:
            encoded[key] = held_out(meta, "valid", args.data, vocab)
        rep = calibration_report(model, encoded[key], bins=args.bins)
        reports[f"{Path(ckpt).name} ({meta['model'].get('output', 'softmax')})"] = rep
        print(f"{ckpt}: {rep['tokens']} tokens, NLL {rep['nll_bits_per_token']:.4f} bits/token, "
              f"accuracy {rep['accuracy']:.4f}, mean confidence {rep['mean_confidence']:.4f}, ECE {rep['ece']:.4f}",
              file=sys.stderr)
    if args.png:
        plot_reliability(reports, args.png)
    print(json.dumps({name: {k: round(v, 5) if isinstance(v, float) else v for k, v in r.items() if k != "bins"}
                      for name, r in reports.items()}))
    return 0


def cmd_ui(args) -> int:
    if not 0 < args.port < 65536:
        raise UsageError(f"--port {args.port}: must be 1 to 65535")
    if args.concurrency is not None and args.concurrency < 1:
        raise UsageError(f"--concurrency {args.concurrency}: must be at least 1")
    from .ui.app import launch

    launch(args.host, args.port, args.share == "true", str(args.runs), concurrency=args.concurrency)
    return 0


# --- the parser -------------------------------------------------------------------------
def _number(kind):
    """argparse type: a finite int/float (nan and inf are refused)."""
    def convert(text):
        v = kind(text)
        if kind is float and not math.isfinite(v):
            raise ValueError(text)
        return v
    convert.__name__ = kind.__name__
    return convert


INT, FLOAT = _number(int), _number(float)


class _Formatter(argparse.HelpFormatter):
    """Help text as written (a '%' is just a percent sign), with each option's default."""

    def _expand_help(self, action):
        text = action.help or ""
        if action.option_strings and action.nargs != 0 or isinstance(action, argparse._StoreTrueAction):
            if action.required:
                text += " (required)"
            elif "default" not in text and action.default is not argparse.SUPPRESS:
                shown = "off" if action.default is False or action.default is None else action.default
                text += f" (default: {shown})"
        return text


class _Parser(argparse.ArgumentParser):
    def __init__(self, *a, **kw):
        kw.setdefault("formatter_class", _Formatter)
        kw.setdefault("allow_abbrev", False)
        super().__init__(*a, **kw)

    def error(self, message):  # one line, exit 2
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _add_sampling_args(c) -> None:
    c.add_argument("--temperature", type=FLOAT, default=1.0, help="below 1 plays safer, above 1 wilder (> 0)")
    c.add_argument("--top-k", type=INT, default=0, help="draw only from the K likeliest tokens (0: all)")
    c.add_argument("--top-p", type=FLOAT, default=1.0, help="draw only from the likeliest tokens that make up this much probability, in (0, 1]")
    c.add_argument("--seed", type=INT, default=None, help="seed for the random draws; the same seed gives the same "
                                                          "music (default: a new seed each run, printed)")


def _add_train_args(c) -> None:
    """The flags of `musicrnn train` (also taken by `musicrnn experiment`)."""
    from .core.config import ACTIVATION_ALIASES, ACTIVATIONS, CELLS, OUTPUTS

    c.add_argument("--data", required=True, help="folder of MIDI files (searched recursively)")
    c.add_argument("--out", required=True, type=Path, help="checkpoint folder to write")
    c.add_argument("--model", default="rnn", choices=["rnn"], help="model family")
    c.add_argument("--init", default=None, metavar="CHECKPOINT",
                   help="fine-tune: start from this model's weights (e.g. checkpoints/folk); its size settings are kept")
    c.add_argument("--cell", default="lstm", choices=CELLS, help="recurrent cell; lstm-lite: one weight matrix shared by all gates (research)")
    c.add_argument("--activation", default="tanh", choices=[*ACTIVATIONS, *ACTIVATION_ALIASES],
                   help="candidate/output activation of LSTM cells: iris is the metallic-mean form, phi-tanh the golden-ratio-scaled tanh (docs/research.md)")
    c.add_argument("--output", default="softmax", choices=OUTPUTS,
                   help="output activation + loss: softmax + cross-entropy, or Topcat + binary cross-entropy")
    c.add_argument("--attention", type=INT, default=0, metavar="N",
                   help="temporal attention over the last N recurrent outputs, carried across batches (0: off)")
    c.add_argument("--unfused", action="store_true", help="run a plain LSTM through the research cell (for comparisons)")
    c.add_argument("--embed", type=INT, default=64, help="token embedding size")
    c.add_argument("--hidden", type=INT, default=256, help="recurrent state size")
    c.add_argument("--layers", type=INT, default=2, help="recurrent layers")
    c.add_argument("--dropout", type=FLOAT, default=0.1, help="dropout between layers and before the output, in [0, 1)")
    c.add_argument("--seed", type=INT, default=0, help="seed for weights, data order and augmentation")
    c.add_argument("--epochs", type=INT, default=10, help="length of the run in passes over the data")
    c.add_argument("--steps", type=INT, default=None, help="length of the run in steps (instead of --epochs)")
    c.add_argument("--minutes", type=FLOAT, default=None,
                   help="time budget: the run is as many steps as fit (measured here first; instead of --epochs)")
    c.add_argument("--max-steps", type=INT, default=None, help="stop after this many steps, resumably (the schedule still spans the whole run)")
    c.add_argument("--batch", type=INT, default=32, help="parallel streams (fewer for a tiny folder)")
    c.add_argument("--bptt", type=INT, default=128, help="tokens per truncated-BPTT window")
    c.add_argument("--lr", type=FLOAT, default=3e-3, help="peak learning rate (AdamW; cosine decay to a tenth)")
    c.add_argument("--weight-decay", type=FLOAT, default=0.01, help="AdamW weight decay of the matrices")
    c.add_argument("--warmup", type=FLOAT, default=0.05, help="learning-rate warmup: a fraction of the run (< 1) or a number of steps")
    c.add_argument("--grad-clip", type=FLOAT, default=1.0, help="clip the global gradient norm to this (0: off)")
    c.add_argument("--grad-scale", default=None, metavar="C",
                   help="instead of clipping, scale the global gradient norm to exactly C every step (a number, phi or phi-conjugate)")
    c.add_argument("--patience", type=INT, default=3, help="early stop after this many epochs without improvement")
    c.add_argument("--valid-fraction", type=FLOAT, default=0.1, help="share of files held out for validation (chosen by file name)")
    c.add_argument("--test-fraction", type=FLOAT, default=0.1, help="share of other files held out as a test set, scored once at the end")
    c.add_argument("--transpose", type=INT, default=5, help="augment: random transposition up to +-N semitones (0: off)")
    c.add_argument("--device", default="cpu", help="cpu, or cuda for a GPU")
    c.add_argument("--resume", action="store_true", help="continue the run in OUT with its own settings")
    c.add_argument("--force", action="store_true", help="replace a model already in OUT")
    c.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="musicrnn", description="Music as sequences: tokenise MIDI, train models, sample songs.")
    p.add_argument("--version", action="version", version=f"musicrnn {__version__}", help="print the version and exit")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)

    c = sub.add_parser("sample", help="generate music from a trained model", description="Generate music from a trained model.")
    c.add_argument("--checkpoint", default=None, help="checkpoint folder (default: the shipped folk melody model)")
    c.add_argument("--primer", default=None, help="MIDI file to continue (default: start from nothing)")
    _add_sampling_args(c)
    g = c.add_mutually_exclusive_group()
    g.add_argument("--seconds", type=FLOAT, default=None, help="length of music to generate (default: 30)")
    g.add_argument("--tokens", type=INT, default=None, help="number of tokens to generate instead of --seconds (default: off)")
    c.add_argument("--num", type=INT, default=1, help="how many pieces (OUT gets _1, _2, ...)")
    c.add_argument("--out", required=True, type=Path, help="MIDI file to write")
    c.add_argument("--wav", type=Path, default=None, help="also render audio to this WAV file (FluidSynth + General MIDI SoundFont)")
    c.set_defaults(func=cmd_sample)

    c = sub.add_parser("train", help="train a char-RNN on a folder of MIDI files", description="Train a char-RNN on a folder of MIDI files.")
    _add_train_args(c)
    c.set_defaults(func=cmd_train, argv=None, actions={a.dest: a for a in c._actions})

    c = sub.add_parser("evaluate", help="bits per token on held-out files and music statistics of samples vs the corpus")
    c.add_argument("--checkpoint", default=None, help="checkpoint folder (default: the shipped folk model)")
    c.add_argument("--data", required=True, help="the folder the model was trained on (its held-out files are scored)")
    c.add_argument("--split", choices=["valid", "test", "all"], default="valid", help="which files of DATA to score")
    c.add_argument("--samples", type=INT, default=20, help="pieces to generate for the statistics")
    c.add_argument("--seconds", type=FLOAT, default=30.0, help="length of each generated piece")
    _add_sampling_args(c)
    c.set_defaults(func=cmd_evaluate)

    c = sub.add_parser("calibrate", help="NLL, accuracy, expected calibration error and a reliability diagram")
    c.add_argument("--checkpoint", required=True, nargs="+", help="one or more checkpoints to compare")
    c.add_argument("--data", required=True, help="the folder they were trained on (its validation split is scored)")
    c.add_argument("--bins", type=INT, default=15, help="confidence bins")
    c.add_argument("--png", type=Path, default=None, help="write the reliability diagram here")
    c.set_defaults(func=cmd_calibrate)

    c = sub.add_parser("experiment", help="train every variant with every seed; mean, 95% CI and paired tests")
    c.add_argument("--task", default="music", choices=["music"], help="which task's data DATA holds")
    c.add_argument("--vary", action="append", default=[], metavar="FLAG=V1,V2",
                   help="a train flag and the values to compare (repeat for a grid), e.g. activation=tanh,iris")
    c.add_argument("--variant", action="append", default=[], metavar="'FLAG=V FLAG=V'",
                   help="instead of --vary: one arm per use, e.g. --variant 'cell=lstm hidden=128' "
                        "--variant 'cell=lstm-lite hidden=231' (the first is the baseline)")
    c.add_argument("--seeds", type=INT, default=5, help="seeds 0..N-1, the same list for every variant")
    _add_train_args(c)
    c.set_defaults(func=cmd_experiment, argv=None, actions={a.dest: a for a in c._actions})

    c = sub.add_parser("ui", help="start the page in the browser: generate, listen, download, train",
                       description="Start the musicrnn page (Gradio) on http://HOST:PORT.")
    c.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every network interface)")
    c.add_argument("--port", type=INT, default=7860, help="port")
    c.add_argument("--share", default="false", choices=["true", "false"], help="also make a public gradio.live link (needs internet)")
    c.add_argument("--runs", type=Path, default=Path("runs"), help="folder of trained models to list; the page's training writes here")
    c.add_argument("--concurrency", type=INT, default=None, help="songs generated at once; more requests wait in the queue (default: one a core, at most 4)")
    c.set_defaults(func=cmd_ui)

    codec = sub.add_parser("codec", help="MIDI <-> tokens: check, encode, decode").add_subparsers(
        dest="codec_command", required=True, metavar="ACTION", parser_class=_Parser)
    c = codec.add_parser("check", help="round-trip every MIDI file under PATHs; last line is a JSON summary")
    c.add_argument("paths", nargs="+", metavar="PATH", help="MIDI files or folders (searched recursively)")
    c.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    c.set_defaults(func=cmd_codec_check)
    c = codec.add_parser("encode", help="print a MIDI file's tokens")
    c.add_argument("file", help="a MIDI file")
    c.add_argument("--format", choices=["names", "text", "ids"], default="names", help="token names (one a line), one character a token, or integer ids")
    c.set_defaults(func=cmd_codec_encode)
    c = codec.add_parser("decode", help="turn tokens (names, ids or characters, from a file) back into MIDI")
    c.add_argument("file", help="a file of tokens, as `codec encode` writes them")
    c.add_argument("--format", choices=["auto", "names", "text", "ids"], default="auto", help="how the tokens are written (auto: detect)")
    c.add_argument("--out", required=True, type=Path, help="MIDI file to write")
    c.set_defaults(func=cmd_codec_decode)
    c = codec.add_parser("roundtrip", help="encode a MIDI file and write the decoded MIDI")
    c.add_argument("file", help="a MIDI file")
    c.add_argument("--out", required=True, type=Path, help="MIDI file to write")
    c.set_defaults(func=cmd_codec_roundtrip)

    corpora = sub.add_parser("corpora", help="build the shipped corpora").add_subparsers(
        dest="corpora_command", required=True, metavar="ACTION", parser_class=_Parser)
    c = corpora.add_parser("build", help="regenerate corpora/ from music21's bundled corpus (needs music21 and abc2midi)")
    c.add_argument("--out", type=Path, default=Path("corpora"), help="folder to write")
    c.add_argument("--jobs", type=INT, default=2, help="parallel conversions")
    c.add_argument("--limit", type=INT, default=None, help="at most this many pieces a collection, for a quick try (default: all)")
    c.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    c.set_defaults(func=cmd_corpora_build)
    return p


def main(argv=None) -> int:
    import os

    # idle OpenMP workers sleep instead of spinning (set before torch loads): a spinning
    # pool collapses when another process shares the cores
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    args = build_parser().parse_args(argv)
    if getattr(args, "argv", 0) is None:
        args.argv = list(sys.argv[1:] if argv is None else argv)
    from .codec.midi import MidiError
    from .core.errors import CheckpointError, DataError, SettingsError

    try:
        return args.func(args)
    except (UsageError, MidiError, CheckpointError, DataError, SettingsError) as e:
        print(f"musicrnn: error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `musicrnn codec encode x.mid | head`
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print("musicrnn: interrupted", file=sys.stderr)
        return 130
    except OSError as e:  # a file we could not read or write
        where = f"{e.filename}: " if getattr(e, "filename", None) else ""
        print(f"musicrnn: error: {where}{e.strerror or e}", file=sys.stderr)
        return 2
    except MemoryError:
        print("musicrnn: error: out of memory (try smaller --batch, --hidden or --num)", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

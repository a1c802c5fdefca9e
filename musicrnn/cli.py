"""The ``musicrnn`` command: parse arguments, call library functions, print results."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import __version__


class UsageError(Exception):
    """A problem with the user's input: printed as one line, exit code 2."""


def _progress(disable: bool):
    from tqdm import tqdm

    return lambda it, **kw: tqdm(it, disable=disable, file=sys.stderr, dynamic_ncols=True, **kw)


# --- codec ----------------------------------------------------------------------------
def cmd_codec_check(args) -> int:
    from .codec import check_paths

    for p in args.paths:
        if not Path(p).exists():
            raise UsageError(f"{p}: no such file or folder")
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

    vocab = Vocab()
    text = Path(args.file).read_text(encoding="utf-8").strip()
    ids = vocab.from_text(text) if args.format == "text" else [int(t) for t in text.split()]
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

    summary = build_corpora(Path(args.out), jobs=args.jobs, limit=args.limit, progress=not args.quiet)
    print(json.dumps(summary))
    return 0


# --- train / sample / evaluate -------------------------------------------------------
def _train_configs(args):
    """(model config dict, TrainConfig) from parsed train flags."""
    from .core.train import TrainConfig, parse_grad_scale

    if args.model != "rnn":
        raise UsageError(f"--model {args.model}: only 'rnn' is available in this version")
    try:
        off = args.grad_scale is None or str(args.grad_scale).lower() in ("0", "off", "none")
        grad_scale = 0.0 if off else parse_grad_scale(str(args.grad_scale))
    except ValueError:
        raise UsageError(f"--grad-scale {args.grad_scale}: give a positive number, phi, golden or phi-conjugate") from None
    if args.cell == "gru" and args.activation != "tanh":
        raise UsageError("--cell gru supports only --activation tanh")
    tcfg = TrainConfig(seed=args.seed, batch=args.batch, bptt=args.bptt, lr=args.lr, weight_decay=args.weight_decay,
                       warmup=args.warmup, epochs=args.epochs, max_steps=args.max_steps, grad_clip=args.grad_clip,
                       grad_scale=grad_scale, patience=args.patience, device=args.device)
    mcfg = {"cell": args.cell, "embed": args.embed, "hidden": args.hidden, "layers": args.layers, "dropout": args.dropout,
            "activation": args.activation, "output": args.output, "fused": not args.unfused, "attention": args.attention}
    return mcfg, tcfg


def cmd_train(args) -> int:
    from .tasks.music import train_music

    if args.resume and not (Path(args.out) / "last" / "train_state.json").is_file():
        raise UsageError(f"{args.out}: nothing to resume (no last/train_state.json)")
    mcfg, tcfg = _train_configs(args)
    command = "musicrnn " + " ".join(args.argv)
    summary = train_music(args.data, args.out, mcfg, tcfg, valid_fraction=args.valid_fraction,
                          max_transpose=args.transpose, resume=args.resume, command=command,
                          progress=None if args.quiet else _progress(False),
                          log=lambda m: print(m, file=sys.stderr))
    summary.pop("loss_history")
    summary["skipped_files"] = len(summary["skipped_files"])
    print(json.dumps(summary))
    return 0


def cmd_experiment(args) -> int:
    import copy

    from .core.rnn import RNNConfig
    from .tasks.experiment import run_experiment

    if args.task != "music":
        raise UsageError(f"--task {args.task}: only 'music' is available in this version")
    if args.seeds < 2:
        raise UsageError("--seeds must be at least 2 (a claim needs several seeds)")
    if bool(args.vary) == bool(args.variant):
        raise UsageError("give either --vary (a grid) or --variant (explicit arms), not both or neither")

    def flag(key: str, spec: str) -> str:
        dest = key.strip().replace("-", "_")
        if not hasattr(args, dest) or dest in ("data", "out", "seed", "seeds", "vary", "variant", "task"):
            raise UsageError(f"{spec}: {key!r} is not a train flag (e.g. activation=tanh,iris)")
        return dest

    if args.vary:
        variants = {}
        for spec in args.vary:
            key, _, values = spec.partition("=")
            if not values:
                raise UsageError(f"--vary {spec}: give a train flag and values, e.g. activation=tanh,iris")
            variants[flag(key, f"--vary {spec}")] = [v for v in values.split(",") if v]
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
                arm[flag(key, f"--variant {spec!r}")] = value
            grid.append(arm)
    configs = {}
    for g in grid:
        a = copy.copy(args)
        for dest, v in g.items():
            default = getattr(args, dest)
            if isinstance(default, bool):
                v = v.lower() in ("1", "true", "yes", "on")
            elif default is not None:
                try:
                    v = type(default)(v)
                except ValueError:
                    raise UsageError(f"--vary {dest}: {v!r} is not a {type(default).__name__}") from None
            setattr(a, dest, v)
        name = ",".join(f"{k}={v}" for k, v in g.items())
        configs[name] = (*_train_configs(a), a.transpose)
        try:  # every arm is checked before any is trained
            RNNConfig.from_dict({**configs[name][0], "vocab_size": 1}).validate()
        except ValueError as e:
            raise UsageError(f"{name}: {e}") from None
    run_experiment(args.data, args.out, configs, seeds=list(range(args.seeds)), valid_fraction=args.valid_fraction,
                   log=lambda m: print(m, file=sys.stderr))
    print(json.dumps({"out": str(args.out), "variants": list(configs), "seeds": args.seeds,
                      "table": str(Path(args.out) / "results.md")}))
    return 0


def _numbered(path: Path, i: int, n: int) -> Path:
    return path if n == 1 else path.with_name(f"{path.stem}_{i + 1}{path.suffix}")


def cmd_sample(args) -> int:
    from .codec import decode, write_midi
    from .tasks.music import generate, load_model, primer_ids

    if args.num < 1:
        raise UsageError("--num must be at least 1")
    model, vocab, _ = load_model(args.checkpoint)
    primer = primer_ids(args.primer, vocab) if args.primer else None
    seconds = None if args.tokens is not None and args.seconds is None else (args.seconds or 30.0)
    seqs = generate(model, vocab, n=args.num, seconds=seconds, tokens=args.tokens, primer=primer,
                    temperature=args.temperature, top_k=args.top_k, top_p=args.top_p, seed=args.seed)
    results = []
    for i, ids in enumerate(seqs):
        dec = decode(ids, vocab)
        out = write_midi(dec.score, _numbered(args.out, i, args.num))
        r = {"midi": str(out), "tokens": len(ids), "notes": dec.score.n_notes, "invalid_tokens": dec.n_invalid,
             "seconds": round(float(dec.score.seconds(dec.score.end.max(initial=0))), 2)}
        if args.wav:
            from .render import render_wav

            r.update(render_wav(out, _numbered(args.wav, i, args.num)))
        print(f"wrote {out}: {r['notes']} notes, {r['seconds']} s" + (f", audio {r['wav']} ({r['engine']})" if args.wav else ""), file=sys.stderr)
        results.append(r)
    print(json.dumps(results[0] if args.num == 1 else results))
    return 0


def cmd_evaluate(args) -> int:
    from .core.train import evaluate_bits
    from .tasks.music import generate, load_corpus, load_model
    from .tasks import musicstats as ms

    model, vocab, meta = load_model(args.checkpoint)
    frac = meta.get("data", {}).get("valid_fraction", 0.1)
    corpus = load_corpus(args.data, vocab, frac if args.split == "valid" else 0.0)
    ref = corpus.valid if args.split == "valid" else corpus.train + corpus.valid
    bits, n_valid = evaluate_bits(model, ref, batch=16, bptt=128), len(ref)
    ref_stats = ms.summarize([ms.piece_stats(s, vocab) for s in ref[: max(args.samples, 200)]])
    samples = generate(model, vocab, n=args.samples, seconds=args.seconds, temperature=args.temperature,
                       top_k=args.top_k, top_p=args.top_p, seed=args.seed)
    gen_stats = ms.summarize([ms.piece_stats(s, vocab) for s in samples])
    report = {"checkpoint": str(args.checkpoint or "default"), "data": str(args.data), "split": args.split,
              "pieces": n_valid, "valid_bits_per_token": round(bits, 4), "samples": args.samples,
              "pitch_class_distance": round(ms.pc_distance(ref_stats, gen_stats), 4),
              "pitch_class_distance_absolute": round(ms.pc_distance(ref_stats, gen_stats, key_relative=False), 4),
              "corpus": {k: round(v, 4) for k, v in ref_stats.items() if k in ms.METRICS},
              "generated": {k: round(v, 4) for k, v in gen_stats.items() if k in ms.METRICS}}
    w = max(len(m) for m in ms.METRICS)
    print(f"validation: {bits:.4f} bits/token over {n_valid} pieces; {args.samples} samples of {args.seconds:g} s", file=sys.stderr)
    print(f"{'metric':<{w}}  {'corpus':>9}  {'samples':>9}", file=sys.stderr)
    for m in ms.METRICS:
        print(f"{m:<{w}}  {report['corpus'][m]:>9.4f}  {report['generated'][m]:>9.4f}", file=sys.stderr)
    print(f"pitch-class histogram distance (total variation, 0 = same): {report['pitch_class_distance']:.4f} "
          f"in scale degrees, {report['pitch_class_distance_absolute']:.4f} in absolute pitch classes", file=sys.stderr)
    print(json.dumps(report))
    return 0


def cmd_calibrate(args) -> int:
    from .core.calibration import calibration_report, plot_reliability
    from .tasks.music import load_corpus, load_model

    reports = {}
    for ckpt in args.checkpoint:
        model, vocab, meta = load_model(ckpt)
        frac = meta.get("data", {}).get("valid_fraction", 0.1)
        corpus = load_corpus(args.data, vocab, frac)
        rep = calibration_report(model, corpus.valid, bins=args.bins)
        reports[f"{Path(ckpt).name} ({meta['model'].get('output', 'softmax')})"] = rep
        print(f"{ckpt}: {rep['tokens']} tokens, NLL {rep['nll_bits_per_token']:.4f} bits/token, "
              f"accuracy {rep['accuracy']:.4f}, mean confidence {rep['mean_confidence']:.4f}, ECE {rep['ece']:.4f}",
              file=sys.stderr)
    if args.png:
        plot_reliability(reports, args.png)
    print(json.dumps({name: {k: round(v, 5) if isinstance(v, float) else v for k, v in r.items() if k != "bins"}
                      for name, r in reports.items()}))
    return 0


def _add_sampling_args(c) -> None:
    c.add_argument("--temperature", type=float, default=1.0)
    c.add_argument("--top-k", type=int, default=0)
    c.add_argument("--top-p", type=float, default=1.0)
    c.add_argument("--seed", type=int, default=0)


def _add_train_args(c) -> None:
    """The flags of `musicrnn train` (also taken by `musicrnn experiment`)."""
    c.add_argument("--data", required=True, help="folder of MIDI files (searched recursively)")
    c.add_argument("--out", required=True, type=Path, help="checkpoint folder to write")
    c.add_argument("--model", default="rnn", choices=["rnn"], help="model family")
    c.add_argument("--cell", default="lstm", choices=["lstm", "gru", "lstm-lite"],
                   help="lstm-lite: one weight matrix shared by all gates (research)")
    c.add_argument("--activation", default="tanh", choices=["tanh", "iris", "iris1", "iris2", "iris-mm"],
                   help="candidate/output activation of LSTM cells; iris* are reconstructions (docs/research.md)")
    c.add_argument("--output", default="softmax", choices=["softmax", "topcat", "topcat-sigmoid"],
                   help="output activation + loss: softmax + cross-entropy, or Topcat + binary cross-entropy")
    c.add_argument("--attention", type=int, default=0, metavar="N",
                   help="temporal attention over the last N recurrent outputs, carried across batches (0: off)")
    c.add_argument("--unfused", action="store_true", help="run a plain LSTM through the research cell (for comparisons)")
    c.add_argument("--embed", type=int, default=64)
    c.add_argument("--hidden", type=int, default=256)
    c.add_argument("--layers", type=int, default=2)
    c.add_argument("--dropout", type=float, default=0.1)
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--epochs", type=int, default=10)
    c.add_argument("--max-steps", type=int, default=None, help="stop after this many steps (resumable; the LR schedule still spans --epochs)")
    c.add_argument("--batch", type=int, default=32, help="parallel streams")
    c.add_argument("--bptt", type=int, default=128, help="tokens per truncated-BPTT window")
    c.add_argument("--lr", type=float, default=3e-3)
    c.add_argument("--weight-decay", type=float, default=0.01)
    c.add_argument("--warmup", type=int, default=100)
    c.add_argument("--grad-clip", type=float, default=1.0, help="clip the global gradient norm to this (0: off)")
    c.add_argument("--grad-scale", default=None, metavar="C",
                   help="instead of clipping, scale the global gradient norm to exactly C every step (a number, phi or phi-conjugate)")
    c.add_argument("--patience", type=int, default=3, help="early stop after this many epochs without improvement")
    c.add_argument("--valid-fraction", type=float, default=0.1)
    c.add_argument("--transpose", type=int, default=5, help="augment: random transposition up to +-N semitones (0: off)")
    c.add_argument("--device", default="cpu")
    c.add_argument("--resume", action="store_true", help="continue from OUT/last")
    c.add_argument("-q", "--quiet", action="store_true")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="musicrnn", description="Music as sequences: tokenise MIDI, train models, sample songs.")
    p.add_argument("--version", action="version", version=f"musicrnn {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    codec = sub.add_parser("codec", help="MIDI <-> tokens: check, encode, decode").add_subparsers(dest="codec_command", required=True, metavar="ACTION")
    c = codec.add_parser("check", help="round-trip every MIDI file under PATHs; last line is a JSON summary")
    c.add_argument("paths", nargs="+", metavar="PATH", help="MIDI files or folders (searched recursively)")
    c.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    c.set_defaults(func=cmd_codec_check)
    c = codec.add_parser("encode", help="print a MIDI file's tokens")
    c.add_argument("file")
    c.add_argument("--format", choices=["names", "text", "ids"], default="names", help="token names (one a line), one character a token, or integer ids")
    c.set_defaults(func=cmd_codec_encode)
    c = codec.add_parser("decode", help="turn tokens (text or ids, from a file) back into MIDI")
    c.add_argument("file")
    c.add_argument("--format", choices=["text", "ids"], default="text")
    c.add_argument("--out", required=True, type=Path)
    c.set_defaults(func=cmd_codec_decode)
    c = codec.add_parser("roundtrip", help="encode a MIDI file and write the decoded MIDI")
    c.add_argument("file")
    c.add_argument("--out", required=True, type=Path)
    c.set_defaults(func=cmd_codec_roundtrip)

    corpora = sub.add_parser("corpora", help="build the shipped corpora").add_subparsers(dest="corpora_command", required=True, metavar="ACTION")
    c = corpora.add_parser("build", help="regenerate corpora/ from music21's bundled corpus (needs music21 and abc2midi)")
    c.add_argument("--out", type=Path, default=Path("corpora"))
    c.add_argument("--jobs", type=int, default=2)
    c.add_argument("--limit", type=int, default=None, help="at most this many pieces a collection (for a quick try)")
    c.add_argument("-q", "--quiet", action="store_true")
    c.set_defaults(func=cmd_corpora_build)

    c = sub.add_parser("train", help="train a char-RNN on a folder of MIDI files")
    _add_train_args(c)
    c.set_defaults(func=cmd_train, argv=None)

    c = sub.add_parser("sample", help="generate music from a trained model")
    c.add_argument("--checkpoint", default=None, help="checkpoint folder (default: the shipped folk melody model)")
    c.add_argument("--primer", default=None, help="MIDI file to continue")
    _add_sampling_args(c)
    g = c.add_mutually_exclusive_group()
    g.add_argument("--seconds", type=float, default=None, help="length of music to generate (default 30)")
    g.add_argument("--tokens", type=int, default=None, help="number of tokens to generate")
    c.add_argument("--num", type=int, default=1, help="how many pieces (OUT gets _1, _2, ...)")
    c.add_argument("--out", required=True, type=Path, help="MIDI file to write")
    c.add_argument("--wav", type=Path, default=None, help="also render audio (FluidSynth + General MIDI SoundFont)")
    c.set_defaults(func=cmd_sample)

    c = sub.add_parser("evaluate", help="validation bits per token and music statistics of samples vs the corpus")
    c.add_argument("--checkpoint", default=None)
    c.add_argument("--data", required=True)
    c.add_argument("--split", choices=["valid", "all"], default="valid", help="which files of DATA to score")
    c.add_argument("--samples", type=int, default=20)
    c.add_argument("--seconds", type=float, default=30.0)
    _add_sampling_args(c)
    c.set_defaults(func=cmd_evaluate)

    c = sub.add_parser("calibrate", help="NLL, accuracy, expected calibration error and a reliability diagram")
    c.add_argument("--checkpoint", required=True, nargs="+", help="one or more checkpoints to compare")
    c.add_argument("--data", required=True, help="the folder they were trained on (its validation split is scored)")
    c.add_argument("--bins", type=int, default=15)
    c.add_argument("--png", type=Path, default=None, help="write the reliability diagram here")
    c.set_defaults(func=cmd_calibrate)

    c = sub.add_parser("experiment", help="train every variant with every seed; mean, 95% CI and paired tests")
    c.add_argument("--task", default="music", choices=["music"])
    c.add_argument("--vary", action="append", default=[], metavar="FLAG=V1,V2",
                   help="a train flag and the values to compare (repeat for a grid), e.g. activation=tanh,iris")
    c.add_argument("--variant", action="append", default=[], metavar="'FLAG=V FLAG=V'",
                   help="instead of --vary: one arm per use, e.g. --variant 'cell=lstm hidden=128' "
                        "--variant 'cell=lstm-lite hidden=231' (the first is the baseline)")
    c.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1, the same list for every variant")
    _add_train_args(c)
    c.set_defaults(func=cmd_experiment, argv=None)
    return p


def main(argv=None) -> int:
    from .codec import MidiError

    from .core.checkpoint import CheckpointError
    from .core.data import DataError

    args = build_parser().parse_args(argv)
    if getattr(args, "argv", 0) is None:
        args.argv = list(sys.argv[1:] if argv is None else argv)
    try:
        return args.func(args)
    except (UsageError, MidiError, CheckpointError, DataError) as e:
        print(f"musicrnn: error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `musicrnn codec encode x.mid | head`
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print("musicrnn: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

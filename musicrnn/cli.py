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
def _codec_vocab(args):
    from .codec import Vocab
    from .codec.vocab import codec_named

    return Vocab(codec_named(args.codec))


def cmd_codec_check(args) -> int:
    from .codec import check_paths

    for p in args.paths:
        _existing(p, "file or folder")
    rep = check_paths(args.paths, _codec_vocab(args), progress=_progress(args.quiet or len(args.paths) == 1 and Path(args.paths[0]).is_file()))
    for line in rep.unreadable_files:
        print(f"skipped {line}", file=sys.stderr)
    print(json.dumps(rep.summary()))
    named_bad = any(Path(p).is_file() for p in args.paths) and rep.unreadable and rep.files == rep.unreadable
    return 2 if named_bad or rep.files == 0 else 0


def cmd_codec_transcribe(args) -> int:
    from .codec.melody import transcribe_file

    _existing(args.file)
    melody, score = transcribe_file(args.file, args.out, f0_method=args.f0)
    n = len(melody.pitches)
    print(f"wrote {args.out}: {n} notes, {melody.tempo_qpm:.0f} qpm", file=sys.stderr)
    print(json.dumps({"midi": str(args.out), "notes": n, "tempo_qpm": round(float(melody.tempo_qpm), 1),
                      "pitches": [int(p) for p in melody.pitches],
                      "onsets": [round(float(t), 3) for t in melody.onsets_s]}))
    return 0


def cmd_codec_encode(args) -> int:
    from .codec import encode, read_midi

    vocab = _codec_vocab(args)
    ids = encode(read_midi(args.file), vocab)
    if args.format == "text":
        print(vocab.to_text(ids))
    elif args.format == "ids":
        print(" ".join(map(str, ids.tolist())))
    else:
        print("\n".join(vocab.describe(ids)))
    return 0


def cmd_codec_decode(args) -> int:
    from .codec import decode, write_midi
    from .codec.vocab import read_tokens

    vocab = _codec_vocab(args)
    try:
        ids = read_tokens(_existing(args.file), vocab, args.format)
    except ValueError as e:
        raise UsageError(str(e)) from None
    dec = decode(ids, vocab)
    write_midi(dec.score, args.out)
    print(json.dumps({"out": str(args.out), "notes": dec.score.n_notes, "tokens": dec.n_tokens, "invalid_tokens": dec.n_invalid}))
    return 0


def cmd_codec_roundtrip(args) -> int:
    from .codec import count_matched, decode, encode, read_midi, write_midi

    vocab = _codec_vocab(args)
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
    summary = build_corpora(Path(args.out), jobs=args.jobs, limit=args.limit, progress=not args.quiet,
                            collections=args.collections)
    print(json.dumps(summary))
    return 0


# --- train / experiment ---------------------------------------------------------------
def _given(args) -> dict:
    """The music flags as typed (None: a flag not given); the library fills the rest."""
    from .tasks.musicsettings import FLAGS

    return {k: getattr(args, k, None) for k in FLAGS}


def _stopped(summary: dict) -> int:
    return 130 if summary.get("stopped_by") in ("SIGINT", "SIGTERM") else 0


def cmd_train(args) -> int:
    from .tasks.music import train_music
    from .tasks.musicsettings import train_request

    if args.tune_pieces is not None and not 0 <= args.tune_pieces <= 1000:
        raise UsageError(f"--tune-pieces {args.tune_pieces}: must be 0 (skip) to 1000")
    request = train_request(_given(args), args.out, resume=args.resume)
    tune = {} if args.tune_pieces is None else {"tune_pieces": args.tune_pieces}
    summary = train_music(**request, resume=args.resume, force=args.force, codec=args.codec, **tune,
                          command="musicrnn " + " ".join(args.argv),
                          progress=None if args.quiet else _progress(False), log=_log)
    summary.pop("loss_history")
    summary["skipped_files"] = len(summary["skipped_files"])
    print(json.dumps(summary))
    return _stopped(summary)


def cmd_experiment(args) -> int:
    from .tasks.experiment import experiment

    if getattr(args, "codec", None) not in (None, "default"):
        raise UsageError("--codec: an experiment's arms are trained with the default codec; "
                         "train a model with another one with `musicrnn train --codec`")

    print(json.dumps(experiment(args.task, args.out, _given(args), vary=args.vary, variant=args.variant,
                                seeds=args.seeds, resume=args.resume, log=_log)))
    return 0


def cmd_study(args) -> int:
    from .study import PARTS, PROBE, QUESTIONS, answers, run_study

    if args.list:
        for p in PARTS:
            print(f"{p.name}: question {p.question} ({QUESTIONS[p.question]}); {len(p.variants)} arms x {p.seeds} seeds; {p.what}")
        print(f"q5-attention: question 5 ({QUESTIONS[5]}); the probe of {PROBE['checkpoint']} on its test tunes")
        return 0
    if args.answers_only:
        r = answers(args.docs, args.research)
    else:
        r = run_study(args.out, args.docs, args.only, args.research, log=_log)
    print(json.dumps({"tests": r["tests"], "answers": r["answers"]}))
    return 0


def cmd_bench_polymusic(args) -> int:
    from .tasks.polymusic import bench

    result = bench(args.dataset, _given(args), out=args.out, checkpoint=args.checkpoint, split=args.split,
                   resume=args.resume, force=args.force, command="musicrnn " + " ".join(args.argv),
                   progress=not args.quiet, log=_log)
    if "nll" not in result:  # stopped (Ctrl-C, --max-steps): no figure for a model half trained
        print(json.dumps(result))
        return _stopped(result)
    print(f"{result['dataset']} {result['split']}: {result['nll']:.4f} nats/frame over {result['frames']:,} frames "
          f"(Bernoulli baseline {result['baseline_nll']:.4f})", file=sys.stderr)
    print(json.dumps(result))
    return 0


# --- sample / evaluate / calibrate ------------------------------------------------------
def cmd_sample(args) -> int:
    from .tasks.music import band_line, sample_to_files

    if args.primer:
        _existing(args.primer)

    def report(r):
        bad = r["invalid_tokens"]
        print(f"wrote {r['midi']}: {r['notes']} notes, {r['seconds']} s"
              + (f", seed {r['seed']}" if args.num > 1 else "")
              + (f", {bad} invalid token{'s' * (bad != 1)} of {r['tokens']} skipped" if bad else "")
              + (f", audio {r['wav']} ({r['engine']})" if "wav" in r else "")
              + f"; {band_line(r['instruments'])}", file=sys.stderr)
        if "sung" in r:
            sung = r["sung"]
            print(f"wrote {sung['wav']}: {sung['notes']} notes sung by Festival {sung['singer']}"
                  + (f", converted toward {sung['voice']}" if sung["voice"] else "")
                  + (", over the other parts" if sung["accompanied"] else "")
                  + (f"; transcribed back, onset F {sung['onset_f']:.3f}" if sung["onset_f"] is not None else ""),
                  file=sys.stderr)

    res = sample_to_files(args.checkpoint, args.out, n=args.num, seconds=args.seconds, tokens=args.tokens,
                          primer=args.primer, temperature=args.temperature, top_k=args.top_k, top_p=args.top_p,
                          seed=args.seed, wav=args.wav, instruments=args.instruments, sing=args.sing,
                          voice=args.voice, singer=args.singer, report=report, repeat_weight=args.repeat_weight,
                          report_note=lambda line: print(line, file=sys.stderr))
    if args.seed is None:
        alone = "" if args.num == 1 else "; a piece's own seed, on its line, makes that piece alone"
        print(f"seed {res['seed']} (add --seed {res['seed']} to make the same music again{alone})", file=sys.stderr)
    if args.temperature is None and res["own_temperature"]:
        print(f"temperature {res['temperature']:g}, the model's own (--temperature to change it)", file=sys.stderr)
    if args.repeat_weight is None and tuple(res["repeat_weight"]) != (1.0, 1.0):
        from .tasks.music import format_repeat_weight

        print(f"repeat weight {format_repeat_weight(res['repeat_weight'])}, the model's own, chosen on its folder "
              f"(--repeat-weight to change it)", file=sys.stderr)
    if res["drums_weight"] != 1.0:
        print(f"drums weighed {res['drums_weight']:g} in the band the model picks, the model's own, chosen on its "
              f"folder (--instruments to choose the band)", file=sys.stderr)
    pieces = [dict(r, temperature=res["temperature"], repeat_weight=res["repeat_weight"]) for r in res["pieces"]]
    print(json.dumps(pieces[0] if args.num == 1 else pieces))
    return 0


def cmd_evaluate(args) -> int:
    from .tasks import musicstats as ms
    from .tasks.music import evaluation_report

    _existing(args.data, "file or folder")
    report = evaluation_report(args.checkpoint, args.data, split=args.split, samples=args.samples, seconds=args.seconds,
                               temperature=args.temperature, top_k=args.top_k, top_p=args.top_p, seed=args.seed,
                               repeat_weight=args.repeat_weight)
    if report.get("note"):
        print(f"note: {report['note']}", file=sys.stderr)
    w = max(len(m) for m in ms.METRICS)
    print(f"{args.split}: {report['bits_per_token']:.4f} bits/token over {report['pieces']} pieces "
          f"({report['tokens_scored']:,} tokens, each scored once); {args.samples} samples of {args.seconds:g} s, "
          f"seed {report['seed']}", file=sys.stderr)
    print(f"corpus: {report['corpus_pieces']} of the {args.split} pieces (evenly spread), their first "
          f"{args.seconds:g} s, as long as the samples", file=sys.stderr)
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
    from .core.calibration import plot_reliability
    from .tasks.music import calibration_reports

    def report(ckpt, rep):
        print(f"{ckpt}: {rep['tokens']} tokens, NLL {rep['nll_bits_per_token']:.4f} bits/token, "
              f"accuracy {rep['accuracy']:.4f}, mean confidence {rep['mean_confidence']:.4f}, ECE {rep['ece']:.4f}",
              file=sys.stderr)

    reports = calibration_reports(args.checkpoint, args.data, bins=args.bins, report=report)
    if args.png:
        plot_reliability(reports, args.png)
    print(json.dumps({name: {k: round(v, 5) if isinstance(v, float) else v for k, v in r.items() if k != "bins"}
                      for name, r in reports.items()}))
    return 0


# --- voice: transfer, train, eval ------------------------------------------------------------
def _controls(args):
    from .style.transfer import Controls

    return Controls(transpose=args.transpose, formant=args.formant, index_rate=args.index_rate,
                    protect=args.protect, eq=args.eq, knn=args.knn).check()


def cmd_transfer(args) -> int:
    from .style.transfer import transfer, transfer_live

    controls = _controls(args)
    _existing(args.target, "file or folder")
    if args.live:
        if args.input != "-":
            _existing(args.input)
        r = transfer_live(args.input, args.target, args.out, controls, realtime=not args.fast)
        print(f"live: {r['seconds']} s streamed, delay {r['delay_ms']} ms + compute (median {r['compute_ms_median']} ms, "
              f"max {r['compute_ms_max']} ms per {r['block_ms']} ms block), {r['late_chunks']} late chunks, "
              f"transposed {r['transpose'] or 0:+g} semitones", file=sys.stderr)
        if str(args.out) != "-":
            print(json.dumps(r))
        return 0

    def report(r):
        if "skipped" in r:
            print(f"skipped {r['skipped']}", file=sys.stderr)
        else:
            print(f"wrote {r['output']}: {r['seconds']} s, {r['tier']} tier, transposed {r['transpose']:+g} "
                  f"semitones, {r['rtf']:.3f} x real time", file=sys.stderr)

    results = transfer(args.input, args.target, args.out, controls, report=report)
    done = [r for r in results if "skipped" not in r]
    print(json.dumps(done[0] if len(results) == 1 else results))
    return 0 if done else 2


def cmd_voice_train(args) -> int:
    from .style.voice import train_voice

    given = lambda names: {k: getattr(args, k) for k in names if getattr(args, k) is not None}  # noqa: E731
    summary = train_voice(args.data, args.out, train_settings=given(("seed", "batch", "lr", "epochs", "steps", "minutes",
                                                                     "patience")),
                          model_settings=given(("hidden", "layers", "cell")), resume=args.resume,
                          force=args.force, command="musicrnn " + " ".join(args.argv), progress=not args.quiet,
                          log=lambda m: print(m, file=sys.stderr))
    print(json.dumps({k: v for k, v in summary.items() if not isinstance(v, (list, dict))}))
    return 0


def cmd_voice_espeak(args) -> int:
    from .style.voicedata import espeak_voice_files

    paths = espeak_voice_files(args.voice, args.out)
    print(f"wrote {len(paths)} clips of espeak-ng {args.voice} to {args.out}", file=sys.stderr)
    print(json.dumps({"voice": args.voice, "folder": str(args.out), "files": len(paths)}))
    return 0


def cmd_voice_eval(args) -> int:
    from .style.transfer import evaluate, summary_json

    if args.voice:
        _existing(args.voice, "voice model folder")

    def progress(i, n, row):
        if not args.quiet:
            print(f"[{i}/{n}] mcd {row['mcd_before']:.2f} -> {row['mcd_after']:.2f} dB, f0 corr {row['f0_corr']:.3f}"
                  + (f", similarity to target {row['secs_target']:.3f} / source {row['secs_source']:.3f}"
                     if row.get("secs_target") is not None else ""), file=sys.stderr)

    if args.direction == "real":
        from .core.errors import SettingsError
        from .style.transfer import evaluate_real

        if args.voice:
            raise SettingsError("--direction real converts each real speaker toward another from a clip (the instant "
                                "tier); leave out --voice")

        def real_progress(i, n, row):
            if not args.quiet:
                print(f"[{i}/{n}] {row['source']} -> {row['target']}: transpose {row['transpose']:+.0f}, f0 corr "
                      + (f"{row['f0_corr']:.3f}, kept {row['f0_kept']:.3f}" if row.get("f0_corr") is not None else "-")
                      + (f", similarity to target {row['secs_target']:.3f} (source was {row['secs_before']:.3f}), "
                         f"to source {row['secs_source']:.3f}" if row.get("secs_target") is not None else ""),
                      file=sys.stderr)

        res = evaluate_real(args.speakers, controls=_controls(args), progress=real_progress)
        print(summary_json(res))
        return 0
    res = evaluate(args.voice, pairs=args.pairs, direction=args.direction, controls=_controls(args),
                   speaker=not args.no_speaker, workdir=args.workdir, progress=progress)
    print(summary_json(res))
    return 0


# --- research tasks: stock, lotto ------------------------------------------------------------
def _log(m):
    print(m, file=sys.stderr)


def task_registry() -> dict:
    from .tasks import registry

    return registry()


def _task(args):
    """(the registry's entry, the task's module) of ``args.task``."""
    from .core.tasks import task

    t = task(args.task)
    return t, t.load()


def _values(options, args) -> dict:
    return {o.name: getattr(args, o.name) for o in options}


def _typed(args) -> set[str]:
    """The dests of the flags the user actually typed (abbreviations are off)."""
    given = {a.split("=", 1)[0] for a in args.argv if a.startswith("-")}
    return {a.dest for a in args.actions.values() if set(a.option_strings) & given}


def cmd_task_train(args) -> int:
    from .core.tasks import train

    t, _ = _task(args)
    values = dict(seed=args.seed, minutes=args.minutes, steps=args.steps, **_values(t.train_options, args),
                  **{t.data_arg: args.data})
    typed = {t.data_arg if d == "data" else d for d in _typed(args)}
    summary = train(t, args.out, values, typed=typed, resume=args.resume, force=args.force, progress=not args.quiet,
                    log=_log)
    print(json.dumps({k: v for k, v in summary.items() if not isinstance(v, (list, dict))}))
    return 0


def cmd_task_eval(args) -> int:
    t, mod = _task(args)
    _existing(args.model, "model folder")
    res = mod.evaluate(args.model, **{t.data_arg: args.data}, **_values(t.eval_options, args))
    if t.extra.get("eval_format"):
        print(getattr(mod, t.extra["eval_format"])(res), file=sys.stderr)
    print(json.dumps(res))
    return 0


def cmd_task_report(args) -> int:
    t, mod = _task(args)
    for r in args.runs:
        _existing(r, "run folder")
    path = mod.report(args.runs if t.report_many else args.runs[0], args.out, **_values(t.report_options, args))
    print(f"wrote {path}", file=sys.stderr)
    print(json.dumps({"report": str(path)}))
    return 0


def cmd_task_action(args) -> int:
    from .core.tasks import resolve

    t, _ = _task(args)
    action = next(a for a in t.actions if a.name == args.action)
    for name in action.existing:
        _existing(getattr(args, name), "model folder" if name == "model_dir" else "file")
    res = resolve(action.function)(**_values(action.options, args), log=_log)
    print(json.dumps({k: v for k, v in res.items() if not isinstance(v, (list, dict))} if action.scalars_only
                     else res, default=str))
    return 0


def cmd_ui(args) -> int:
    from .ui.command import run  # the page's own command (musicrnn.ui), loaded only to start it

    return run(args)


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


def WEIGHTS(text):
    """argparse type: one finite number, or two separated by a comma."""
    parts = [FLOAT(x) for x in text.split(",")]
    if len(parts) not in (1, 2):
        raise ValueError(text)
    return parts[0] if len(parts) == 1 else tuple(parts)


WEIGHTS.__name__ = "weight"


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


def _add_option(c, o) -> None:
    """A task's option (``core.tasks.Option``) as an argparse argument."""
    kw = {"help": o.help, "dest": o.name}
    if o.kind == "flag":
        c.add_argument(o.flag, action="store_false" if o.invert else "store_true", **kw)
        return
    kw["type"] = {"int": INT, "float": FLOAT, "path": Path, "str": str}[o.kind]
    if o.required:
        kw["required"] = True
    else:
        kw["default"] = o.default
    if o.choices:
        kw["choices"] = list(o.choices)
    if o.metavar or not o.choices:
        kw["metavar"] = o.metavar or o.flag.lstrip("-").upper().replace("-", "_")
    c.add_argument(o.flag, **kw)


def _add_task_parsers(sub) -> None:
    """``musicrnn task NAME train|eval|report|ACTION``, one NAME per registered task."""
    registry = task_registry()
    task = sub.add_parser("task", help=f"research tasks on the shared core: "
                                       f"{', '.join(n for n, t in registry.items() if t.command is None)}"
                          ).add_subparsers(dest="task", required=True, metavar="TASK", parser_class=_Parser)
    for name, t in registry.items():
        if t.command is not None:  # music, the benchmark, the voice model: commands of their own
            continue
        tp = task.add_parser(name, help=t.about, description=t.about[0].upper() + t.about[1:] + ".").add_subparsers(
            dest="action", required=True, metavar="ACTION", parser_class=_Parser)
        c = tp.add_parser("train", help="train a model through the core's training loop")
        c.add_argument("--out", required=True, type=Path, help="folder to write the model to")
        c.add_argument("--data", default=None, help=t.data_help)
        for o in t.train_options:
            _add_option(c, o)
        c.add_argument("--seed", type=INT, default=0, help="random seed (same seed: same model)")
        c.add_argument("--minutes", type=FLOAT, default=None, help="time budget")
        c.add_argument("--steps", type=INT, default=None, help=f"training steps (default: {t.steps_help})")
        c.add_argument("--resume", action="store_true", help="continue the run in --out exactly")
        c.add_argument("--force", action="store_true", help="replace a model already in --out")
        c.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
        c.set_defaults(func=cmd_task_train, task=name, argv=None, actions={a.dest: a for a in c._actions})
        c = tp.add_parser("eval", help="headline metrics on the test period; last line JSON")
        c.add_argument("--model", required=True, type=Path, help="a model folder from `train`")
        c.add_argument("--data", default=None, help="score this CSV instead (default: the model's own test split)")
        for o in t.eval_options:
            _add_option(c, o)
        c.set_defaults(func=cmd_task_eval, task=name)
        for a in t.actions:
            if not a.after_report:
                _add_action(tp, name, a)
        c = tp.add_parser("report", help="a Markdown report with tables and plots")
        c.add_argument("runs", nargs="+" if t.report_many else 1, type=Path,
                       help="model folders and experiment folders (each run of one)" if t.report_many else
                       "a model or experiment folder")
        c.add_argument("--out", required=True, type=Path, help="folder for report.md and its plots")
        for o in t.report_options:
            _add_option(c, o)
        c.set_defaults(func=cmd_task_report, task=name)
        for a in t.actions:
            if a.after_report:
                _add_action(tp, name, a)


def _add_action(tp, name: str, a) -> None:
    c = tp.add_parser(a.name, help=a.help.replace("%", "%%"))
    for o in a.options:
        _add_option(c, o)
    c.set_defaults(func=cmd_task_action, task=name)


def _add_sampling_args(c) -> None:
    c.add_argument("--temperature", type=FLOAT, default=None,
                   help="below 1 plays safer, above 1 wilder (> 0; default: the model's own, chosen on its "
                        "validation tunes and stored in its config.json, else 1)")
    c.add_argument("--repeat-weight", type=WEIGHTS, default=None, metavar="W[,W]",
                   help="for models with repeat tokens (e.g. checkpoints/band): draw 'this bar again' W times "
                        "likelier than the model has it; two numbers: drums, pitched bars (1: as the model has it; "
                        "default: the model's own, chosen by train on its folder and stored in its config.json, "
                        "else 1)")
    c.add_argument("--top-k", type=INT, default=0, help="draw only from the K likeliest tokens (0: all)")
    c.add_argument("--top-p", type=FLOAT, default=1.0, help="draw only from the likeliest tokens that make up this much probability, in (0, 1]")
    c.add_argument("--seed", type=INT, default=None, help="seed for the random draws; the same seed gives the same "
                                                          "music (default: a new seed each run, printed)")


def _add_train_args(c) -> None:
    """The flags of `musicrnn train` (also taken by `musicrnn experiment`). Model and
    training flags default to None: the model family's defaults fill what is not given,
    and --resume / --init fill it from the run or model they continue."""
    from .presets import CODECS

    c.add_argument("--data", default=None, help="folder of MIDI files, searched recursively (required; with --resume "
                                                "the run's own folder by default)")
    c.add_argument("--out", required=True, type=Path, help="checkpoint folder to write")
    c.add_argument("--init", default=None, metavar="CHECKPOINT",
                   help="fine-tune: start from this model's weights (e.g. checkpoints/folk); its size settings are kept")
    _add_model_args(c)
    g = c.add_argument_group("data")
    g.add_argument("--valid-fraction", type=FLOAT, default=None, help="share of files held out for validation, chosen by file name (default 0.1)")
    g.add_argument("--test-fraction", type=FLOAT, default=None, help="share of other files held out as a test set, scored once at the end (default 0.1)")
    g.add_argument("--transpose", type=INT, default=None, help="augment: random transposition up to +-N semitones (default 5; 0: off)")
    g.add_argument("--codec", choices=sorted(CODECS), default=None,
                   help="tokens for a new model: 'default', or 'repeats' (a bar whose drums, or whose pitched "
                        "notes, repeat those 1-8 bars back is one token; drums declared first); "
                        "--init and --resume keep their model's")
    c.add_argument("--resume", action="store_true", help="continue the run in OUT with its own settings")
    c.add_argument("--force", action="store_true", help="replace a model already in OUT")
    c.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def _add_model_args(c) -> None:
    """Model-family, model and training flags (shared by train, experiment and bench)."""
    from .core.config import ACTIVATION_ALIASES, ACTIVATIONS, CELLS, OUTPUTS
    from .core.models import FAMILIES

    c.add_argument("--model", default=None, choices=list(FAMILIES),
                   help="model family (default rnn): " + "; ".join(f"{n}, {f.about}" for n, f in FAMILIES.items()))
    c.add_argument("--output", default=None, choices=OUTPUTS,
                   help="output activation + loss: softmax + cross-entropy (default), or Topcat + binary cross-entropy")
    g = c.add_argument_group("both families")
    g.add_argument("--layers", type=INT, default=None, help="recurrent layers (rnn, default 2) or blocks (transformer, 4)")
    g.add_argument("--dropout", type=FLOAT, default=None, help="dropout, in [0, 1) (default 0.1)")
    g = c.add_argument_group("rnn")
    g.add_argument("--cell", default=None, choices=CELLS, help="recurrent cell (default lstm); lstm-lite: one weight matrix shared by all gates (research)")
    g.add_argument("--activation", default=None, choices=[*ACTIVATIONS, *ACTIVATION_ALIASES],
                   help="candidate/output activation of LSTM cells (default tanh): iris is the metallic-mean form, phi-tanh the golden-ratio-scaled tanh (docs/research.md)")
    g.add_argument("--attention", type=INT, default=None, metavar="N",
                   help="temporal attention over the last N recurrent outputs, carried across batches (default 0: off)")
    g.add_argument("--unfused", action="store_true", help="run a plain LSTM through the research cell (for comparisons)")
    g.add_argument("--embed", type=INT, default=None, help="token embedding size (default 64)")
    g.add_argument("--hidden", type=INT, default=None, help="recurrent state size (default 256)")
    g = c.add_argument_group("transformer")
    g.add_argument("--dim", type=INT, default=None, help="model width (default 256)")
    g.add_argument("--heads", type=INT, default=None, help="attention heads (default 4)")
    g.add_argument("--context", type=INT, default=None, help="attention window in tokens (default 512); --bptt + --primer must fit in it")
    g.add_argument("--mlp", type=FLOAT, default=None, help="feed-forward width as a multiple of --dim (default 4)")
    g = c.add_argument_group("training")
    g.add_argument("--seed", type=INT, default=None, help="seed for weights, data order and augmentation (default 0)")
    g.add_argument("--epochs", type=INT, default=None, help="length of the run in passes over the data (default 10)")
    g.add_argument("--steps", type=INT, default=None, help="length of the run in steps (instead of --epochs)")
    g.add_argument("--minutes", type=FLOAT, default=None,
                   help="time budget: the run is as many steps as fit (measured here first; instead of --epochs)")
    g.add_argument("--max-steps", type=INT, default=None, help="stop after this many steps, resumably (the schedule still spans the whole run)")
    g.add_argument("--batch", type=INT, default=None, help="parallel streams (default 32; fewer for a tiny folder)")
    g.add_argument("--bptt", type=INT, default=None, help="tokens per training window (default 128 rnn, 384 transformer)")
    g.add_argument("--primer", type=INT, default=None,
                   help="tokens of context read before each window but not scored (default 0 rnn, 128 transformer)")
    g.add_argument("--lr", type=FLOAT, default=None, help="peak learning rate (AdamW; cosine decay to a tenth; default 3e-3 rnn, 1e-3 transformer)")
    g.add_argument("--weight-decay", type=FLOAT, default=None, help="AdamW weight decay of the matrices (default 0.01)")
    g.add_argument("--warmup", type=FLOAT, default=None, help="learning-rate warmup: a fraction of the run (< 1) or a number of steps (default 0.05)")
    g.add_argument("--grad-clip", type=FLOAT, default=None, help="clip the global gradient norm to this (default 1; 0: off)")
    g.add_argument("--grad-scale", default=None, metavar="C",
                   help="instead of clipping, scale the global gradient norm to exactly C every step (a number, phi or phi-conjugate)")
    g.add_argument("--patience", type=INT, default=None, help="early stop after this many epochs without improvement (default 3)")
    g = c.add_argument_group("char-rnn's training (the research study's baseline: Karpathy's train.lua)")
    g.add_argument("--optimizer", default=None, choices=["adamw", "rmsprop"], help="adamw (default) or rmsprop (char-rnn's)")
    g.add_argument("--rmsprop-alpha", type=FLOAT, default=None, help="RMSprop's squared-gradient smoothing (default 0.95, char-rnn's)")
    g.add_argument("--schedule", default=None, choices=["cosine", "step"],
                   help="cosine: warmup then cosine decay (default); step: constant, x --lr-decay each epoch after --lr-decay-after")
    g.add_argument("--lr-decay", type=FLOAT, default=None, help="with --schedule step: factor per epoch (default 0.97)")
    g.add_argument("--lr-decay-after", type=INT, default=None, help="with --schedule step: epochs before decaying (default 10)")
    g.add_argument("--grad-clamp", type=FLOAT, default=None,
                   help="clamp every gradient element to [-C, C] (char-rnn's grad_clip 5; default 0: off); combine with --grad-clip 0")
    g.add_argument("--init-uniform", type=FLOAT, default=None, help="initialise every weight uniform in [-A, A] (char-rnn 0.08; default 0: off)")
    g.add_argument("--stateless", action="store_true", default=None,
                   help="reset the recurrent state every window instead of carrying it across batches (Keras's default)")
    g = c.add_argument_group("device")
    g.add_argument("--device", default=None, help="cpu (default), or cuda for a GPU")
    g.add_argument("--precision", default=None, choices=["fp32", "bf16"], help="bf16: autocast to bfloat16 (for GPUs; default fp32)")
    g.add_argument("--compile", action="store_true", help="torch.compile the model (for GPUs)")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="musicrnn", description="Music as sequences: tokenise MIDI, train models, sample songs.")
    p.add_argument("--version", action="version", version=f"musicrnn {__version__}", help="print the version and exit")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)

    c = sub.add_parser("sample", help="generate music from a trained model", description="Generate music from a trained model.")
    c.add_argument("--checkpoint", default=None, help="checkpoint folder (default: the shipped folk melody model)")
    c.add_argument("--primer", default=None, help="MIDI file to continue, or an audio file of a hummed, sung or "
                   "played melody (WAV, FLAC, OGG, MP3; transcribed first) (default: start from nothing)")
    _add_sampling_args(c)
    g = c.add_mutually_exclusive_group()
    g.add_argument("--seconds", type=FLOAT, default=None, help="length of music to generate (default: 30)")
    g.add_argument("--tokens", type=INT, default=None, help="number of tokens to generate instead of --seconds (default: off)")
    c.add_argument("--num", type=INT, default=1, help="how many pieces (OUT gets _1, _2, ...)")
    c.add_argument("--instruments", default=None, metavar="LIST",
                   help="the band, comma-separated General MIDI names or numbers and 'drums' "
                        "(e.g. 'acoustic grand piano, 33, drums'); the piece plays only these "
                        "(default: the primer's instruments, or the model's own choice)")
    c.add_argument("--out", required=True, type=Path, help="MIDI file to write")
    c.add_argument("--wav", type=Path, default=None, help="also render audio to this WAV file (FluidSynth + General MIDI SoundFont)")
    c.add_argument("--sing", action="store_true",
                   help="also write the melody sung (Festival, 'la' on every note), over the other parts, as OUT.sung.wav")
    c.add_argument("--voice", default=None, metavar="TARGET",
                   help="with --sing: the voice that sings, a clip of it or a voice model folder (default: Festival's own)")
    c.add_argument("--singer", default="kal", choices=["kal", "ked"], help="with --sing: Festival's singing voice (default kal)")
    c.set_defaults(func=cmd_sample)

    c = sub.add_parser("train", help="train a model (char-RNN or transformer) on a folder of MIDI files",
                       description="Train a model (char-RNN or transformer) on a folder of MIDI files.")
    _add_train_args(c)
    c.add_argument("--tune-pieces", type=INT, default=None, metavar="N",
                   help="with a codec of repeat tokens ('repeats', e.g. checkpoints/band): at the end, fit the "
                        "sampler to the folder (repeat weights and temperature, so that samples repeat bars and "
                        "keep to a scale as the folder's pieces do), drawing N pieces of 30 s per setting tried "
                        "(default 20, about two minutes for a band model, or with --minutes under 6 that share of 20; 0: skip)")
    c.set_defaults(func=cmd_train, argv=None, actions={a.dest: a for a in c._actions})

    c = sub.add_parser("evaluate", help="bits per token on held-out files and music statistics of samples vs the corpus")
    c.add_argument("--checkpoint", default=None, help="checkpoint folder (default: the shipped folk model)")
    c.add_argument("--data", required=True, help="the folder the model was trained on (its held-out files are scored)")
    c.add_argument("--split", choices=["valid", "test", "all"], default="valid",
                   help="which files of DATA to score (all: every file, the training files included)")
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
    c.add_argument("--task", default="music", choices=[n for n, t in task_registry().items() if t.experiment],
                   help="music (a MIDI folder), polymusic (--data jsb, nottingham, musedata or piano: the "
                        "benchmark's training split, scored in nats per frame), or a research task: quake, stock or "
                        "lotto, whose own settings "
                        "(e.g. loss=smooth-l1,exp-or-log; stateful=true,false; generator=mt,lcg,os) and the core's "
                        "model and training settings may vary")
    c.add_argument("--vary", action="append", default=[], metavar="FLAG=V1,V2",
                   help="a train flag and the values to compare (repeat for a grid), e.g. activation=tanh,iris")
    c.add_argument("--variant", action="append", default=[], metavar="'FLAG=V FLAG=V'",
                   help="instead of --vary: one arm per use, e.g. --variant 'cell=lstm hidden=128' "
                        "--variant 'cell=lstm-lite hidden=231' (the first is the baseline)")
    c.add_argument("--seeds", type=INT, default=5, help="seeds 0..N-1, the same list for every variant")
    _add_train_args(c)
    data = next(a for a in c._actions if a.dest == "data")
    data.required, data.default = False, None
    next(a for a in c._actions if a.dest == "out").help = (
        "experiment folder: a run folder per variant and seed, results.md/.json/.png (finished runs are read back)")
    data.help = ("--task music: the folder of MIDI files (required); quake: a ComCat CSV (default: a synthetic "
                 "ETAS catalog); stock: a CSV of daily closes (default: the shipped S&P 500); lotto: a CSV of real "
                 "draws (default: each arm's generator)")
    c.set_defaults(func=cmd_experiment, argv=None, actions={a.dest: a for a in c._actions})

    c = sub.add_parser("study", help="the research study (docs/research.md): every question's experiments, resumable, "
                                     "and the answers with Holm-adjusted p-values",
                       description="Run the research study: each part is an experiment (finished runs are read "
                                   "back, so run it again to go on), then write the answers table.")
    c.add_argument("--only", nargs="+", default=None, metavar="PART",
                   help="run only these parts (e.g. q1-folk); the answers still cover every finished part")
    c.add_argument("--out", type=Path, default=Path("runs/study"), help="where the runs go (default runs/study)")
    c.add_argument("--docs", type=Path, default=Path("docs/experiments/study"),
                   help="where each part's table and the answers go (default docs/experiments/study)")
    c.add_argument("--research", type=Path, default=Path("docs/research.md"),
                   help="the page whose 'questions and answers' table is refreshed (default docs/research.md)")
    c.add_argument("--answers-only", action="store_true", help="train nothing: rewrite the answers from finished parts")
    c.add_argument("--list", action="store_true", help="list the parts and exit")
    c.set_defaults(func=cmd_study)

    bench = sub.add_parser("bench", help="research benchmarks: polymusic (JSB, Nottingham, MuseData, Piano-midi.de)"
                           ).add_subparsers(dest="bench_command", required=True, metavar="BENCHMARK", parser_class=_Parser)
    c = bench.add_parser("polymusic", help="negative log-likelihood per frame (nats) on the classic piano-roll data",
                         description="Train a token model on a polyphonic benchmark's training split (or evaluate a "
                                     "checkpoint) and report the literature's metric, NLL per frame in nats, beside the "
                                     "frame-independent Bernoulli baseline. The last line is one JSON object.")
    c.add_argument("--dataset", required=True, choices=["jsb", "nottingham", "musedata", "piano"],
                   help="JSB Chorales, Nottingham, MuseData or Piano-midi.de (corpora/polymusic/)")
    c.add_argument("--checkpoint", type=Path, default=None,
                   help="evaluate this benchmark checkpoint instead of training (default: train)")
    c.add_argument("--split", default="test", choices=["valid", "test"], help="which split to report (default test)")
    c.add_argument("--out", type=Path, default=None, help="training: checkpoint folder to write (default: none)")
    c.add_argument("--transpose", type=int, default=None, metavar="N",
                   help="training: add every transposition of the training pieces up to +-N semitones that stays "
                        "on the 88 keys (0-12; validation and test stay as published, in C) (default 0)")
    _add_model_args(c)
    c.add_argument("--resume", action="store_true", help="continue the run in OUT (default: start a new run)")
    c.add_argument("--force", action="store_true", help="replace a model already in OUT")
    c.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    c.set_defaults(func=cmd_bench_polymusic, argv=None, actions={a.dest: a for a in c._actions}, output=None)

    c = sub.add_parser("ui", help="start the page in the browser: generate, listen, download, train",
                       description="Start the musicrnn page (Gradio) on http://HOST:PORT.")
    from .ui.command import add_arguments  # the page's flags: standard library only, sets nothing

    add_arguments(c)
    c.set_defaults(func=cmd_ui)

    codec = sub.add_parser("codec", help="MIDI <-> tokens: check, encode, decode; audio -> melody: transcribe").add_subparsers(
        dest="codec_command", required=True, metavar="ACTION", parser_class=_Parser)
    from .presets import CODECS

    def codec_choice(c):
        c.add_argument("--codec", choices=sorted(CODECS), default="default",
                       help="which tokens: 'default', or 'repeats' (repeated drum bars and repeated bars of "
                            "pitched notes as one token each; drums declared first)")

    c = codec.add_parser("check", help="round-trip every MIDI file under PATHs; last line is a JSON summary")
    c.add_argument("paths", nargs="+", metavar="PATH", help="MIDI files or folders (searched recursively)")
    c.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    codec_choice(c)
    c.set_defaults(func=cmd_codec_check)
    c = codec.add_parser("transcribe", help="audio (hummed, sung or played melody) -> a monophonic MIDI melody",
                         description="Transcribe a hummed, sung or played melody (WAV, FLAC, OGG, MP3) to MIDI: "
                                     "f0 tracking, note onsets and offsets, a tempo estimate.")
    c.add_argument("file", help="an audio file")
    c.add_argument("--out", required=True, type=Path, help="MIDI file to write")
    c.add_argument("--f0", choices=["pyin", "yin"], default="pyin", help="pitch tracker: pyin (accurate) or yin (fast)")
    c.set_defaults(func=cmd_codec_transcribe)
    c = codec.add_parser("encode", help="print a MIDI file's tokens")
    c.add_argument("file", help="a MIDI file")
    c.add_argument("--format", choices=["names", "text", "ids"], default="names", help="token names (one a line), one character a token, or integer ids")
    codec_choice(c)
    c.set_defaults(func=cmd_codec_encode)
    c = codec.add_parser("decode", help="turn tokens (names, ids or characters, from a file) back into MIDI")
    c.add_argument("file", help="a file of tokens, as `codec encode` writes them")
    c.add_argument("--format", choices=["auto", "names", "text", "ids"], default="auto", help="how the tokens are written (auto: detect)")
    c.add_argument("--out", required=True, type=Path, help="MIDI file to write")
    codec_choice(c)
    c.set_defaults(func=cmd_codec_decode)
    c = codec.add_parser("roundtrip", help="encode a MIDI file and write the decoded MIDI")
    c.add_argument("file", help="a MIDI file")
    c.add_argument("--out", required=True, type=Path, help="MIDI file to write")
    codec_choice(c)
    c.set_defaults(func=cmd_codec_roundtrip)

    def add_controls(c):
        c.add_argument("--transpose", type=FLOAT, default=None, help="semitones (default: whole octaves toward the target's register, at most one, so the melody keeps its key)")
        c.add_argument("--formant", type=FLOAT, default=None, help="formant shift ratio, 0.5-2 (default: fitted to the target: to the clip, or to a voice "
                            "model's training voice)")
        c.add_argument("--index-rate", type=FLOAT, default=0.5, help="trained voice: share of each frame's content taken from the target's nearest frames, 0-1 (default 0.5)")
        c.add_argument("--protect", type=FLOAT, default=0.33, help="how much unvoiced sounds (consonants, breath) keep of their own, 0-1 (default 0.33)")
        c.add_argument("--eq", type=FLOAT, default=1.0, help="target clip: share of the spectral-envelope equalisation, 0-2 (default 1)")
        c.add_argument("--knn", type=FLOAT, default=1.0, help="target clip: share of each voiced frame's spectral envelope taken from the "
                            "target's most similar frames, 0-1 (default 1)")

    c = sub.add_parser("transfer", help="make a sung or spoken clip sound like another voice, keeping its melody",
                       description="Convert --input (a file, or every audio file in a folder) toward --target: an "
                                   "audio clip of the target voice (instant, no training) or a voice model from "
                                   "`musicrnn voice train`.")
    c.add_argument("--input", required=True, help="source audio file or folder (WAV, FLAC, OGG, MP3)")
    c.add_argument("--target", required=True, help="a clip of the target voice, or a trained voice model folder")
    c.add_argument("--out", required=True, type=Path, help="WAV to write (a folder when --input is a folder)")
    c.add_argument("--live", action="store_true",
                   help="stream it: 40-ms blocks, 80 ms of delay; --input is played in real time, or '-' reads raw "
                        "16-bit mono 16-kHz PCM from standard input (e.g. from arecord); --out '-' writes the same "
                        "to standard output (target: a clip)")
    c.add_argument("--fast", action="store_true", help="with --live and a file: feed it as fast as it converts")
    add_controls(c)
    c.set_defaults(func=cmd_transfer)

    voice = sub.add_parser("voice", help="voice models: train, eval, espeak (training audio from a synthetic voice)"
                           ).add_subparsers(dest="voice_command", required=True, metavar="ACTION", parser_class=_Parser)
    c = voice.add_parser("train", help="train a voice model on 1-5 minutes of one voice",
                         description="Train a DDSP voice model (recurrent decoder + harmonic/noise synthesizer) on "
                                     "audio of one voice: files and/or folders.")
    c.add_argument("--data", required=True, nargs="+", help="audio files and/or folders of the target voice")
    c.add_argument("--out", required=True, type=Path, help="folder to write the voice model to")
    from .style.settings import TRAIN_DEFAULTS as VT

    c.add_argument("--seed", type=INT, default=None, help="random seed (same seed, same data: same model; default 0)")
    c.add_argument("--minutes", type=FLOAT, default=None, help="time budget: train as many steps as fit")
    c.add_argument("--steps", type=INT, default=None, help="training steps (overrides --epochs)")
    c.add_argument("--epochs", type=INT, default=None, help=f"passes over the clips (default {VT['epochs']})")
    c.add_argument("--batch", type=INT, default=None, help=f"clips per step (default {VT['batch']})")
    c.add_argument("--lr", type=FLOAT, default=None, help=f"peak learning rate (default {VT['lr']:g})")
    c.add_argument("--patience", type=INT, default=None,
                   help=f"epochs without improvement before stopping (default {VT['patience']})")
    c.add_argument("--hidden", type=INT, default=None, help="decoder width (default 256)")
    c.add_argument("--layers", type=INT, default=None, help="decoder layers (default 2)")
    c.add_argument("--cell", choices=["gru", "lstm", "lstm-lite"], default=None, help="decoder cell (default gru)")
    c.add_argument("--resume", action="store_true", help="continue the run in --out exactly")
    c.add_argument("--force", action="store_true", help="replace a model already in --out")
    c.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    c.set_defaults(func=cmd_voice_train, argv=None)
    c = voice.add_parser("espeak", help="write training audio spoken by an espeak-ng voice (about 5 minutes)")
    c.add_argument("--voice", default="en-us+f3", help="espeak-ng voice, e.g. en-us+f3 (female), en-us+m3 (male)")
    c.add_argument("--out", required=True, type=Path, help="folder to write the WAVs to")
    c.set_defaults(func=cmd_voice_espeak)
    c = voice.add_parser("eval", help="score voice conversion on a parallel test set made here; last line JSON",
                         description="Build a parallel test set (espeak-ng voices speaking the same sentences, or "
                                     "Festival singing the same tunes in two voices), convert each source toward "
                                     "the target, and score it: f0_corr, mcd_before/after, rtf, secs_target/source.")
    c.add_argument("--voice", default=None, help="a trained voice model of the target voice (default: the instant "
                                                 "tier, from a separate clip of the target)")
    c.add_argument("--direction", choices=["m2f", "f2m", "sing", "real"], default="m2f",
                   help="espeak-ng male -> female (default), female -> male, Festival singing kal -> ked, or real people "
                        "(Debian klettres-data, hedgewars-data: each speaker toward the next, instant tier)")
    c.add_argument("--speakers", choices=["dev", "test", "actors", "singer"], default="test",
                   help="--direction real: the 12 klettres test speakers (default), the 8 development speakers, the 14 "
                        "Hedgewars voice actors (hedgewars-data), or a real singer (Hedgewars' Singer) as target of six "
                        "test speakers and as source toward the other six")
    c.add_argument("--pairs", type=INT, default=10, help="test sentences or tunes (default 10)")
    c.add_argument("--workdir", type=Path, default=None, help="keep the synthesized test audio here (default: a temporary folder)")
    c.add_argument("--no-speaker", action="store_true", help="skip the speaker-similarity scores (Resemblyzer)")
    c.add_argument("-q", "--quiet", action="store_true", help="no line per pair")
    add_controls(c)
    c.set_defaults(func=cmd_voice_eval)

    _add_task_parsers(sub)

    corpora = sub.add_parser("corpora", help="build the shipped corpora").add_subparsers(
        dest="corpora_command", required=True, metavar="ACTION", parser_class=_Parser)
    c = corpora.add_parser("build", help="regenerate corpora/ from music21's bundled corpus (needs music21 and abc2midi)")
    c.add_argument("--out", type=Path, default=Path("corpora"), help="folder to write")
    c.add_argument("--jobs", type=INT, default=2, help="parallel conversions")
    c.add_argument("--limit", type=INT, default=None, help="at most this many pieces a collection, for a quick try (default: all)")
    c.add_argument("--collections", nargs="+", choices=["chorales", "folk", "band"], default=["chorales", "folk"],
                   help="what to build (default: chorales folk; band also needs Debian's mma)")
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
    from .codec.errors import AudioError
    from .core.errors import CheckpointError, DataError, SettingsError

    try:
        return args.func(args)
    except (UsageError, MidiError, AudioError, CheckpointError, DataError, SettingsError) as e:
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
        hint = {"train": "; try a smaller --batch, --bptt or --hidden", "sample": "; try a smaller --num or --seconds",
                "evaluate": "; try fewer --samples"}.get(getattr(args, "command", None), "")
        print(f"musicrnn: error: out of memory{hint}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

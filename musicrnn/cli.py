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
    return p


def main(argv=None) -> int:
    from .codec import MidiError

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (UsageError, MidiError) as e:
        print(f"musicrnn: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("musicrnn: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

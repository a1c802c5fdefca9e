"""The ``ui`` command: its flags (:func:`add_arguments`) and :func:`run`, which the
``musicrnn`` command line calls, and :func:`main` for ``python ui/app.py [flags]``.

Imports nothing heavy and sets nothing (the page's thread settings come with
``musicrnn.ui.app``, imported only when the page starts): ``musicrnn``'s parser imports
this module for every command.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of ``musicrnn ui`` (the help of each says its default, as the other commands' do)."""
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (0.0.0.0: every network interface) (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=7860, help="port (default: 7860)")
    parser.add_argument("--share", default="false", choices=["true", "false"],
                        help="also make a public gradio.live link (needs internet) (default: false)")
    parser.add_argument("--runs", type=Path, default=Path("runs"),
                        help="folder of trained models to list; the page's training writes here (default: runs)")
    parser.add_argument("--concurrency", type=int, default=None,
                        help="songs generated at once; more requests wait in the queue (default: one a core, at most 4)")


def run(args: argparse.Namespace) -> int:
    """``musicrnn ui``: check the flags, then serve the page until Ctrl-C or ``kill``.
    A bad flag is a SettingsError (one line, exit code 2)."""
    from musicrnn.core.errors import SettingsError

    if not 0 < args.port < 65536:
        raise SettingsError(f"--port {args.port}: must be 1 to 65535")
    if args.concurrency is not None and args.concurrency < 1:
        raise SettingsError(f"--concurrency {args.concurrency}: must be at least 1")
    from musicrnn.ui.app import launch

    launch(args.host, args.port, args.share == "true", str(args.runs), concurrency=args.concurrency)
    return 0


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2, word for word as `musicrnn ui` says it
        prog = "musicrnn" if message.startswith("unrecognized arguments") else self.prog  # musicrnn's own parser
        self.exit(2, f"{prog}: error: {message} (see {prog} --help)\n")


def main(argv=None) -> int:
    """``python ui/app.py [flags]``: the same as ``musicrnn ui [flags]``."""
    parser = _Parser(prog="musicrnn ui", description="Start the musicrnn page (Gradio) on http://HOST:PORT.",
                     allow_abbrev=False)
    add_arguments(parser)
    args = parser.parse_args(argv)
    from musicrnn.core.errors import SettingsError

    try:
        return run(args)
    except SettingsError as e:
        print(f"musicrnn: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("musicrnn: interrupted", file=sys.stderr)
        return 130
    except OSError as e:  # e.g. the port is taken
        where = f"{e.filename}: " if getattr(e, "filename", None) else ""
        print(f"musicrnn: error: {where}{e.strerror or e}", file=sys.stderr)
        return 2

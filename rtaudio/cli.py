"""``rtaudio`` command line: sub-commands, one-line errors, consistent exit codes.

Exit codes: 0 success; 1 processing failed (model, backend, device); 2 bad usage or bad
input (missing/corrupt file, unknown model, absurd rate, unwritable output); 130
interrupted (Ctrl-C). ``--debug`` shows the traceback instead of the one-line error.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from rtaudio import __version__

#: sub-command modules under rtaudio.commands, in --help order
COMMANDS = ("demo", "stream", "generate", "live", "bridge", "devices", "bench", "models")

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130


class UserError(Exception):
    """A problem the user can fix; printed as one line, exit code 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rtaudio",
        description="Real-time streaming neural audio processor: upsampling and more, on CPU or GPU.",
    )
    parser.add_argument("--version", action="version", version=f"rtaudio {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"rtaudio.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"rtaudio.commands.{name}":
                raise
            continue  # command not built yet
        module.register(sub)
    return parser


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``rtaudio`` console script."""
    from rtaudio.io.files import AudioIOError
    from rtaudio.registry import ModelError

    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_BAD_INPUT
    try:
        return int(args.run(args) or EXIT_OK)
    except KeyboardInterrupt:
        print("rtaudio: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (UserError, AudioIOError, ModelError, ValueError) as exc:
        if args.debug:
            raise
        print(f"rtaudio: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (RuntimeError, OSError) as exc:  # backend/device failures are RuntimeErrors
        if args.debug:
            raise
        print(f"rtaudio: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())

"""``rtaudio`` command line: sub-commands, one-line errors, consistent exit codes.

Exit codes: 0 success; 1 processing failed (model, backend, device); 2 bad usage or bad
input (missing/corrupt file, unknown model, absurd rate, unwritable output); 128 + signal
when a terminating signal stopped the work (130 SIGINT, 143 SIGTERM, 129 SIGHUP: nothing
half-written is left); 141 when the reader of stdout went away (``| head``), silently, as
Unix tools do. ``live`` and ``bridge`` end on any of those signals as on Ctrl-C: recording
finalized, summary printed, exit 0. ``--debug`` shows the traceback instead of the one-line
error.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import signal
import sys
from typing import NoReturn

from rtaudio import __version__

#: sub-command modules under rtaudio.commands, in --help order
COMMANDS = ("demo", "stream", "generate", "style", "live", "bridge", "devices", "bench", "models")

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130
EXIT_BROKEN_PIPE = 128 + signal.SIGPIPE  # what a shell reports for a writer killed by SIGPIPE


class UserError(Exception):
    """A problem the user can fix; printed as one line, exit code 2."""


def positive_int(text: str) -> int:
    """argparse type: an integer of at least 1 (``--threads``)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, not {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line, like every other error (sub-command parsers inherit it)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"rtaudio: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
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


def _say(message: str) -> None:
    """One line on stderr, if there still is one (a closed terminal after SIGHUP)."""
    with contextlib.suppress(OSError, ValueError):
        print(message, file=sys.stderr, flush=True)


def _silence_std_streams() -> None:
    """Point stdout/stderr at /dev/null so the interpreter's final flush of a broken pipe is silent."""
    null = os.open(os.devnull, os.O_WRONLY)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(AttributeError, OSError, ValueError):
            os.dup2(null, stream.fileno())
    os.close(null)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``rtaudio`` console script."""
    from rtaudio.io import signals

    handler = signals.install()
    try:
        return _run(argv)
    except KeyboardInterrupt as exc:  # also SIGTERM/SIGHUP (signals.Interrupted)
        signum = getattr(exc, "signum", None) or handler.received or signal.SIGINT
        name = signal.Signals(signum).name
        _say("rtaudio: interrupted" if signum == signal.SIGINT else f"rtaudio: interrupted by {name}")
        return signals.exit_code(signum)
    except BrokenPipeError:
        _silence_std_streams()
        return EXIT_BROKEN_PIPE


def _run(argv: list[str] | None) -> int:
    from rtaudio.io.files import AudioIOError
    from rtaudio.registry import ModelError

    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_BAD_INPUT
    try:
        code = int(args.run(args) or EXIT_OK)
        sys.stdout.flush()  # a broken pipe shows here, while it can still be handled quietly
        return code
    except BrokenPipeError:
        raise
    except (UserError, AudioIOError, ModelError, ValueError) as exc:
        if args.debug:
            raise
        _say(f"rtaudio: error: {_one_line(exc)}")
        return EXIT_BAD_INPUT
    except (RuntimeError, OSError) as exc:  # backend/device failures are RuntimeErrors
        if args.debug:
            raise
        _say(f"rtaudio: error: {_one_line(exc)}")
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())

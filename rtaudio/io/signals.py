"""Terminating signals (SIGINT, SIGTERM, SIGHUP) handled as one: an :class:`Interrupted`.

``kill``, systemd and CI timeouts send SIGTERM, a closed terminal sends SIGHUP; all of them
must unwind like Ctrl-C, so the same ``except KeyboardInterrupt`` / ``finally`` paths delete
a partial output and finalize a recording. The command line turns the signal into exit code
``128 + signal``.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

#: the signals that end a run; a disposition inherited as ignored (``nohup``) is kept
TERMINATING = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Interrupted(KeyboardInterrupt):
    """A terminating signal arrived; ``signum`` says which.

    A :class:`KeyboardInterrupt`, so code that stops cleanly on Ctrl-C stops cleanly on
    SIGTERM and SIGHUP too.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class _Handler:
    """Raises :class:`Interrupted` once; later signals are remembered, not raised.

    A second Ctrl-C or a supervisor repeating SIGTERM must not cut the cleanup the first
    one started (deleting a temporary file, writing a WAV header); SIGKILL still works.
    """

    def __init__(self) -> None:
        self.received: int | None = None

    def __call__(self, signum: int, _frame: FrameType | None) -> None:
        if self.received is not None:
            return
        self.received = signum
        raise Interrupted(signum)


def install() -> _Handler:
    """Handle every terminating signal like SIGINT (main thread only); returns the handler."""
    handler = _Handler()
    for signum in TERMINATING:
        if signal.getsignal(signum) is signal.SIG_IGN:
            continue  # nohup, or a background job of a script: the parent asked for it
        signal.signal(signum, handler)
    return handler


def exit_code(signum: int) -> int:
    """The shell convention for a run ended by ``signum``: 130 SIGINT, 143 SIGTERM, 129 SIGHUP."""
    return 128 + int(signum)


@contextmanager
def deferred() -> Iterator[None]:
    """Hold terminating signals back for a few statements that must not be split.

    A signal that arrives meanwhile is delivered (and raises) when the block ends.
    """
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, TERMINATING)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)

"""The contract between the streaming engine and a task's chunk kernel."""

from __future__ import annotations

from fractions import Fraction
from math import gcd
from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Kernel(Protocol):
    """A chunk kernel maps a window of input audio to the same span of output audio.

    Attributes
    ----------
    in_rate, out_rate
        Sample rates of the window handed to :meth:`run` and of what it returns.
    context_in
        Input samples of context needed on each side of a span so that the span's output
        equals whole-signal processing (the receptive field, for a neural model).
    quantum_in
        Window lengths must be a multiple of this (besides ``in_rate / gcd``); 1 if free.
    """

    in_rate: int
    out_rate: int
    context_in: int
    quantum_in: int

    def run(self, window: np.ndarray, start: int) -> np.ndarray:
        """Process ``window`` (float32, ``(channels, n)``) whose first sample sits at the
        absolute input index ``start`` (negative before the stream start, where the
        engine supplies zeros). Return float32 ``(channels, n * out_rate // in_rate)``.

        Must be a pure function of ``(window, start)`` and the kernel's construction
        arguments (seed included): that is what makes output independent of blocking.
        """
        ...


def rate_quantum(in_rate: int, out_rate: int) -> int:
    """Smallest input length that maps to a whole number of output samples."""
    return in_rate // gcd(in_rate, out_rate)


def out_length(n_in: int, in_rate: int, out_rate: int) -> int:
    """Exact output length of a stream of ``n_in`` samples: Python's round(n_in * out / in).

    Computed on an exact fraction (halves to even, like ``round``), so hour-long streams
    see no float drift.
    """
    return round(Fraction(n_in * out_rate, in_rate))

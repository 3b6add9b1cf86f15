"""The three contracts between the streaming engine and a model, and the rate arithmetic they share.

Every kernel keeps the engine's promises (output independent of host block sizes, exact
lengths, exact declared latency, deterministic noise); each contract has its scheduler:

============================  =====================================  ==================================
contract                      for                                    scheduler
============================  =====================================  ==================================
:class:`WindowKernel`         stateless models, parity references    :class:`~rtaudio.engine.processor.Processor`
                              (a pure ``run(window, start)``)        (overlap-add on an absolute grid)
:class:`StreamKernel`         cached convolutions, recurrent state   :class:`~rtaudio.engine.stream.StreamProcessor`
                              (``process(hop)``, ``reset()``)        (fixed hops on the absolute grid)
:class:`Generator`            models with no audio input             :class:`~rtaudio.engine.generator.GeneratorSource`
                              (``render(n)``, ``reset()``)           (pulled by the output side)
============================  =====================================  ==================================
"""

from __future__ import annotations

from fractions import Fraction
from math import gcd
from typing import Any, Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class WindowKernel(Protocol):
    """A stateless kernel: maps a window of input audio to the same span of output audio.

    Attributes
    ----------
    in_rate, out_rate
        Sample rates of the window handed to :meth:`run` and of what it returns.
    context_in
        Input samples of context needed on each side of a span so that the span's output
        equals whole-signal processing (the receptive field, for a neural model).
    quantum_in
        Window lengths must be a multiple of this (besides ``in_rate / gcd``); 1 if free.
    out_channels
        Optional: output channels when they differ from the input's (mel bands in, one
        waveform out); absent or ``None`` means one output channel per input channel.
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


@runtime_checkable
class StreamKernel(Protocol):
    """A stateful kernel fed fixed hops in stream order, carrying its state between them.

    The scheduler calls :meth:`process` with hop ``k`` = input samples
    ``[k * hop, (k + 1) * hop)`` of the stream (absolute position 0 after :meth:`reset`),
    whatever blocks the host delivered, so output never depends on host block sizes.

    Attributes
    ----------
    in_rate, out_rate
        Sample rates of the hops fed and of what comes back.
    hop
        Input samples per :meth:`process` call (a multiple of the rate quantum).
    delay
        Algorithmic delay in output samples: the kernel's output stream, with its first
        ``delay`` samples dropped, is the whole-signal output. Must be exact: it is the
        latency the engine reports.
    out_channels
        Optional, as for :class:`WindowKernel`.
    """

    in_rate: int
    out_rate: int
    hop: int
    delay: int

    def process(self, block: np.ndarray) -> np.ndarray:
        """Consume one hop, float32 ``(channels, hop)``; return float32
        ``(out_channels, hop * out_rate // in_rate)``. The channel count is fixed from the
        first call after :meth:`reset`."""
        ...

    def reset(self) -> None:
        """Forget all state: the next hop is absolute position 0 of a new stream."""
        ...


@runtime_checkable
class Generator(Protocol):
    """A source with no audio input, pulled by the output side (a device clock, a file writer).

    Attributes
    ----------
    out_rate
        Rate of the rendered audio.
    channels
        Output channels.
    block
        Control granularity in samples: :meth:`control` takes effect at the next multiple
        of ``block`` from the stream start (the defined boundary), never mid-block.
    """

    out_rate: int
    channels: int
    block: int

    def render(self, n: int) -> np.ndarray:
        """The next ``n`` samples of the stream, float32 ``(channels, n)``; ``n`` is a
        multiple of :attr:`block`. A pure function of the seed, the stream position and
        the controls applied so far (and their boundaries)."""
        ...

    def control(self, value: Any) -> None:
        """Change the control input (a chord, a style) from the next block boundary on."""
        ...

    def reset(self) -> None:
        """Start a new stream at position 0 with the initial control."""
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


def round_up(n: int, quantum: int) -> int:
    """``n`` rounded up to a multiple of ``quantum``."""
    return -(-n // quantum) * quantum


def out_channels_of(kernel: Any, channels: int) -> int:
    """Output channels of a kernel fed ``channels`` input channels."""
    return int(getattr(kernel, "out_channels", None) or channels)

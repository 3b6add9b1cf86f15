"""Baseline upsamplers (sinc, linear) and the rate adapter that wraps any kernel.

The baselines are first-class models: every command works with them before a neural
model is installed, and every quality report measures against them in the same run.
"""

from __future__ import annotations

import math

import numpy as np
import soxr

from rtaudio.engine.contracts import WindowKernel as Kernel
from rtaudio.engine.contracts import rate_quantum

#: soxr's very-high-quality filter settles within this many samples (at the lower of the
#: two rates) of a window edge: measured window-vs-whole error below -150 dB beyond it.
SINC_CONTEXT_SAMPLES = 128


def sinc_resample(x: np.ndarray, in_rate: int, out_rate: int) -> np.ndarray:
    """Band-limited (soxr VHQ) resampling of ``(channels, n)`` float32 audio."""
    if in_rate == out_rate:
        return x.astype(np.float32, copy=True)
    y = soxr.resample(np.ascontiguousarray(x.T), in_rate, out_rate, quality="VHQ")
    return np.ascontiguousarray(y.T, dtype=np.float32)


def linear_resample(x: np.ndarray, in_rate: int, out_rate: int) -> np.ndarray:
    """Linear interpolation of ``(channels, n)`` audio; output sample j sits at time j/out_rate."""
    n_out = x.shape[1] * out_rate // in_rate
    positions = np.arange(n_out, dtype=np.float64) * (in_rate / out_rate)
    grid = np.arange(x.shape[1], dtype=np.float64)
    return np.stack([np.interp(positions, grid, ch) for ch in x]).astype(np.float32)


def sinc_context(in_rate: int, out_rate: int) -> int:
    """Input samples of context that make windowed soxr output equal whole-signal output."""
    if in_rate == out_rate:
        return 0
    return math.ceil(SINC_CONTEXT_SAMPLES * in_rate / min(in_rate, out_rate))


class SincKernel:
    """``--model sinc``: soxr very-high-quality band-limited resampling."""

    name = "sinc"
    quantum_in = 1

    def __init__(self, in_rate: int, out_rate: int) -> None:
        self.in_rate, self.out_rate = int(in_rate), int(out_rate)
        self.context_in = sinc_context(self.in_rate, self.out_rate)

    def run(self, window: np.ndarray, start: int) -> np.ndarray:
        return sinc_resample(window, self.in_rate, self.out_rate)


class LinearKernel:
    """``--model linear``: linear interpolation (imaging above the input band and all)."""

    name = "linear"
    quantum_in = 1

    def __init__(self, in_rate: int, out_rate: int) -> None:
        self.in_rate, self.out_rate = int(in_rate), int(out_rate)
        self.context_in = 1

    def run(self, window: np.ndarray, start: int) -> np.ndarray:
        return linear_resample(window, self.in_rate, self.out_rate)


def _chain_quantum(in_rate: int, inner: Kernel, out_rate: int, limit: int = 1 << 20) -> int:
    """Smallest window length (at ``in_rate``) that is whole at every stage of the chain."""
    step = rate_quantum(in_rate, inner.in_rate)
    inner_quantum = math.lcm(rate_quantum(inner.in_rate, inner.out_rate), int(inner.quantum_in))
    n = step
    while n <= limit:
        n_inner = n * inner.in_rate // in_rate
        n_mid = n_inner * inner.out_rate // inner.in_rate
        if n_inner % inner_quantum == 0 and (n_mid * out_rate) % inner.out_rate == 0:
            return n
        n += step
    raise ValueError(f"no common chunk size for {in_rate} -> {inner.in_rate} -> {out_rate} Hz")


class RateAdapter:
    """Wraps a kernel so it accepts ``in_rate`` and returns ``out_rate``.

    The window is resampled to the inner kernel's input rate, processed, and the result
    resampled to ``out_rate``, all with soxr VHQ; the extra filter context is added to
    ``context_in`` so windowed output still equals whole-signal output.
    """

    quantum_in = 1

    def __init__(self, inner: Kernel, in_rate: int, out_rate: int) -> None:
        self.inner = inner
        self.name = getattr(inner, "name", type(inner).__name__)
        self.out_channels = getattr(inner, "out_channels", None)  # e.g. a vocoder: mel bands in, audio out
        self.in_rate, self.out_rate = int(in_rate), int(out_rate)
        inner_context = math.ceil(inner.context_in * self.in_rate / inner.in_rate)
        pre = sinc_context(self.in_rate, inner.in_rate)
        post = math.ceil(sinc_context(inner.out_rate, self.out_rate) * self.in_rate / inner.out_rate)
        self.context_in = inner_context + pre + post
        self.quantum_in = _chain_quantum(self.in_rate, inner, self.out_rate)

    def run(self, window: np.ndarray, start: int) -> np.ndarray:
        inner_start = start * self.inner.in_rate // self.in_rate
        x = sinc_resample(window, self.in_rate, self.inner.in_rate)
        y = self.inner.run(x, inner_start)
        return sinc_resample(y, self.inner.out_rate, self.out_rate)


def adapt(kernel: Kernel, in_rate: int, out_rate: int) -> Kernel:
    """Return ``kernel`` itself when the rates already match, else a :class:`RateAdapter`."""
    if kernel.in_rate == in_rate and kernel.out_rate == out_rate:
        return kernel
    return RateAdapter(kernel, in_rate, out_rate)

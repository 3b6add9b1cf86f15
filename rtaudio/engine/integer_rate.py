"""Streaming integer-ratio resampling around a stream kernel.

A device at 2x or 3x a model's rate (32 or 48 kHz for a 16 kHz model) keeps the stream path,
its low latency and its exact delay: the input is low-passed and decimated, the kernel runs at
its own rate, its output is zero-stuffed and low-passed back. The filters are linear-phase
Kaiser-windowed sincs (beta 8) cut at 0.9 of the model rate's Nyquist with ``half`` model-rate
samples on each side, so each delays by exactly ``half`` model samples; both keep their last
taps as state, so a stream split anywhere gives the same samples. The rational-ratio paths
(44.1 kHz devices) are soxr-equivalent block FIRs with more lookahead (see the tasks).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

#: Kaiser window beta of the resampling filters (stop band ~80 dB down)
KAISER_BETA = 8.0
#: pass band edge, as a fraction of the model rate's Nyquist
CUTOFF = 0.9


@lru_cache(maxsize=16)
def lowpass(factor: int, half: int) -> np.ndarray:
    """``2 * factor * half + 1`` taps at ``factor`` times the model rate, unit gain at DC (read-only)."""
    n = np.arange(-factor * half, factor * half + 1)
    h = np.sinc(CUTOFF / factor * n) * np.kaiser(len(n), KAISER_BETA)
    h /= h.sum()
    h.setflags(write=False)
    return h


class StreamingFir:
    """Causal FIR per channel, state carried across calls: output ``i`` is ``sum_k taps[k] x[i - k]``."""

    def __init__(self, taps: np.ndarray) -> None:
        self.taps = taps
        self.history: np.ndarray | None = None

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if self.history is None:
            self.history = np.zeros((x.shape[0], len(self.taps) - 1))
        joined = np.concatenate([self.history, x], axis=1)
        self.history = joined[:, x.shape[1] :]
        return np.lib.stride_tricks.sliding_window_view(joined, len(self.taps), axis=1) @ self.taps[::-1]


class IntegerRateStream:
    """``inner`` (a stream kernel) fed at ``in_factor`` and heard at ``out_factor`` times its rates.

    Delay: ``out_factor * (inner.delay + half * filters)`` output samples, exact (``filters``:
    how many of the two sides resample). ``hop`` is the inner hop at the source rate.
    """

    def __init__(self, inner, in_factor: int, out_factor: int, half: int) -> None:
        self.inner, self.in_factor, self.out_factor, self.half = inner, int(in_factor), int(out_factor), int(half)
        if self.in_factor < 1 or self.out_factor < 1:
            raise ValueError(f"integer factors >= 1, not {in_factor} / {out_factor}")
        self.in_rate = inner.in_rate * self.in_factor
        self.out_rate = inner.out_rate * self.out_factor
        self.hop = inner.hop * self.in_factor
        self.out_channels = getattr(inner, "out_channels", None)
        self.name = getattr(inner, "name", "stream")
        filters = (self.in_factor > 1) + (self.out_factor > 1)
        self.delay = self.out_factor * (inner.delay + self.half * filters)
        self.reset()

    def reset(self) -> None:
        """Start a new stream at position 0."""
        self.inner.reset()
        down, up = self.in_factor, self.out_factor
        self._down = StreamingFir(lowpass(down, self.half)) if down > 1 else None
        self._up = StreamingFir(lowpass(up, self.half) * up) if up > 1 else None

    def process(self, block: np.ndarray) -> np.ndarray:
        """One hop at the source rate -> ``hop * out_factor / in_factor`` output samples."""
        x = np.asarray(block, dtype=np.float64)
        if self._down is not None:
            x = self._down(x)[:, :: self.in_factor]
        y = np.asarray(self.inner.process(x.astype(np.float32)), dtype=np.float64)
        if self._up is not None:
            stuffed = np.zeros((y.shape[0], y.shape[1] * self.out_factor))
            stuffed[:, :: self.out_factor] = y
            y = self._up(stuffed)
        return y.astype(np.float32)

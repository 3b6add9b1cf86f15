"""Streaming resampling around a stream kernel: a device at another rate than the model's.

A device at 2x or 3x a model's rate (32 or 48 kHz for a 16 kHz model) keeps the stream path,
its low latency and its exact delay: the input is low-passed and decimated, the kernel runs at
its own rate, its output is zero-stuffed and low-passed back (:class:`IntegerRateStream`).
Any other ratio (a 44.1 kHz device) goes through :class:`RationalRateStream`: polyphase
resamplers that emit each output sample as soon as its lookahead has arrived, with one fixed
total delay computed from the sample counts alone. All filters are linear-phase
Kaiser-windowed sincs (beta 8) cut at 0.9 of the lower rate's Nyquist with ``half``
lower-rate samples on each side; all keep their state, so a stream split anywhere gives the
same samples.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

#: Kaiser window beta of the resampling filters (stop band ~80 dB down)
KAISER_BETA = 8.0
#: pass band edge, as a fraction of the model rate's Nyquist
CUTOFF = 0.9


def _kaiser_sinc(d: np.ndarray, cutoff: float, support: float) -> np.ndarray:
    """A Kaiser-windowed sinc of normalised ``cutoff`` (cycles per sample x 2) at offsets ``d``,
    zero beyond ``support`` samples (the design of every filter here)."""
    inside = np.abs(d) <= support
    window = np.i0(KAISER_BETA * np.sqrt(np.clip(1.0 - (d / support) ** 2, 0.0, None))) / np.i0(KAISER_BETA)
    return np.where(inside, np.sinc(cutoff * d) * window, 0.0)


@lru_cache(maxsize=16)
def lowpass(factor: int, half: int) -> np.ndarray:
    """``2 * factor * half + 1`` taps at ``factor`` times the model rate, unit gain at DC (read-only)."""
    h = _kaiser_sinc(np.arange(-factor * half, factor * half + 1), CUTOFF / factor, factor * half)
    h /= h.sum()
    h.setflags(write=False)
    return h


@lru_cache(maxsize=16)
def phase_table(from_rate: int, to_rate: int, reach: int, cutoff: float, support: float, offset: int) -> np.ndarray:
    """Polyphase taps at input offsets ``-reach .. reach + 1`` from ``floor(position)``, one row per
    phase: row ``k`` for the fractional part ``rem / to_rate``, ``rem = k * g + offset % g`` (read-only)."""
    g = math.gcd(from_rate, to_rate)
    rem = np.arange(to_rate // g) * g + offset % g
    h = _kaiser_sinc(np.arange(-reach, reach + 2)[None, :] - rem[:, None] / to_rate, cutoff, support)
    h /= h.sum(axis=1, keepdims=True)
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


class StreamingResampler:
    """Polyphase resampling ``from_rate -> to_rate`` of a stream, as soon as each output can be made.

    Output ``j`` is the band-limited input read at input position ``(j * from_rate + offset) /
    to_rate`` (zero phase: no delay of its own; ``offset`` shifts the grid by a fraction of an
    input sample). It needs ``half`` lower-rate samples on each side, so :meth:`push` returns
    however many outputs the input so far completes (none, or several). Before sample 0 the
    input is silence. Each phase's taps sum to 1 (DC passes exactly).
    """

    def __init__(self, from_rate: int, to_rate: int, half: int, offset: int = 0) -> None:
        self.from_rate, self.to_rate, self.offset = int(from_rate), int(to_rate), int(offset)
        low = min(self.from_rate, self.to_rate)
        self.support = half * self.from_rate / low  # input samples on each side
        self.cutoff = CUTOFF * low / self.from_rate
        self.reach = math.ceil(self.support)
        self._g = math.gcd(self.from_rate, self.to_rate)
        self.table = phase_table(self.from_rate, self.to_rate, self.reach, self.cutoff, self.support, self.offset)
        self.history: np.ndarray | None = None

    def ready(self, received: int) -> int:
        """How many outputs ``received`` input samples complete."""
        num = (received - self.reach - 1) * self.to_rate - self.offset
        return max(0, -(-num // self.from_rate))

    def push(self, x: np.ndarray) -> np.ndarray:
        """``(channels, n)`` more input -> ``(channels, m)`` more output (``m`` may be 0), float64."""
        if self.history is None:
            # silence before sample 0, enough for the earliest output's left taps
            pad = self.reach + 2 + math.ceil(max(0, -self.offset) / self.to_rate)
            self.history = np.zeros((x.shape[0], pad))
            self.base, self.received, self.made = -pad, 0, 0
        self.history = np.concatenate([self.history, np.asarray(x, dtype=np.float64)], axis=1)
        self.received += x.shape[1]
        js = np.arange(self.made, self.ready(self.received))
        if len(js) == 0:
            return np.zeros((x.shape[0], 0))
        pos = js * self.from_rate + self.offset
        first, rem = np.divmod(pos, self.to_rate)
        table = self.table[rem // self._g]  # (n, taps): positions repeat with a period of to / g outputs
        index = first[:, None] - self.reach - self.base + np.arange(table.shape[1])
        y = np.einsum("cnk,nk->cn", self.history[:, index], table)
        self.made = int(js[-1]) + 1
        # keep what the next output's left taps reach back to
        next_first = (self.made * self.from_rate + self.offset) // self.to_rate
        drop = max(0, next_first - self.reach - self.base)
        self.history, self.base = self.history[:, drop:], self.base + drop
        return y


class _SameRate:
    """The resampler between equal rates: every sample is ready as it arrives."""

    @staticmethod
    def ready(received: int) -> int:
        return received

    @staticmethod
    def push(x: np.ndarray) -> np.ndarray:
        return np.asarray(x, dtype=np.float64)


class RationalRateStream:
    """``inner`` (a stream kernel) fed at ``in_rate`` and heard at ``out_rate``, any ratio.

    The input is resampled to the model rate as it arrives, the kernel runs whenever one of its
    hops is complete, and its output is resampled to ``out_rate`` as it arrives. Those three
    produce samples in bursts; a FIFO hands them out ``hop`` at a time at one fixed ``delay``,
    the smallest that never runs dry, found by counting samples over one period of the pattern.
    The output grid is shifted by a fraction of a model sample so the delay is a whole number of
    output samples. ``hop`` is about ``hop_ms``; latency is ``hop + delay`` as for every stream.
    """

    def __init__(self, inner, in_rate: int, out_rate: int, half: int, hop_ms: float = 4.0) -> None:
        self.inner, self.in_rate, self.out_rate, self.half = inner, int(in_rate), int(out_rate), int(half)
        m = inner.in_rate
        if inner.out_rate != m:
            raise ValueError("the inner kernel must keep its rate")
        step = self.in_rate // math.gcd(self.in_rate, self.out_rate)  # hops that give whole outputs
        self.hop = max(1, round(hop_ms * self.in_rate / 1000 / step)) * step
        self._hop_out = self.hop * self.out_rate // self.in_rate
        self.out_channels = getattr(inner, "out_channels", None)
        self.name = getattr(inner, "name", "stream")
        whole = -(-inner.delay * self.out_rate // m)  # the inner delay in output samples, rounded up
        self._offset = inner.delay * self.out_rate - whole * m  # the fractional shift (<= 0), in 1 / out_rate
        self._lag = self._shortfall()
        self.delay = self._lag + whole
        self.reset()

    def _resamplers(self) -> tuple[StreamingResampler | _SameRate, StreamingResampler | _SameRate]:
        m = self.inner.in_rate
        down = _SameRate() if self.in_rate == m else StreamingResampler(self.in_rate, m, self.half)
        same_out = self.out_rate == m and self._offset == 0
        return down, _SameRate() if same_out else StreamingResampler(m, self.out_rate, self.half, self._offset)

    def _shortfall(self) -> int:
        """The largest lag of the upper resampler's output behind the ``hop``-wise schedule."""
        down, up = self._resamplers()
        m, inner_hop = self.inner.in_rate, self.inner.hop
        model_period = math.lcm(m // math.gcd(self.in_rate, m), inner_hop)  # model samples per repeat
        period = math.lcm(self.hop, model_period * self.in_rate // m)  # source samples per repeat
        calls = 2 * period // self.hop + 4
        worst = 0
        for c in range(1, calls + 1):
            model = down.ready(c * self.hop)
            made = up.ready(model - model % inner_hop)
            worst = max(worst, c * self._hop_out - made)
        return worst

    def reset(self) -> None:
        """Start a new stream at position 0."""
        self.inner.reset()
        self._down, self._up = self._resamplers()
        self._pending: np.ndarray | None = None
        self._fifo: np.ndarray | None = None

    def process(self, block: np.ndarray) -> np.ndarray:
        """One hop at ``in_rate`` -> ``hop * out_rate / in_rate`` output samples."""
        x = self._down.push(np.asarray(block, dtype=np.float64))
        c, inner_hop = x.shape[0], self.inner.hop
        if self._fifo is None:
            self._pending = np.zeros((c, 0))
            self._fifo = np.zeros((c, self._lag))
        self._pending = np.concatenate([self._pending, x], axis=1)
        whole = self._pending.shape[1] - self._pending.shape[1] % inner_hop
        outs = [
            np.asarray(self.inner.process(self._pending[:, i : i + inner_hop].astype(np.float32)), dtype=np.float64)
            for i in range(0, whole, inner_hop)
        ]
        self._pending = self._pending[:, whole:]
        if outs:
            self._fifo = np.concatenate([self._fifo, self._up.push(np.concatenate(outs, axis=1))], axis=1)
        y, self._fifo = self._fifo[:, : self._hop_out], self._fifo[:, self._hop_out :]
        return y.astype(np.float32)


def at_rates(inner, in_rate: int, out_rate: int, half: int):
    """``inner`` (a stream kernel at its model rates) on a device at ``in_rate`` -> ``out_rate``.

    Itself at the model rates, :class:`IntegerRateStream` at integer multiples of them (the
    shortest delay), :class:`RationalRateStream` at any other rates (a 44.1 kHz device).
    """
    if in_rate == inner.in_rate and out_rate == inner.out_rate:
        return inner
    if in_rate % inner.in_rate == 0 and out_rate % inner.out_rate == 0:
        return IntegerRateStream(inner, in_rate // inner.in_rate, out_rate // inner.out_rate, half)
    return RationalRateStream(inner, in_rate, out_rate, half)

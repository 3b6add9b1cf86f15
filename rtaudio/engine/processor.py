"""The streaming Processor: ring-buffered chunk scheduling with overlap-add.

Chunk ``k`` owns the input span ``[k*H, k*H + H + O)`` (``H`` new samples, ``O``
crossfade samples). The kernel runs on that span plus ``L`` samples of left context and
``R`` of right context (lookahead); the span's output is weighted by a COLA crossfade
(sin^2 fade-in over the first ``O`` samples, cos^2 fade-out over the last ``O``) and
added to the previous chunk's fade-out tail. The chunk grid is fixed in absolute input
positions, so the same windows are computed whatever the host's block sizes are: output
is bit-identical under any partition of the input.

Output is released at a constant delay of ``D = H + O + R`` input samples: after ``T``
input samples, exactly ``round_down((T - D) * out / in)`` output samples have been
returned. An impulse fed at input index ``t`` comes back in the call that delivers input
sample ``t + D``; ``latency_samples`` states that delay at the output rate.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from rtaudio.engine.ring import RingBuffer
from rtaudio.tasks.base import Kernel, out_length, rate_quantum

_STATS_WINDOW = 65536  # recent chunk timings kept for percentiles (bounded memory)


def _round_up(n: int, quantum: int) -> int:
    return -(-n // quantum) * quantum


@dataclass
class ChunkStats:
    """Timing and health counters of one stream."""

    chunks: int = 0
    compute_seconds: float = 0.0
    nonfinite_samples: int = 0
    _recent: np.ndarray = field(default_factory=lambda: np.zeros(_STATS_WINDOW))

    def add(self, seconds: float) -> None:
        self._recent[self.chunks % _STATS_WINDOW] = seconds
        self.chunks += 1
        self.compute_seconds += seconds

    def recent(self) -> np.ndarray:
        """Compute times (seconds) of the most recent chunks, up to 65,536."""
        return self._recent[: min(self.chunks, _STATS_WINDOW)]

    def percentile_ms(self, q: float) -> float:
        """``q``-th percentile of recent chunk compute times, in milliseconds."""
        recent = self.recent()
        return float(np.percentile(recent, q) * 1e3) if len(recent) else 0.0


class Processor:
    """Streaming block processor around a chunk :class:`~rtaudio.tasks.base.Kernel`.

    ``process(block)`` accepts any number of frames (1 to minutes) and returns the output
    frames that are due; ``flush()`` returns the rest so the stream's total output is
    exactly ``round(n_in * out_rate / in_rate)`` frames; ``reset()`` starts a new stream.
    Blocks are ``(frames,)`` for mono or ``(frames, channels)``; output has the same
    layout, float32.

    Thread-safety: one Processor serves one stream from one thread at a time. Live
    adapters call it from a worker thread, never from the audio callback.

    Parameters
    ----------
    kernel
        The task's chunk kernel (rates, context, ``run``).
    channels
        Channels per input frame; each is processed independently by the kernel unless
        the kernel declares ``out_channels`` (e.g. mel bands in, one waveform out).
    chunk
        New input samples per chunk (``H``), rounded up to the rate quantum.
    crossfade
        Crossfade length in input samples (``O``); at most ``chunk``.
    lookahead
        Right context in input samples (``R``); defaults to ``kernel.context_in``.
        Less than the receptive field trades quality at chunk edges for latency.
    """

    def __init__(
        self,
        kernel: Kernel,
        channels: int = 1,
        chunk: int = 2048,
        crossfade: int = 256,
        lookahead: int | None = None,
    ) -> None:
        self.kernel = kernel
        self.channels = int(channels)
        self.out_channels = int(getattr(kernel, "out_channels", None) or channels)
        self.in_rate = int(kernel.in_rate)
        self.out_rate = int(kernel.out_rate)
        quantum = math.lcm(rate_quantum(self.in_rate, self.out_rate), int(kernel.quantum_in))
        self.quantum = quantum
        self.hop = _round_up(max(int(chunk), 1), quantum)
        self.crossfade = min(_round_up(max(int(crossfade), 0), quantum), self.hop)
        self.left = _round_up(int(kernel.context_in), quantum)
        self.right = _round_up(int(kernel.context_in if lookahead is None else lookahead), quantum)
        self.delay_in = self.hop + self.crossfade + self.right
        self._hop_out = self._to_out(self.hop)
        self._fade_out_len = self._to_out(self.crossfade)
        self._left_out = self._to_out(self.left)
        self._window_len = self.left + self.hop + self.crossfade + self.right
        t = (np.arange(self._fade_out_len, dtype=np.float64) + 0.5) / max(self._fade_out_len, 1)
        self._fade_in = (np.sin(0.5 * np.pi * t) ** 2).astype(np.float32)
        self._fade_out = (1.0 - self._fade_in.astype(np.float64)).astype(np.float32)
        self._window = np.zeros((self._window_len, self.channels), dtype=np.float32)
        self._in = RingBuffer(self._window_len + self.hop, self.channels)
        # staging for computed-but-not-yet-due output: one flush step can run every chunk
        # that fits the input ring before releasing anything
        self._out = RingBuffer(self._to_out(self._window_len + 3 * self.hop), self.out_channels)
        self._channels_mono = self.channels == 1
        self.stats = ChunkStats()
        self.reset()

    # -- public properties -----------------------------------------------------------
    @property
    def latency_samples(self) -> int:
        """Constant delay between input and output, in output-rate samples."""
        return self._to_out(self.delay_in)

    @property
    def latency_seconds(self) -> float:
        """Algorithmic latency in seconds (device buffering not included)."""
        return self.delay_in / self.in_rate

    @property
    def chunk_seconds(self) -> float:
        """Audio seconds of new input per chunk."""
        return self.hop / self.in_rate

    # -- stream control --------------------------------------------------------------
    def reset(self) -> None:
        """Forget the current stream and start a new one at absolute position 0."""
        self._in.clear()
        self._in.write_zeros(self.left)  # the stream is preceded by silence
        self._out.clear()
        self._tail = np.zeros((self.out_channels, self._fade_out_len), dtype=np.float32)
        self._next_chunk = 0
        self._received = 0
        self._released = 0
        self._finished = False
        self.stats = ChunkStats()

    def process(self, block: np.ndarray) -> np.ndarray:
        """Feed ``block`` and return the output frames now due (possibly none)."""
        frames, mono = self._as_frames(block)
        if self._finished:
            raise RuntimeError("stream was flushed; call reset() to start a new one")
        pieces = []
        pos = 0
        while pos < len(frames):
            take = min(len(frames) - pos, self._in.write_available)
            piece = frames[pos : pos + take]
            bad = ~np.isfinite(piece)
            if bad.any():  # one NaN would poison every window that sees it
                self.stats.nonfinite_samples += int(bad.sum())
                piece = np.where(bad, np.float32(0.0), piece)
            self._in.write(piece)
            self._received += take
            pos += take
            self._run_ready_chunks()
            due = self._to_out_floor(self._received - self.delay_in) - self._released
            pieces.append(self._release(due))
        return self._shape(pieces, mono)

    def flush(self) -> np.ndarray:
        """End the stream: return the remaining output so the total length is exact."""
        if self._finished:
            raise RuntimeError("stream was already flushed; call reset() to start a new one")
        total = out_length(self._received, self.in_rate, self.out_rate)
        chunks_needed = -(-total // self._hop_out)
        pieces = []
        while self._next_chunk < chunks_needed:
            self._in.write_zeros(self._in.write_available)
            self._run_ready_chunks()
            pieces.append(self._release(min(self._out.read_available, total - self._released)))
        pieces.append(self._release(total - self._released))
        self._finished = True
        return self._shape(pieces, self._channels_mono)

    # -- internals ----------------------------------------------------------------------
    def _to_out(self, n_in: int) -> int:
        # exact for the multiples of the rate quantum that all spans are
        return n_in * self.out_rate // self.in_rate

    def _to_out_floor(self, n_in: int) -> int:
        return max(0, (n_in * self.out_rate) // self.in_rate)

    def _as_frames(self, block: np.ndarray) -> tuple[np.ndarray, bool]:
        block = np.asarray(block, dtype=np.float32)
        mono = block.ndim == 1
        frames = block[:, None] if mono else block
        if frames.ndim != 2 or frames.shape[1] != self.channels:
            raise ValueError(f"expected blocks of {self.channels} channel(s), got shape {block.shape}")
        self._channels_mono = mono
        return frames, mono

    def _run_ready_chunks(self) -> None:
        while self._in.read_available >= self._window_len:
            self._in.peek_into(self._window)
            start = self._next_chunk * self.hop - self.left
            t0 = time.perf_counter()
            out = self.kernel.run(np.ascontiguousarray(self._window.T), start)
            self.stats.add(time.perf_counter() - t0)
            self._emit_chunk(out)
            self._in.skip(self.hop)
            self._next_chunk += 1

    def _emit_chunk(self, out: np.ndarray) -> None:
        core = out[:, self._left_out : self._left_out + self._hop_out + self._fade_out_len]
        core = core.astype(np.float32, copy=True)
        n_fade = self._fade_out_len
        if n_fade:
            if self._next_chunk > 0:
                core[:, :n_fade] *= self._fade_in
                core[:, :n_fade] += self._tail
            self._tail = core[:, self._hop_out :] * self._fade_out
        if self._out.write(core[:, : self._hop_out].T) != self._hop_out:
            raise RuntimeError("output staging overflow (engine bug)")

    def _release(self, n: int) -> np.ndarray:
        n = max(0, min(n, self._out.read_available))
        data = self._out.read(n)
        self._released += n
        return data

    def _shape(self, pieces: list[np.ndarray], mono: bool) -> np.ndarray:
        pieces = [p for p in pieces if len(p)]
        out = np.concatenate(pieces) if pieces else np.zeros((0, self.out_channels), np.float32)
        return out[:, 0] if mono else out


def process_offline(kernel: Kernel, audio: np.ndarray) -> np.ndarray:
    """Run ``kernel`` on the whole signal as one window (zero padded like the stream).

    The reference that streamed output is compared against ("streaming parity"). Memory
    grows with the signal's length.

    Parameters
    ----------
    kernel
        The chunk kernel.
    audio
        ``(frames,)`` or ``(frames, channels)``.
    """
    block = np.asarray(audio, dtype=np.float32)
    frames = block[:, None] if block.ndim == 1 else block
    quantum = math.lcm(rate_quantum(kernel.in_rate, kernel.out_rate), int(kernel.quantum_in))
    left = _round_up(int(kernel.context_in), quantum)
    span = _round_up(len(frames) + int(kernel.context_in), quantum) + left
    window = np.zeros((frames.shape[1], span), dtype=np.float32)
    window[:, left : left + len(frames)] = np.nan_to_num(frames.T, nan=0.0, posinf=0.0, neginf=0.0)
    out = kernel.run(window, -left)
    skip = left * kernel.out_rate // kernel.in_rate
    total = out_length(len(frames), kernel.in_rate, kernel.out_rate)
    result = np.ascontiguousarray(out[:, skip : skip + total].T, dtype=np.float32)
    return result[:, 0] if block.ndim == 1 else result

"""The window-kernel scheduler: ring-buffered chunk scheduling with overlap-add.

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

import numpy as np

from rtaudio.engine.contracts import WindowKernel, out_channels_of, out_length, rate_quantum, round_up
from rtaudio.engine.ring import RingBuffer
from rtaudio.engine.scheduler import BlockScheduler, ChunkStats

__all__ = ["ChunkStats", "Processor", "process_offline"]


class Processor(BlockScheduler):
    """Streaming block processor around a :class:`~rtaudio.engine.contracts.WindowKernel`.

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
        The task's window kernel (rates, context, ``run``).
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
        kernel: WindowKernel,
        channels: int = 1,
        chunk: int = 2048,
        crossfade: int = 256,
        lookahead: int | None = None,
    ) -> None:
        self.kernel = kernel
        self.channels = int(channels)
        self.out_channels = out_channels_of(kernel, self.channels)
        self.in_rate = int(kernel.in_rate)
        self.out_rate = int(kernel.out_rate)
        quantum = math.lcm(rate_quantum(self.in_rate, self.out_rate), int(kernel.quantum_in))
        self.quantum = quantum
        self.hop = round_up(max(int(chunk), 1), quantum)
        self.crossfade = min(round_up(max(int(crossfade), 0), quantum), self.hop)
        self.left = round_up(int(kernel.context_in), quantum)
        self.right = round_up(int(kernel.context_in if lookahead is None else lookahead), quantum)
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
        self.reset()

    # -- stream control --------------------------------------------------------------
    def reset(self) -> None:
        """Forget the current stream and start a new one at absolute position 0."""
        self._in.clear()
        self._in.write_zeros(self.left)  # the stream is preceded by silence
        self._tail = np.zeros((self.out_channels, self._fade_out_len), dtype=np.float32)
        self._next_chunk = 0
        self._reset_counters()

    # -- internals ----------------------------------------------------------------------
    def _input_room(self) -> int:
        return self._in.write_available

    def _consume(self, frames: np.ndarray) -> None:
        self._in.write(frames)
        self._run_ready_chunks()

    def _drain(self, total: int) -> list[np.ndarray]:
        chunks_needed = -(-total // self._hop_out)
        pieces = []
        while self._next_chunk < chunks_needed:
            self._in.write_zeros(self._in.write_available)
            self._run_ready_chunks()
            pieces.append(self._release(min(self._out.read_available, total - self._released)))
        return pieces

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


def process_offline(kernel: WindowKernel, audio: np.ndarray) -> np.ndarray:
    """Run ``kernel`` on the whole signal as one window (zero padded like the stream).

    The reference that streamed output is compared against ("streaming parity"). Memory
    grows with the signal's length.

    Parameters
    ----------
    kernel
        The window kernel.
    audio
        ``(frames,)`` or ``(frames, channels)``.
    """
    block = np.asarray(audio, dtype=np.float32)
    frames = block[:, None] if block.ndim == 1 else block
    quantum = math.lcm(rate_quantum(kernel.in_rate, kernel.out_rate), int(kernel.quantum_in))
    left = round_up(int(kernel.context_in), quantum)
    span = round_up(len(frames) + int(kernel.context_in), quantum) + left
    window = np.zeros((frames.shape[1], span), dtype=np.float32)
    window[:, left : left + len(frames)] = np.nan_to_num(frames.T, nan=0.0, posinf=0.0, neginf=0.0)
    out = kernel.run(window, -left)
    skip = left * kernel.out_rate // kernel.in_rate
    total = out_length(len(frames), kernel.in_rate, kernel.out_rate)
    result = np.ascontiguousarray(out[:, skip : skip + total].T, dtype=np.float32)
    return result[:, 0] if block.ndim == 1 else result

"""The stream-kernel scheduler: fixed hops on the absolute grid, state carried, no recompute.

Hop ``k`` is input samples ``[k * hop, (k + 1) * hop)`` of the stream, whatever blocks the
host delivers, so a :class:`~rtaudio.engine.contracts.StreamKernel` sees the same hops (and
returns the same output) under any partition of the input. The kernel's first ``delay``
output samples are its pipeline filling up and are dropped; the rest is the whole-signal
output. Output is released at a constant delay of

    ``delay_in = hop + ceil(delay * in_rate / out_rate)`` (rounded up to the rate quantum)

input samples: up to one hop of buffering (a hop runs once it is complete) plus the
kernel's algorithmic delay. ``latency_samples`` states it at the output rate, exactly.
"""

from __future__ import annotations

import math
import time

import numpy as np

from rtaudio.engine.contracts import StreamKernel, out_channels_of, rate_quantum, round_up
from rtaudio.engine.ring import RingBuffer
from rtaudio.engine.scheduler import BlockScheduler

__all__ = ["StreamProcessor", "WholeStream", "stream_whole"]


class StreamProcessor(BlockScheduler):
    """Streaming block processor around a :class:`~rtaudio.engine.contracts.StreamKernel`.

    Same interface and promises as :class:`~rtaudio.engine.processor.Processor`:
    ``process(block)`` takes any number of frames and returns what is due, ``flush()``
    makes the total exactly ``round(n_in * out_rate / in_rate)``, ``reset()`` starts a new
    stream (and resets the kernel's state). Compute per input sample is the kernel's, with
    no context recomputed.

    Thread-safety: one stream, one thread at a time; never call it from an audio callback.

    Parameters
    ----------
    kernel
        The stream kernel; its ``hop`` is the chunk.
    channels
        Channels per input frame.
    """

    def __init__(self, kernel: StreamKernel, channels: int = 1) -> None:
        self.kernel = kernel
        self.channels = int(channels)
        self.out_channels = out_channels_of(kernel, self.channels)
        self.in_rate = int(kernel.in_rate)
        self.out_rate = int(kernel.out_rate)
        self.quantum = rate_quantum(self.in_rate, self.out_rate)
        self.hop = int(kernel.hop)
        if self.hop <= 0 or self.hop % self.quantum:
            raise ValueError(f"stream kernel hop {self.hop} is not a multiple of the rate quantum {self.quantum}")
        self.crossfade = 0
        self.kernel_delay = int(kernel.delay)
        delay_in = math.ceil(self.kernel_delay * self.in_rate / self.out_rate)
        self.delay_in = self.hop + round_up(delay_in, self.quantum)
        self._hop_out = self._to_out(self.hop)
        self._hop_block = np.zeros((self.channels, self.hop), dtype=np.float32)
        self._in = RingBuffer(self.hop, self.channels)
        self._out = RingBuffer(self._to_out(self.delay_in) + 2 * self._hop_out + self.kernel_delay, self.out_channels)
        self._channels_mono = self.channels == 1
        self.reset()

    def reset(self) -> None:
        """Forget the current stream (kernel state included); the next sample is position 0."""
        self.kernel.reset()
        self._in.clear()
        self._to_skip = self.kernel_delay
        self._hops = 0
        self._reset_counters()

    # -- internals ----------------------------------------------------------------------
    def _input_room(self) -> int:
        return self._in.write_available

    def _consume(self, frames: np.ndarray) -> None:
        self._in.write(frames)
        if self._in.read_available == self.hop:
            self._run_hop()

    def _drain(self, total: int) -> list[np.ndarray]:
        pieces = []
        while self._released + self._out.read_available < total:
            self._in.write_zeros(self._in.write_available)
            self._run_hop()
            pieces.append(self._release(min(self._out.read_available, total - self._released)))
        return pieces

    def _run_hop(self) -> None:
        self._hop_block[:] = self._in.read(self.hop).T
        t0 = time.perf_counter()
        out = self.kernel.process(self._hop_block)
        self.stats.add(time.perf_counter() - t0)
        self._hops += 1
        if out.shape != (self.out_channels, self._hop_out):
            raise RuntimeError(
                f"stream kernel returned {out.shape}, expected {(self.out_channels, self._hop_out)} (kernel bug)"
            )
        skip = min(self._to_skip, self._hop_out)
        self._to_skip -= skip
        if self._out.write(np.ascontiguousarray(out[:, skip:].T, dtype=np.float32)) != self._hop_out - skip:
            raise RuntimeError("output staging overflow (engine bug)")


def stream_whole(kernel: StreamKernel, audio: np.ndarray) -> np.ndarray:
    """Run a stream kernel over a whole signal (reset first) and return the exact-length output.

    ``(frames,)`` or ``(frames, channels)`` in, the same layout out.
    """
    block = np.asarray(audio, dtype=np.float32)
    channels = 1 if block.ndim == 1 else block.shape[1]
    proc = StreamProcessor(kernel, channels)
    head = proc.process(block)
    return np.concatenate([head, proc.flush()])


class WholeStream:
    """A stream kernel's whole-signal run presented as a window kernel (``Plan.reference``, ``--offline``).

    A fresh stream over the window (reset first), its delay removed. What lies before position 0
    (the engine's zero padding) is not streamed (a recurrent state would differ from a fresh
    stream's) and comes out as zeros. ``context_in > 0`` also allows chunked use with that much
    context, on the kernel's hop grid: exact for a finite-memory kernel whose receptive field fits
    in it, close for a recurrent one. With ``context_in = 0`` it runs on the whole signal only.
    """

    def __init__(self, kernel: StreamKernel, context_in: int = 0) -> None:
        self.kernel = kernel
        self.in_rate, self.out_rate = kernel.in_rate, kernel.out_rate
        self.context_in = int(context_in)
        self.quantum_in = kernel.hop if self.context_in else 1
        self.out_channels = getattr(kernel, "out_channels", None)
        self.name = getattr(kernel, "name", "stream")

    def run(self, window: np.ndarray, start: int) -> np.ndarray:
        if start > 0 and not self.context_in:
            raise ValueError("this stream kernel's reference runs on the whole signal (start <= 0)")
        lead = min(max(0, -start), window.shape[1])
        zeros_out = lead * self.out_rate // self.in_rate
        body = window[:, lead:]
        if body.shape[1] == 0:
            return np.zeros((self.out_channels or window.shape[0], zeros_out), np.float32)
        out = stream_whole(self.kernel, body.T)
        out = out[:, None] if out.ndim == 1 else out
        return np.concatenate([np.zeros((out.shape[1], zeros_out), np.float32), out.T], axis=1)

"""The generator scheduler: a source with no input, pulled by the output side.

A :class:`~rtaudio.engine.contracts.Generator` renders whole blocks; :class:`GeneratorSource`
lets a puller (a file writer, a device callback's worker) ask for any number of samples,
keeps the remainder of the last block, and applies control changes at the generator's next
block boundary, recording where each took effect. Output is a pure function of the seed and
the (control, boundary) history, so a take can be reproduced exactly.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from rtaudio.engine.contracts import Generator
from rtaudio.engine.ring import RingBuffer
from rtaudio.engine.scheduler import ChunkStats

__all__ = ["GeneratorSource"]


class GeneratorSource:
    """Pull-driven front of a generator: ``pull(n)`` returns exactly ``n`` frames.

    Parameters
    ----------
    generator
        The generator; ``block`` is its render granularity and control boundary.
    blocks_per_render
        Blocks rendered per generator call (more amortises per-call overhead, fewer keeps
        control changes prompt: a change waits at most this many blocks).
    """

    def __init__(self, generator: Generator, blocks_per_render: int = 1) -> None:
        self.generator = generator
        self.out_rate = int(generator.out_rate)
        self.channels = int(generator.channels)
        self.block = int(generator.block)
        self.render_frames = self.block * max(1, int(blocks_per_render))
        self._buffer = RingBuffer(2 * self.render_frames, self.channels)
        self.reset()

    @property
    def position(self) -> int:
        """Samples rendered so far (the stream position of the next render)."""
        return self._rendered

    @property
    def chunk_seconds(self) -> float:
        """Audio seconds per generator call."""
        return self.render_frames / self.out_rate

    def reset(self) -> None:
        """Start a new stream: position 0, the generator's initial control."""
        self.generator.reset()
        self._buffer.clear()
        self._rendered = 0
        self._pending: list[Any] = []
        #: (sample position, control) of every change, in the order they took effect
        self.control_log: list[tuple[int, Any]] = []
        self.stats = ChunkStats()

    def control(self, value: Any) -> None:
        """Ask for a control change; it takes effect at the next render boundary."""
        self._pending.append(value)

    def render_ahead(self) -> None:
        """Render one more call's worth into the buffer (a worker thread's unit of work)."""
        for value in self._pending:
            self.generator.control(value)
            self.control_log.append((self._rendered, value))
        self._pending.clear()
        t0 = time.perf_counter()
        out = self.generator.render(self.render_frames)
        self.stats.add(time.perf_counter() - t0)
        if out.shape != (self.channels, self.render_frames):
            raise RuntimeError(f"generator returned {out.shape}, expected {(self.channels, self.render_frames)}")
        self._buffer.write(np.ascontiguousarray(out.T, dtype=np.float32))
        self._rendered += self.render_frames

    def pull(self, n: int) -> np.ndarray:
        """The next ``n`` frames, ``(n, channels)`` float32."""
        pieces = []
        while n > 0:
            if not self._buffer.read_available:
                self.render_ahead()
            piece = self._buffer.read(min(n, self._buffer.read_available))
            pieces.append(piece)
            n -= len(piece)
        return np.concatenate(pieces) if pieces else np.zeros((0, self.channels), np.float32)

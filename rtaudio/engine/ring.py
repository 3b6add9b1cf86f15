"""Single-producer/single-consumer ring buffer for multi-channel audio.

The device callback of a live stream writes (or reads) one side while a worker thread
runs the engine on the other. Storage is preallocated; ``write`` and ``read_into`` copy
with numpy slicing and never allocate, so they are safe to call from an audio callback.
Each side owns one monotonically increasing counter, which is the only state the other
side reads: in CPython an int assignment is atomic, so no lock is needed.
"""

from __future__ import annotations

import numpy as np


class RingBuffer:
    """Fixed-capacity frame FIFO of shape ``(capacity, channels)``.

    Parameters
    ----------
    capacity
        Maximum number of frames held.
    channels
        Number of interleaved channels per frame.
    dtype
        Sample type, float32 by default.
    """

    def __init__(self, capacity: int, channels: int = 1, dtype: type = np.float32) -> None:
        if capacity <= 0 or channels <= 0:
            raise ValueError("capacity and channels must be positive")
        self.capacity = int(capacity)
        self.channels = int(channels)
        self._data = np.zeros((self.capacity, self.channels), dtype=dtype)
        self._written = 0  # only the producer assigns this
        self._read = 0  # only the consumer assigns this

    # -- both sides -------------------------------------------------------------
    @property
    def read_available(self) -> int:
        """Frames the consumer can read now."""
        return self._written - self._read

    @property
    def write_available(self) -> int:
        """Frames the producer can write now without overwriting unread data."""
        return self.capacity - (self._written - self._read)

    # -- producer ---------------------------------------------------------------
    def write(self, frames: np.ndarray) -> int:
        """Append up to ``len(frames)`` frames; returns how many fitted (the rest are dropped)."""
        n = min(len(frames), self.write_available)
        if n <= 0:
            return 0
        start = self._written % self.capacity
        first = min(n, self.capacity - start)
        self._data[start : start + first] = frames[:first]
        if n > first:
            self._data[: n - first] = frames[first:n]
        self._written += n
        return n

    def write_zeros(self, n: int) -> int:
        """Append up to ``n`` frames of silence; returns how many fitted."""
        n = min(n, self.write_available)
        if n <= 0:
            return 0
        start = self._written % self.capacity
        first = min(n, self.capacity - start)
        self._data[start : start + first] = 0
        if n > first:
            self._data[: n - first] = 0
        self._written += n
        return n

    # -- consumer ---------------------------------------------------------------
    def peek_into(self, out: np.ndarray, offset: int = 0) -> int:
        """Copy frames ``[offset, offset + len(out))`` of the unread data without consuming."""
        n = min(len(out), self.read_available - offset)
        if n <= 0:
            return 0
        start = (self._read + offset) % self.capacity
        first = min(n, self.capacity - start)
        out[:first] = self._data[start : start + first]
        if n > first:
            out[first:n] = self._data[: n - first]
        return n

    def read_into(self, out: np.ndarray) -> int:
        """Move up to ``len(out)`` frames into ``out``; returns how many were read."""
        n = self.peek_into(out)
        self._read += n
        return n

    def read(self, n: int) -> np.ndarray:
        """Consume up to ``n`` frames into a new array (allocates: not for callbacks)."""
        out = np.empty((min(n, self.read_available), self.channels), dtype=self._data.dtype)
        self.read_into(out)
        return out

    def skip(self, n: int) -> int:
        """Drop up to ``n`` unread frames; returns how many were dropped."""
        n = min(n, self.read_available)
        self._read += n
        return n

    def clear(self) -> None:
        """Drop everything (consumer side: the producer must be idle)."""
        self._read = self._written

"""What every scheduler shares: block-size-free input, constant-latency release, chunk stats.

A scheduler accepts blocks of any size at ``in_rate`` and releases output at a constant
delay of ``delay_in`` input samples: after ``T`` input samples exactly
``round_down((T - delay_in) * out_rate / in_rate)`` output samples have been returned, and
``flush()`` returns the rest so the total is ``round(n_in * out_rate / in_rate)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from rtaudio.engine.ring import RingBuffer

_STATS_WINDOW = 65536  # recent chunk timings kept for percentiles (bounded memory)


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


class BlockScheduler:
    """Base of the schedulers: block shaping, sanitising, release bookkeeping.

    Subclasses set ``in_rate``, ``out_rate``, ``channels``, ``out_channels``, ``hop``
    (input samples per chunk), ``crossfade``, ``delay_in`` and ``_out`` (the output staging
    ring), and implement ``_consume(frames)`` (take input, run every chunk that is ready)
    and ``_drain(total)`` (run what remains until ``total`` output samples exist).
    """

    in_rate: int
    out_rate: int
    channels: int
    out_channels: int
    hop: int
    crossfade: int = 0
    delay_in: int
    _out: RingBuffer

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
    def _reset_counters(self) -> None:
        self._out.clear()
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
            take = min(len(frames) - pos, self._input_room())
            piece = frames[pos : pos + take]
            bad = ~np.isfinite(piece)
            if bad.any():  # one NaN would poison every window that sees it
                self.stats.nonfinite_samples += int(bad.sum())
                piece = np.where(bad, np.float32(0.0), piece)
            self._consume(piece)
            self._received += take
            pos += take
            due = self._to_out_floor(self._received - self.delay_in) - self._released
            pieces.append(self._release(due))
        return self._shape(pieces, mono)

    def flush(self) -> np.ndarray:
        """End the stream: return the remaining output so the total length is exact."""
        from rtaudio.engine.contracts import out_length

        if self._finished:
            raise RuntimeError("stream was already flushed; call reset() to start a new one")
        total = out_length(self._received, self.in_rate, self.out_rate)
        pieces = self._drain(total)
        pieces.append(self._release(total - self._released))
        self._finished = True
        return self._shape(pieces, self._channels_mono)

    # -- helpers for subclasses --------------------------------------------------------
    def _input_room(self) -> int:
        raise NotImplementedError

    def _consume(self, frames: np.ndarray) -> None:
        raise NotImplementedError

    def _drain(self, total: int) -> list[np.ndarray]:
        raise NotImplementedError

    def _to_out(self, n_in: int) -> int:
        # exact for the multiples of the rate quantum that all spans are
        return n_in * self.out_rate // self.in_rate

    def _to_out_floor(self, n_in: int) -> int:
        return max(0, (n_in * self.out_rate) // self.in_rate)

    def _as_frames(self, block: np.ndarray) -> tuple[np.ndarray, bool]:
        block = np.asarray(block)
        if block.dtype.kind in "iu":  # unscaled integer PCM would be thousands of times too loud
            raise ValueError(f"blocks must be float audio in [-1, 1], got {block.dtype} (scale integer PCM first)")
        block = block.astype(np.float32, copy=False)
        mono = block.ndim == 1
        frames = block[:, None] if mono else block
        if frames.ndim != 2 or frames.shape[1] != self.channels:
            raise ValueError(f"expected blocks of {self.channels} channel(s), got shape {block.shape}")
        self._channels_mono = mono
        return frames, mono

    def _release(self, n: int) -> np.ndarray:
        n = max(0, min(n, self._out.read_available))
        data = self._out.read(n)
        self._released += n
        return data

    def _shape(self, pieces: list[np.ndarray], mono: bool) -> np.ndarray:
        pieces = [p for p in pieces if len(p)]
        out = np.concatenate(pieces) if pieces else np.zeros((0, self.out_channels), np.float32)
        return out[:, 0] if mono else out

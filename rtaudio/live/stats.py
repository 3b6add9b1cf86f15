"""Live statistics: one JSON-able snapshot type shared by the panel, the summary and ``--json-log``."""

from __future__ import annotations

import json
import math
import time
from collections import deque
from dataclasses import asdict, dataclass
from typing import IO

from rtaudio.live.pump import EnginePump

#: rolling RTF window
RTF_WINDOW_SECONDS = 2.0


@dataclass
class LiveStats:
    """What a live stream or bridge measured so far.

    Latencies are in milliseconds; ``latency_ms`` is end to end (input jack to output
    jack): ``engine_latency_ms`` (chunk + crossfade + lookahead) plus
    ``buffer_latency_ms`` (compute headroom, one device block, adaptive growth) plus
    ``device_latency_ms`` (what the audio API reports for its own buffers). ``start_load`` is
    the engine's compute load measured at start-up, which sized the headroom (``None``: not
    measured). Levels are peak dBFS since the previous snapshot; ``frames_in`` counts the frames the
    engine consumed (device-rate input).
    """

    mode: str
    model: str
    backend: str
    steps: int | None
    device: str
    rate: int
    in_rate: int
    channels: int
    block: int
    hint: str | None = None  # the task's word on the settings (e.g. nothing to upsample)
    elapsed_s: float = 0.0
    audio_s: float = 0.0
    frames_in: int = 0
    rtf: float = 0.0
    rtf_mean: float = 0.0
    chunks: int = 0
    chunk_ms: float = 0.0
    chunk_p50_ms: float = 0.0
    chunk_p99_ms: float = 0.0
    engine_latency_ms: float = 0.0
    buffer_latency_ms: float = 0.0
    device_latency_ms: float = 0.0
    latency_ms: float = 0.0
    start_load: float | None = None
    adaptive: bool = False
    latency_growths: int = 0
    input_overflows: int = 0
    output_underflows: int = 0
    ring_overflows: int = 0
    ring_underflows: int = 0
    input_db: float = -math.inf
    output_db: float = -math.inf
    nonfinite_samples: int = 0

    @property
    def xruns(self) -> int:
        """All xrun events: device status flags and ring under/overflows."""
        return self.input_overflows + self.output_underflows + self.ring_overflows + self.ring_underflows

    def to_json(self) -> str:
        """One JSON object; levels of silence are written as ``null``."""
        data = asdict(self)
        data["xruns"] = self.xruns
        for key in ("input_db", "output_db"):
            data[key] = None if not math.isfinite(data[key]) else round(data[key], 2)
        return json.dumps(data)


class StatsTracker:
    """Turns an :class:`EnginePump`'s counters into :class:`LiveStats` snapshots.

    Call :meth:`snapshot` from one (non-real-time) thread, a few times a second.

    Parameters
    ----------
    pump
        The running pump.
    device_latency
        Input plus output latency the audio API reports, in seconds.
    **info
        The static :class:`LiveStats` fields: mode, model, backend, steps, device,
        in_rate.
    """

    def __init__(self, pump: EnginePump, device_latency: float, **info: object) -> None:
        self.pump = pump
        self.device_latency = float(device_latency)
        self.info = info
        self._t0 = time.monotonic()
        self._history: deque[tuple[float, float, int]] = deque()

    def snapshot(self) -> LiveStats:
        """Current figures; resets the level meters' peak hold."""
        pump, proc = self.pump, self.pump.proc
        now = time.monotonic()
        compute, frames = proc.stats.compute_seconds, pump.frames_processed
        self._history.append((now, compute, frames))
        while len(self._history) > 2 and now - self._history[1][0] >= RTF_WINDOW_SECONDS:
            self._history.popleft()
        _, compute0, frames0 = self._history[0]
        rate = pump.rate
        in_peak, out_peak = pump.in_peak, pump.out_peak
        pump.in_peak = pump.out_peak = 0.0  # benign race: a peak may be missed by one refresh
        engine_ms = proc.latency_samples / rate * 1e3
        buffer_ms = pump.buffer_frames / rate * 1e3
        device_ms = self.device_latency * 1e3
        return LiveStats(
            **self.info,  # type: ignore[arg-type]
            rate=rate,
            channels=pump.channels,
            block=pump.block,
            elapsed_s=round(now - self._t0, 3),
            audio_s=round(frames / rate, 3),
            frames_in=frames,
            rtf=round((compute - compute0) / ((frames - frames0) / rate), 5) if frames > frames0 else 0.0,
            rtf_mean=round(compute / (frames / rate), 5) if frames else 0.0,
            chunks=proc.stats.chunks,
            chunk_ms=round(proc.chunk_seconds * 1e3, 3),
            chunk_p50_ms=round(proc.stats.percentile_ms(50), 3),
            chunk_p99_ms=round(proc.stats.percentile_ms(99), 3),
            engine_latency_ms=round(engine_ms, 3),
            buffer_latency_ms=round(buffer_ms, 3),
            start_load=None if pump.load is None else round(pump.load, 3),
            device_latency_ms=round(device_ms, 3),
            latency_ms=round(engine_ms + buffer_ms + device_ms, 3),
            adaptive=pump.adaptive,
            latency_growths=pump.growths,
            input_overflows=pump.input_overflows,
            output_underflows=pump.output_underflows,
            ring_overflows=pump.ring_overflows + pump.output_ring_overflows,
            ring_underflows=pump.ring_underflows,
            input_db=_db(in_peak),
            output_db=_db(out_peak),
            nonfinite_samples=proc.stats.nonfinite_samples,
        )


def _db(peak: float) -> float:
    return 20.0 * math.log10(peak) if peak > 0 else -math.inf


class JsonLog:
    """``--json-log FILE``: one :class:`LiveStats` JSON object per line, flushed each write."""

    def __init__(self, path: str) -> None:
        try:
            self._file: IO[str] = open(path, "w", encoding="utf-8")  # noqa: SIM115 - closed by close()
        except OSError as exc:
            raise ValueError(f"{path}: cannot write the JSON log ({exc.strerror})") from None

    def write(self, stats: LiveStats, final: bool = False, **extra: object) -> None:
        """One line; the last one of a session has ``"final": true`` (and ``extra``, e.g. ``error``)."""
        data = json.loads(stats.to_json())
        if final:
            data.update(final=True, **extra)
        self._file.write(json.dumps(data) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()

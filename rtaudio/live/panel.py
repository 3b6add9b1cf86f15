"""The live panel (rich), the exit summary, and the loop that drives both."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from contextlib import nullcontext

from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from rtaudio.display import key_value_table
from rtaudio.live.stats import RTF_WINDOW_SECONDS, JsonLog, LiveStats, StatsTracker

REFRESH_SECONDS = 0.25
JSON_LOG_SECONDS = 1.0
METER_WIDTH = 24
METER_FLOOR_DB = -60.0


def meter(db: float, width: int = METER_WIDTH) -> Text:
    """A peak meter from -60 dBFS to 0 dBFS, with its reading."""
    fill = 0 if not math.isfinite(db) else round(width * min(1.0, max(0.0, 1.0 - db / METER_FLOOR_DB)))
    style = "red" if db > -1.0 else ("yellow" if db > -12.0 else "green")
    reading = " -inf" if not math.isfinite(db) else f"{db:5.1f}"
    return Text.assemble(("█" * fill, style), ("░" * (width - fill), "dim"), f" {reading} dBFS")


def _rtf_style(rtf: float) -> str:
    return "red" if rtf >= 1.0 else ("yellow" if rtf >= 0.5 else "green")


def stats_rows(s: LiveStats) -> list[tuple[str, str | Text]]:
    """The panel's and the summary's rows, label first."""
    steps = "-" if s.steps is None else str(s.steps)
    latency = (
        f"{s.latency_ms:.1f} ms end to end = engine {s.engine_latency_ms:.1f} + buffer "
        f"{s.buffer_latency_ms:.1f} + device {s.device_latency_ms:.1f}"
    )
    if s.start_load is not None:  # why the buffer is what it is: the headroom follows the load
        latency += f"  (buffer sized for load {s.start_load:.2f})"
    if s.adaptive:
        latency += f"  (adaptive: +{s.latency_growths} chunk{'s' if s.latency_growths != 1 else ''})"
    xruns = (
        f"input overflow {s.input_overflows} · output underflow {s.output_underflows} · "
        f"ring overflow {s.ring_overflows} · ring underflow {s.ring_underflows}"
    )
    band = f"source band {s.in_rate} Hz"
    if s.hint:
        band += f" ({s.hint})"
    return [
        ("model", f"{s.model} · backend {s.backend} · steps {steps}"),
        ("stream", f"{s.device} · {s.rate} Hz · {band} · {s.channels} ch · block {s.block}"),
        (
            "RTF",
            Text.assemble(
                (f"{s.rtf:.3f}", _rtf_style(s.rtf)), f" rolling {RTF_WINDOW_SECONDS:g} s · mean {s.rtf_mean:.3f}"
            ),
        ),
        ("chunk compute", f"p50 {s.chunk_p50_ms:.2f} ms · p99 {s.chunk_p99_ms:.2f} ms (chunk {s.chunk_ms:.1f} ms)"),
        ("latency", latency),
        ("xruns", Text(xruns, style="bold red" if s.xruns else "")),
        ("input", meter(s.input_db)),
        ("output", meter(s.output_db)),
        ("time", f"{s.elapsed_s:.1f} s wall · {s.audio_s:.1f} s audio · {s.chunks} chunks"),
    ]


def render_panel(stats: LiveStats) -> Table:
    """The live panel for one snapshot."""
    return key_value_table(f"rtaudio {stats.mode}", stats_rows(stats))  # type: ignore[arg-type]


def render_summary(stats: LiveStats) -> Table:
    """The table printed when the stream stops (levels dropped: they are momentary)."""
    rows = [(k, v) for k, v in stats_rows(stats) if k not in ("input", "output")]
    if stats.nonfinite_samples:
        rows.append(("sanitized", f"{stats.nonfinite_samples} NaN/Inf input samples replaced by 0"))
    return key_value_table(f"rtaudio {stats.mode}: summary", rows)  # type: ignore[arg-type]


def monitor(
    tracker: StatsTracker,
    console: Console,
    *,
    duration: float | None = None,
    json_log: JsonLog | None = None,
    show_panel: bool = True,
    check: Callable[[], None] | None = None,
) -> LiveStats:
    """Refresh the panel and the JSON log until ``duration`` passes or Ctrl-C.

    ``check`` runs every refresh on this thread (adapters use it to react to events and
    to raise on failures). Ctrl-C ends monitoring normally. Returns the last snapshot.
    """
    deadline = None if duration is None else time.monotonic() + duration
    next_log = time.monotonic() + JSON_LOG_SECONDS
    stats = tracker.snapshot()
    live = Live(render_panel(stats), console=console, refresh_per_second=1 / REFRESH_SECONDS, transient=True)
    try:
        with live if show_panel else nullcontext():
            while deadline is None or time.monotonic() < deadline:
                remaining = REFRESH_SECONDS if deadline is None else deadline - time.monotonic()
                time.sleep(max(0.0, min(REFRESH_SECONDS, remaining)))
                tracker.pump.raise_if_failed()
                if check is not None:
                    check()
                stats = tracker.snapshot()
                if show_panel:
                    live.update(render_panel(stats))
                if json_log is not None and time.monotonic() >= next_log:
                    json_log.write(stats)
                    next_log += JSON_LOG_SECONDS
    except KeyboardInterrupt:
        pass  # Ctrl-C is how a live session ends
    return tracker.snapshot()

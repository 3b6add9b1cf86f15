"""The live panel and exit summary render the figures they are given."""

from __future__ import annotations

import io
import json
import math

from rich.console import Console

from rtaudio.live.panel import meter, render_panel, render_summary
from rtaudio.live.stats import JsonLog, LiveStats


def known_stats(**changes) -> LiveStats:
    values = dict(
        mode="live",
        model="sinc",
        backend="soxr",
        steps=None,
        device="system -> system",
        rate=48000,
        in_rate=16000,
        channels=1,
        block=256,
        elapsed_s=12.5,
        audio_s=12.25,
        rtf=0.0153,
        rtf_mean=0.0161,
        chunks=612,
        chunk_ms=20.0,
        chunk_p50_ms=0.31,
        chunk_p99_ms=0.47,
        engine_latency_ms=41.0,
        buffer_latency_ms=25.333,
        device_latency_ms=5.333,
        latency_ms=71.667,
        input_overflows=1,
        output_underflows=2,
        ring_overflows=3,
        ring_underflows=4,
        input_db=-6.0,
        output_db=-math.inf,
    )
    values.update(changes)
    return LiveStats(**values)


def rendered(renderable) -> str:
    con = Console(file=io.StringIO(), width=160, force_terminal=False, color_system=None)
    con.print(renderable)
    return con.file.getvalue()


def test_panel_shows_the_figures():
    text = rendered(render_panel(known_stats()))
    assert "sinc · backend soxr · steps -" in text
    assert "48000 Hz · source band 16000 Hz · 1 ch · block 256" in text
    assert "0.015 rolling 2 s · mean 0.016" in text
    assert "p50 0.31 ms · p99 0.47 ms (chunk 20.0 ms)" in text
    assert "71.7 ms end to end = engine 41.0 + buffer 25.3 + device 5.3" in text
    assert "input overflow 1 · output underflow 2 · ring overflow 3 · ring underflow 4" in text
    assert "-6.0 dBFS" in text and "-inf dBFS" in text
    assert "12.5 s wall · 12.2 s audio · 612 chunks" in text
    assert "adaptive" not in text and "full band" not in text
    assert "buffer sized for load" not in text  # not measured: nothing claimed


def test_panel_says_what_load_sized_the_buffer():
    text = rendered(render_panel(known_stats(start_load=0.641)))
    assert "buffer 25.3 + device 5.3  (buffer sized for load 0.64)" in text


def test_panel_says_when_adaptive_grew_latency():
    text = rendered(render_panel(known_stats(adaptive=True, latency_growths=2, steps=4, model="nuwave")))
    assert "(adaptive: +2 chunks)" in text
    assert "nuwave · backend soxr · steps 4" in text


def test_panel_shows_the_tasks_hint():
    from rtaudio.registry import build_plan

    full_band = build_plan("upsample", "sinc", 48000)
    hint = full_band.task.live_hint(full_band, 48000)
    assert "full band: nothing to upsample" in rendered(render_panel(known_stats(in_rate=48000, hint=hint)))
    narrow = build_plan("upsample", "sinc", 48000, in_rate=16000)
    assert narrow.task.live_hint(narrow, 48000) is None
    vocoder = build_plan("vocode", source_rate=48000, threads=1)  # a vocoder at the device rate is not "full band"
    assert vocoder.task.live_hint(vocoder, 48000) is None


def test_summary_has_no_momentary_levels():
    text = rendered(render_summary(known_stats(nonfinite_samples=5)))
    assert "summary" in text and "dBFS" not in text
    assert "5 NaN/Inf input samples replaced by 0" in text


def test_meter_scale():
    assert meter(0.0).plain.startswith("█" * 24)
    assert meter(-30.0).plain.startswith("█" * 12 + "░" * 12)
    assert meter(-90.0).plain.startswith("░" * 24)


def test_json_log_lines(tmp_path):
    path = tmp_path / "log.jsonl"
    log = JsonLog(str(path))
    log.write(known_stats())
    log.write(known_stats(elapsed_s=13.0), final=True)
    log.close()
    first, last = (json.loads(line) for line in path.read_text().splitlines())
    assert first["xruns"] == 10 and first["output_db"] is None and first["input_db"] == -6.0
    assert last["final"] is True and "final" not in first

"""EnginePump without a device: the callback side driven by the test, the worker run in step.

``_drain()`` is what the worker thread does when woken; calling it between callbacks models
a worker that keeps up, and skipping it models one that falls behind.
"""

from __future__ import annotations

import time
import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rtaudio
from rtaudio.live.pump import JITTER_SECONDS, LIVE_LOAD_FACTOR, MAX_GROWTH_CHUNKS, MAX_LOAD, EnginePump

RATE = 48000
BLOCK = 100  # deliberately not a divisor of the chunk


def make_pump(adaptive: bool = False, sink=None) -> EnginePump:
    proc = rtaudio.open("upsample", "sinc", rate=RATE, in_rate=16000, out_rate=RATE)
    return EnginePump(proc, BLOCK, adaptive=adaptive, sink=sink)


def reference(x: np.ndarray) -> np.ndarray:
    p = rtaudio.open("upsample", "sinc", rate=RATE, in_rate=16000, out_rate=RATE)
    return np.concatenate([p.process(x), p.flush()])


def signal(n: int) -> np.ndarray:
    return np.random.default_rng(3).standard_normal(n).astype(np.float32) * 0.3


def play(pump: EnginePump, x: np.ndarray, stalls: set[int] = frozenset()) -> np.ndarray:
    """Run callbacks over ``x``; the worker skips its turn after the callbacks in ``stalls``."""
    out = np.zeros((len(x), 1), np.float32)
    for k, pos in enumerate(range(0, len(x), BLOCK)):
        pump.transfer(x[pos : pos + BLOCK, None], out[pos : pos + BLOCK])
        if k not in stalls:
            pump._drain()
    return out[:, 0]


def test_output_is_file_mode_delayed_by_reported_latency():
    pump = make_pump()
    x = signal(48000)
    y = play(pump, x)
    lat = pump.latency_frames
    assert lat == pump.proc.latency_samples + pump.headroom + BLOCK
    assert pump.headroom == max(pump.proc.hop, round(JITTER_SECONDS * pump.rate))  # not warmed up: idle load
    assert np.all(y[:lat] == 0)
    np.testing.assert_allclose(y[lat:], reference(x)[: len(x) - lat], atol=1e-6)
    assert pump.ring_underflows == pump.ring_overflows == 0


def slow_down(pump: EnginePump, load: float) -> None:
    """Make the pump's engine take ``load`` seconds of wall time per second of audio
    (an instance attribute over the method: ``del pump.proc.process`` undoes it)."""
    fast = pump.proc.process

    def process(block):
        time.sleep(load * len(block) / pump.rate)
        return fast(block)

    pump.proc.process = process


@pytest.mark.parametrize("load", [0.3, 0.5])
def test_warm_up_sizes_the_headroom_to_the_measured_load(load):
    """A slow model gets headroom that rides out the same stall (1 / (1 - live load) of the idle
    headroom, the live load a margin over the warm-up's), primed as silence: output is still
    file mode at the (larger) reported latency."""
    pump = make_pump()
    idle = pump.latency_frames
    slow_down(pump, load)
    pump.warm_up()
    assert load <= pump.load < load + 0.1, pump.load  # sleep plus the sinc's own (small) cost
    assert (
        pump.headroom
        == round(JITTER_SECONDS * RATE / (1 - LIVE_LOAD_FACTOR * pump.load))
        > 1 / (1 - LIVE_LOAD_FACTOR * load) * (idle - pump.proc.latency_samples - BLOCK)
    )
    lat = pump.latency_frames
    assert lat == pump.proc.latency_samples + pump.headroom + BLOCK
    del pump.proc.process  # the fast engine again, for the stream itself
    x = signal(48000)
    y = play(pump, x)
    assert np.all(y[:lat] == 0)
    np.testing.assert_allclose(y[lat:], reference(x)[: len(x) - lat], atol=1e-6)
    assert pump.ring_underflows == pump.ring_overflows == 0


def test_headroom_stops_growing_at_max_load():
    pump = make_pump()
    assert (
        pump._headroom(5.0)
        == pump._headroom(MAX_LOAD / LIVE_LOAD_FACTOR)
        == round(JITTER_SECONDS * RATE / (1 - MAX_LOAD))
    )


def test_record_sink_gets_exact_file_mode_output_after_stop():
    got = []
    pump = make_pump(sink=got.append)
    x = signal(30011)
    play(pump, x)
    pump.stop()
    rec = np.concatenate(got)[:, 0]
    assert len(rec) == len(x)
    np.testing.assert_allclose(rec, reference(x), atol=1e-6)


def stall_index(pump: EnginePump) -> set[int]:
    """Enough consecutive missed worker turns to drain the primed headroom."""
    first = 200
    return set(range(first, first + (pump.headroom + BLOCK) // BLOCK + 3))


def test_underrun_plays_silence_and_holds_latency():
    pump = make_pump()
    x = signal(96000)
    stalls = stall_index(pump)
    y = play(pump, x, stalls)
    assert pump.ring_underflows > 0
    lat = pump.latency_frames
    ref = reference(x)
    tail = slice(len(x) - 20000, len(x))  # well after the stall: aligned as before it
    np.testing.assert_allclose(y[tail], ref[tail.start - lat : tail.stop - lat], atol=1e-6)
    assert pump.growths == 0


def test_adaptive_grows_latency_by_one_chunk():
    pump = make_pump(adaptive=True)
    base = pump.latency_frames
    x = signal(96000)
    y = play(pump, x, stall_index(pump))
    assert pump.growths == 1 and pump.latency_frames == base + pump.proc.hop
    lat = pump.latency_frames
    ref = reference(x)
    tail = slice(len(x) - 20000, len(x))
    np.testing.assert_allclose(y[tail], ref[tail.start - lat : tail.stop - lat], atol=1e-6)
    assert pump.ring_underflows > 0


def test_adaptive_growth_is_bounded():
    pump = make_pump(adaptive=True)
    for _ in range(MAX_GROWTH_CHUNKS + 5):
        pump._silenced_out += 1  # what the callback records on an underrun
        pump._deliver(np.zeros((0, 1), np.float32))
    assert pump.growths == MAX_GROWTH_CHUNKS


def test_input_overflow_keeps_the_timeline():
    pump = make_pump()
    x = signal(2 * pump._in.capacity)
    out = np.zeros((BLOCK, 1), np.float32)
    for pos in range(0, len(x), BLOCK):  # the worker never runs
        pump.transfer(x[pos : pos + BLOCK, None], out)
    assert pump.ring_overflows > 0
    pump._drain()
    assert pump.frames_processed == pump.frames_in == len(x)


def test_block_size_change_reprimes():
    pump = make_pump()
    base = pump.latency_frames
    pump.set_block(4 * BLOCK)
    assert pump.latency_frames == base + 3 * BLOCK
    with pytest.raises(ValueError, match="exceeds"):
        pump.set_block(pump.max_block + 1)


def test_rejects_engine_not_at_device_rate():
    proc = rtaudio.open("upsample", "sinc", rate=16000, out_rate=48000)
    with pytest.raises(ValueError, match="device rate"):
        EnginePump(proc, 256)


def test_worker_thread_runs_and_stops():
    pump = make_pump()
    pump.start()
    x = signal(4800)
    out = np.zeros((BLOCK, 1), np.float32)
    for pos in range(0, len(x), BLOCK):
        pump.transfer(x[pos : pos + BLOCK, None], out)
    tail = pump.stop()
    assert pump.frames_processed == len(x)
    assert pump.error is None and tail.shape[1] == 1


@settings(max_examples=15, deadline=None)
@given(st.lists(st.integers(1, BLOCK), min_size=1, max_size=40), st.integers(0, 2**16))
def test_any_callback_sizes_give_exact_delayed_output(sizes, seed):
    """Hosts may call with any block size up to the period (PortAudio with blocksize 0 does)."""
    pump = make_pump()
    x = np.random.default_rng(seed).standard_normal(12000).astype(np.float32) * 0.3
    y = np.zeros((len(x), 1), np.float32)
    pos = k = 0
    while pos < len(x):
        n = min(sizes[k % len(sizes)], len(x) - pos)
        pump.transfer(x[pos : pos + n, None], y[pos : pos + n])
        pump._drain()
        pos, k = pos + n, k + 1
    lat = pump.latency_frames
    assert pump.ring_underflows == 0
    np.testing.assert_allclose(y[lat:, 0], reference(x)[: len(x) - lat], atol=1e-6)


def test_transfer_allocates_no_audio_buffers():
    """The callback side copies into preallocated rings: peak traced memory stays far below one block."""
    big = 8192
    proc = rtaudio.open("upsample", "sinc", rate=RATE, in_rate=16000, out_rate=RATE)
    pump = EnginePump(proc, big)
    indata = np.ones((big, 1), np.float32)
    outdata = np.zeros((big, 1), np.float32)
    pump.transfer(indata, outdata)  # warm up lazily created objects
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        for _ in range(20):
            pump.transfer(indata, outdata)
            pump._in.skip(big)  # make room without running the worker
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak - base < indata.nbytes // 4, peak - base  # one block copy would be 32 KiB

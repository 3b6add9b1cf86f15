"""The output-only source pump: device-clock pulls, underrun counting, live control at the boundary."""

from __future__ import annotations

import time

import numpy as np
import pytest

from kernels.wavenet.reference import random_weights
from rtaudio.engine.generator import GeneratorSource
from rtaudio.live.pump import headroom_frames
from rtaudio.live.source_pump import SourcePump
from rtaudio.tasks.generate import WaveNetGenerator


@pytest.fixture(scope="module")
def weights():
    return random_weights([1, 2, 4, 8, 16, 32, 1, 2, 4, 8], residual=8, skip=12, head=16, seed=5)


def play(pump: SourcePump, blocks: int, block: int, control_at: int | None = None, value=None) -> np.ndarray:
    """Call the pump like a device clock: one block per period, in real time."""
    out = np.zeros((blocks * block, pump.channels), np.float32)
    pump.start()
    t0 = time.perf_counter()
    for i in range(blocks):
        if i == control_at:
            pump.control(value)
        wait = t0 + i * block / pump.rate - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        pump.transfer(None, out[i * block : (i + 1) * block])
    pump.stop()
    pump.raise_if_failed()
    return out


def test_device_pulls_give_the_take_without_underruns(weights):
    src = GeneratorSource(WaveNetGenerator(weights, "C:maj", seed=3), blocks_per_render=2)
    pump = SourcePump(src, 16000, 256, channels=2)
    heard = play(pump, 60, 256)
    direct = GeneratorSource(WaveNetGenerator(weights, "C:maj", seed=3)).pull(60 * 256)[:, 0]
    assert pump.ring_underflows == 0 and pump.callbacks == 60
    np.testing.assert_array_equal(heard[:, 0], direct)
    np.testing.assert_array_equal(heard[:, 1], direct)


def test_live_control_lands_on_a_logged_block_boundary(weights):
    src = GeneratorSource(WaveNetGenerator(weights, "C:maj", seed=8), blocks_per_render=2)
    pump = SourcePump(src, 16000, 128)
    heard = play(pump, 120, 128, control_at=40, value="G:min")[:, 0]
    ((pos, value),) = src.control_log
    assert value == "G:min" and pos % 160 == 0
    assert 40 * 128 <= pos <= 40 * 128 + pump.control_latency_frames  # heard no later than the promise
    manual = WaveNetGenerator(weights, "C:maj", seed=8)
    ref = [manual.render(pos)[0]]
    manual.control("G:min")
    ref.append(manual.render(-(-(len(heard) - pos) // 160) * 160)[0])
    np.testing.assert_array_equal(heard, np.concatenate(ref)[: len(heard)])


def test_resampled_to_the_device_rate_and_underruns_counted(weights):
    src = GeneratorSource(WaveNetGenerator(weights, seed=1), blocks_per_render=2)
    pump = SourcePump(src, 48000, 256)
    heard = play(pump, 100, 256)[:, 0]
    assert pump.ring_underflows == 0
    assert pump.frames_processed >= 100 * 256 and np.abs(heard).max() > 0.01
    # a callback far larger than the ring holds runs it dry: counted, silence, no wait
    big = np.ones((pump._ring.capacity + 512, 1), np.float32)
    pump.transfer(None, big)
    assert pump.ring_underflows == 1 and not big[-512:].any()


def test_a_slow_generator_keeps_more_audio_ahead(weights):
    """A generator at 0.6 of real time (measured while priming) keeps enough ahead to ride out the
    same stall as a fast one (see ``headroom_frames``), more than the three renders it keeps by
    default; the take is unchanged."""
    src = GeneratorSource(WaveNetGenerator(weights, "C:maj", seed=3), blocks_per_render=2)
    pump = SourcePump(src, 16000, 256)
    default = pump.target
    pull = src.pull

    def slow_pull(frames: int) -> np.ndarray:
        time.sleep(0.6 * frames / src.out_rate)
        return pull(frames)

    src.pull = slow_pull
    heard = play(pump, 30, 256)
    assert 0.6 <= pump.load < 0.9, pump.load  # the sleep plus the small generator's own cost
    assert pump.target == 256 + headroom_frames(pump.load, 16000) > default
    direct = GeneratorSource(WaveNetGenerator(weights, "C:maj", seed=3)).pull(30 * 256)[:, 0]
    np.testing.assert_array_equal(heard[:, 0], direct)

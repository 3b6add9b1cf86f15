"""Engine invariants: blocking independence, exact length, latency, reconstruction."""

from __future__ import annotations

import math

import numpy as np
import pytest
import soxr
from hypothesis import given, settings
from hypothesis import strategies as st

from rtaudio.engine.contracts import out_length
from rtaudio.engine.noise import position_noise
from rtaudio.engine.processor import Processor, process_offline
from rtaudio.engine.ring import RingBuffer
from rtaudio.tasks.resample import LinearKernel, RateAdapter, SincKernel


class IdentityKernel:
    """Returns its window: the chunking + overlap-add must rebuild the input exactly."""

    quantum_in = 1

    def __init__(self, rate: int = 48000, context: int = 0) -> None:
        self.in_rate = self.out_rate = rate
        self.context_in = context

    def run(self, window: np.ndarray, start: int) -> np.ndarray:
        return window.copy()


class NoisyKernel(SincKernel):
    """Sinc plus position-keyed noise that depends on the window start: chunks see
    different noise for the same sample only if the engine's positions are wrong."""

    def run(self, window: np.ndarray, start: int) -> np.ndarray:
        y = super().run(window, start)
        out_start = start * self.out_rate // self.in_rate
        for ch in range(y.shape[0]):
            y[ch] += 0.01 * position_noise(7, ch, out_start, y.shape[1])
        return y


def stream(proc: Processor, x: np.ndarray, cuts: list[int]) -> np.ndarray:
    pieces, pos = [], 0
    for n in cuts:
        pieces.append(proc.process(x[pos : pos + n]))
        pos += n
    pieces.append(proc.process(x[pos:]))
    pieces.append(proc.flush())
    return np.concatenate(pieces)


RATE_PAIRS = [(16000, 48000), (24000, 48000), (8000, 16000), (44100, 48000), (48000, 44100), (22050, 16000)]


@settings(max_examples=25, deadline=None)
@given(
    pair=st.sampled_from(RATE_PAIRS),
    chunk=st.sampled_from([64, 500, 2048]),
    crossfade=st.sampled_from([0, 32, 300]),
    kernel_kind=st.sampled_from(["sinc", "linear", "noisy"]),
    cuts=st.lists(st.integers(min_value=1, max_value=3000), max_size=12),
    channels=st.sampled_from([1, 2]),
)
def test_random_partitions_match_one_shot(pair, chunk, crossfade, kernel_kind, cuts, channels):
    in_rate, out_rate = pair
    kernel = {"sinc": SincKernel, "linear": LinearKernel, "noisy": NoisyKernel}[kernel_kind](in_rate, out_rate)
    rng = np.random.default_rng(0)
    shape = (9000,) if channels == 1 else (9000, channels)
    x = rng.standard_normal(shape).astype(np.float32)
    whole = stream(Processor(kernel, channels, chunk, crossfade), x, [])
    parted = stream(Processor(kernel, channels, chunk, crossfade), x, cuts)
    assert whole.shape == parted.shape
    np.testing.assert_array_equal(whole, parted)


@pytest.mark.parametrize("chunk,crossfade,context", [(1, 0, 0), (256, 64, 0), (1000, 1000, 128), (4096, 512, 700)])
def test_identity_kernel_reconstructs_input(chunk, crossfade, context):
    x = np.random.default_rng(1).standard_normal((20000, 2)).astype(np.float32)
    proc = Processor(IdentityKernel(context=context), channels=2, chunk=chunk, crossfade=crossfade)
    y = stream(proc, x, [1, 7, 4096, 333])
    assert y.shape == x.shape
    assert np.abs(y - x).max() <= 1e-6


@pytest.mark.parametrize("pair", RATE_PAIRS + [(48000, 16000), (16000, 8000), (11025, 48000)])
@pytest.mark.parametrize("n_in", [1, 2, 146, 147, 9999, 44101])
def test_output_length_is_exact(pair, n_in):
    in_rate, out_rate = pair
    proc = Processor(SincKernel(in_rate, out_rate), chunk=1000, crossfade=100)
    y = stream(proc, np.zeros(n_in, np.float32), [n_in // 3])
    assert len(y) == round(n_in * out_rate / in_rate) == out_length(n_in, in_rate, out_rate)


def test_empty_stream_gives_empty_output():
    proc = Processor(SincKernel(16000, 48000))
    assert len(proc.flush()) == 0


@pytest.mark.parametrize("pair", [(48000, 48000), (16000, 48000), (44100, 48000)])
@pytest.mark.parametrize("position", [0, 1, 777, 5000])
def test_reported_latency_equals_impulse_delay(pair, position):
    """Feed one sample at a time; the impulse must come back exactly latency later.

    With a fractional rate ratio the impulse's output peak sits between input samples,
    so the delay is measured in time: output sample k is due once input time reaches
    (k + 1) / out_rate + latency, rounded up to the next input sample.
    """
    in_rate, out_rate = pair
    kernel = IdentityKernel(in_rate) if in_rate == out_rate else SincKernel(in_rate, out_rate)
    proc = Processor(kernel, chunk=480, crossfade=96)
    x = np.zeros(position + proc.delay_in + 2000, np.float32)
    x[position] = 1.0
    peak_out = round(position * out_rate / in_rate)
    emitted = 0
    for t in range(len(x)):
        out = proc.process(x[t : t + 1])
        if emitted <= peak_out < emitted + len(out):
            delay_in = t - position
            break
        emitted += len(out)
    else:
        pytest.fail("impulse never came out")
    expected_t = proc.delay_in + math.ceil((peak_out + 1) * in_rate / out_rate) - 1
    assert t == expected_t
    if (out_rate % in_rate) == 0:
        assert delay_in == proc.delay_in  # integer ratios: exactly the reported samples
    assert proc.latency_samples == round(proc.delay_in * out_rate / in_rate)


@pytest.mark.parametrize("pair", [(16000, 48000), (24000, 48000), (8000, 16000), (44100, 48000), (48000, 44100)])
def test_streaming_sinc_matches_offline_soxr(pair, speech_48k):
    in_rate, out_rate = pair
    x = soxr.resample(speech_48k, 48000, in_rate, quality="VHQ").astype(np.float32)
    proc = Processor(SincKernel(in_rate, out_rate), chunk=in_rate // 50, crossfade=in_rate // 200)
    y = stream(proc, x, [100, 4000, 1])
    ref = soxr.resample(x, in_rate, out_rate, quality="VHQ")
    assert len(y) == len(ref)
    snr = 20 * np.log10(np.linalg.norm(ref) / np.linalg.norm(ref - y))
    assert snr >= 60.0


def test_offline_equals_stream_for_deterministic_kernel(speech_48k):
    kernel = RateAdapter(SincKernel(16000, 48000), 48000, 48000)
    proc = Processor(kernel, chunk=960, crossfade=240)
    y = stream(proc, speech_48k, [5000])
    off = process_offline(kernel, speech_48k)
    assert y.shape == off.shape == speech_48k.shape
    assert np.abs(y - off).max() < 1e-5


def test_nonfinite_samples_are_zeroed_and_counted():
    x = np.ones(5000, np.float32)
    x[[10, 20, 30]] = [np.nan, np.inf, -np.inf]
    proc = Processor(IdentityKernel(), chunk=256, crossfade=0)
    y = stream(proc, x, [])
    assert np.isfinite(y).all()
    assert proc.stats.nonfinite_samples == 3
    assert y[10] == 0 and y[11] == 1


def test_reset_starts_a_new_identical_stream():
    kernel = NoisyKernel(16000, 48000)
    proc = Processor(kernel, chunk=300, crossfade=30)
    x = np.random.default_rng(3).standard_normal(5000).astype(np.float32)
    first = stream(proc, x, [1234])
    proc.reset()
    second = stream(proc, x, [99, 99])
    np.testing.assert_array_equal(first, second)
    with pytest.raises(RuntimeError):
        proc.process(x[:10])


def test_wrong_channel_count_is_rejected():
    proc = Processor(IdentityKernel(), channels=2)
    with pytest.raises(ValueError, match="2 channel"):
        proc.process(np.zeros((10, 3), np.float32))


@given(start=st.integers(-(10**6), 10**6), length=st.integers(1, 9000), offset=st.integers(0, 8999))
@settings(max_examples=50, deadline=None)
def test_position_noise_is_keyed_to_absolute_position(start, length, offset):
    offset = min(offset, length - 1)
    whole = position_noise(5, 3, start, length)
    part = position_noise(5, 3, start + offset, length - offset)
    np.testing.assert_array_equal(whole[offset:], part)


def test_position_noise_streams_and_seeds_differ():
    a = position_noise(1, 0, 0, 1000)
    assert not np.allclose(a, position_noise(1, 1, 0, 1000))
    assert not np.allclose(a, position_noise(2, 0, 0, 1000))
    assert 0.9 < a.std() < 1.1 and abs(a.mean()) < 0.1


def test_ring_buffer_wraps_and_never_overwrites():
    ring = RingBuffer(10, 2)
    data = np.arange(14, dtype=np.float32).reshape(7, 2)
    assert ring.write(data) == 7
    assert ring.write(data) == 3  # only 3 frames of room
    out = np.zeros((8, 2), np.float32)
    assert ring.read_into(out) == 8
    np.testing.assert_array_equal(out[:7], data)
    np.testing.assert_array_equal(out[7], data[0])
    assert ring.write(data[:5]) == 5  # wraps around the end
    rest = ring.read(100)
    np.testing.assert_array_equal(rest, np.concatenate([data[1:3], data[:5]]))
    assert ring.read_available == 0 and ring.write_available == 10

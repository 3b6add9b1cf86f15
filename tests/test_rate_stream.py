"""The engine's streaming resamplers (rtaudio/engine/rate_stream.py): exact delay, any partition,
soxr-level accuracy, for rates that are not integer multiples of the model's (a 44.1 kHz device)."""

from __future__ import annotations

import numpy as np
import pytest
import soxr

from rtaudio.engine.rate_stream import RationalRateStream, StreamingResampler
from rtaudio.engine.stream import StreamProcessor, stream_whole


class DelayKernel:
    """A stream kernel that only delays (``delay`` samples, hop ``hop``): what a model's timing looks like."""

    def __init__(self, rate: int = 16000, hop: int = 128, delay: int = 384) -> None:
        self.in_rate = self.out_rate = rate
        self.hop, self.delay = hop, delay
        self.reset()

    def reset(self) -> None:
        self.buf: np.ndarray | None = None

    def process(self, x: np.ndarray) -> np.ndarray:
        if self.buf is None:
            self.buf = np.zeros((x.shape[0], self.delay), np.float32)
        joined = np.concatenate([self.buf, x], axis=1)
        self.buf = joined[:, x.shape[1] :]
        return joined[:, : x.shape[1]]


def _tones(rate: int, seconds: float = 1.5) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (0.5 * np.sin(2 * np.pi * 440 * t) + 0.3 * np.sin(2 * np.pi * 3100 * t)).astype(np.float32)


def _snr_db(ref: np.ndarray, est: np.ndarray) -> float:
    return float(10 * np.log10(np.sum(ref**2) / np.sum((ref - est) ** 2)))


@pytest.mark.parametrize(("src", "dst"), [(44100, 16000), (16000, 44100), (22050, 16000), (16000, 48000)])
def test_resampler_matches_soxr_whatever_the_block_sizes(src, dst):
    x = _tones(src)[None]
    rng = np.random.default_rng(1)
    r, outs, i = StreamingResampler(src, dst, 24), [], 0
    while i < x.shape[1]:
        n = int(rng.integers(1, 700))
        outs.append(r.push(x[:, i : i + n]))
        i += n
    y = np.concatenate(outs, axis=1)[0]
    whole = StreamingResampler(src, dst, 24).push(x)[0]
    assert np.array_equal(y, whole)  # the partition does not matter
    ref = soxr.resample(x[0], src, dst, quality="VHQ")
    mid = slice(dst // 10, len(y) - dst // 10)
    assert len(y) <= len(ref) and _snr_db(ref[mid], y[mid]) > 60.0  # zero phase, soxr's pass band


@pytest.mark.parametrize(("rate", "out_rate"), [(44100, 44100), (22050, 22050), (44100, 48000), (8000, 8000)])
def test_rational_stream_has_its_declared_delay_exactly(rate, out_rate):
    """Output = input delayed by ``delay`` samples (through a delaying model), under 40 ms in all."""
    stream = RationalRateStream(DelayKernel(), rate, out_rate, 24)
    x = _tones(rate)
    y = stream_whole(stream, x)  # the delay removed, exact length
    expected = soxr.resample(x, rate, out_rate, quality="VHQ") if rate != out_rate else x
    n = min(len(y), len(expected))
    mid = slice(out_rate // 5, n - out_rate // 5)
    assert _snr_db(expected[mid], y[mid]) > 60.0
    assert 1000 * StreamProcessor(stream).latency_samples / out_rate <= 40.0
    # one sample later would be measurably worse: the delay is the true one
    assert _snr_db(expected[mid], y[mid]) > _snr_db(expected[mid], np.roll(y, 1)[mid]) + 20.0


def test_rational_stream_gives_the_same_samples_for_any_chunking():
    stream = RationalRateStream(DelayKernel(), 44100, 44100, 24)
    x = np.random.default_rng(2).standard_normal((2, 30000)).astype(np.float32) * 0.1
    whole = stream_whole(stream, x.T)
    proc = StreamProcessor(stream, 2)
    rng, outs, i = np.random.default_rng(3), [], 0
    while i < x.shape[1]:
        n = int(rng.integers(1, 3000))
        outs.append(proc.process(x[:, i : i + n].T))
        i += n
    outs.append(proc.flush())
    assert np.array_equal(np.concatenate(outs), whole)

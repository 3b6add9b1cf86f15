"""The streaming vocoder (:mod:`rtaudio.tasks.vocode_stream`): frame-by-frame phase retrieval with look-ahead."""

from __future__ import annotations

import numpy as np
import pytest
import soxr

from rtaudio.api import processor_for
from rtaudio.engine.processor import process_offline
from rtaudio.engine.rate_stream import RationalRateStream
from rtaudio.engine.stream import StreamProcessor, stream_whole
from rtaudio.metrics_vocode import log_mel_l1
from rtaudio.registry import build_plan, models_dir
from rtaudio.tasks.mel import DEFAULT, log_mel
from rtaudio.tasks.vocode_stream import (
    IntegerRateStream,
    StreamingAudioVocoder,
    StreamingMelVocoder,
    WholeStream,
)

RATE = DEFAULT.sample_rate
HOP = DEFAULT.hop
CARD = models_dir() / "vocoder24k.json"


@pytest.fixture(scope="module")
def speech_24k(speech_48k: np.ndarray) -> np.ndarray:
    """2 s of held-out speech at the vocoder rate."""
    return soxr.resample(speech_48k, 48000, RATE)[: 2 * RATE].astype(np.float32)


def _random_blocks(proc, x: np.ndarray, seed: int) -> np.ndarray:
    rng, out, i = np.random.default_rng(seed), [], 0
    while i < len(x):
        n = int(rng.integers(1, 2500))
        out.append(proc.process(x[i : i + n]))
        i += n
    return np.concatenate([*out, proc.flush()])


def _envelope_lag_ms(ref: np.ndarray, est: np.ndarray, rate: int, max_ms: float = 40.0) -> float:
    """Lag of ``est``'s loudness envelope behind ``ref``'s (2.5 ms frames), by cross-correlation."""
    step = rate // 400

    def env(x):
        frames = x[: len(x) // step * step].reshape(-1, step)
        return np.log(np.mean(frames.astype(np.float64) ** 2, axis=1) + 1e-8)

    a, b = env(ref), env(est)
    a, b = a - a.mean(), b - b.mean()
    lags = range(-int(max_ms / 2.5), int(max_ms / 2.5) + 1)
    score = [np.dot(a[max(0, -k) : len(a) - max(0, k)], b[max(0, k) : len(b) - max(0, -k)]) for k in lags]
    return float(list(lags)[int(np.argmax(score))] * 2.5)


@pytest.mark.parametrize("look_ahead", [0, 2, 4])
def test_streamed_equals_its_whole_signal_run_under_any_partition(speech_24k, look_ahead):
    kernel = StreamingAudioVocoder(DEFAULT, {"look_ahead": look_ahead, "iters": 3})
    whole = stream_whole(kernel, speech_24k)
    for seed in (0, 1):
        streamed = _random_blocks(StreamProcessor(kernel), speech_24k, seed)
        assert len(streamed) == len(speech_24k)
        np.testing.assert_array_equal(streamed, whole)
    # the window-kernel view of the whole-signal run (what --offline and bench parity run)
    np.testing.assert_array_equal(process_offline(WholeStream(kernel), speech_24k), whole)


def test_declared_latency_is_the_real_one(speech_24k):
    """Aligned by the reported latency, the output's envelope sits on the input's (a hop off would show)."""
    for look_ahead in (1, 4):
        kernel = StreamingAudioVocoder(DEFAULT, {"look_ahead": look_ahead})
        proc = StreamProcessor(kernel)
        assert proc.latency_samples == (4 + look_ahead) * HOP  # (4 + look_ahead) * 12.5 ms
        assert abs(_envelope_lag_ms(speech_24k, stream_whole(kernel, speech_24k), RATE)) <= 2.5


def test_output_never_depends_on_input_beyond_the_look_ahead(speech_24k):
    kernel = StreamingAudioVocoder(DEFAULT, {"look_ahead": 2})
    latency = StreamProcessor(kernel).latency_samples
    cut = RATE  # change everything after 1 s
    other = speech_24k.copy()
    other[cut:] = np.random.default_rng(0).standard_normal(len(other) - cut).astype(np.float32) * 0.1
    a, b = stream_whole(kernel, speech_24k), stream_whole(kernel, other)
    # aligned output sample i is released once input sample i + latency - 1 is in: before the cut
    # minus the latency, nothing may differ; right after it, something must
    assert np.array_equal(a[: cut - latency + 1], b[: cut - latency + 1])
    assert not np.array_equal(a[: cut - latency + 2 * HOP], b[: cut - latency + 2 * HOP])


def test_seed_keys_the_start_phases_and_reset_replays(speech_24k):
    x = speech_24k[: RATE // 2]
    kernel = StreamingAudioVocoder(DEFAULT, seed=0)
    first = stream_whole(kernel, x)
    np.testing.assert_array_equal(stream_whole(kernel, x), first)  # reset: the same stream again
    other = stream_whole(StreamingAudioVocoder(DEFAULT, seed=1), x)
    assert not np.array_equal(other, first)
    # channels are independent streams of the same algorithm, each with its own start phases (the
    # iteration amplifies rounding, so a batched channel is not bit-equal to the mono stream)
    both = stream_whole(kernel, np.stack([x, x], axis=1))
    assert not np.array_equal(both[:, 0], both[:, 1])
    mono = log_mel_l1(x, first)
    for c in (0, 1):
        assert log_mel_l1(x, both[:, c]) == pytest.approx(mono, rel=0.15)


def test_look_ahead_and_iterations_buy_mel_consistency(speech_24k):
    def err(**settings):
        y = stream_whole(StreamingAudioVocoder(DEFAULT, settings), speech_24k)
        return log_mel_l1(speech_24k, y)

    zero = err(look_ahead=0, iters=0)  # the RTISI start alone: partial-signal phases, no refinement
    assert err(look_ahead=4, iters=6) < 0.6 * zero
    assert err(look_ahead=4, iters=6) < err(look_ahead=0, iters=6)


def test_mel_input_streams_and_matches_audio_input_frames(speech_24k):
    mel = log_mel(speech_24k)
    kernel = StreamingMelVocoder(DEFAULT)
    assert kernel.in_rate == RATE // HOP and kernel.delay == 6 * HOP
    y = _random_blocks(StreamProcessor(kernel, DEFAULT.n_mels), mel, 3)[:, 0]
    np.testing.assert_array_equal(y, stream_whole(kernel, mel)[:, 0])
    assert len(y) == len(mel) * HOP and log_mel_l1(speech_24k, y) < 0.2


def test_48k_devices_get_the_stream_with_its_exact_latency(speech_48k):
    x = speech_48k[: 2 * 48000]
    plan = build_plan("vocode", source_rate=48000, out_rate=48000, options={"synthesis": "streaming"})
    assert isinstance(plan.kernel, IntegerRateStream) and plan.streaming
    proc = processor_for(plan)
    y = _random_blocks(proc, x, 0)
    assert len(y) == len(x)
    np.testing.assert_array_equal(y, process_offline(plan.reference, x))
    assert abs(_envelope_lag_ms(x, y, 48000)) <= 2.5
    assert proc.latency_seconds * 1e3 <= 102.0


def test_card_chooses_the_path_and_steps_fall_back_to_the_window(speech_24k):
    import json

    card = json.loads(CARD.read_text())
    default = build_plan("vocode", source_rate=RATE)
    assert default.streaming == (card.get("synthesis_default") == "streaming")
    if default.streaming:
        assert processor_for(default).latency_seconds * 1e3 == pytest.approx(card["latency_ms"])
    window = build_plan("vocode", source_rate=RATE, options={"synthesis": "window"})
    assert not window.streaming
    refined = build_plan("vocode", source_rate=RATE, steps=2, options={"synthesis": "streaming"})
    assert not refined.streaming and any("window path" in n for n in refined.notes)
    odd = build_plan("vocode", source_rate=44100, options={"synthesis": "streaming"})
    assert odd.streaming and isinstance(odd.kernel, RationalRateStream) and not odd.notes


def test_unknown_settings_are_refused():
    with pytest.raises(ValueError, match="unknown streaming_phase"):
        StreamingAudioVocoder(DEFAULT, {"lookahead": 3})

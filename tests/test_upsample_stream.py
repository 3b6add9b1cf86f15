"""The upsampler's stream kernel: equal to the whole-signal window kernel, partition-free, exact latency."""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest
import soxr

import rtaudio
from rtaudio.cards import load_card
from rtaudio.engine.contracts import StreamKernel, out_length
from rtaudio.engine.processor import process_offline
from rtaudio.engine.stream import StreamProcessor, stream_whole
from rtaudio.tasks import envelope
from rtaudio.tasks.neural_upsample import CARD_FIELDS, DEFAULT_MODEL, NeuralUpsampleKernel
from rtaudio.tasks.upsample_stream import _EnvelopeStream, stream_kernel

PAIRS = [(16000, 48000), (24000, 48000), (8000, 16000)]


@cache
def card() -> dict:
    return load_card(DEFAULT_MODEL, "upsample", CARD_FIELDS)  # checks the step graph's sha256 too


@cache
def kernel(in_rate: int, out_rate: int, steps: int = 0):
    return stream_kernel(card(), DEFAULT_MODEL, in_rate, out_rate, steps=steps, seed=3)


def speech_like(n: int, rate: int, seed: int = 0) -> np.ndarray:
    """A voiced tone with a syllable envelope plus noise: energy across the whole input band."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / rate
    x = 0.2 * np.sin(2 * np.pi * 180 * t) * (1 + np.sin(2 * np.pi * 4 * t)) + 0.05 * rng.standard_normal(n)
    return np.convolve(x, np.hanning(5) / 2.5, "same").astype(np.float32)


def snr_db(ref: np.ndarray, est: np.ndarray) -> float:
    return float(20 * np.log10(np.linalg.norm(ref) / max(np.linalg.norm(ref - est), 1e-30)))


@pytest.mark.parametrize(("in_rate", "out_rate"), PAIRS)
def test_stream_equals_whole_signal_window_kernel(in_rate, out_rate):
    k = kernel(in_rate, out_rate)
    assert isinstance(k, StreamKernel)
    x = speech_like(int(0.6 * in_rate) + 7, in_rate)
    y = stream_whole(k, x)
    ref = process_offline(NeuralUpsampleKernel(DEFAULT_MODEL, in_rate, out_rate, seed=3), x)
    assert len(y) == len(ref) == out_length(len(x), in_rate, out_rate)
    # the floor is 100 dB; measured 155-161 dB, and a 0.1 % gain error already costs 117 dB
    assert snr_db(ref, y) >= 130.0


def test_refiner_steps_cascade_equals_window_kernel():
    k = kernel(16000, 48000, steps=1)
    x = speech_like(8000, 16000, seed=1)
    ref = process_offline(NeuralUpsampleKernel(DEFAULT_MODEL, 16000, 48000, steps=1, seed=3), x)
    assert snr_db(ref, stream_whole(k, x)) >= 100.0
    # one more network pass of delay (the envelope's frame alignment may shift by less than a frame hop)
    grown = k.delay - kernel(16000, 48000).delay
    assert abs(grown - int(card()["stream"]["net_delay_samples"])) < envelope.HOP


@pytest.mark.parametrize(("in_rate", "out_rate"), [(16000, 48000), (8000, 16000)])
def test_output_is_independent_of_host_block_sizes(in_rate, out_rate):
    k = kernel(in_rate, out_rate)
    x = np.stack([speech_like(5000, in_rate, 2), speech_like(5000, in_rate, 3)], axis=1)
    whole = stream_whole(k, x)
    rng = np.random.default_rng(7)
    sizes = [1] * 40 + [2, 3, 5, 7, 11, 13, 127, 1021, 4099, k.hop, k.hop + 1]
    proc = StreamProcessor(k, channels=2)
    pieces, pos = [], 0
    while pos < len(x):
        n = int(sizes[pos % len(sizes)] if pos < 200 else rng.choice(sizes))
        pieces.append(proc.process(x[pos : pos + n]))
        pos += n
    pieces.append(proc.flush())
    np.testing.assert_array_equal(np.concatenate(pieces), whole)


def test_latency_is_exact_and_honest():
    """After T input samples exactly floor((T - delay_in) * 3) outputs are out, final, and none of
    them depends on input not yet fed."""
    k = kernel(16000, 48000)
    x = speech_like(6000, 16000, 4)
    other = x.copy()
    cut = 3001
    other[cut:] = speech_like(len(x) - cut, 16000, 5)
    outs = []
    for signal in (x, other):
        proc = StreamProcessor(k)
        got = proc.process(signal[:cut])
        assert len(got) == max(0, (cut - proc.delay_in) * 3)
        assert proc.latency_samples == 3 * proc.delay_in
        outs.append(got)
    np.testing.assert_array_equal(outs[0], outs[1])
    # the delayed-signal check: an impulse comes out at its own position, released delay_in later
    imp = np.zeros(4000, np.float32)
    imp[1000] = 0.5
    y = stream_whole(k, imp)
    # aligned with the sinc-interpolated impulse (the input band is exact; the added band may peak a sample off)
    ref = soxr.resample(imp, 16000, 48000, quality="VHQ")
    n = min(len(y), len(ref))
    assert int(np.argmax(np.correlate(y[:n], ref[:n], "full"))) - (n - 1) == 0
    assert abs(int(np.argmax(np.abs(y))) - 3000) <= 1


def test_reset_gives_the_same_stream_again():
    k = kernel(24000, 48000)
    x = speech_like(3000, 24000, 8)
    first = stream_whole(k, x)
    proc = StreamProcessor(k)
    proc.process(speech_like(2000, 24000, 9))  # leave state behind
    proc.reset()
    again = np.concatenate([proc.process(x), proc.flush()])
    np.testing.assert_array_equal(first, again)


def test_card_states_what_runs():
    entry = card()["stream"]
    old = card()["window_latency_ms_by_pair"]  # the stateless path it replaces
    for in_rate, out_rate in PAIRS:
        pair = f"{in_rate}->{out_rate}"
        k = kernel(in_rate, out_rate)
        assert entry["delay_samples_by_pair"][pair] == k.delay
        latency = 1000 * StreamProcessor(k).latency_seconds
        assert entry["latency_ms_by_pair"][pair] == pytest.approx(latency, abs=0.05)
        assert latency <= old[pair]


def test_envelope_stream_with_context_frames_equals_shape():
    """The streamed post-filter with past/future context frames equals the whole-signal one."""
    rng = np.random.default_rng(11)
    base = envelope.EnvelopeMap(16000, 1, 2, np.zeros((1, 1)))
    n_in, n_out = int(base.in_bands.max()) + 1, int(base.out_bands.max()) + 1
    weights = 0.05 * rng.standard_normal((n_in * 4 + 1, n_out))
    weights[-1] -= 3.0
    emap = envelope.EnvelopeMap(16000, 1, 2, weights)
    n, block, start = 48 * 400, 480, -2400
    cond = (0.3 * rng.standard_normal(n)).astype(np.float32)
    band = (0.01 * rng.standard_normal(n)).astype(np.float32)
    ref = envelope.shape(cond, band, start, emap)
    stream = _EnvelopeStream(emap, 1, start, block, offset=0, align=1)
    out = np.concatenate(
        [stream.process(cond[None, i : i + block], band[None, i : i + block]) for i in range(0, n, block)], 1
    )[0]
    d = stream.delay
    reach = envelope.margin_samples(emap) + 2 * envelope.N_FFT  # the cold start and the end of `ref`
    np.testing.assert_allclose(out[d + reach :], ref[reach : n - d], rtol=0, atol=1e-7)


def test_step_graph_equals_torch_stream_and_bandnet():
    torch = pytest.importorskip("torch", reason="the torch-side parity needs torch (export extra)")
    from export.export_stream import graph_parity, stream_parity
    from export.streaming import StreamBandNet, bandnet_from_onnx

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # hop-sized convs: extra threads only spin on a shared machine
    try:
        net = bandnet_from_onnx(DEFAULT_MODEL)
        assert graph_parity(net, DEFAULT_MODEL, trials=1) < 1e-6
        graph = DEFAULT_MODEL.with_name(card()["stream"]["file"])
        parity = stream_parity(net, StreamBandNet(net), graph)
    finally:
        torch.set_num_threads(threads)
    assert parity["stream_vs_bandnet"] < 1e-6
    assert parity["graph_vs_stream"] < 1e-6


@pytest.mark.parametrize(("source", "band"), [(48000, 16000), (44100, 16000), (48000, 8000)])
def test_a_source_at_another_rate_streams_and_equals_the_window_path(source: int, band: int) -> None:
    """A 48 kHz device carrying a 16 kHz band (live mode's usual case) gets the stream kernel too."""
    from rtaudio.metrics import snr
    from rtaudio.registry import build_plan
    from rtaudio.tasks.upsample_stream import SourceResampledStream

    rng = np.random.default_rng(5)
    x = soxr.resample(0.1 * rng.standard_normal(band), band, source).astype(np.float32)
    plan = build_plan("upsample", None, source, band, 48000, threads=1)
    assert isinstance(plan.kernel, SourceResampledStream) and plan.streaming
    reference = process_offline(plan.reference, x)
    proc = StreamProcessor(plan.kernel)
    cuts = np.cumsum(rng.integers(1, 700, size=len(x)))
    cuts = cuts[cuts < len(x)]
    streamed = np.concatenate([proc.process(piece) for piece in np.split(x, cuts)] + [proc.flush()])
    assert len(streamed) == len(reference) == round(len(x) * 48000 / source)
    assert snr(reference, streamed) >= 130.0
    window = rtaudio.open("upsample", rate=source, in_rate=band, out_rate=48000, steps=1, threads=1)
    assert proc.latency_samples <= window.latency_samples + 48000 * 0.01  # about the window path's, not worse

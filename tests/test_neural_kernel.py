"""The shipped neural upsampler's runtime kernel (numpy + onnxruntime only)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from rtaudio.backends import BackendUnavailable, open_model
from rtaudio.cards import CardError, sha256_file
from rtaudio.tasks.neural_upsample import DEFAULT_MODEL, NeuralUpsampleKernel, context_for

PAIRS = [(16000, 48000), (24000, 48000), (8000, 16000)]


def _speech(rate: int, seconds: float = 0.6) -> np.ndarray:
    # Harmonic "voice" plus noise: content near the input Nyquist for the model to extend.
    t = np.arange(int(rate * seconds)) / rate
    x = sum(np.sin(2 * np.pi * 150 * k * t) / k for k in range(1, 25) if 150 * k < rate / 2)
    x = x + 0.05 * np.random.default_rng(0).standard_normal(len(t))
    return (0.2 * x / np.abs(x).max()).astype(np.float32)[None]


def test_card_matches_the_shipped_model() -> None:
    card = json.loads(DEFAULT_MODEL.with_suffix(".json").read_text())
    assert card["sha256"] == sha256_file(DEFAULT_MODEL)
    assert card["task"] == "upsample"
    assert DEFAULT_MODEL.stat().st_size < 8e6
    for i, o in PAIRS:
        assert [i, o] in card["rate_pairs"]
        assert f"{i}->{o}" in card["context_in"]
    assert str(card["steps_default"]) in card["schedules"]


@pytest.mark.parametrize(("in_rate", "out_rate"), PAIRS)
def test_shapes_and_input_band_preserved(in_rate: int, out_rate: int) -> None:
    k = NeuralUpsampleKernel(None, in_rate, out_rate, threads=1)
    x = np.concatenate([_speech(in_rate), 0.5 * _speech(in_rate)])  # two channels
    y = k.run(x, 0)
    assert y.dtype == np.float32
    assert y.shape == (2, x.shape[1] * out_rate // in_rate)
    # The low band equals the sinc upsampler's: compare spectra below 0.8 x input Nyquist.
    import soxr

    ref = soxr.resample(x.T, in_rate, out_rate, quality="VHQ").T
    f = np.fft.rfftfreq(y.shape[1], 1 / out_rate)
    low = f < 0.4 * in_rate
    err = np.abs(np.fft.rfft(y - ref, axis=1)[:, low]).sum() / np.abs(np.fft.rfft(ref, axis=1)[:, low]).sum()
    assert err < 0.03


@pytest.mark.parametrize(("in_rate", "out_rate"), PAIRS)
def test_cropped_window_with_context_equals_whole_signal(in_rate: int, out_rate: int) -> None:
    card = json.loads(DEFAULT_MODEL.with_suffix(".json").read_text())
    steps = min((int(s) for s in card["schedules"] if int(s) > 0), default=0)  # exercise refiner noise too
    k = NeuralUpsampleKernel(None, in_rate, out_rate, steps=steps, seed=7, threads=1)
    x = _speech(in_rate, 0.8)
    whole = k.run(x, -50)  # the stream starts 50 samples before this signal
    c = k.context_in
    a, b = in_rate // 3, in_rate // 3 + 640
    part = k.run(x[:, a - c : b + c], a - c - 50)
    r = out_rate // np.gcd(in_rate, out_rate)
    q = in_rate // np.gcd(in_rate, out_rate)
    ref = whole[:, a * r // q : b * r // q]
    got = part[:, c * r // q : c * r // q + ref.shape[1]]
    assert np.abs(ref - got).max() < 1e-5


def test_output_is_keyed_to_seed_and_position() -> None:
    card = json.loads(DEFAULT_MODEL.with_suffix(".json").read_text())
    steps = min((int(s) for s in card["schedules"] if int(s) > 0), default=0)
    if steps == 0:
        pytest.skip("the shipped card has no refiner schedules")
    x = _speech(16000, 0.3)
    k0 = NeuralUpsampleKernel(None, 16000, 48000, steps=steps, seed=0, threads=1)
    k1 = NeuralUpsampleKernel(None, 16000, 48000, steps=steps, seed=1, threads=1)
    assert np.array_equal(k0.run(x, 0), k0.run(x, 0))
    assert not np.array_equal(k0.run(x, 0), k1.run(x, 0))
    assert not np.array_equal(k0.run(x, 0), k0.run(x, 4096))


def test_corrupt_model_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / DEFAULT_MODEL.name
    shutil.copy(DEFAULT_MODEL.with_suffix(".json"), bad.with_suffix(".json"))
    data = bytearray(DEFAULT_MODEL.read_bytes())
    data[-10] ^= 0xFF
    bad.write_bytes(bytes(data))
    with pytest.raises(CardError, match="sha256"):
        NeuralUpsampleKernel(bad, 16000, 48000)


def test_corrupt_or_missing_envelope_is_refused(tmp_path: Path) -> None:
    card = json.loads(DEFAULT_MODEL.with_suffix(".json").read_text())
    assert "envelope" in card, "the shipped model runs with its envelope post-filter"
    model = tmp_path / DEFAULT_MODEL.name
    shutil.copy(DEFAULT_MODEL, model)
    shutil.copy(DEFAULT_MODEL.with_suffix(".json"), model.with_suffix(".json"))
    with pytest.raises(CardError, match="envelope"):
        NeuralUpsampleKernel(model, 16000, 48000)
    data = bytearray((DEFAULT_MODEL.parent / card["envelope"]["file"]).read_bytes())
    data[-10] ^= 0xFF
    (tmp_path / card["envelope"]["file"]).write_bytes(bytes(data))
    with pytest.raises(CardError, match="sha256"):
        NeuralUpsampleKernel(model, 16000, 48000)


def test_envelope_filter_widens_the_context_it_needs() -> None:
    k = NeuralUpsampleKernel(None, 16000, 48000, threads=1)
    card = json.loads(DEFAULT_MODEL.with_suffix(".json").read_text())
    assert k.envelope is not None and k.context_in == card["context_in"]["16000->48000"]
    assert k.context_in > context_for(card, 16000, 48000)  # the network's alone


def test_unsupported_pair_and_missing_backend_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="supports"):
        NeuralUpsampleKernel(None, 22050, 48000)
    with pytest.raises(BackendUnavailable, match="CUDAExecutionProvider"):
        open_model(DEFAULT_MODEL, "cuda")
    with pytest.raises(BackendUnavailable, match="unknown backend"):
        open_model(DEFAULT_MODEL, "metal")


def test_runtime_does_not_import_torch() -> None:
    import subprocess
    import sys

    code = (
        "import sys, numpy as np; from rtaudio.tasks.neural_upsample import NeuralUpsampleKernel as K;"
        "K(None, 16000, 48000, threads=1).run(np.zeros((1, 800), np.float32), 0);"
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_card_latency_is_what_the_engine_delivers() -> None:
    import rtaudio

    card = json.loads(DEFAULT_MODEL.with_suffix(".json").read_text())
    for pair, ms in card["latency_ms_by_pair"].items():  # the default: the stream kernel
        i, o = map(int, pair.split("->"))
        p = rtaudio.open("upsample", None, rate=i, out_rate=o)
        assert abs(1000 * p.latency_samples / p.out_rate - ms) < 0.1, pair
    for pair, ms in card["window_latency_ms_by_pair"].items():  # refiner steps run on the window kernel
        i, o = map(int, pair.split("->"))
        p = rtaudio.open("upsample", None, rate=i, out_rate=o, steps=1)
        assert abs(1000 * p.latency_samples / p.out_rate - ms) < 0.1, pair
    assert card["latency_ms"] == card["latency_ms_by_pair"]["16000->48000"] <= 99.6  # no worse than before

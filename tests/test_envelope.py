"""The envelope post-filter of the neural upsampler (rtaudio/tasks/envelope.py)."""

from __future__ import annotations

import numpy as np
import pytest

from rtaudio.tasks import envelope
from rtaudio.tasks.envelope import HOP, N_FFT, EnvelopeMap, band_log_energy, margin_samples, shape

RATE = 48000


def constant_map(in_rate: int, level_log10: float, quadratic: bool = False) -> EnvelopeMap:
    """A map that predicts the same log energy for every output band, whatever the input."""
    probe = EnvelopeMap(in_rate, 0, 0, np.zeros((1, 1)), quadratic)
    n_feat = probe.features(np.zeros((1, N_FFT // 2 + 1), complex)).shape[1]
    n_out = int(probe.out_bands.max()) + 1
    weights = np.zeros((n_feat, n_out))
    weights[-1] = level_log10  # the bias feature
    return EnvelopeMap(in_rate, 0, 0, weights, quadratic)


def fitted_like_map(in_rate: int, rng: np.random.Generator) -> EnvelopeMap:
    """Random weights with context on both sides: exercises every code path of the features."""
    probe = EnvelopeMap(in_rate, 2, 1, np.zeros((1, 1)), True)
    n_feat = probe.features(np.zeros((1, N_FFT // 2 + 1), complex)).shape[1]
    n_out = int(probe.out_bands.max()) + 1
    return EnvelopeMap(in_rate, 2, 1, 0.05 * rng.standard_normal((n_feat, n_out)), True)


@pytest.mark.parametrize("in_rate", [8000, 16000, 24000])
def test_a_window_with_margins_equals_the_whole_signal(in_rate: int) -> None:
    rng = np.random.default_rng(in_rate)
    emap = fitted_like_map(in_rate, rng)
    n = 20000
    cond = (0.1 * rng.standard_normal(n)).astype(np.float32)
    band = (0.02 * rng.standard_normal(n)).astype(np.float32)
    whole = shape(cond, band, 0, emap)
    m = margin_samples(emap)
    for a, b in [(3000, 9000), (4321, 15555), (m, n - m)]:
        part = shape(cond[a - m : b + m], band[a - m : b + m], a - m, emap)
        np.testing.assert_allclose(part[m:-m], whole[a:b], atol=1e-6)  # float32 output rounding


def test_bands_are_scaled_to_the_predicted_level() -> None:
    rng = np.random.default_rng(1)
    n = 48000
    emap = constant_map(16000, -3.0)
    white = np.fft.rfft(0.3 * rng.standard_normal(n))
    white[np.fft.rfftfreq(n, 1 / RATE) < 8000] = 0  # the network's band starts at the cutoff
    band = np.fft.irfft(white, n).astype(np.float32)  # every band far too loud
    out = shape(np.zeros(n, np.float32), band, 0, emap)
    frames = np.lib.stride_tricks.sliding_window_view(out[N_FFT:-N_FFT], N_FFT)[::HOP] * np.hanning(N_FFT + 1)[:-1]
    level = band_log_energy(np.fft.rfft(frames, axis=1), emap.out_bands)[:, 1:-1]  # edge bands leak
    # every band of every frame within 1.5 dB of the target (frame-to-frame leakage between
    # overlapping frames makes it approximate, not exact)
    assert np.abs(np.median(level, axis=0) + 3.0).max() < 0.15
    assert np.percentile(np.abs(level + 3.0), 95) < 0.3


def test_the_input_band_passes_unchanged() -> None:
    t = np.arange(24000) / RATE
    low = (0.3 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)  # all below the 8 kHz cutoff
    out = shape(low, low, 0, constant_map(16000, -9.0))
    m = margin_samples(constant_map(16000, -9.0))
    np.testing.assert_allclose(out[m:-m], low[m:-m], atol=1e-5)


def test_gain_is_capped_so_silence_stays_silent() -> None:
    rng = np.random.default_rng(2)
    tiny = (1e-9 * rng.standard_normal(9600)).astype(np.float32)
    out = shape(np.zeros_like(tiny), tiny, 0, constant_map(16000, 0.0))
    assert np.abs(out).max() <= envelope.MAX_GAIN * 1e-8


def test_maps_round_trip_through_npz(tmp_path) -> None:
    rng = np.random.default_rng(3)
    emap = fitted_like_map(24000, rng)
    path = tmp_path / "maps.npz"
    np.savez(
        path,
        rates=np.array([24000]),
        weights_24000=emap.weights.astype(np.float32),
        past_24000=np.array(2),
        future_24000=np.array(1),
        quadratic_24000=np.array(True),
    )
    loaded = envelope.load_maps(path)[24000]
    assert (loaded.past, loaded.future, loaded.quadratic) == (2, 1, True)
    np.testing.assert_allclose(loaded.weights, emap.weights, rtol=1e-6)

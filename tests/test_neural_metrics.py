"""rtaudio.metrics: LSD / LSD-HF / SNR as DESIGN.md defines them."""

from __future__ import annotations

import numpy as np
import pytest

from rtaudio.metrics import lsd, lsd_hf, snr


def test_identical_signals_have_zero_lsd_and_huge_snr() -> None:
    x = np.random.default_rng(0).standard_normal(48000).astype(np.float32)
    assert lsd(x, x) == 0.0
    assert snr(x, x) > 200


def test_snr_of_known_error() -> None:
    x = np.ones(1000)
    assert snr(x, 0.9 * x) == pytest.approx(20.0)  # ||x|| / ||0.1 x|| = 10


def test_lsd_of_a_uniform_gain_is_the_log_power_ratio() -> None:
    # A 10x amplitude change shifts every log10 power bin by 2 (above the 1e-8 floor).
    x = np.random.default_rng(1).standard_normal(48000)
    assert lsd(x, 10 * x) == pytest.approx(2.0, abs=1e-6)


def test_lsd_hf_only_sees_bins_above_the_input_nyquist() -> None:
    rng = np.random.default_rng(2)
    n = 48000
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / 48000)
    low = np.fft.irfft(np.where(f < 7000, spec, 0), n)
    full = np.fft.irfft(spec, n)
    # Removing the band above 8 kHz hurts LSD-HF (the floor at 1e-8) much more than LSD.
    assert lsd_hf(full, low, 48000, 16000) > lsd(full, low) > 1.0
    assert lsd_hf(full, full + 1e-3 * low, 48000, 16000) < 0.01

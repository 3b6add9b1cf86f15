"""Upsampling quality metrics (numpy only), as defined in DESIGN.md.

LSD follows NU-Wave / AP-BWE: STFT n_fft 2048, hop 512, Hann window,
S = log10(max(|X|^2, 1e-8)), LSD = mean over frames of sqrt(mean over bins (S_ref - S_est)^2).
LSD rewards any high-band energy, so always report SNR beside it.
"""

from __future__ import annotations

import numpy as np

from rtaudio import dsp

N_FFT = 2048
HOP = 512
#: power floor of the log spectrum (-80 dB)
POWER_FLOOR = 1e-8


def _log_power(x: np.ndarray) -> np.ndarray:
    """(frames, bins) log10 power spectrogram, centred frames with reflect padding."""
    # reflect padding needs more samples than it pads; a shorter signal is padded with zeros
    mode = "reflect" if len(x) > N_FFT // 2 else "constant"
    spec = dsp.stft(x, dsp.hann(N_FFT), HOP, pad_mode=mode)
    return np.log10(np.maximum(np.abs(spec) ** 2, POWER_FLOOR))


def _align(ref: np.ndarray, est: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ref, est = np.ravel(ref), np.ravel(est)
    n = min(len(ref), len(est))
    return ref[:n], est[:n]


def lsd(ref: np.ndarray, est: np.ndarray, rate: int | None = None, min_hz: float = 0.0) -> float:
    """Log-spectral distance over all bins, or over bins above ``min_hz`` (needs ``rate``)."""
    ref, est = _align(ref, est)
    d = _log_power(ref) - _log_power(est)
    if min_hz > 0.0:
        if rate is None:
            raise ValueError("rate is required with min_hz")
        freqs = np.fft.rfftfreq(N_FFT, 1.0 / rate)
        d = d[:, freqs > min_hz]
    return float(np.mean(np.sqrt(np.mean(d**2, axis=1))))


def lsd_hf(ref: np.ndarray, est: np.ndarray, rate: int, input_rate: int) -> float:
    """LSD over the bins above the input's Nyquist frequency (the band the model creates)."""
    return lsd(ref, est, rate, min_hz=input_rate / 2)


def snr(ref: np.ndarray, est: np.ndarray) -> float:
    """20 log10(||x|| / ||x - x_hat||) in dB."""
    ref, est = _align(ref, est)
    err = np.linalg.norm(ref - est)
    return float(20 * np.log10(np.linalg.norm(ref) / max(err, 1e-12)))

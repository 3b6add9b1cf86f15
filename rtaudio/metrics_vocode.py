"""Vocoder quality metrics, as in DESIGN.md: log-mel L1, multi-resolution STFT distance, PESQ.

Reference and estimate are mono, at the same rate, and aligned (a vocoder's output is
sample-aligned with its input); the longer one is cut to the shorter.
"""

from __future__ import annotations

import numpy as np

from rtaudio import dsp
from rtaudio.tasks.mel import DEFAULT, MelSpec, log_mel

#: (n_fft, hop, window) of the multi-resolution STFT distance (Parallel WaveGAN's resolutions)
MRSTFT_RESOLUTIONS = ((512, 50, 240), (1024, 120, 600), (2048, 240, 1200))
PESQ_RATE = 16000


def _align(ref: np.ndarray, est: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ref, est = np.ravel(ref).astype(np.float64), np.ravel(est).astype(np.float64)
    n = min(len(ref), len(est))
    return ref[:n], est[:n]


def log_mel_l1(ref: np.ndarray, est: np.ndarray, spec: MelSpec = DEFAULT) -> float:
    """Mean absolute difference of natural-log mel spectrograms (the vocoder's own front end)."""
    ref, est = _align(ref, est)
    return float(np.mean(np.abs(log_mel(ref, spec) - log_mel(est, spec))))


def _stft_mag(x: np.ndarray, n_fft: int, hop: int, win: int) -> np.ndarray:
    # a ``win``-sample Hann centred in ``n_fft`` (torch.stft's win_length), frames centred on hops
    spec = dsp.stft(x, dsp.centred(dsp.hann(win), n_fft), hop)
    return np.maximum(np.abs(spec), 1e-7)


def mrstft_distance(ref: np.ndarray, est: np.ndarray) -> float:
    """Spectral convergence + mean |log magnitude difference|, averaged over three resolutions."""
    ref, est = _align(ref, est)
    total = 0.0
    for n_fft, hop, win in MRSTFT_RESOLUTIONS:
        r, e = _stft_mag(ref, n_fft, hop, win), _stft_mag(est, n_fft, hop, win)
        total += np.linalg.norm(r - e) / max(np.linalg.norm(r), 1e-12) + np.mean(np.abs(np.log(r) - np.log(e)))
    return float(total / len(MRSTFT_RESOLUTIONS))


def pesq_wb(ref: np.ndarray, est: np.ndarray, rate: int) -> float:
    """Wideband PESQ (ITU-T P.862.2) at 16 kHz; needs the ``pesq`` package (a dev/bench extra)."""
    import soxr
    from pesq import pesq

    ref, est = _align(ref, est)
    if rate != PESQ_RATE:
        ref = soxr.resample(ref, rate, PESQ_RATE, quality="VHQ")
        est = soxr.resample(est, rate, PESQ_RATE, quality="VHQ")
    return float(pesq(PESQ_RATE, ref, est, "wb"))

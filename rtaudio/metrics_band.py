"""Upsampling metrics that see what LSD cannot (numpy only): ViSQOL, a real-vs-generated band test, whistles.

LSD rewards a smooth regression mean and any high-band energy (DESIGN.md, "Measuring
quality"), so three more views of the band a model adds:

- :func:`visqol_audio`: ViSQOL v3 audio mode (Hines et al., Chinen et al. 2020), the full-reference
  perceptual score AERO, FLowHigh and A²SB report, at 48 kHz, through the optional PyPI package
  ``visqol-python`` (``pip install rtaudio[bench]``; ``None`` without it). It costs seconds per
  clip on a CPU (measured in bench/BENCHMARKS.md).
- :func:`band_realness`: a distributional, reference-free-in-kind test of the added band. Frames of
  the reference's high band and of the output's high band (the same moments of the same
  clips) are described by their log band energies and their frame-to-frame changes; a
  logistic-regression classifier is trained to tell the two apart and scored by
  cross-validation over contiguous blocks of time (train and test never share a stretch of
  speech). Accuracy 0.5: the generated band is indistinguishable frame by frame; 1.0: any frame
  gives it away (an empty band, a constant tone, a wrong level). It needs no model of speech,
  only the reference's own statistics, and no package beyond numpy.
- :func:`whistle_db`: fixed tones. The long-term spectrum (Welch average of 4096-point Hann
  frames, 11.7 Hz bins at 48 kHz) above the input band, each bin against the median of its
  ±500 Hz neighbourhood; the largest excess in dB. Broad formant energy and noise stay low; a
  fixed tone a network's frame rate imprints stands out by 20 dB or more. Real recordings have
  tones of their own (the shipped German clip: 26 dB at 20.9 kHz, a recorder's artefact), so
  :func:`whistle_excess_db` compares bin by bin with the reference: the most any output peak
  exceeds the reference's prominence at the same frequency.
"""

from __future__ import annotations

import importlib.util

import numpy as np

#: ViSQOL audio mode's rate: other outputs are resampled to it first
VISQOL_RATE = 48000
#: what the bench says when ViSQOL cannot run
VISQOL_MISSING = "visqol-python is not installed (pip install rtaudio[bench])"

#: long-term-spectrum analysis for :func:`whistle_db`
WHISTLE_NFFT, WHISTLE_HOP, WHISTLE_NEIGHBOURHOOD_HZ = 4096, 1024, 500.0
#: frames and features of :func:`band_realness`
BAND_NFFT, BAND_HOP, BAND_COUNT, BAND_FOLDS = 1024, 256, 16, 5


def visqol_available() -> bool:
    """Whether :func:`visqol_audio` can run here (the optional package is installed)."""
    return importlib.util.find_spec("visqol") is not None


_API = None


def visqol_audio(ref: np.ndarray, est: np.ndarray, rate: int) -> float | None:
    """ViSQOL v3 audio-mode MOS-LQO (1..5, higher is better) of ``est`` against ``ref``.

    Signals at another ``rate`` are resampled to 48 kHz (soxr VHQ) first: the audio mode's model
    is defined there. ``None`` for a signal too short for ViSQOL's patches (about 2 s of
    speech); raises ``ImportError`` without ``visqol-python``.
    """
    global _API
    import soxr
    from visqol import VisqolApi

    ref, est = (np.ravel(a).astype(np.float64) for a in (ref, est))
    n = min(len(ref), len(est))
    ref, est = ref[:n], est[:n]
    if rate != VISQOL_RATE:
        ref, est = (soxr.resample(a, rate, VISQOL_RATE, quality="VHQ") for a in (ref, est))
    if _API is None:
        api = VisqolApi()
        api.create(mode="audio")
        _API = api
    try:
        return float(_API.measure_from_arrays(ref, est, VISQOL_RATE).moslqo)
    except ValueError as exc:
        if "minimum patch size" in str(exc):  # too short to score, not an error of the output
            return None
        raise


def _power_frames(x: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    from rtaudio import dsp

    return np.abs(dsp.stft(np.ravel(x), dsp.hann(n_fft), hop, center=False)) ** 2


def long_term_spectrum_db(x: np.ndarray) -> np.ndarray:
    """Welch long-term power spectrum in dB, ``WHISTLE_NFFT // 2 + 1`` bins."""
    return 10 * np.log10(np.mean(_power_frames(x, WHISTLE_NFFT, WHISTLE_HOP), axis=0) + 1e-20)


def _prominence(x: np.ndarray, rate: int) -> tuple[np.ndarray, np.ndarray]:
    """Each long-term-spectrum bin's level above the median of its ±500 Hz neighbourhood (dB), and the bins' Hz."""
    level = long_term_spectrum_db(x)
    half = int(round(WHISTLE_NEIGHBOURHOOD_HZ / (rate / WHISTLE_NFFT)))
    windows = np.lib.stride_tricks.sliding_window_view(np.pad(level, half, mode="edge"), 2 * half + 1)
    return level - np.median(windows, axis=1), np.fft.rfftfreq(WHISTLE_NFFT, 1.0 / rate)


def _band(freqs: np.ndarray, rate: int, min_hz: float) -> np.ndarray:
    # a neighbourhood clear of the input band's edge, up to 95% of Nyquist (resamplers roll off there)
    return np.flatnonzero((freqs > min_hz + WHISTLE_NEIGHBOURHOOD_HZ) & (freqs < 0.95 * rate / 2))


def whistle_db(x: np.ndarray, rate: int, min_hz: float) -> tuple[float, float]:
    """Largest narrow peak of ``x``'s long-term spectrum above ``min_hz``: ``(excess_db, frequency_hz)``,
    the bin's level above the median of its ±:data:`WHISTLE_NEIGHBOURHOOD_HZ` neighbourhood."""
    prom, freqs = _prominence(x, rate)
    band = _band(freqs, rate, min_hz)
    best = band[int(np.argmax(prom[band]))]
    return float(prom[best]), float(freqs[best])


def whistle_excess_db(ref: np.ndarray, est: np.ndarray, rate: int, min_hz: float) -> tuple[float, float]:
    """Largest narrow peak ``est`` has above ``min_hz`` *where the reference has none*: the most, over
    bins, by which ``est``'s peak prominence exceeds the reference's (counted from 0 dB);
    ``(excess_db, frequency_hz)``. A tone the reference also holds (a recording's own pilot
    tone) does not count; a tone the model adds counts in full."""
    pe, freqs = _prominence(est, rate)
    pr, _ = _prominence(ref, rate)
    band = _band(freqs, rate, min_hz)
    excess = pe[band] - np.maximum(pr[band], 0.0)
    best = int(np.argmax(excess))
    return float(excess[best]), float(freqs[band[best]])


def _band_features(x: np.ndarray, rate: int, min_hz: float) -> np.ndarray:
    """``(frames, 2 * BAND_COUNT)``: log energies of equal-width bands above ``min_hz`` and their changes."""
    power = _power_frames(x, BAND_NFFT, BAND_HOP)
    freqs = np.fft.rfftfreq(BAND_NFFT, 1.0 / rate)
    edges = np.linspace(min_hz, 0.95 * rate / 2, BAND_COUNT + 1)
    pairs = zip(edges[:-1], edges[1:], strict=True)
    bands = np.stack([power[:, (freqs >= a) & (freqs < b)].sum(axis=1) for a, b in pairs], axis=1)
    logs = np.log10(bands + 1e-12)
    return np.concatenate([logs, np.diff(logs, axis=0, prepend=logs[:1])], axis=1)


def _fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1e-2, iters: int = 30) -> np.ndarray:
    """Weights ``(features + 1,)`` of an L2-regularised logistic regression (Newton's method)."""
    a = np.concatenate([x, np.ones((len(x), 1))], axis=1)
    w = np.zeros(a.shape[1])
    reg = l2 * len(x) * np.eye(a.shape[1])
    reg[-1, -1] = 0.0
    # einsum, not BLAS matmul: on a busy machine BLAS threads made this 10x slower (measured)
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-np.clip(np.einsum("ni,i->n", a, w), -30, 30)))
        grad = np.einsum("ni,n->i", a, p - y) + reg @ w
        hess = np.einsum("ni,nj->ij", a * (p * (1 - p))[:, None], a) + reg
        step = np.linalg.solve(hess + 1e-9 * np.eye(len(w)), grad)
        w -= step
        if np.abs(step).max() < 1e-6:
            break
    return w


def band_realness(ref: np.ndarray, est: np.ndarray, rate: int, min_hz: float, folds: int = BAND_FOLDS) -> float:
    """Cross-validated accuracy of telling ``est``'s band above ``min_hz`` from ``ref``'s, frame by frame.

    Only frames where the reference is within 50 dB of its loudest frame (in the whole
    band) take part, at the same moments for both: silence says nothing about a band. Folds are
    contiguous blocks of time. 0.5 is indistinguishable, 1.0 is always told apart.
    """
    ref, est = np.ravel(ref), np.ravel(est)
    n = min(len(ref), len(est))
    fr, fe = _band_features(ref[:n], rate, min_hz), _band_features(est[:n], rate, min_hz)
    loud = _power_frames(ref[:n], BAND_NFFT, BAND_HOP).sum(axis=1)
    keep = np.flatnonzero(10 * np.log10(loud + 1e-20) > 10 * np.log10(loud.max() + 1e-20) - 50.0)
    if len(keep) < 4 * folds:
        return float("nan")
    x = np.concatenate([fr[keep], fe[keep]])
    y = np.concatenate([np.zeros(len(keep)), np.ones(len(keep))])
    block = np.concatenate([np.arange(len(keep)), np.arange(len(keep))]) * folds // len(keep)
    correct = 0
    for k in range(folds):
        train, test = block != k, block == k
        mean, std = x[train].mean(axis=0), x[train].std(axis=0) + 1e-6
        w = _fit_logistic((x[train] - mean) / std, y[train])
        z = np.einsum("ni,i->n", (x[test] - mean) / std, w[:-1]) + w[-1]
        correct += int(np.sum((z > 0) == (y[test] > 0.5)))
    return correct / len(x)

"""The style task (numpy + onnxruntime): a feed-forward style network streamed in the STFT domain.

Runtime side of audio style transfer. Torch lives in :mod:`rtaudio.tasks.style_optimise` (the
published optimisation, ``rtaudio style``) and ``export/style`` (training); this module holds
what both share without torch: the log-magnitude analysis, phase retrieval for the optimiser,
the style metrics of the bench, and the streaming kernel of the shipped networks.

Measurement (the bench, ``rtaudio style --json``, the tests):

- *style distance*: the Frobenius distance between Gram matrices of a feature set that no
  network here is optimised with: 64-band log-mel frames (n_fft 1024, hop 256) of the
  loudness-normalised signal (:func:`mel_gram`); a second, a random conv net of another seed,
  width and resolution than the loss networks (:func:`cnn_gram`), is reported beside it.
  Reported as the ratio ``d(output, style) / d(content, style)``: below 1, the output is
  nearer the style than the content was;
- *content preservation*: Pearson correlation of the spectral-flux onset envelopes (and of the
  frame log-energy envelopes) of output and content; STOI of the output against the content.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from rtaudio import dsp
from rtaudio.tasks import spectral
from rtaudio.tasks.mel import MelSpec, log_mel

#: the published analysis: n_fft 2048, hop n_fft / 4
OPT_N_FFT, OPT_HOP = 2048, 512


# ---------------------------------------------------------------------------------------------
# Analysis and phase retrieval for the optimiser
# ---------------------------------------------------------------------------------------------


def log_spectrogram(audio: np.ndarray, hop: int = OPT_HOP) -> tuple[np.ndarray, np.ndarray]:
    """``log1p(|X|)`` and the phase of the centred Hann STFT (n_fft ``4 * hop``), both ``(frames, bins)``."""
    spec = spectral.stft(np.asarray(audio, np.float64), hop)
    return np.log1p(np.abs(spec)), np.angle(spec)


def fast_griffin_lim(
    magnitude: np.ndarray, phase: np.ndarray, hop: int = OPT_HOP, iters: int = 100, momentum: float = 0.99
) -> np.ndarray:
    """Samples whose STFT magnitude approaches ``magnitude`` ``(frames, bins)``, started from ``phase``.

    Griffin-Lim with Perraudin et al.'s momentum (fast Griffin-Lim) on the project's frame grid
    (:func:`rtaudio.tasks.spectral.stft` / ``istft``); ``momentum=0`` is
    :func:`~rtaudio.tasks.spectral.griffin_lim`. Started from the content's phase, the output
    keeps the content's timing where the magnitude did not move.
    """
    z = previous = magnitude * np.exp(1j * phase)
    projected = z
    for _ in range(iters):
        est = spectral.stft(spectral.istft(z, hop), hop)
        previous, projected = projected, magnitude * est / np.maximum(np.abs(est), 1e-9)
        z = projected + momentum * (projected - previous)
    return spectral.istft(projected, hop)


# ---------------------------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------------------------


def _normalised(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float64).ravel()
    return x / max(float(np.sqrt(np.mean(x**2))), 1e-9) * 0.1  # loudness is not style


@lru_cache(maxsize=8)
def _metric_mel(rate: int) -> MelSpec:
    return MelSpec(sample_rate=rate, n_fft=1024, hop=256, n_mels=64, fmin=40.0, fmax=rate / 2)


def mel_gram(audio: np.ndarray, rate: int) -> np.ndarray:
    """``(64, 64)`` Gram ``L^T L / frames`` of the log-mel frames ``L`` of the loudness-normalised signal."""
    frames = log_mel(_normalised(audio), _metric_mel(rate)).astype(np.float64)
    return frames.T @ frames / len(frames)


@lru_cache(maxsize=4)
def _metric_cnn(bins: int, filters: int = 256, kernel: int = 5, seed: int = 1234) -> np.ndarray:
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((filters, bins, kernel)) * np.sqrt(2.0 / (bins * kernel))
    w.setflags(write=False)
    return w


def cnn_gram(audio: np.ndarray, rate: int) -> np.ndarray:
    """``(256, 256)`` Gram of an independent random conv net (width 5, seed 1234, ReLU) on
    ``log1p(|STFT|)`` at n_fft 1024 / hop 256 of the loudness-normalised signal."""
    x = _normalised(audio)
    spec = np.log1p(np.abs(dsp.stft(x, dsp.hann(1024), 256)))  # (frames, bins)
    w = _metric_cnn(spec.shape[1])
    windows = dsp.frames(spec.T, w.shape[2], 1)  # (bins, frames', kernel)
    feats = np.maximum(np.einsum("bfk,obk->of", windows, w, optimize=True), 0.0)
    return feats @ feats.T / feats.shape[1]


def gram_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Frobenius distance of two Grams, relative to the second's norm."""
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-12))


def onset_envelope(audio: np.ndarray, rate: int) -> np.ndarray:
    """Spectral-flux onset envelope: the summed positive log-mel rise per frame."""
    frames = log_mel(_normalised(audio), _metric_mel(rate)).astype(np.float64)
    return np.maximum(np.diff(frames, axis=0), 0.0).sum(axis=1)


def energy_envelope(audio: np.ndarray, rate: int) -> np.ndarray:
    """Frame log-energy (dB) at the metric hop."""
    hop = _metric_mel(rate).hop
    x = np.asarray(audio, np.float64).ravel()
    n = len(x) // hop
    return 10 * np.log10(np.mean(x[: n * hop].reshape(n, hop) ** 2, axis=1) + 1e-10)


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    n = min(len(a), len(b))
    a, b = a[:n] - a[:n].mean(), b[:n] - b[:n].mean()
    return float(np.dot(a, b) / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-12))


def style_figures(output: np.ndarray, content: np.ndarray, style: np.ndarray, rate: int) -> dict[str, float | None]:
    """The style figures of one output (see the module docstring); all three at ``rate``.

    Returns
    -------
    dict
        ``style_ratio`` (log-mel Gram), ``style_ratio_cnn`` (independent random CNN Gram),
        ``onset_corr``, ``energy_corr``, ``stoi`` (``None`` without ``pystoi``).
    """
    n = min(len(output), len(content))
    output, content = np.asarray(output[:n], np.float64), np.asarray(content[:n], np.float64)
    figures: dict[str, float | None] = {}
    for key, fn in (("style_ratio", mel_gram), ("style_ratio_cnn", cnn_gram)):
        target = fn(style, rate)
        figures[key] = gram_distance(fn(output, rate), target) / max(gram_distance(fn(content, rate), target), 1e-12)
    figures["onset_corr"] = _corr(onset_envelope(output, rate), onset_envelope(content, rate))
    figures["energy_corr"] = _corr(energy_envelope(output, rate), energy_envelope(content, rate))
    try:
        from pystoi import stoi
    except ImportError:  # a bench extra (``peers``), not a runtime dependency
        figures["stoi"] = None
    else:
        figures["stoi"] = float(stoi(content, output, rate, extended=False))
    return figures

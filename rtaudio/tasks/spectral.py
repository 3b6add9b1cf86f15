"""Frame-grid STFT synthesis and phase retrieval (numpy), for the vocoder.

Frames follow :mod:`rtaudio.tasks.mel`: frame ``f`` is centred on sample ``f * hop``; the
Hann window spans ``n_fft = 4 * hop`` samples. :func:`istft` is the inverse of that analysis
(weighted overlap-add with a constant normaliser, 1.5 = the sum of Hann^2 over four hops),
identical to the torch synthesis of ``export/vocoder/models.py`` that the predictor trains
through.

Two phase retrievals, both alternating projections whose influence decays within a few
frames, so windowed runs still match whole-signal runs:

- :func:`griffin_lim` makes the STFT's magnitude approach a given magnitude;
- :func:`mel_griffin_lim` makes only the STFT's *mel* approach the given mel: the one thing a
  vocoder really knows. The fine structure inside each band (harmonics, their phases) is left
  to settle on what a consistent STFT can have, instead of being forced to a predicted
  magnitude that no signal has (the limit of plain Griffin-Lim on predicted magnitudes).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from rtaudio import dsp
from rtaudio.tasks.mel import MelBands

#: sum over frames of hann^2 at hop n_fft / 4 (periodic Hann), the overlap-add gain
HANN_OLA_GAIN = 1.5
#: the vocoder's predictor emits spectra of ``STFT / PREDICTOR_GAIN`` (its synthesis normalises
#: the overlap-add by 2, the sum of Hann itself): scale its magnitudes by this to get an STFT
PREDICTOR_GAIN = HANN_OLA_GAIN / 2.0


@lru_cache(maxsize=8)
def _synthesis_window(n_fft: int) -> np.ndarray:
    # the overlap-add gain folded into the window (as the torch synthesis does): one multiply a sample
    w = dsp.hann(n_fft) / HANN_OLA_GAIN
    w.setflags(write=False)
    return w


def istft(spec: np.ndarray, hop: int) -> np.ndarray:
    """``(..., frames, bins)`` complex half spectra -> ``(..., frames * hop)`` float32 samples."""
    frames = spec.shape[-2]
    out = dsp.istft(spec, _synthesis_window(4 * hop), hop, gain=1.0, length=frames * hop)
    return out.astype(np.float32)


def stft(audio: np.ndarray, hop: int) -> np.ndarray:
    """``(..., frames * hop)`` samples -> ``(..., frames, bins)`` Hann STFT on the same frame grid."""
    frames = audio.shape[-1] // hop
    return dsp.stft(audio[..., : frames * hop], dsp.hann(4 * hop), hop, n_frames=frames)


def mel_griffin_lim(
    magnitude: np.ndarray,
    phase: np.ndarray,
    mel_magnitude: np.ndarray,
    bands: MelBands,
    hop: int,
    iters: int,
    momentum: float = 0.0,
) -> np.ndarray:
    """Samples whose STFT, seen through the mel ``bands``, approaches ``mel_magnitude``.

    ``magnitude * exp(i phase)`` ``(..., frames, bins)`` is the starting spectrum;
    ``mel_magnitude`` ``(..., frames, n_mels)`` the target (``exp`` of a log-mel);
    ``bands`` the mel filters (:func:`rtaudio.tasks.mel.mel_bands`). Each iteration takes the
    STFT of the current signal and scales every bin by its bands' ratio of target to current
    mel energy (averaged with the filter weights that cover the bin): a step towards the set of
    spectra with the target mel.
    ``momentum`` extrapolates each step along the last one (the "fast Griffin-Lim" of Perraudin
    et al.): at 0.9, 32 iterations beat 64 plain ones (measured on held-out speech).
    """
    projected = z = magnitude * np.exp(1j * phase)
    for _ in range(iters):
        est = stft(istft(z, hop), hop)
        band_ratio = mel_magnitude / np.maximum(bands.to_mel(np.abs(est)), 1e-12)
        previous, projected = projected, est * bands.to_bins(band_ratio)
        z = projected + momentum * (projected - previous) if momentum else projected
    return istft(projected, hop)


def griffin_lim(magnitude: np.ndarray, phase: np.ndarray, hop: int, iters: int) -> np.ndarray:
    """Samples whose STFT magnitude approaches ``magnitude`` after ``iters`` projections.

    ``magnitude`` and ``phase`` are ``(..., frames, bins)``; ``phase`` is the starting point
    (the predictor's estimate, or random for the classical baseline). 0 iterations is plain
    :func:`istft` of ``magnitude * exp(i phase)``.
    """
    z = magnitude * np.exp(1j * phase)
    for _ in range(iters):
        est = stft(istft(z, hop), hop)
        z = magnitude * est / np.maximum(np.abs(est), 1e-9)
    return istft(z, hop)

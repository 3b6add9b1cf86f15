"""The vocoder's mel front end (numpy), defined once for the runtime and for training.

``export/vocoder/mel.py`` is the torch twin used in training; a test holds the two to
within 1e-4. A model card stores the :class:`MelSpec` fields under ``"mel"``.

Mel files (``.npy``) fed to ``rtaudio stream --task vocode`` follow this format:

- shape ``(frames, n_mels)``, float32 (float64 is accepted), one row per frame;
- frame ``f`` is the analysis of the audio centred on sample ``f * hop`` (the signal is
  zero padded by ``n_fft // 2`` on both sides), so ``frames`` frames synthesise
  ``frames * hop`` samples at ``sample_rate``;
- value = natural log of ``max(mel_magnitude, 1e-5)``: a Hann-windowed magnitude STFT
  (not power) of audio in [-1, 1], through Slaney-normalised triangular filters on the
  HTK mel scale.

The shipped vocoder uses the defaults below: 24 kHz, hop 300 (12.5 ms, 80 frames/s),
window 1200 (50 ms, as in WaveGrad), 80 bands from 20 Hz to 12 kHz. Make a mel file with
``np.save("x.npy", log_mel(audio_24k))``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache

import numpy as np

from rtaudio import dsp


@dataclass(frozen=True)
class MelSpec:
    """Mel analysis parameters (the card's ``"mel"`` entry)."""

    sample_rate: int = 24000
    n_fft: int = 1200
    hop: int = 300
    n_mels: int = 80
    fmin: float = 20.0
    fmax: float = 12000.0
    log_floor: float = 1e-5

    @property
    def frame_rate(self) -> float:
        """Mel frames per second."""
        return self.sample_rate / self.hop

    def to_dict(self) -> dict:
        return asdict(self)


DEFAULT = MelSpec()


def _hz_to_mel(f: np.ndarray) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + f / 700.0)


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    return 700.0 * (10.0 ** (m / 2595.0) - 1.0)


@lru_cache(maxsize=8)
def mel_filters(spec: MelSpec = DEFAULT) -> np.ndarray:
    """``(n_mels, n_fft // 2 + 1)`` float64 triangular filters, Slaney area normalisation."""
    freqs = np.fft.rfftfreq(spec.n_fft, 1.0 / spec.sample_rate)
    edges = _mel_to_hz(np.linspace(_hz_to_mel(spec.fmin), _hz_to_mel(spec.fmax), spec.n_mels + 2))
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    tri = np.maximum(0.0, np.minimum((freqs - lo) / (mid - lo), (hi - freqs) / (hi - mid)))
    tri *= 2.0 / (hi - lo)  # equal area: a band's level does not depend on its width
    tri.setflags(write=False)
    return tri


class MelBands:
    """Mel filters ``(n_mels, bins)`` stored as the (at most two) bands that cover each bin.

    Phase retrieval projects onto the mel twice per iteration; a dense matmul there hands the
    work to BLAS threads, which on a busy machine made streaming 8x slower (measured: RTF 4.4
    against 0.54 with one BLAS thread). Triangular filters overlap only with their neighbours,
    so two weighted gathers and two run-length sums do the same work in one thread.
    """

    def __init__(self, filters: np.ndarray) -> None:
        covered = filters > 0
        count = covered.sum(axis=0)
        if count.max() > 2:
            raise ValueError("each bin may be covered by at most two filters")
        n_mels, bins = filters.shape
        cols = np.arange(bins)
        first = np.where(count > 0, covered.argmax(axis=0), -1)
        last = np.where(count > 1, n_mels - 1 - covered[::-1].argmax(axis=0), first)
        # uncovered bins (below fmin, at fmax) join a neighbouring run with weight 0, which keeps
        # each layer's band index non-decreasing: one contiguous run per band
        self.lower = np.maximum.accumulate(np.maximum(first, 0))
        self.upper = np.maximum.accumulate(np.maximum(last, 0))
        self.w_lower = np.where(count > 0, filters[self.lower, cols], 0.0)
        self.w_upper = np.where(count > 1, filters[self.upper, cols], 0.0)
        self.n_mels = n_mels
        coverage = np.maximum(self.w_lower + self.w_upper, 1e-12)
        self._avg_lower, self._avg_upper = self.w_lower / coverage, self.w_upper / coverage
        self._runs = [
            (idx, w, np.flatnonzero(np.diff(idx, prepend=-1)))
            for idx, w in ((self.lower, self.w_lower), (self.upper, self.w_upper))
        ]

    def to_mel(self, spectrum: np.ndarray) -> np.ndarray:
        """``(..., bins) -> (..., n_mels)``: the same as ``spectrum @ filters.T``."""
        out = np.zeros((*spectrum.shape[:-1], self.n_mels))
        for idx, weight, starts in self._runs:
            out[..., idx[starts]] += np.add.reduceat(spectrum * weight, starts, axis=-1)
        return out

    def to_bins(self, bands: np.ndarray) -> np.ndarray:
        """``(..., n_mels) -> (..., bins)``: each bin's filter-weighted average of its bands' values."""
        return bands[..., self.lower] * self._avg_lower + bands[..., self.upper] * self._avg_upper


@lru_cache(maxsize=8)
def mel_bands(spec: MelSpec = DEFAULT) -> MelBands:
    """:func:`mel_filters` as :class:`MelBands` (built once per spec: phase retrieval uses it per chunk)."""
    return MelBands(mel_filters(spec))


def window(spec: MelSpec = DEFAULT) -> np.ndarray:
    """Periodic Hann window of ``n_fft`` samples (torch.hann_window's default), read-only."""
    return dsp.hann(spec.n_fft)


def log_mel(audio: np.ndarray, spec: MelSpec = DEFAULT) -> np.ndarray:
    """Log-mel frames of mono ``audio`` at ``spec.sample_rate``.

    Parameters
    ----------
    audio
        ``(n,)`` samples; ``n`` need not be a multiple of the hop.

    Returns
    -------
    numpy.ndarray
        float32 ``(ceil(n / hop), n_mels)``; frame ``f`` is centred on sample ``f * hop``.
    """
    x = np.asarray(audio, dtype=np.float64).ravel()
    mag = np.abs(dsp.stft(x, window(spec), spec.hop, n_frames=-(-len(x) // spec.hop)))
    mel = mag @ mel_filters(spec).T
    return np.log(np.maximum(mel, spec.log_floor)).astype(np.float32)

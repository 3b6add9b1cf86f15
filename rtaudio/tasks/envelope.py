"""Learned spectral-envelope post-filter for the neural band extension (numpy only).

The band-extension network is good at the fine structure of the band it adds and poor at its
level: after an hour of CPU training it under-predicts fricatives by 10-15 dB and over-predicts
vowels. The level of each 500 Hz band above the input's Nyquist, frame by frame, is a far easier
target: a ridge regression from the input band's log energies (a few frames of context) predicts
it to within the log-spectral distance the project is judged on. So the runtime shapes the
network's band, per STFT frame and per 500 Hz band, to the predicted energies.

Frames sit on an absolute grid (centres at multiples of :data:`HOP` on the 48 kHz timeline), so
a window processed with :func:`margin_samples` of context on each side gives exactly the samples
the whole signal would. The regression maps are fitted by ``export/envelope.py`` and ship in an
``.npz`` beside the model (sha256 in the card).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from rtaudio import dsp
from rtaudio.rates import MODEL_RATE

N_FFT = 512
HOP = 128
BAND_HZ = 500
#: level floor of the band energies (power of an STFT bin), well below any real signal
FLOOR = 1e-10
#: a band's gain is capped (x100 = +40 dB): never amplify the network's near-silence into noise
MAX_GAIN = 100.0

_WINDOW = dsp.hann(N_FFT)  # periodic Hann: sum of squares over 4 hops is constant
_OLA_GAIN = dsp.ola_gain(_WINDOW, HOP)
_FREQS = np.fft.rfftfreq(N_FFT, 1.0 / MODEL_RATE)


def _band_index(lo: float, hi: float) -> np.ndarray:
    """Band number of each STFT bin in [lo, hi) in BAND_HZ steps, -1 outside."""
    freqs = _FREQS
    idx = np.floor((freqs - lo) / BAND_HZ).astype(int)
    idx[(freqs < lo) | (freqs >= hi)] = -1
    return idx


@dataclass(frozen=True)
class EnvelopeMap:
    """Ridge map for one input rate: input-band log energies (frames -past..+future) -> the
    log energies of the 500 Hz bands from the input's Nyquist to 24 kHz."""

    in_rate: int
    past: int
    future: int
    weights: np.ndarray  # (n_features + 1, n_out_bands)
    quadratic: bool = False  # squares of the band log energies as extra features

    @property
    def cutoff(self) -> float:
        return self.in_rate / 2

    @cached_property
    def in_bands(self) -> np.ndarray:
        return _band_index(0.0, self.cutoff)

    @cached_property
    def out_bands(self) -> np.ndarray:
        return _band_index(self.cutoff, MODEL_RATE / 2 + 1)

    def features(self, cond_spec: np.ndarray) -> np.ndarray:
        """(frames, n_features + 1) regression inputs from the STFT of the input band."""
        low = band_log_energy(cond_spec, self.in_bands)
        n = len(low)
        padded = np.pad(low, ((self.past, self.future), (0, 0)), mode="edge")
        ctx = [padded[k : k + n] for k in range(self.past + self.future + 1)]
        if self.quadratic:
            ctx += [c**2 / 10 for c in ctx]
        return np.concatenate([*ctx, np.ones((n, 1))], axis=1)

    def predict(self, cond_spec: np.ndarray) -> np.ndarray:
        """Predicted log10 energies of the output bands, (frames, n_out_bands)."""
        return self.features(cond_spec) @ self.weights


def band_log_energy(spec: np.ndarray, bands: np.ndarray) -> np.ndarray:
    """log10 mean bin power per band: spec (frames, bins) complex, bands from :func:`_band_index`."""
    inside = bands >= 0
    members = np.zeros((int(inside.sum()), int(bands.max()) + 1))
    members[np.arange(len(members)), bands[inside]] = 1.0
    members /= members.sum(axis=0)
    return np.log10((np.abs(spec[:, inside]) ** 2) @ members + FLOOR)


def margin_samples(emap: EnvelopeMap) -> int:
    """One-sided reach of the shaper in 48 kHz samples (its share of the streaming context).

    An output sample is overlap-added from the frames within half a window of it; each frame's
    gain reads its own half-window and the context frames' (``past``/``future`` hops away).
    """
    return N_FFT + HOP * max(emap.past, emap.future)


def stft_frames(x: np.ndarray, start48: int, pad: int) -> tuple[np.ndarray, int]:
    """STFT frames of ``x`` (zero-padded by ``pad``) on the absolute HOP grid; returns the spectra
    and the offset of the padded signal's first sample relative to ``x[0]``."""
    return dsp.grid_stft(x, start48, _WINDOW, HOP, pad)


def shape(cond: np.ndarray, band: np.ndarray, start48: int, emap: EnvelopeMap) -> np.ndarray:
    """Scale each 500 Hz band of ``band`` (the network's added band), frame by frame, to the
    energy ``emap`` predicts from ``cond`` (the interpolated input). 1-D float arrays of equal
    length at 48 kHz; ``start48`` is the absolute index of their first sample.

    Samples within :func:`margin_samples` of either end depend on audio outside the arrays.
    """
    pad = margin_samples(emap)
    cond_spec, lead = stft_frames(np.asarray(cond, np.float64), start48, pad)
    band_spec, _ = stft_frames(np.asarray(band, np.float64), start48, pad)
    frames = shaped_frames(band_spec, emap.predict(cond_spec), emap)
    acc = dsp.overlap_add(frames, HOP) / _OLA_GAIN  # Hann^2 over 4 hops sums to 1.5
    return acc[lead : lead + len(band)].astype(np.float32)


def shaped_frames(band_spec: np.ndarray, target: np.ndarray, emap: EnvelopeMap) -> np.ndarray:
    """Windowed time frames of the band, each 500 Hz band scaled to its ``target`` log energy.

    ``band_spec`` ``(..., frames, bins)`` complex, ``target`` ``(..., frames, n_out_bands)`` from
    :meth:`EnvelopeMap.predict`; returns ``(..., frames, N_FFT)``, ready to overlap-add.
    """
    lead = band_spec.shape[:-1]
    spec = band_spec.reshape(-1, band_spec.shape[-1])
    out_bands = emap.out_bands
    have = band_log_energy(spec, out_bands)
    gain = np.minimum(10 ** (0.5 * (target.reshape(len(spec), -1) - have)), MAX_GAIN)
    per_bin = np.ones((len(gain), len(_FREQS)))
    sel = out_bands >= 0
    per_bin[:, sel] = gain[:, out_bands[sel]]
    return (np.fft.irfft(spec * per_bin, N_FFT, axis=1) * _WINDOW).reshape(*lead, N_FFT)


def load_maps(path: Path) -> dict[int, EnvelopeMap]:
    """The maps in an ``.npz`` written by ``export/envelope.py``, keyed by input rate."""
    with np.load(path) as z:
        rates = [int(r) for r in z["rates"]]
        return {
            r: EnvelopeMap(
                r,
                int(z[f"past_{r}"]),
                int(z[f"future_{r}"]),
                np.asarray(z[f"weights_{r}"], np.float64),
                bool(z[f"quadratic_{r}"]) if f"quadratic_{r}" in z else False,
            )
            for r in rates
        }

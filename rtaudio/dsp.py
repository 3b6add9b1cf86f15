"""The runtime's one STFT layer (numpy only): Hann windows, framing, STFT, overlap-add iSTFT.

Every spectral caller (the mel front end, the envelope shaper, the vocoder's phase retrieval,
the metrics and the spectrogram figures) frames, windows and resynthesises through here, so
the conventions are written once:

- a frame is ``n_fft = len(window)`` consecutive samples; frame ``k`` of a padded signal starts
  at padded sample ``k * hop``. "Centred" framing pads ``n_fft // 2`` samples on the left, so
  frame ``k`` is centred on input sample ``k * hop`` (librosa's and torch's ``center=True``);
- :func:`grid_stft` puts frames on an *absolute* grid (frame starts at multiples of ``hop`` on
  the stream's timeline), so a window of a stream cut anywhere yields exactly the frames of
  the whole signal: what the streaming engine's parity rests on;
- analysis is float64 whatever the input's dtype; spectra are one-sided (``rfft``).

:func:`istft` inverts :func:`stft` by weighted overlap-add: exactly (to rounding) with the
per-sample window-sum normalisation, or with a constant gain for windows whose squares sum to a
constant at the hop (COLA; :func:`ola_gain`), as the shipped models' synthesis does.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

__all__ = [
    "centred",
    "frames",
    "grid_lead",
    "grid_stft",
    "hann",
    "istft",
    "ola_gain",
    "overlap_add",
    "stft",
    "window_sumsquare",
]


@lru_cache(maxsize=32)
def hann(n: int, periodic: bool = True) -> np.ndarray:
    """Hann window of ``n`` samples, float64, read-only (cached).

    Parameters
    ----------
    n
        Window length.
    periodic
        ``True`` (the default, the analysis window; ``torch.hann_window``'s default): one
        period of a raised cosine of period ``n``. At ``hop = n / 4`` copies of it overlap-add
        to 2 and copies of its square to 1.5 (COLA), whatever ``n``.
        ``False``: the symmetric window of ``np.hanning(n)`` (zero at both ends), for display.

    Returns
    -------
    numpy.ndarray
        ``(n,)`` window.
    """
    # numpy's symmetric formula, taken one sample longer for the periodic window: the same
    # arithmetic the callers always had (np.hanning(n + 1)[:-1]), so their outputs are unchanged
    w = np.hanning(n + 1)[:-1] if periodic else np.hanning(n)
    w.setflags(write=False)
    return w


def centred(window: np.ndarray, n_fft: int) -> np.ndarray:
    """``window`` zero-padded on both sides to ``n_fft`` samples (``torch.stft``'s ``win_length < n_fft``)."""
    window = np.asarray(window, dtype=np.float64)
    if len(window) > n_fft:
        raise ValueError(f"window of {len(window)} samples does not fit in n_fft {n_fft}")
    out = np.zeros(n_fft)
    left = (n_fft - len(window)) // 2
    out[left : left + len(window)] = window
    out.setflags(write=False)
    return out


def frames(x: np.ndarray, n_fft: int, hop: int, n_frames: int | None = None) -> np.ndarray:
    """``(..., n_frames, n_fft)`` read-only view of the frames of ``x`` along its last axis.

    Frame ``k`` is ``x[..., k * hop : k * hop + n_fft]``. ``n_frames`` defaults to every frame
    that fits, ``1 + (len - n_fft) // hop``; more than fit is an error (pad first).
    """
    x = np.asarray(x)
    fit = 1 + (x.shape[-1] - n_fft) // hop if x.shape[-1] >= n_fft else 0
    if n_frames is None:
        n_frames = fit
    elif n_frames > fit:
        raise ValueError(f"{n_frames} frames of {n_fft} at hop {hop} need {(n_frames - 1) * hop + n_fft} samples")
    if fit == 0:
        return np.zeros((*x.shape[:-1], 0, n_fft), x.dtype)
    view = np.lib.stride_tricks.sliding_window_view(x, n_fft, axis=-1)
    return view[..., ::hop, :][..., :n_frames, :]


def _spectra(padded: np.ndarray, window: np.ndarray, hop: int, n_frames: int | None) -> np.ndarray:
    return np.fft.rfft(frames(padded, len(window), hop, n_frames) * window, axis=-1)


def stft(
    x: np.ndarray,
    window: np.ndarray,
    hop: int,
    *,
    center: bool = True,
    pad_mode: str = "constant",
    n_frames: int | None = None,
) -> np.ndarray:
    """One-sided STFT of ``x`` along its last axis.

    Parameters
    ----------
    x
        ``(..., n)`` samples (computed in float64).
    window
        Analysis window; its length is ``n_fft`` (see :func:`hann`, :func:`centred`).
    hop
        Frame step in samples.
    center
        Pad ``n_fft // 2`` samples on each side (``pad_mode``), so frame ``k`` is centred on
        sample ``k * hop``; otherwise frame ``k`` starts at sample ``k * hop``.
    pad_mode
        ``np.pad`` mode of the centre padding: ``"constant"`` (zeros) or ``"reflect"``.
    n_frames
        Number of frames; by default every frame that fits in the padded signal. Frames past
        its end read zeros (the signal is zero-extended as far as they need).

    Returns
    -------
    numpy.ndarray
        complex128 ``(..., n_frames, n_fft // 2 + 1)``.
    """
    x = np.asarray(x, dtype=np.float64)
    n_fft = len(window)
    half = n_fft // 2 if center else 0
    padded = x
    if half:
        width = [(0, 0)] * (x.ndim - 1) + [(half, half)]
        padded = np.pad(x, width, mode=pad_mode)
    if n_frames is not None:
        short = (n_frames - 1) * hop + n_fft - padded.shape[-1]
        if short > 0:
            padded = np.pad(padded, [(0, 0)] * (x.ndim - 1) + [(0, short)])
    return _spectra(padded, window, hop, n_frames)


def grid_lead(start: int, margin: int, hop: int) -> int:
    """Zeros to put before a segment that starts at absolute sample ``start`` so that at least
    ``margin`` precede it and the padded start lies on the absolute ``hop`` grid."""
    return margin + (start - margin) % hop


def grid_stft(x: np.ndarray, start: int, window: np.ndarray, hop: int, margin: int) -> tuple[np.ndarray, int]:
    """STFT of a segment on the absolute frame grid of the stream it was cut from.

    ``x`` (1-D) is the stream's samples from absolute index ``start``; it is zero-padded by at
    least ``margin`` on the left (up to the grid) and by ``margin + n_fft`` on the right, and
    every frame of the padded signal is analysed. Frame ``k`` starts at absolute sample
    ``start - lead + k * hop``, a multiple of ``hop``, so frames that lie inside ``x`` equal the
    whole stream's frames at the same positions, wherever the segment was cut.

    Returns
    -------
    tuple
        The spectra ``(frames, n_fft // 2 + 1)`` and ``lead``, the padded signal's offset
        before ``x[0]`` (:func:`istft` output sample ``lead + i`` is segment sample ``i``).
    """
    n_fft = len(window)
    lead = grid_lead(start, margin, hop)
    padded = np.concatenate([np.zeros(lead), np.asarray(x, dtype=np.float64), np.zeros(margin + n_fft)])
    return _spectra(padded, window, hop, None), lead


def overlap_add(segments: np.ndarray, hop: int) -> np.ndarray:
    """``(..., n_frames, n_fft)`` -> ``(..., (n_frames - 1) * hop + n_fft)``: segment ``k`` added at ``k * hop``.

    Each output sample sums its segments in a fixed order (the one whose start is nearest it
    first), whatever the batch shape, so the result is reproducible to the bit.
    """
    segments = np.asarray(segments)
    *lead, k, n_fft = segments.shape
    parts = -(-n_fft // hop)  # a segment spans this many hop blocks (the last one zero-extended)
    if parts * hop != n_fft:
        segments = np.concatenate([segments, np.zeros((*lead, k, parts * hop - n_fft), segments.dtype)], axis=-1)
    blocks = segments.reshape(*lead, k, parts, hop)
    out = np.zeros((*lead, k + parts - 1, hop), dtype=np.result_type(segments.dtype, np.float64))
    for j in range(parts):
        out[..., j : j + k, :] += blocks[..., j, :]
    return out.reshape(*lead, (k + parts - 1) * hop)[..., : (k - 1) * hop + n_fft]


def window_sumsquare(window: np.ndarray, hop: int, n_frames: int) -> np.ndarray:
    """``(n_frames - 1) * hop + n_fft`` samples: the overlap-added squares of ``window``."""
    window = np.asarray(window, dtype=np.float64)
    return overlap_add(np.broadcast_to(window**2, (n_frames, len(window))), hop)


def ola_gain(window: np.ndarray, hop: int) -> float:
    """``sum(window ** 2) / hop``: the constant window-sum of squares, away from the edges, of a
    window that satisfies COLA for its square at ``hop`` (periodic Hann at ``hop = n / 4``: 1.5)."""
    window = np.asarray(window, dtype=np.float64)
    return float(np.sum(window**2) / hop)


def istft(
    spec: np.ndarray,
    window: np.ndarray,
    hop: int,
    *,
    center: bool = True,
    length: int | None = None,
    gain: float | None = None,
) -> np.ndarray:
    """Weighted overlap-add inverse of :func:`stft` with the same ``window`` and ``hop``.

    Parameters
    ----------
    spec
        ``(..., n_frames, n_fft // 2 + 1)`` one-sided spectra; ``n_fft = len(window)``.
    window
        Synthesis window, applied to every inverse-FFT frame before the overlap-add.
    hop
        Frame step in samples.
    center
        Drop the first ``n_fft // 2`` output samples (the centre padding of :func:`stft`).
    length
        Keep this many samples (after ``center``); default: all of them.
    gain
        ``None`` (default): divide by the overlap-added window squares, sample by sample (the
        exact inverse wherever that sum is not tiny; where it is, the output is left
        undivided). A number: divide by that constant instead, e.g. :func:`ola_gain`, or 1.0
        for a synthesis window already scaled for its overlap.

    Returns
    -------
    numpy.ndarray
        float64 ``(..., samples)``.
    """
    n_fft = len(window)
    out = overlap_add(np.fft.irfft(spec, n_fft, axis=-1) * window, hop)
    if gain is None:
        norm = window_sumsquare(window, hop, spec.shape[-2])
        out = out / np.where(norm > 1e-10, norm, 1.0)
    elif gain != 1.0:
        out = out / gain
    if center:
        out = out[..., n_fft // 2 :]
    return out if length is None else out[..., :length]

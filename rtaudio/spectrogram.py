"""Before/after spectrogram figures (matplotlib, imported only when asked for a PNG)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rtaudio import dsp


def _spectrogram_db(audio: np.ndarray, rate: int, n_fft: int = 1024, hop: int = 256) -> np.ndarray:
    # uncentred frames, at least one (a short clip is zero-extended); symmetric Hann, for display
    n_frames = 1 + max(0, len(audio) - n_fft) // hop
    spec = np.abs(dsp.stft(audio, dsp.hann(n_fft, periodic=False), hop, center=False, n_frames=n_frames)) ** 2
    return 10 * np.log10(np.maximum(spec, 1e-10)).T


def save_spectrograms(panels: list[tuple[str, np.ndarray, int]], path: str | Path, max_hz: float = 24000) -> None:
    """Write one spectrogram panel per ``(title, mono audio, rate)`` into a PNG.

    All panels share a 0..``max_hz`` frequency axis, so a band-limited input shows its
    empty upper band against the upsampled output.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise RuntimeError("writing a PNG needs matplotlib: pip install 'rtaudio[plot]'") from None
    fig, axes = plt.subplots(len(panels), 1, figsize=(10, 2.6 * len(panels)), sharex=True, constrained_layout=True)
    axes = np.atleast_1d(axes)
    for ax, (title, audio, rate) in zip(axes, panels, strict=True):
        db = _spectrogram_db(audio, rate)
        extent = (0.0, len(audio) / rate, 0.0, rate / 2)
        image = ax.imshow(
            db, origin="lower", aspect="auto", extent=extent, vmin=db.max() - 90, vmax=db.max(), cmap="magma"
        )
        ax.set_ylim(0, max_hz)
        ax.set_facecolor("black")  # above a low-rate input's Nyquist there is nothing: draw it dark
        ax.set_title(title, loc="left", fontsize=10)
        ax.set_ylabel("Hz")
        fig.colorbar(image, ax=ax, label="dB")
    axes[-1].set_xlabel("seconds")
    fig.savefig(path, dpi=110)
    plt.close(fig)

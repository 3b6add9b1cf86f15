"""Reading ``.npy`` log-mel files for ``rtaudio stream --task vocode``.

The format (shape ``(frames, n_mels)``, natural-log mel magnitudes, the analysis
parameters) is defined in :mod:`rtaudio.tasks.mel` and recorded in each vocoder's card.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from rtaudio.io.files import AudioIOError
from rtaudio.tasks.mel import DEFAULT


def is_mel_file(path: str) -> bool:
    return path.lower().endswith(".npy")


class MelReader:
    """The :class:`~rtaudio.io.files.AudioReader` interface over a ``.npy`` of mel frames.

    Mel bands are the channels and ``rate`` is the frame rate (frames per second), so the
    engine streams frames exactly as it streams samples. NaN and infinite values become
    ``log(log_floor)``, the value of silence (0 would be a loud band in log-mel); they are
    counted in ``nonfinite``.

    Parameters
    ----------
    path
        The ``.npy`` file.
    rate
        Frames per second (the vocoder's sample rate over its hop).
    n_mels
        Mel bands the model expects.
    log_floor
        The magnitude floor of the log (the card's ``mel.log_floor``; default
        :data:`rtaudio.tasks.mel.DEFAULT`'s).
    """

    subtype = None  # the output file takes its format's default sample type
    warnings: tuple[str, ...] = ()

    def __init__(self, path: str, rate: int, n_mels: int, log_floor: float | None = None) -> None:
        self.path = path
        self.nonfinite = 0
        self._silence = np.float32(np.log(DEFAULT.log_floor if log_floor is None else log_floor))
        if not Path(path).is_file():
            raise AudioIOError(f"{path}: no such file")
        try:
            mel = np.load(path, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise AudioIOError(f"{path}: not a readable .npy array ({exc})") from None
        if mel.ndim != 2 or mel.shape[1] != n_mels or mel.shape[0] == 0 or mel.dtype.kind != "f":
            raise AudioIOError(
                f"{path}: expected float log-mel frames of shape (frames, {n_mels}), got {mel.dtype} {mel.shape}"
            )
        self._mel = mel
        self.rate, self.channels = int(rate), int(n_mels)
        self.frames: int | None = int(mel.shape[0])

    def _clean(self, frames: np.ndarray) -> np.ndarray:
        block = np.array(frames, dtype=np.float32)
        bad = ~np.isfinite(block)
        if bad.any():
            self.nonfinite += int(bad.sum())
            block[bad] = self._silence
        return block

    def blocks(self, frames: int) -> Iterator[np.ndarray]:
        for i in range(0, len(self._mel), frames):
            yield self._clean(self._mel[i : i + frames])

    def read_all(self) -> np.ndarray:
        return self._clean(self._mel)

    def describe(self) -> str:
        """The summary's input line: frames and frame rate."""
        seconds = self.frames / self.rate
        return f"{seconds:.2f} s, {self.frames} frames x {self.channels} mels at {self.rate:g} frames/s"

    def close(self) -> None:
        self._mel = None

    def __enter__(self) -> MelReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

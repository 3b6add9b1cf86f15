"""Reading ``.npy`` log-mel files for ``rtaudio stream --task vocode``.

The format (shape ``(frames, n_mels)``, natural-log mel magnitudes, the analysis
parameters) is defined in :mod:`rtaudio.tasks.mel` and recorded in each vocoder's card.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from rtaudio.io.files import AudioIOError


def is_mel_file(path: str) -> bool:
    return path.lower().endswith(".npy")


class MelReader:
    """The :class:`~rtaudio.io.files.AudioReader` interface over a ``.npy`` of mel frames.

    Mel bands are the channels and ``rate`` is the frame rate (frames per second), so the
    engine streams frames exactly as it streams samples.
    """

    subtype = None  # the output file takes its format's default sample type

    def __init__(self, path: str, rate: int, n_mels: int) -> None:
        self.path = path
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

    def blocks(self, frames: int) -> Iterator[np.ndarray]:
        for i in range(0, len(self._mel), frames):
            yield np.asarray(self._mel[i : i + frames], dtype=np.float32)

    def read_all(self) -> np.ndarray:
        return np.asarray(self._mel, dtype=np.float32)

    def close(self) -> None:
        self._mel = None

    def __enter__(self) -> MelReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

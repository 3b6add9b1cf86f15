"""``--record``: the engine's output written as it is produced, finalized on stop."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf


class Recorder:
    """Appends engine output to an audio file (format by extension) from the worker thread.

    The file is written in place, not renamed at the end, so a long session that crashes
    still leaves its audio on disk; :meth:`close` writes the final header.

    Parameters
    ----------
    path
        Output file (``.wav``, ``.flac``, ...).
    rate, channels
        Stream rate and channel count.
    """

    def __init__(self, path: str, rate: int, channels: int) -> None:
        self.path = path
        self.frames = 0
        try:
            fmt = Path(path).suffix.lstrip(".").upper()
            # the engine's float samples as they are (a device on JACK plays values beyond full scale
            # that an integer file would clip), else 24-bit: a monitoring take is not 16-bit limited
            subtype = next((t for t in ("FLOAT", "PCM_24") if fmt and sf.check_format(fmt, t)), None)
            self._file = sf.SoundFile(path, "w", samplerate=rate, channels=channels, subtype=subtype)
        except (sf.LibsndfileError, TypeError, ValueError, OSError) as exc:
            reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
            raise ValueError(f"{path}: cannot record ({reason})") from None

    def __call__(self, block: np.ndarray) -> None:
        self._file.write(block)
        self.frames += len(block)

    def close(self) -> None:
        """Write the header and close; the file is complete from here on."""
        self._file.close()

    def discard(self) -> None:
        """Close and delete (the session never started)."""
        self._file.close()
        Path(self.path).unlink(missing_ok=True)

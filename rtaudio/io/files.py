"""Block-wise audio file reading and atomic writing.

Formats come from libsndfile (via soundfile) by extension; ``-`` means a WAV stream on
stdin or stdout. Output is written beside its destination under a temporary name and
renamed into place only when the stream completed, so a failed or interrupted run never
leaves a partial file behind.
"""

from __future__ import annotations

import os
import struct
import sys
import tempfile
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np
import soundfile as sf


class AudioIOError(Exception):
    """A file cannot be read or written; the message is one line for the user."""


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[-1] if text else type(exc).__name__


class AudioReader:
    """Reads float32 ``(frames, channels)`` blocks from a file or a WAV stream on stdin.

    Attributes
    ----------
    rate, channels
        Sample rate and channel count of the source.
    frames
        Total frames when the header says so, else ``None`` (a pipe).
    subtype
        libsndfile subtype (e.g. ``PCM_16``), used to pick a matching output subtype.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._sf: sf.SoundFile | None = None
        self._wave: wave.Wave_read | None = None
        if path == "-":
            self._open_stdin()
        else:
            self._open_file(path)
        if self.frames == 0:
            self.close()
            raise AudioIOError(f"{path}: no audio frames (zero-length input)")

    def _open_file(self, path: str) -> None:
        if not os.path.exists(path):
            raise AudioIOError(f"{path}: no such file")
        if os.path.isdir(path):
            raise AudioIOError(f"{path}: is a directory, not an audio file")
        try:
            self._sf = sf.SoundFile(path)
        except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
            raise AudioIOError(f"{path}: unreadable or unsupported audio ({_reason(exc)})") from None
        except OSError as exc:
            raise AudioIOError(f"{path}: {exc.strerror or _reason(exc)}") from None
        self.rate, self.channels = self._sf.samplerate, self._sf.channels
        self.frames: int | None = self._sf.frames
        self.subtype = self._sf.subtype

    def _open_stdin(self) -> None:
        try:
            self._wave = wave.open(sys.stdin.buffer, "rb")  # noqa: SIM115 - closed by close()
        except (wave.Error, EOFError) as exc:
            raise AudioIOError(f"stdin: not a PCM WAV stream ({_reason(exc)})") from None
        self.rate, self.channels = self._wave.getframerate(), self._wave.getnchannels()
        width = self._wave.getsampwidth()
        if width not in (1, 2, 3, 4):
            raise AudioIOError(f"stdin: unsupported sample width {width}")
        self._width = width
        n = self._wave.getnframes()
        # a streaming producer writes a placeholder length: trust it only if plausible
        self.frames = n if 0 < n < 0x7FFFFF00 // max(1, width * self.channels) else None
        self.subtype = {1: "PCM_U8", 2: "PCM_16", 3: "PCM_24", 4: "PCM_32"}[width]

    def blocks(self, frames: int) -> Iterator[np.ndarray]:
        """Yield float32 ``(frames, channels)`` blocks until the end of the source."""
        if self._sf is not None:
            while True:
                try:
                    block = self._sf.read(frames, dtype="float32", always_2d=True)
                except (sf.LibsndfileError, RuntimeError) as exc:
                    raise AudioIOError(f"{self.path}: read failed ({_reason(exc)})") from None
                if not len(block):
                    return
                yield block
        else:
            assert self._wave is not None
            while True:
                raw = self._wave.readframes(frames)
                if not raw:
                    return
                yield self._decode(raw)

    def _decode(self, raw: bytes) -> np.ndarray:
        width, channels = self._width, self.channels
        raw = raw[: len(raw) - len(raw) % (width * channels)]
        if width == 1:
            data = (np.frombuffer(raw, np.uint8).astype(np.float32) - 128.0) / 128.0
        elif width == 3:
            b = np.frombuffer(raw, np.uint8).reshape(-1, 3).astype(np.int32)
            ints = (b[:, 0] << 8) | (b[:, 1] << 16) | (b[:, 2] << 24)
            data = ints.astype(np.float32) / 2.0**31
        else:
            dtype, scale = (np.int16, 2.0**15) if width == 2 else (np.int32, 2.0**31)
            data = np.frombuffer(raw, dtype).astype(np.float32) / scale
        return data.reshape(-1, channels)

    def read_all(self) -> np.ndarray:
        """The whole source as one array (``--offline``: memory grows with length)."""
        blocks = list(self.blocks(1 << 16))
        return np.concatenate(blocks) if blocks else np.zeros((0, self.channels), np.float32)

    def close(self) -> None:
        if self._sf is not None:
            self._sf.close()
        if self._wave is not None:
            self._wave.close()

    def __enter__(self) -> AudioReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _output_format(path: str) -> str:
    ext = Path(path).suffix.lower().lstrip(".")
    formats = {k.lower(): k for k in sf.available_formats()}
    if ext == "oga":
        ext = "ogg"
    if ext not in formats:
        raise AudioIOError(f"{path}: unsupported output format {('.' + ext) if ext else '(no extension)'}")
    return formats[ext]


def pick_subtype(fmt: str, source_subtype: str | None) -> str:
    """Keep the source's sample format when the output container supports it."""
    if source_subtype and sf.check_format(fmt, source_subtype):
        return source_subtype
    return sf.default_subtype(fmt)


class AtomicWriter:
    """Writes to a temporary file beside ``path``; :meth:`commit` renames it into place.

    Use as a context manager: leaving the block without :meth:`commit` (an error, Ctrl-C)
    deletes the temporary file, so ``path`` is either complete or untouched.
    """

    def __init__(self, path: str, rate: int, channels: int, source_subtype: str | None = None) -> None:
        self.path = path
        self._tmp: str | None = None
        self._sf: sf.SoundFile | None = None
        self._stdout: _WavStreamWriter | None = None
        if path == "-":
            self._stdout = _WavStreamWriter(sys.stdout.buffer, rate, channels)
            return
        fmt = _output_format(path)
        target = Path(path)
        if target.is_dir():
            raise AudioIOError(f"{path}: is a directory")
        folder = target.parent if str(target.parent) else Path(".")
        if not folder.is_dir():
            raise AudioIOError(f"{path}: folder {folder} does not exist")
        try:
            fd, self._tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=f".part{target.suffix}", dir=folder)
            os.close(fd)
            self._sf = sf.SoundFile(
                self._tmp,
                "w",
                samplerate=rate,
                channels=channels,
                format=fmt,
                subtype=pick_subtype(fmt, source_subtype),
            )
        except OSError as exc:
            self._discard()
            raise AudioIOError(f"{path}: cannot write ({exc.strerror or _reason(exc)})") from None
        except (sf.LibsndfileError, RuntimeError, ValueError) as exc:
            self._discard()
            raise AudioIOError(f"{path}: cannot write ({_reason(exc)})") from None

    def write(self, block: np.ndarray) -> None:
        """Append float32 ``(frames, channels)`` (clipped to [-1, 1] by integer formats)."""
        if not len(block):
            return
        try:
            if self._stdout is not None:
                self._stdout.write(block)
            else:
                assert self._sf is not None
                self._sf.write(block)
        except (OSError, sf.LibsndfileError, RuntimeError) as exc:
            raise AudioIOError(f"{self.path}: write failed ({_reason(exc)})") from None

    def commit(self) -> None:
        """Finish the file and move it into place."""
        if self._stdout is not None:
            self._stdout.close()
            return
        assert self._sf is not None and self._tmp is not None
        try:
            self._sf.close()
            # mkstemp makes the file private; give it the mode a normal create would
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(self._tmp, 0o666 & ~umask)
            os.replace(self._tmp, self.path)
        except OSError as exc:
            self._discard()
            raise AudioIOError(f"{self.path}: cannot finish ({exc.strerror or _reason(exc)})") from None
        self._tmp = None

    def _discard(self) -> None:
        if self._sf is not None and not self._sf.closed:
            self._sf.close()
        if self._tmp and os.path.exists(self._tmp):
            os.unlink(self._tmp)
        self._tmp = None

    def __enter__(self) -> AtomicWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self._discard()


class _WavStreamWriter:
    """16-bit PCM WAV to a non-seekable stream; the header states 'unknown length'."""

    def __init__(self, stream: BinaryIO, rate: int, channels: int) -> None:
        self._stream = stream
        unknown = 0xFFFFFFFF
        header = b"RIFF" + struct.pack("<I", unknown) + b"WAVE"
        header += b"fmt " + struct.pack("<IHHIIHH", 16, 1, channels, rate, rate * channels * 2, channels * 2, 16)
        header += b"data" + struct.pack("<I", unknown)
        stream.write(header)

    def write(self, block: np.ndarray) -> None:
        pcm = np.clip(np.round(block * 32767.0), -32768, 32767).astype("<i2")
        self._stream.write(pcm.tobytes())

    def close(self) -> None:
        self._stream.flush()

"""WAV on a pipe: reading a RIFF/RIFX/RF64 stream from stdin and writing one to stdout.

libsndfile cannot write WAV to a pipe, and reading one through it is not safe here: on a file
descriptor it retries interrupted reads (a stalled producer would make SIGTERM wait), RF64 on
a pipe loses frames, and on a Python file object it runs callbacks whose exceptions it
swallows (a signal landing there would be lost). So the bytes move in Python, which is
interruptible, and only the samples go through libsndfile, as RAW, on an unnamed temporary
file: the header's format chunk is parsed and the samples converted exactly as file mode
would, for every linear PCM, float and G.711 subtype.
"""

from __future__ import annotations

import os
import struct
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
import soundfile as sf

#: bytes per sample of the subtypes that stream sample by sample (block codecs cannot)
SAMPLE_BYTES = {
    "PCM_S8": 1,
    "PCM_U8": 1,
    "PCM_16": 2,
    "PCM_24": 3,
    "PCM_32": 4,
    "FLOAT": 4,
    "DOUBLE": 8,
    "ULAW": 1,
    "ALAW": 1,
}
#: what ``--subtype`` may be for WAV on a pipe (what rtaudio writes with a header of its own)
PIPE_SUBTYPES = ("PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE")

_UNKNOWN = 0xFFFFFFFF
_MAX_HEADER = 1 << 20  # chunks before 'data' beyond this are not a WAV header
_PLACEHOLDER = 0x7FFFF000  # streaming producers write a size at or near the 32-bit limit
_GUID_TAIL = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"  # KSDATAFORMAT_SUBTYPE_*


class WavStreamError(ValueError):
    """The stream is not a WAV rtaudio can read from a pipe (one line for the user)."""


@dataclass
class WavHeader:
    """A WAV stream's format and declared length (``data_bytes`` is ``None`` when unknown)."""

    rate: int
    channels: int
    subtype: str
    endian: str  # libsndfile's name: LITTLE (RIFF, RF64) or BIG (RIFX)
    data_bytes: int | None

    @property
    def frame_bytes(self) -> int:
        return self.channels * SAMPLE_BYTES[self.subtype]

    @property
    def frames(self) -> int | None:
        return None if self.data_bytes is None else self.data_bytes // self.frame_bytes


def _exactly(read: Callable[[int], bytes], n: int, what: str) -> bytes:
    data = read(n)
    if len(data) < n:
        raise WavStreamError(f"ends inside the WAV header ({what})")
    return data


def read_header(read: Callable[[int], bytes]) -> WavHeader:
    """Read a WAV header up to the first byte of its samples and describe the stream.

    Parameters
    ----------
    read
        ``read(n)``: up to ``n`` bytes, fewer only at the end of the stream.

    Raises
    ------
    WavStreamError
        Not RIFF/RIFX/RF64 WAVE, no ``data`` chunk, or a subtype that cannot stream.
    """
    head = read(12)
    if len(head) < 12 or head[:4] not in (b"RIFF", b"RIFX", b"RF64") or head[8:12] != b"WAVE":
        raise WavStreamError("not a WAV stream (no RIFF/RF64 WAVE header)")
    big = head[:4] == b"RIFX"
    size_format = ">I" if big else "<I"
    header, ds64_data = bytearray(head), None
    while True:
        chunk = _exactly(read, 8, "no data chunk")
        header += chunk
        name, size = chunk[:4], struct.unpack(size_format, chunk[4:])[0]
        if name == b"data":
            break
        if len(header) + size > _MAX_HEADER:
            raise WavStreamError(f"WAV header chunk {name!r} of {size} bytes before the samples")
        payload = _exactly(read, size + (size & 1), f"chunk {name!r}")
        header += payload
        if name == b"ds64" and size >= 16:
            ds64_data = struct.unpack("<Q", payload[8:16])[0]
    if head[:4] == b"RF64" and size == _UNKNOWN:
        size = ds64_data if ds64_data is not None else _UNKNOWN
    rate, channels, subtype = _probe(bytes(header))
    if subtype not in SAMPLE_BYTES:
        raise WavStreamError(f"{subtype} WAV cannot be read from a pipe (block-coded); pass it as a file")
    unknown = size == 0 or (size >= _PLACEHOLDER and head[:4] != b"RF64") or size >= 1 << 62
    return WavHeader(rate, channels, subtype, "BIG" if big else "LITTLE", None if unknown else size)


def _probe(header: bytes) -> tuple[int, int, str]:
    """Rate, channels and subtype of a header, as libsndfile reads its format chunk."""
    with tempfile.TemporaryFile() as tmp:
        tmp.write(header)
        tmp.flush()
        tmp.seek(0)
        try:
            with sf.SoundFile(tmp.fileno(), closefd=False) as f:
                return f.samplerate, f.channels, f.subtype
        except (sf.LibsndfileError, RuntimeError) as exc:
            reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
            raise WavStreamError(f"unreadable WAV header ({reason})") from None


class RawCodec:
    """Samples <-> bytes through libsndfile's RAW format on an unnamed temporary file.

    All I/O is libsndfile's own on a file descriptor (no Python callbacks), and the
    conversion (scaling, rounding, clipping) is the one file mode uses.
    """

    def __init__(self, rate: int, channels: int, subtype: str, endian: str = "LITTLE") -> None:
        self._tmp = tempfile.TemporaryFile()  # noqa: SIM115 - closed by close()
        self._fd = self._tmp.fileno()
        self._format = {
            "samplerate": rate,
            "channels": channels,
            "format": "RAW",
            "subtype": subtype,
            "endian": endian,
        }
        self.frame_bytes = channels * SAMPLE_BYTES[subtype]
        self._writer: sf.SoundFile | None = None

    def encode(self, block: np.ndarray) -> bytes:
        """float32 ``(frames, channels)`` -> sample bytes."""
        if self._writer is None:
            self._writer = sf.SoundFile(self._fd, "w", closefd=False, **self._format)
        self._writer.seek(0)  # one block's worth of file, rewritten each time
        self._writer.write(block)
        return os.pread(self._fd, len(block) * self.frame_bytes, 0)

    def decode(self, raw: bytes) -> np.ndarray:
        """Whole frames of sample bytes -> float32 ``(frames, channels)``."""
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, raw, 0)
        os.lseek(self._fd, 0, os.SEEK_SET)
        with sf.SoundFile(self._fd, closefd=False, **self._format) as f:
            return f.read(dtype="float32", always_2d=True)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._tmp.close()


class WavPipeReader:
    """float32 blocks from a WAV stream, up to its declared end or the end of the stream.

    Attributes
    ----------
    header
        The stream's :class:`WavHeader`.
    short_bytes
        After the end: how many declared data bytes never came (0 unless truncated).
    """

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self.header = read_header(stream.read)
        self._codec = RawCodec(self.header.rate, self.header.channels, self.header.subtype, self.header.endian)
        self._left = self.header.data_bytes
        self.short_bytes = 0

    def read(self, frames: int) -> np.ndarray:
        """Up to ``frames`` frames; an empty block at the end."""
        fb = self.header.frame_bytes
        want = frames * fb if self._left is None else min(frames * fb, self._left)
        raw = self._stream.read(want) if want else b""
        if self._left is not None:
            self._left -= len(raw)
            if len(raw) < want:  # the stream ended before the header said it would
                self.short_bytes, self._left = self._left, 0
        whole = len(raw) - len(raw) % fb
        if not whole:
            return np.zeros((0, self.header.channels), np.float32)
        return self._codec.decode(raw[:whole])

    def close(self) -> None:
        self._codec.close()


def stream_header(rate: int, channels: int, subtype: str) -> bytes:
    """A WAV header for a stream of unknown length (sizes 0xFFFFFFFF, as ffmpeg writes on a pipe).

    WAVE_FORMAT_EXTENSIBLE for more than 16 bits or 2 channels, as the format's rules ask.
    """
    bits = SAMPLE_BYTES[subtype] * 8
    tag = 3 if subtype in ("FLOAT", "DOUBLE") else 1  # IEEE float / PCM
    align = channels * SAMPLE_BYTES[subtype]
    basic = struct.pack("<IIHH", rate, rate * align, align, bits)
    if bits > 16 or channels > 2:
        mask = {1: 0x4, 2: 0x3}.get(channels, 0)  # front centre / front left+right; else unassigned
        fmt = struct.pack("<HH", 0xFFFE, channels) + basic + struct.pack("<HHIH", 22, bits, mask, tag) + _GUID_TAIL
    else:
        fmt = struct.pack("<HH", tag, channels) + basic
    return (
        b"RIFF"
        + struct.pack("<I", _UNKNOWN)
        + b"WAVE"
        + b"fmt "
        + struct.pack("<I", len(fmt))
        + fmt
        + b"data"
        + struct.pack("<I", _UNKNOWN)
    )


class WavPipeWriter:
    """WAV to a stream that cannot seek: a header with unknown sizes, then the samples."""

    def __init__(self, stream: BinaryIO, rate: int, channels: int, subtype: str) -> None:
        if subtype not in PIPE_SUBTYPES:
            raise WavStreamError(
                f"subtype {subtype} cannot be streamed to a pipe (use one of {', '.join(PIPE_SUBTYPES)})"
            )
        self._stream = stream
        self._codec = RawCodec(rate, channels, subtype)
        stream.write(stream_header(rate, channels, subtype))

    def write(self, block: np.ndarray) -> None:
        self._stream.write(self._codec.encode(block))

    def close(self) -> None:
        self._codec.close()
        self._stream.flush()

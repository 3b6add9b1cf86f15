"""Block-wise audio file reading and atomic writing.

Formats come from libsndfile (via soundfile) by extension; ``-`` means a WAV stream on
stdin or stdout (:mod:`rtaudio.io.wavstream`). Output is written beside its destination
under a temporary name and renamed into place only when the stream completed, so a failed
or interrupted run never leaves a partial file behind.
"""

from __future__ import annotations

import fcntl
import os
import stat
import sys
import tempfile
from collections.abc import Iterator
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import soundfile as sf

from rtaudio.io import signals
from rtaudio.io.wavstream import PIPE_SUBTYPES, WavPipeReader, WavPipeWriter, WavStreamError, read_header

#: sample formats worth keeping from the source: a codec's subtype (MP3, Vorbis, ADPCM) is not
LINEAR_SUBTYPES = ("PCM_S8", "PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE")
#: integer sample formats: they clip values beyond full scale to [-1, 1]
INTEGER_SUBTYPES = (*(t for t in LINEAR_SUBTYPES if t.startswith("PCM_")), "ULAW", "ALAW")
#: a WAV header libsndfile can tell us the declared length of (for the truncation warning)
_RIFF_FORMATS = ("WAV", "WAVEX", "RF64")


class AudioIOError(Exception):
    """A file cannot be read or written; the message is one line for the user."""


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[-1] if text else type(exc).__name__


def _std_stream(name: str):
    stream = getattr(sys, name)
    if stream is None or getattr(stream, "closed", True):
        raise AudioIOError(f"{name[3:]}: is closed")
    return stream


class AudioReader:
    """Reads float32 ``(frames, channels)`` blocks from a file or a WAV stream on stdin.

    Attributes
    ----------
    rate, channels
        Sample rate and channel count of the source.
    frames
        Total frames when the header says so, else ``None`` (a stream of unknown length).
    subtype
        libsndfile subtype (e.g. ``PCM_16``), used to pick a matching output subtype.
    frames_read
        Frames delivered so far.
    warnings
        One-line notes about the source (a truncated stream), complete once :meth:`blocks`
        has ended.
    """

    nonfinite = 0  # NaN/Inf audio samples are the engine's to count

    def __init__(self, path: str) -> None:
        self.path = path
        self.name = "stdin" if path == "-" else path
        self._sf: sf.SoundFile | None = None
        self._pipe: WavPipeReader | None = None
        self._declared: int | None = None
        self._quiet = False
        self.frames_read = 0
        self.warnings: list[str] = []
        if path == "-":
            self._open_stdin()
        else:
            self._open_file(path)
        if self.frames == 0:
            self.close()
            raise AudioIOError(f"{self.name}: no audio frames (zero-length input)")

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
        self._quiet = self.subtype.startswith("MPEG_")  # libmpg123 reports every damaged frame on fd 2
        if self._sf.format in _RIFF_FORMATS:
            self._declared = _declared_frames(path)

    def _open_stdin(self) -> None:
        stdin = _std_stream("stdin")
        if os.isatty(stdin.fileno()):
            raise AudioIOError(
                "stdin: is a terminal; pipe a WAV stream in (ffmpeg -i IN -f wav - | rtaudio stream - OUT)"
            )
        try:
            self._pipe = WavPipeReader(stdin.buffer)
        except WavStreamError as exc:
            raise AudioIOError(f"stdin: {exc}") from None
        header = self._pipe.header
        self.rate, self.channels, self.subtype = header.rate, header.channels, header.subtype
        self.frames = self._declared = header.frames

    def _read(self, frames: int) -> np.ndarray:
        if self._pipe is not None:
            return self._pipe.read(frames)
        assert self._sf is not None
        try:
            with _quiet_stderr() if self._quiet else nullcontext():
                return self._sf.read(frames, dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError) as exc:
            raise AudioIOError(f"{self.path}: read failed ({_reason(exc)})") from None

    def blocks(self, frames: int) -> Iterator[np.ndarray]:
        """Yield float32 ``(frames, channels)`` blocks until the end of the source.

        Raises
        ------
        AudioIOError
            The source held no audio at all (e.g. a WAV header alone).
        """
        while len(block := self._read(frames)):
            self.frames_read += len(block)
            yield block
        if not self.frames_read:
            raise AudioIOError(f"{self.name}: no audio frames (zero-length input)")
        if self._declared is not None and self.frames_read < self._declared:
            self.warnings.append(
                f"{self.name}: truncated: the header says {self._declared} frames, "
                f"the data holds {self.frames_read}; processed what was there"
            )

    def read_all(self) -> np.ndarray:
        """The whole source as one array (``--offline``: memory grows with length)."""
        return np.concatenate(list(self.blocks(1 << 16)))

    def describe(self) -> str:
        """The summary's input line."""
        return f"{self.frames_read / self.rate:.2f} s, {self.channels} ch, {self.rate} Hz in"

    def close(self) -> None:
        if self._sf is not None:
            self._sf.close()
        if self._pipe is not None:
            self._pipe.close()

    def __enter__(self) -> AudioReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _quiet_stderr():
    from rtaudio.live.devices import quiet_stderr

    return quiet_stderr()


def _declared_frames(path: str) -> int | None:
    """Frames a WAV file's header declares (libsndfile reports what the data holds)."""
    try:
        with open(path, "rb") as f:
            return read_header(f.read).frames
    except (OSError, WavStreamError):
        return None  # a block-coded or odd WAV: libsndfile's own count stands


def same_file(input_path: str, output_path: str) -> bool:
    """Whether OUT is IN itself: the same inode, through symlinks and hard links (``-``: stdin/stdout)."""

    def status(path: str, fd: int) -> os.stat_result | None:
        try:
            return os.fstat(fd) if path == "-" else os.stat(path)
        except OSError:
            return None

    a, b = status(input_path, 0), status(output_path, 1)
    if a is None or b is None or not (stat.S_ISREG(a.st_mode) and stat.S_ISREG(b.st_mode)):
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def _output_format(path: str) -> str:
    ext = Path(path).suffix.lower().lstrip(".")
    formats = {k.lower(): k for k in sf.available_formats()}
    if ext == "oga":
        ext = "ogg"
    if ext not in formats:
        raise AudioIOError(f"{path}: unsupported output format {('.' + ext) if ext else '(no extension)'}")
    return formats[ext]


def pick_subtype(fmt: str, source_subtype: str | None, requested: str | None = None, allowed=None) -> str:
    """The output's sample format.

    ``requested`` (``--subtype``) if the container holds it; else the source's when it is
    linear PCM or float and the container holds it; else the container's default.
    """
    allowed = allowed or sf.available_subtypes(fmt)
    if requested is not None:
        requested = requested.upper()
        if requested not in allowed or not sf.check_format(fmt, requested):
            raise AudioIOError(f"--subtype {requested}: not available for {fmt} (one of {', '.join(allowed)})")
        return requested
    if source_subtype in LINEAR_SUBTYPES and source_subtype in allowed and sf.check_format(fmt, source_subtype):
        return source_subtype
    default = sf.default_subtype(fmt)
    return default if default in allowed else allowed[0]


class AtomicWriter:
    """Writes to a temporary file beside ``path``; :meth:`commit` renames it into place.

    Use as a context manager: leaving the block without :meth:`commit` (an error, a
    signal) deletes the temporary file, so ``path`` is either complete or untouched. A
    symlink is written through (its target is replaced). ``-`` is WAV on stdout: with
    correct sizes when stdout is a regular file (emptied again on failure), with sizes
    0xFFFFFFFF ("unknown") on a pipe.

    Parameters
    ----------
    path
        Destination, format by extension, or ``-``.
    rate, channels
        Of the output.
    source_subtype
        The input's subtype, kept when it is linear PCM/float and the container holds it.
    subtype
        ``--subtype``: the sample format to write (e.g. ``PCM_24``, ``FLOAT``).
    """

    def __init__(
        self, path: str, rate: int, channels: int, source_subtype: str | None = None, subtype: str | None = None
    ) -> None:
        self.path = path
        self.name = "stdout" if path == "-" else path
        self._tmp: str | None = None
        self._sf: sf.SoundFile | None = None
        self._pipe: WavPipeWriter | None = None
        self._stdout_fd: int | None = None
        #: samples beyond full scale that the chosen (integer) sample format clipped
        self.clipped_samples = 0
        #: the largest absolute sample among the clipped ones (the warning's figure)
        self.peak = 0.0
        try:
            if path == "-":
                self._open_stdout(rate, channels, source_subtype, subtype)
            else:
                self._open_file(path, rate, channels, source_subtype, subtype)
        except BaseException:
            self._discard()
            raise

    def _open_file(self, path: str, rate: int, channels: int, source_subtype: str | None, subtype: str | None) -> None:
        fmt = _output_format(path)
        chosen = pick_subtype(fmt, source_subtype, subtype)
        target = Path(os.path.realpath(path)) if os.path.islink(path) else Path(path)
        if target.is_dir():
            raise AudioIOError(f"{path}: is a directory")
        folder = target.parent if str(target.parent) else Path(".")
        if not folder.is_dir():
            raise AudioIOError(f"{path}: folder {folder} does not exist")
        self._target = str(target)
        try:
            with signals.deferred():  # created and remembered as one step: never an orphan .part
                fd, self._tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=f".part{target.suffix}", dir=folder)
            os.close(fd)
            self._sf = sf.SoundFile(self._tmp, "w", samplerate=rate, channels=channels, format=fmt, subtype=chosen)
        except OSError as exc:
            raise AudioIOError(f"{path}: cannot write ({exc.strerror or _reason(exc)})") from None
        except (sf.LibsndfileError, RuntimeError, ValueError) as exc:
            raise AudioIOError(f"{path}: cannot write ({_reason(exc)})") from None
        self.subtype = chosen

    def _open_stdout(self, rate: int, channels: int, source_subtype: str | None, subtype: str | None) -> None:
        stdout = _std_stream("stdout")
        fd = stdout.fileno()
        if os.isatty(fd):
            raise AudioIOError("stdout: is a terminal; redirect it (> out.wav) or pipe it")
        stdout.flush()
        if _rewritable(fd):  # `> out.wav`: libsndfile can go back and write the real sizes
            self._stdout_fd = os.dup(fd)
            chosen = pick_subtype("WAV", source_subtype, subtype)
            try:
                self._sf = sf.SoundFile(
                    self._stdout_fd,
                    "w",
                    samplerate=rate,
                    channels=channels,
                    format="WAV",
                    subtype=chosen,
                    closefd=False,
                )
            except (sf.LibsndfileError, RuntimeError, ValueError) as exc:
                raise AudioIOError(f"stdout: cannot write ({_reason(exc)})") from None
        else:
            chosen = pick_subtype("WAV", source_subtype, subtype, allowed=list(PIPE_SUBTYPES))
            self._pipe = WavPipeWriter(stdout.buffer, rate, channels, chosen)
        self.subtype = chosen

    def write(self, block: np.ndarray) -> None:
        """Append float32 ``(frames, channels)`` (clipped to [-1, 1] by integer formats and
        counted in :attr:`clipped_samples`)."""
        if not len(block):
            return
        if self.subtype in INTEGER_SUBTYPES:
            peak = float(np.abs(block).max())
            if peak > 1.0:  # rare: count only then
                self.clipped_samples += int(np.count_nonzero(np.abs(block) > 1.0))
                self.peak = max(self.peak, peak)
        try:
            if self._pipe is not None:
                self._pipe.write(block)
            else:
                assert self._sf is not None
                self._sf.write(block)
        except BrokenPipeError:
            raise  # the reader went away: the command line exits quietly
        except (OSError, sf.LibsndfileError, RuntimeError) as exc:
            raise AudioIOError(f"{self.name}: write failed ({_reason(exc)})") from None

    def clip_warning(self) -> str | None:
        """One line for the user when samples were clipped, else ``None``."""
        if not self.clipped_samples:
            return None
        return (
            f"{self.name}: {self.clipped_samples} samples above full scale clipped by {self.subtype} "
            f"(peak {20 * np.log10(self.peak):+.1f} dBFS); --subtype FLOAT keeps them"
        )

    def commit(self) -> None:
        """Finish the file and move it into place."""
        if self._pipe is not None:
            self._pipe.close()
            self._pipe = None
            return
        assert self._sf is not None
        try:
            self._sf.close()
            if self._stdout_fd is not None:
                os.close(self._stdout_fd)
                self._stdout_fd = None
                return
            assert self._tmp is not None
            # mkstemp makes the file private; give it the mode a normal create would
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(self._tmp, 0o666 & ~umask)
            os.replace(self._tmp, self._target)
        except OSError as exc:
            self._discard()
            raise AudioIOError(f"{self.name}: cannot finish ({exc.strerror or _reason(exc)})") from None
        self._tmp = None

    def _discard(self) -> None:
        if self._sf is not None and not self._sf.closed:
            self._sf.close()
        if self._tmp and os.path.exists(self._tmp):
            os.unlink(self._tmp)
        self._tmp = None
        if self._stdout_fd is not None:  # a regular file on stdout: leave it empty, not half-written
            os.ftruncate(self._stdout_fd, 0)
            os.close(self._stdout_fd)
            self._stdout_fd = None

    def __enter__(self) -> AtomicWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self._discard()


def _rewritable(fd: int) -> bool:
    """A regular file at its start, not in append mode: a header can be rewritten at the end."""
    try:
        return (
            stat.S_ISREG(os.fstat(fd).st_mode)
            and os.lseek(fd, 0, os.SEEK_CUR) == 0
            and not fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_APPEND
        )
    except OSError:
        return False

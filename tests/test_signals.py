"""Terminating signals mid-``rtaudio stream``: no partial output, exit code 128 + signal.

The input comes through a pipe the test holds open, so the stream cannot end on its own:
whenever the signal lands, it lands mid-stream (deterministic, no timing guess).
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".part" in p.name)


def wav_bytes(seconds: float = 2.0, rate: int = 16000) -> bytes:
    x = (0.3 * np.sin(np.arange(int(seconds * rate)) * 0.05)).astype(np.float32)
    buf = io.BytesIO()
    sf.write(buf, x, rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def _dispositions(ignored: tuple[int, ...]):
    """The child starts as from an interactive shell, whatever this test runner inherited."""

    def reset() -> None:
        for signum in SIGNALS:
            signal.signal(signum, signal.SIG_IGN if signum in ignored else signal.SIG_DFL)

    return reset


def start_held(tmp_path: Path, data: bytes, out: Path, ignored: tuple[int, ...] = ()) -> subprocess.Popen:
    """``rtaudio stream - OUT`` fed the first half of ``data``; returns once it is writing OUT."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "rtaudio.cli", "stream", "-", str(out), "--model", "sinc"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "NO_COLOR": "1"},
        preexec_fn=_dispositions(ignored),
    )
    proc.stdin.write(data[: len(data) // 2])
    proc.stdin.flush()
    deadline = time.monotonic() + 60
    while not _leftovers(tmp_path) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)  # polling for the temporary file: the event that writing started
    assert _leftovers(tmp_path), proc.communicate(timeout=5)[1].decode()
    return proc


@pytest.mark.parametrize("signum", SIGNALS, ids=lambda s: signal.Signals(s).name)
def test_signal_mid_stream_leaves_nothing_and_exits_128_plus_signal(tmp_path, signum):
    out = tmp_path / "out.wav"
    proc = start_held(tmp_path, wav_bytes(), out)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=30)  # stdin still open: only the signal can end it
    assert proc.returncode == 128 + signum
    expected = "rtaudio: interrupted" + ("" if signum == signal.SIGINT else f" by {signal.Signals(signum).name}")
    assert err.decode().strip() == expected
    assert not out.exists() and _leftovers(tmp_path) == []


def test_ignored_sighup_is_respected(tmp_path):
    """Under ``nohup`` (SIGHUP ignored) a hang-up does not stop the stream."""
    data = wav_bytes()
    out = tmp_path / "out.wav"
    proc = start_held(tmp_path, data, out, ignored=(signal.SIGHUP,))
    proc.send_signal(signal.SIGHUP)
    _, err = proc.communicate(data[len(data) // 2 :], timeout=60)
    assert proc.returncode == 0, err.decode()
    assert sf.info(str(out)).frames == 3 * (len(data) - 44) // 2


def test_signal_while_reading_a_file_with_realtime_pacing(tmp_path):
    """The same with file input: SIGTERM during --realtime pacing (30 s of audio take 30 s of wall time)."""
    src, out = tmp_path / "in.wav", tmp_path / "out.wav"
    src.write_bytes(wav_bytes(seconds=30.0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "rtaudio.cli", "stream", str(src), str(out), "--model", "sinc", "--realtime"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "NO_COLOR": "1"},
        preexec_fn=_dispositions(()),
    )
    deadline = time.monotonic() + 60
    while not _leftovers(tmp_path) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 143, err.decode()
    assert not out.exists() and _leftovers(tmp_path) == []


def test_broken_pipe_is_quiet(tmp_path):
    """``rtaudio stream IN - | head -c 100``: no message, exit 141 (as a writer killed by SIGPIPE)."""
    src = tmp_path / "in.wav"
    src.write_bytes(wav_bytes(seconds=5.0))
    producer = subprocess.Popen(
        [sys.executable, "-m", "rtaudio.cli", "stream", str(src), "-", "--model", "sinc"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "NO_COLOR": "1"},
    )
    head = producer.stdout.read(100)
    producer.stdout.close()  # the reader goes away, as `head` does
    err = producer.stderr.read()
    assert producer.wait(timeout=60) == 141, err.decode()
    assert len(head) == 100 and err == b""

"""WAV on stdout: ``--subtype``, real sizes when stdout is a file, 'unknown' sizes on a pipe."""

from __future__ import annotations

import io
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.conftest import run_cli
from tests.test_signals import _dispositions, wav_bytes


@pytest.fixture()
def src(tmp_path: Path) -> Path:
    path = tmp_path / "in.wav"
    path.write_bytes(wav_bytes(seconds=1.0))
    return path


@pytest.mark.parametrize("subtype", ["PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE", "PCM_U8"])
def test_pipe_output_matches_file_output(tmp_path, src, subtype):
    by_file = tmp_path / "file.wav"
    assert run_cli("stream", str(src), str(by_file), "--model", "sinc", "--subtype", subtype).returncode == 0
    piped = run_cli("stream", str(src), "-", "--model", "sinc", "--subtype", subtype)
    assert piped.returncode == 0, piped.stderr.decode()
    data = piped.stdout
    assert data[:4] == b"RIFF" and struct.unpack("<I", data[4:8])[0] == 0xFFFFFFFF  # length unknown on a pipe
    width = {"PCM_16": 2, "PCM_24": 3, "PCM_32": 4, "FLOAT": 4, "DOUBLE": 8, "PCM_U8": 1}[subtype]
    assert len(data) - (data.index(b"data") + 8) == 3 * 16000 * width  # the samples follow the header, exactly
    got, rate = sf.read(io.BytesIO(data), dtype="float64")
    ref = sf.read(by_file, dtype="float64")[0]
    assert rate == 48000 and sf.info(io.BytesIO(data)).subtype == subtype
    assert len(got) == len(ref) == 3 * 16000 and np.array_equal(got, ref)


def test_stdout_to_a_file_has_real_sizes(tmp_path, src):
    out = tmp_path / "redirected.wav"
    with open(out, "wb") as f:
        proc = subprocess.run(
            [sys.executable, "-m", "rtaudio.cli", "stream", str(src), "-", "--model", "sinc", "--subtype", "PCM_24"],
            stdout=f,
            stderr=subprocess.PIPE,
        )
    assert proc.returncode == 0, proc.stderr.decode()
    raw = out.read_bytes()
    assert struct.unpack("<I", raw[4:8])[0] == len(raw) - 8  # soxi and friends see the true duration
    info = sf.info(str(out))
    assert info.frames == 3 * 16000 and info.subtype == "PCM_24"


def test_stdout_file_is_emptied_when_interrupted(tmp_path):
    """`rtaudio stream - - > out.wav` stopped by SIGTERM leaves out.wav empty, not half-written."""
    out = tmp_path / "redirected.wav"
    data = wav_bytes(seconds=2.0)
    with open(out, "wb") as f:
        proc = subprocess.Popen(
            [sys.executable, "-m", "rtaudio.cli", "stream", "-", "-", "--model", "sinc"],
            stdin=subprocess.PIPE,
            stdout=f,
            stderr=subprocess.PIPE,
            preexec_fn=_dispositions(()),
        )
    proc.stdin.write(data[: len(data) // 2])
    proc.stdin.flush()
    while out.stat().st_size == 0 and proc.poll() is None:  # output started: the header is there
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=30)
    assert proc.returncode == 143 and out.stat().st_size == 0


@pytest.mark.parametrize(
    "target, subtype, message",
    [
        ("-", "ULAW", "not available for WAV"),
        ("out.flac", "FLOAT", "not available for FLAC"),
        ("o.wav", "NOPE", "NOPE"),
    ],
)
def test_bad_subtype_is_one_line(tmp_path, src, target, subtype, message):
    out = target if target == "-" else str(tmp_path / target)
    proc = run_cli("stream", str(src), out, "--model", "sinc", "--subtype", subtype)
    err = proc.stderr.decode().strip()
    assert proc.returncode == 2 and len(err.splitlines()) == 1 and message in err, err
    assert proc.stdout == b"" and sorted(p.name for p in tmp_path.iterdir()) == ["in.wav"]


def test_pipe_round_trip_is_exact(tmp_path, src):
    first = run_cli("stream", str(src), "-", "--model", "sinc", "--subtype", "FLOAT")
    second = run_cli(
        "stream", "-", str(tmp_path / "back.wav"), "--model", "sinc", "--out-rate", "16000", stdin=first.stdout
    )
    assert second.returncode == 0, second.stderr.decode()
    assert sf.info(str(tmp_path / "back.wav")).frames == 16000

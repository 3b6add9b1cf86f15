"""WAV on stdin: every linear PCM / float / WAVEX layout reads as file mode reads it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.conftest import run_cli

#: (libsndfile container, subtype) pairs a producer may send; WAVEX is what ffmpeg writes for 24-bit and float
LAYOUTS = [
    ("WAV", "PCM_16"),
    ("WAV", "PCM_24"),
    ("WAV", "PCM_32"),
    ("WAV", "PCM_U8"),
    ("WAV", "FLOAT"),
    ("WAV", "DOUBLE"),
    ("WAV", "ULAW"),
    ("WAVEX", "PCM_24"),
    ("WAVEX", "FLOAT"),
    ("RF64", "PCM_16"),
]


@pytest.fixture()
def stereo(speech_48k: np.ndarray) -> np.ndarray:
    x = speech_48k[: 3 * 16000 + 7 : 3]  # 1 s at 16 kHz and an odd tail
    return np.stack([x, -0.5 * x], axis=1).astype(np.float32)


@pytest.mark.parametrize("container, subtype", LAYOUTS, ids=lambda v: v)
def test_stdin_equals_file_mode(tmp_path: Path, stereo, container, subtype):
    src = tmp_path / "in.wav"
    sf.write(src, stereo, 16000, format=container, subtype=subtype)
    by_file, by_pipe = tmp_path / "file.wav", tmp_path / "pipe.wav"
    a = run_cli("stream", str(src), str(by_file), "--model", "sinc", "--json")
    b = run_cli("stream", "-", str(by_pipe), "--model", "sinc", "--json", stdin=src.read_bytes())
    assert a.returncode == 0 and b.returncode == 0, (a.stderr.decode(), b.stderr.decode())
    x, y = sf.read(by_file, dtype="float64")[0], sf.read(by_pipe, dtype="float64")[0]
    assert len(y) == 3 * len(stereo) and np.array_equal(x, y)  # same samples, bit for bit
    assert sf.info(str(by_pipe)).subtype == sf.info(str(by_file)).subtype
    summary = json.loads(b.stdout)
    assert summary["frames_in"] == len(stereo) and summary["warnings"] == []


def test_header_alone_on_stdin_is_an_error(tmp_path, stereo):
    src = tmp_path / "in.wav"
    sf.write(src, stereo, 16000, subtype="PCM_16")
    out = tmp_path / "out.wav"
    proc = run_cli("stream", "-", str(out), "--model", "sinc", stdin=src.read_bytes()[:44])
    err = proc.stderr.decode().strip()
    assert proc.returncode == 2 and err == "rtaudio: error: stdin: no audio frames (zero-length input)"
    assert not out.exists()


def test_truncated_stdin_warns_and_processes_what_came(tmp_path, stereo):
    src = tmp_path / "in.wav"
    sf.write(src, stereo, 16000, subtype="PCM_24")
    cut = src.read_bytes()[: 44 + 6 * 5000 + 4]  # 5000 whole frames and part of one more
    out = tmp_path / "out.wav"
    proc = run_cli("stream", "-", str(out), "--model", "sinc", "--json", stdin=cut)
    assert proc.returncode == 0, proc.stderr.decode()
    warning = f"rtaudio: warning: stdin: truncated: the header says {len(stereo)} frames, the data holds 5000"
    assert proc.stderr.decode().splitlines() == [warning + "; processed what was there"]
    summary = json.loads(proc.stdout)
    assert summary["frames_in"] == 5000 and summary["warnings"] == [
        warning.removeprefix("rtaudio: warning: ") + "; processed what was there"
    ]
    assert sf.info(str(out)).frames == 15000


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "not a WAV stream"),
        (b"RIFF\x00\x00\x00\x00WAVEfmt ", "ends inside the WAV header"),
        (b"hello, this is text and not audio at all\n" * 3, "not a WAV stream"),
    ],
)
def test_bad_stdin_is_one_line(tmp_path, data, message):
    out = tmp_path / "out.wav"
    proc = run_cli("stream", "-", str(out), "--model", "sinc", stdin=data)
    err = proc.stderr.decode().strip()
    assert proc.returncode == 2 and len(err.splitlines()) == 1 and message in err, err
    assert not out.exists()


def test_block_coded_wav_on_a_pipe_is_refused_with_a_hint(tmp_path, stereo):
    src = tmp_path / "in.wav"
    sf.write(src, stereo, 16000, subtype="IMA_ADPCM")
    proc = run_cli("stream", "-", str(tmp_path / "o.wav"), "--model", "sinc", stdin=src.read_bytes())
    assert proc.returncode == 2 and "IMA_ADPCM WAV cannot be read from a pipe" in proc.stderr.decode()

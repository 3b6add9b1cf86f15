"""`rtaudio stream` through the real CLI: outputs, formats, pipes, and bad input."""

from __future__ import annotations

import json
import os
import re
import wave
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr

from tests.conftest import run_cli


@pytest.fixture()
def speech_16k(tmp_path: Path, speech_48k: np.ndarray) -> Path:
    path = tmp_path / "speech_16k.wav"
    sf.write(path, soxr.resample(speech_48k, 48000, 16000), 16000, subtype="PCM_16")
    return path


def _one_line_error(proc) -> str:
    err = proc.stderr.decode().strip()
    assert proc.returncode != 0
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    assert err.startswith("rtaudio: error:")
    return err


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".part" in p.name)


def test_stream_sinc_writes_exact_length_and_json_summary(tmp_path, speech_16k):
    out = tmp_path / "out.flac"
    proc = run_cli("stream", str(speech_16k), str(out), "--model", "sinc", "--json")
    assert proc.returncode == 0, proc.stderr.decode()
    summary = json.loads(proc.stdout)
    n_in = sf.info(str(speech_16k)).frames
    data, rate = sf.read(out, dtype="float32")
    assert rate == 48000 and len(data) == round(n_in * 3) == summary["frames_out"]
    assert summary["frames_in"] == n_in and summary["model"] == "sinc"
    assert summary["rtf"] == pytest.approx(summary["compute_seconds"] / summary["audio_seconds"], rel=1e-2, abs=1e-4)
    assert summary["chunk_p50_ms"] <= summary["chunk_p99_ms"]
    assert summary["latency_ms"] > 0
    reference = soxr.resample(sf.read(speech_16k, dtype="float32")[0], 16000, 48000, quality="VHQ")
    err = np.linalg.norm(reference - data) / np.linalg.norm(reference)
    assert err < 1e-3  # FLAC is 16-bit; sinc streaming equals offline soxr
    assert os.stat(out).st_mode & 0o044  # a normal, readable file (not mkstemp's 0600)


@pytest.mark.parametrize("ext", ["wav", "flac", "ogg"])
def test_stream_preserves_channels_and_converts_any_input_rate(tmp_path, speech_48k, ext):
    stereo = np.stack([speech_48k, -0.5 * speech_48k], axis=1)[:44100]
    src = tmp_path / f"in.{ext}"
    sf.write(src, soxr.resample(stereo, 48000, 44100), 44100)
    out = tmp_path / f"out.{ext}"
    proc = run_cli("stream", str(src), str(out), "--model", "sinc", "--in-rate", "16000", "--out-rate", "48000")
    assert proc.returncode == 0, proc.stderr.decode()
    info = sf.info(str(out))
    assert info.channels == 2 and info.samplerate == 48000
    assert info.frames == round(sf.info(str(src)).frames * 48000 / 44100)


def test_offline_and_stream_agree_for_sinc(tmp_path, speech_16k):
    a, b = tmp_path / "a.wav", tmp_path / "b.wav"
    assert run_cli("stream", str(speech_16k), str(a), "--model", "sinc").returncode == 0
    assert run_cli("stream", str(speech_16k), str(b), "--model", "sinc", "--offline").returncode == 0
    x, y = sf.read(a)[0], sf.read(b)[0]
    assert len(x) == len(y)
    assert np.abs(x - y).max() <= 2 / 32768  # identical up to 16-bit rounding


def test_realtime_pacing_counts_deadlines(tmp_path, speech_16k):
    short = tmp_path / "short.wav"
    sf.write(short, sf.read(speech_16k)[0][:8000], 16000)
    proc = run_cli("stream", str(short), str(tmp_path / "o.wav"), "--model", "linear", "--realtime", "--json")
    assert proc.returncode == 0, proc.stderr.decode()
    summary = json.loads(proc.stdout)
    assert summary["mode"] == "realtime" and summary["missed_deadlines"] is not None
    assert summary["wall_seconds"] >= 0.45  # paced at wall-clock speed: 0.5 s of audio


def test_stdin_to_stdout(tmp_path, speech_16k):
    raw = speech_16k.read_bytes()
    proc = run_cli("stream", "-", "-", "--model", "sinc", stdin=raw)
    assert proc.returncode == 0, proc.stderr.decode()
    piped = tmp_path / "piped.wav"
    # the header says 'unknown length'; tell wave the real size to read it back
    piped.write_bytes(proc.stdout)
    body = proc.stdout[44:]
    n_out = len(body) // 2
    assert n_out == 3 * sf.info(str(speech_16k)).frames
    with wave.open(str(piped)) as w:
        assert w.getframerate() == 48000 and w.getnchannels() == 1


def test_nan_samples_are_sanitized_and_counted(tmp_path):
    x = np.sin(np.arange(16000) * 0.05).astype(np.float32) * 0.5
    x[100:110] = np.nan
    x[200] = np.inf
    src = tmp_path / "nan.wav"
    sf.write(src, x, 16000, subtype="FLOAT")
    out = tmp_path / "clean.wav"
    proc = run_cli("stream", str(src), str(out), "--model", "sinc", "--json")
    assert proc.returncode == 0, proc.stderr.decode()
    assert json.loads(proc.stdout)["nonfinite_samples"] == 11
    assert np.isfinite(sf.read(out)[0]).all()


@pytest.mark.parametrize("subtype, clipped", [("PCM_16", True), ("FLOAT", False)])
def test_samples_beyond_full_scale_are_counted_where_the_format_clips_them(tmp_path, subtype, clipped):
    """A float source above 0 dBFS (a louder-than-input model does the same) written to an
    integer format is clipped, and the run says how much; a float output keeps the samples."""
    x = np.sin(np.arange(16000) * 0.05).astype(np.float32) * 1.5
    src = tmp_path / "hot.wav"
    sf.write(src, x, 16000, subtype="FLOAT")
    out = tmp_path / "out.wav"
    proc = run_cli("stream", str(src), str(out), "--model", "sinc", "--subtype", subtype, "--json")
    assert proc.returncode == 0, proc.stderr.decode()
    summary = json.loads(proc.stdout)
    written = sf.read(out, dtype="float32")[0]
    if clipped:
        at_full_scale = int(np.count_nonzero(np.abs(written) >= 32767 / 32768))
        assert summary["clipped_samples"] > 0.2 * len(written) and at_full_scale >= summary["clipped_samples"]
        # the peak is the output's: +3.5 dBFS in, a little more after the sinc filter's overshoot
        assert re.fullmatch(
            rf"{re.escape(str(out))}: {summary['clipped_samples']} samples above full scale clipped by PCM_16 "
            r"\(peak \+[34]\.\d dBFS\); --subtype FLOAT keeps them",
            summary["warnings"][0],
        ), summary["warnings"]
        assert proc.stderr.decode().strip() == "rtaudio: warning: " + summary["warnings"][0]
    else:
        assert summary["clipped_samples"] == 0 and summary["warnings"] == [] and np.abs(written).max() > 1.4


# -- bad input: one line on stderr, non-zero exit, no output file ----------------------------


def _write_bad(tmp_path: Path, kind: str, speech_16k: Path) -> Path:
    path = tmp_path / f"bad_{kind}.wav"
    if kind == "missing":
        return tmp_path / "does_not_exist.wav"
    if kind == "garbage":
        path.write_bytes(os.urandom(4000))
    elif kind == "empty_file":
        path.write_bytes(b"")
    elif kind == "truncated_header":
        path.write_bytes(speech_16k.read_bytes()[:30])
    elif kind == "zero_length":
        sf.write(path, np.zeros(0, np.float32), 16000)
    elif kind == "text":
        path = tmp_path / "notes.txt"
        path.write_text("not audio\n")
    elif kind == "directory":
        path = tmp_path / "a_folder.wav"
        path.mkdir()
    elif kind == "absurd_rate":
        sf.write(path, np.zeros(1000, np.float32), 1)
    return path


@pytest.mark.parametrize(
    "kind", ["missing", "garbage", "empty_file", "truncated_header", "zero_length", "text", "directory", "absurd_rate"]
)
def test_bad_input_files(tmp_path, speech_16k, kind):
    src = _write_bad(tmp_path, kind, speech_16k)
    out = tmp_path / "out.wav"
    proc = run_cli("stream", str(src), str(out), "--model", "sinc")
    _one_line_error(proc)
    assert proc.returncode == 2
    assert not out.exists() and _leftovers(tmp_path) == []


def test_truncated_data_still_produces_consistent_output(tmp_path, speech_16k):
    """A WAV cut mid-data (header claims more) is read up to its real end, not crashed on."""
    cut = tmp_path / "cut.wav"
    cut.write_bytes(speech_16k.read_bytes()[:20000])
    out = tmp_path / "out.wav"
    proc = run_cli("stream", str(cut), str(out), "--model", "sinc", "--json")
    assert proc.returncode == 0, proc.stderr.decode()
    summary = json.loads(proc.stdout)
    assert sf.info(str(out)).frames == summary["frames_out"] == 3 * summary["frames_in"]
    assert summary["frames_in"] == (20000 - 44) // 2
    declared = sf.info(str(speech_16k)).frames
    assert summary["warnings"] == [
        f"{cut}: truncated: the header says {declared} frames, the data holds {summary['frames_in']}; "
        "processed what was there"
    ]
    assert proc.stderr.decode().strip() == "rtaudio: warning: " + summary["warnings"][0]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--task", "nope"], "unknown task"),
        (["--model", "nope"], "unknown model"),
        (["--model", "missing.onnx"], "does not exist"),
        (["--in-rate", "5"], "outside"),
        (["--out-rate", "10000000"], "outside"),
        (["--chunk-ms", "-3"], "chunk"),
    ],
)
def test_bad_options(tmp_path, speech_16k, args, message):
    out = tmp_path / "out.wav"
    proc = run_cli("stream", str(speech_16k), str(out), "--model", "sinc", *args)
    assert message in _one_line_error(proc)
    assert proc.returncode == 2 and not out.exists()


@pytest.mark.parametrize("target", ["no_such_dir/out.wav", "out.xyz", "out", "a_dir"])
def test_unwritable_or_unsupported_outputs(tmp_path, speech_16k, target):
    (tmp_path / "a_dir").mkdir()
    out = tmp_path / target
    proc = run_cli("stream", str(speech_16k), str(out), "--model", "sinc")
    _one_line_error(proc)
    assert proc.returncode == 2
    assert not out.is_file() and _leftovers(tmp_path) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write into read-only folders; permission errors need a user")
def test_read_only_folder(tmp_path, speech_16k):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    proc = run_cli("stream", str(speech_16k), str(folder / "o.wav"), "--model", "sinc")
    _one_line_error(proc)


def test_failure_mid_stream_leaves_no_output(tmp_path, speech_16k):
    """A failure after writing started (here: the disk 'fills': RLIMIT_FSIZE) removes the partial file."""
    out = tmp_path / "out.wav"
    script = (
        "import resource, signal, sys; signal.signal(signal.SIGXFSZ, signal.SIG_IGN);"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (50000, 50000));"
        "from rtaudio.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-c", script, "stream", str(speech_16k), str(out), "--model", "sinc"],
        capture_output=True,
        env={**os.environ, "NO_COLOR": "1"},
    )
    _one_line_error(proc)
    assert not out.exists() and _leftovers(tmp_path) == []


def test_debug_shows_traceback(tmp_path):
    proc = run_cli("--debug", "stream", str(tmp_path / "missing.wav"), str(tmp_path / "o.wav"))
    assert proc.returncode != 0 and b"Traceback" in proc.stderr


def test_version_models_and_help():
    from rtaudio import __version__

    version = run_cli("--version")
    assert version.returncode == 0 and __version__ in version.stdout.decode()
    models = run_cli("models", "--json")
    assert models.returncode == 0
    names = [m["name"] for m in json.loads(models.stdout)]
    assert {"sinc", "linear"} <= set(names)
    for command in ("stream", "models", "demo"):
        helped = run_cli(command, "--help")
        assert helped.returncode == 0 and b"usage: rtaudio " + command.encode() in helped.stdout
    assert b"memory grows" in run_cli("stream", "--help").stdout


def test_ctrl_c_leaves_no_output(tmp_path):
    """Ctrl-C mid-stream: exit 130, no OUT, no temporary file (tests/test_signals.py has SIGTERM/SIGHUP).

    The input is a pipe held open, so the stream cannot finish before the signal lands.
    """
    import signal

    from tests.test_signals import start_held, wav_bytes

    out = tmp_path / "out.wav"
    proc = start_held(tmp_path, wav_bytes(), out)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert err.decode().strip() == "rtaudio: interrupted"
    assert not out.exists() and _leftovers(tmp_path) == []


# -- output = input, formats, options -------------------------------------------------------


@pytest.mark.parametrize("how", ["same", "symlink", "hardlink", "relative"])
def test_output_equal_to_input_is_refused(tmp_path, speech_16k, how):
    before = speech_16k.read_bytes()
    out = tmp_path / "alias.wav"
    if how == "same":
        out = speech_16k
    elif how == "symlink":
        out.symlink_to(speech_16k)
    elif how == "hardlink":
        os.link(speech_16k, out)
    else:
        (tmp_path / "sub").mkdir()
        out = tmp_path / "sub" / ".." / speech_16k.name
    proc = run_cli("stream", str(speech_16k), str(out), "--model", "sinc")
    assert "is the input file itself" in _one_line_error(proc) and proc.returncode == 2
    assert speech_16k.read_bytes() == before and _leftovers(tmp_path) == []


def test_stdin_redirected_from_the_output_is_refused(tmp_path, speech_16k):
    import subprocess
    import sys

    with open(speech_16k, "rb") as f:
        proc = subprocess.run(
            [sys.executable, "-m", "rtaudio.cli", "stream", "-", str(speech_16k), "--model", "sinc"],
            stdin=f,
            capture_output=True,
        )
    assert proc.returncode == 2 and "is the input file itself" in proc.stderr.decode()


def test_overwrite_input_replaces_it_with_the_whole_output(tmp_path, speech_16k):
    reference = tmp_path / "reference.wav"
    assert run_cli("stream", str(speech_16k), str(reference), "--model", "sinc").returncode == 0
    proc = run_cli("stream", str(speech_16k), str(speech_16k), "--model", "sinc", "--overwrite-input")
    assert proc.returncode == 0, proc.stderr.decode()
    assert speech_16k.read_bytes() == reference.read_bytes()  # the whole input was read first
    assert _leftovers(tmp_path) == []


def test_mp3_input_gives_pcm_wav_quietly(tmp_path, speech_16k):
    mp3 = tmp_path / "speech.mp3"
    sf.write(mp3, sf.read(speech_16k, dtype="float32")[0], 16000, format="MP3")
    out = tmp_path / "out.wav"
    proc = run_cli("stream", str(mp3), str(out), "--model", "sinc", "--json")
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stderr == b""  # libmpg123's per-frame chatter is silenced
    info = sf.info(str(out))
    assert info.subtype == "PCM_16" and info.frames == json.loads(proc.stdout)["frames_out"]


@pytest.mark.parametrize(
    "source, target, expected",
    [("FLOAT", "wav", "FLOAT"), ("PCM_24", "flac", "PCM_24"), ("FLOAT", "flac", "PCM_16"), ("ULAW", "wav", "PCM_16")],
)
def test_output_keeps_only_a_linear_source_subtype(tmp_path, speech_16k, source, target, expected):
    src = tmp_path / "src.wav"
    sf.write(src, sf.read(speech_16k, dtype="float32")[0], 16000, subtype=source)
    out = tmp_path / f"out.{target}"
    assert run_cli("stream", str(src), str(out), "--model", "sinc").returncode == 0
    assert sf.info(str(out)).subtype == expected


@pytest.mark.parametrize("value", ["0", "-3", "two"])
def test_threads_must_be_positive(tmp_path, speech_16k, value):
    out = tmp_path / "out.wav"
    proc = run_cli("stream", str(speech_16k), str(out), "--model", "sinc", "--threads", value)
    assert "--threads" in _one_line_error(proc) and proc.returncode == 2 and not out.exists()


def test_integer_blocks_are_refused_by_the_api():
    import rtaudio

    with pytest.raises(ValueError, match="float audio.*int16"):
        rtaudio.open(model="sinc").process(np.zeros(10, np.int16))

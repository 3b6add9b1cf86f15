"""``.npy`` log-mel input: non-finite values are silence (the log floor), the summary speaks in frames."""

from __future__ import annotations

import json

import numpy as np
import soundfile as sf

from rtaudio.tasks.mel import DEFAULT, log_mel
from tests.conftest import run_cli


def test_nan_mel_frames_are_the_log_floor(tmp_path, speech_48k):
    import soxr

    mel = log_mel(soxr.resample(speech_48k[:48000], 48000, 24000).astype(np.float32))
    holed, floored = mel.copy(), mel.copy()
    holed[10:14] = np.nan
    holed[20, :5] = np.inf
    floored[10:14] = np.log(DEFAULT.log_floor)
    floored[20, :5] = np.log(DEFAULT.log_floor)
    outs = []
    for name, frames in (("holed", holed), ("floored", floored)):
        np.save(tmp_path / f"{name}.npy", frames)
        out = tmp_path / f"{name}.wav"
        args = ("stream", str(tmp_path / f"{name}.npy"), str(out), "--task", "vocode", "--steps", "0", "--threads", "1")
        proc = run_cli(*args, "--json")
        assert proc.returncode == 0, proc.stderr.decode()
        outs.append((json.loads(proc.stdout), sf.read(out, dtype="float32")[0]))
    (summary, holed_audio), (clean_summary, floored_audio) = outs
    assert summary["nonfinite_samples"] == 4 * mel.shape[1] + 5 and clean_summary["nonfinite_samples"] == 0
    assert np.array_equal(holed_audio, floored_audio)  # NaN frames are exactly silence, not a loud 0


def test_mel_summary_counts_frames(tmp_path):
    mel = np.full((40, DEFAULT.n_mels), np.log(DEFAULT.log_floor), np.float32)
    np.save(tmp_path / "quiet.npy", mel)
    proc = run_cli("stream", str(tmp_path / "quiet.npy"), str(tmp_path / "q.wav"), "--task", "vocode", "--steps", "0")
    assert proc.returncode == 0, proc.stderr.decode()
    assert "40 frames x 80 mels at 80 frames/s" in proc.stderr.decode()

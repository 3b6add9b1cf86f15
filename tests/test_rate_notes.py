"""What the upsample task tells the user about rates (issue "Rough edges"), through the real CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr

from tests.conftest import run_cli


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory, speech_48k: np.ndarray) -> dict[int, Path]:
    folder = tmp_path_factory.mktemp("rates")
    speech = speech_48k[: 48000 * 2]
    out = {}
    for rate in (8000, 16000, 44100):
        path = folder / f"speech_{rate}.wav"
        sf.write(path, soxr.resample(speech, 48000, rate, quality="VHQ"), rate, subtype="FLOAT")
        out[rate] = path
    return out


def _stream(src: Path, dst: Path, *args: str) -> dict:
    done = run_cli("stream", str(src), str(dst), "--json", *args)
    assert done.returncode == 0, done.stderr.decode()
    return json.loads(done.stdout)


def _band_db(path: Path, lo: float, hi: float) -> float:
    y, rate = sf.read(path, dtype="float64")
    spectrum = np.abs(np.fft.rfft(y)) ** 2
    f = np.fft.rfftfreq(len(y), 1 / rate)
    return float(10 * np.log10(spectrum[(f >= lo) & (f < hi)].mean() + 1e-30))


def test_8k_to_48k_runs_the_8_to_48_pair_not_8_to_16_plus_sinc(clips, tmp_path: Path) -> None:
    summary = _stream(clips[8000], tmp_path / "o.wav", "--out-rate", "48000")
    assert summary["model"] == "upsample48k" and summary["out_rate"] == 48000
    # the band above 8 kHz is restored, not left empty by a sinc stage after an 8 -> 16 model
    assert _band_db(tmp_path / "o.wav", 9000, 20000) > _band_db(tmp_path / "o.wav", 100, 3800) - 60
    default = _stream(clips[8000], tmp_path / "d.wav")
    assert default["out_rate"] == 16000  # narrowband -> wideband is the 8 kHz default


def test_a_rate_no_model_serves_says_sinc_runs_and_hints_in_rate(clips, tmp_path: Path) -> None:
    summary = _stream(clips[44100], tmp_path / "o.wav")
    assert summary["model"] == "sinc"
    (note,) = summary["notes"]
    assert "44100 Hz band" in note and "--in-rate" in note


def test_in_rate_above_the_files_rate_is_warned(clips, tmp_path: Path) -> None:
    summary = _stream(clips[16000], tmp_path / "o.wav", "--in-rate", "24000", "--model", "sinc")
    assert any("--in-rate 24000 declares more band than a 16000 Hz source" in n for n in summary["notes"])
    assert _stream(clips[16000], tmp_path / "p.wav")["notes"] == []  # nothing to say about a plain run

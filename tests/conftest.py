"""Shared fixtures: small real-speech signals and a CLI runner."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

ASSETS = Path(__file__).resolve().parent.parent / "rtaudio" / "assets"


@pytest.fixture(scope="session")
def speech_48k() -> np.ndarray:
    """Held-out real speech, 48 kHz mono float32."""
    audio, rate = sf.read(ASSETS / "eval" / "de.flac", dtype="float32")
    assert rate == 48000
    return audio


def run_cli(*args: str, stdin: bytes | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run the real ``rtaudio`` CLI in a subprocess (as a user would)."""
    full_env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "120", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "rtaudio.cli", *args],
        input=stdin,
        capture_output=True,
        env=full_env,
        timeout=300,
    )

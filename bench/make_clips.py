"""Build the shipped demo and evaluation clips from Debian's klettres-data.

klettres-data (GPL-2+, Anne-Marie Mahfouf and KDE contributors) holds real recorded
speech, 44.1 kHz Vorbis. The languages used here (de, pt_BR, uk) are the held-out split
of export/split.json: no shipped model trained on them.

    apt-get install klettres-data && .venv/bin/python bench/make_clips.py
"""

from __future__ import annotations

import glob
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

KLETTRES = Path("/usr/share/klettres")
ASSETS = Path(__file__).resolve().parent.parent / "rtaudio" / "assets"
RATE = 48000
GAP_S = 0.15


def _words(language: str, limit_s: float) -> np.ndarray:
    """Concatenate a language's recorded words (sorted, deterministic) up to ``limit_s``."""
    pieces, total = [], 0.0
    for path in sorted(glob.glob(str(KLETTRES / language / "syllab" / "*.ogg"))):
        audio, rate = sf.read(path, dtype="float32", always_2d=True)
        audio = soxr.resample(audio.mean(axis=1), rate, RATE, quality="VHQ")
        level = np.abs(audio)
        voiced = np.flatnonzero(level > 0.02 * level.max())
        audio = audio[max(0, voiced[0] - 2400) : voiced[-1] + 2400]  # trim silence, keep 50 ms
        pieces += [audio, np.zeros(int(GAP_S * RATE), np.float32)]
        total += len(audio) / RATE + GAP_S
        if total >= limit_s:
            break
    clip = np.concatenate(pieces)
    return (clip * (0.5 / np.abs(clip).max())).astype(np.float32)


def main() -> None:
    (ASSETS / "eval").mkdir(parents=True, exist_ok=True)
    demo = _words("de", 6.0)
    sf.write(ASSETS / "demo_speech_48k.flac", demo, RATE, subtype="PCM_16")
    sf.write(ASSETS / "demo_speech_16k.flac", soxr.resample(demo, RATE, 16000, quality="VHQ"), 16000, "PCM_16")
    for language in ("de", "pt_BR", "uk"):
        sf.write(ASSETS / "eval" / f"{language}.flac", _words(language, 8.0), RATE, subtype="PCM_16")
    for path in sorted(ASSETS.rglob("*.flac")):
        print(f"{path.relative_to(ASSETS)}: {sf.info(str(path)).duration:.2f} s")


if __name__ == "__main__":
    main()

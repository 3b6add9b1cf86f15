"""The vocoder's view of the starter corpus (export/data.py's split, resampled to 24 kHz).

The 48 kHz training array is resampled once and cached under ``data/vocoder/``; held-out
files are the upsampler's (languages de, pt_BR, uk) with its dev/test split, so both tasks
tune and report on the same speech.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import soxr

from export.data import DATA_DIR, MODEL_RATE, load_audio
from export.evaluate import heldout_files

CACHE_DIR = Path("data/vocoder")


def train_audio(corpus: str, rate: int) -> np.ndarray:
    """The corpus' training array at ``rate`` (memory-mapped from a cache after the first call)."""
    cache = CACHE_DIR / f"{corpus}_train_{rate}.npy"
    if not cache.exists():
        src = np.load(DATA_DIR / corpus / "train.npy", mmap_mode="r")
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        y = soxr.resample(np.asarray(src), MODEL_RATE, rate, quality="VHQ").astype(np.float32)
        # a per-process temporary name: two trainers started together must not share one
        tmp = cache.with_suffix(f".{os.getpid()}.tmp.npy")
        np.save(tmp, y)
        tmp.replace(cache)
    return np.load(cache, mmap_mode="r")


def heldout_set(
    rate: int, count: int, corpus: str = "klettres", min_seconds: float = 0.5, part: str = "test"
) -> dict[str, np.ndarray]:
    """``count`` files of the held-out ``part`` (``dev`` for tuning, ``test`` for reporting; the
    upsampler's split), spread evenly over the sorted list so all three languages appear."""
    files = heldout_files(corpus, part)
    picked = [files[i] for i in np.linspace(0, len(files) - 1, min(count, len(files))).round().astype(int)]
    out = {}
    for p in picked:
        x = load_audio(p, rate)
        if len(x) >= min_seconds * rate:
            out[p.stem] = x
    return out


class Crops:
    """Random loud-enough crops with random gain (speech levels vary by 20 dB in the wild)."""

    def __init__(self, audio: np.ndarray, seed: int) -> None:
        self.audio = audio
        self.rng = np.random.default_rng(seed)

    def batch(self, size: int, length: int) -> np.ndarray:
        rng = self.rng
        out = np.empty((size, length), np.float32)
        for b in range(size):
            for _ in range(20):
                i = int(rng.integers(0, len(self.audio) - length))
                x = np.asarray(self.audio[i : i + length], dtype=np.float32)
                if np.sqrt(np.mean(x**2)) > 3e-3:
                    break
            peak = max(float(np.abs(x).max()), 1e-4)
            out[b] = x * (10 ** (rng.uniform(-20.0, 0.0) / 20) * 0.95 / peak)
        return out

"""Fit the spectral-envelope maps of the upsampler's post-filter (``rtaudio/tasks/envelope.py``).

``python -m export.envelope --corpus klettres_wb --out runs/fast48k_wb/envelope.npz``

For each input rate (8, 16, 24 kHz): random crops of the training split, made low-resolution
with the training degradations (NU-Wave's STFT brick wall, soxr, polyphase, IIR lowpasses; 15 %
already band-limited below the input's Nyquist) and interpolated back with the runtime's soxr
VHQ; a ridge regression from the interpolated input's band log energies (``--past`` and
``--future`` frames of context) to the reference's log energies above the input's Nyquist.
Deterministic (seeded); about a minute on 2 cores.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from rich.progress import Progress
from scipy import signal

from export.data import METHODS, MODEL_RATE, degrade, sinc_up, training_audio
from rtaudio.tasks.envelope import EnvelopeMap, band_log_energy, stft_frames

RATES = (8000, 16000, 24000)


def training_frames(
    audio: np.ndarray, in_rate: int, crops: int, seconds: float, rng: np.random.Generator, p_bandlimited: float
) -> tuple[np.ndarray, np.ndarray]:
    """STFT frames of (interpolated input, reference) pairs: two complex arrays (frames, bins)."""
    seg = int(seconds * MODEL_RATE)
    conds, refs = [], []
    for _ in range(crops):
        i = int(rng.integers(0, len(audio) - seg))
        x = np.array(audio[i : i + seg], dtype=np.float64)
        if np.sqrt(np.mean(x**2)) < 3e-3:
            continue
        x *= 10 ** (rng.uniform(-20.0, 3.0) / 20) / max(np.abs(x).max(), 1e-4) * 0.5
        if rng.random() < p_bandlimited:
            edge = rng.uniform(0.3, 0.9) * in_rate / 2
            x = signal.sosfiltfilt(signal.butter(10, edge, fs=MODEL_RATE, output="sos"), x)
        low = degrade(x, in_rate, str(rng.choice(METHODS)), rng)
        cond = sinc_up(low, in_rate, MODEL_RATE)[: len(x)]
        conds.append(stft_frames(cond, 0, 0)[0])
        refs.append(stft_frames(x[: len(cond)], 0, 0)[0])
    return np.concatenate(conds), np.concatenate(refs)


def fit(
    audio: np.ndarray, in_rate: int, past: int, future: int, crops: int, ridge: float, seed: int, quadratic: bool
) -> tuple[EnvelopeMap, float]:
    """The ridge map for one input rate and its training RMS error (log10 units)."""
    rng = np.random.default_rng(seed + in_rate)
    cond, ref = training_frames(audio, in_rate, crops, 2.0, rng, 0.15)
    probe = EnvelopeMap(in_rate, past, future, np.zeros((1, 1)), quadratic)
    # Context frames must come from one crop: features are built per crop-length block.
    per_crop = len(stft_frames(np.zeros(int(2.0 * MODEL_RATE)), 0, 0)[0])
    feats = np.concatenate([probe.features(cond[k : k + per_crop]) for k in range(0, len(cond), per_crop)])
    target = band_log_energy(ref, probe.out_bands)
    gram = feats.T @ feats + ridge * len(feats) * np.eye(feats.shape[1])
    weights = np.linalg.solve(gram, feats.T @ target)
    rms = float(np.sqrt(np.mean((feats @ weights - target) ** 2)))
    return EnvelopeMap(in_rate, past, future, weights, quadratic), rms


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", nargs="+", default=["klettres_wb"], help="one or more corpora (concatenated)")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--past", type=int, default=0, help="context frames before (hop 128 at 48 kHz)")
    ap.add_argument("--future", type=int, default=0, help="context frames after (each adds 2.7 ms of latency)")
    ap.add_argument("--crops", type=int, default=400, help="2 s training crops per input rate")
    ap.add_argument("--ridge", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--linear", action="store_true", help="band log energies only (default adds their squares)")
    a = ap.parse_args()
    audio = training_audio(a.corpus)
    arrays: dict[str, np.ndarray] = {"rates": np.array(RATES)}
    report = {}
    with Progress() as prog:
        task = prog.add_task("fitting envelope maps", total=len(RATES))
        for rate in RATES:
            emap, rms = fit(audio, rate, a.past, a.future, a.crops, a.ridge, a.seed, not a.linear)
            arrays |= {f"weights_{rate}": emap.weights.astype(np.float32), f"past_{rate}": np.array(a.past)}
            arrays |= {f"future_{rate}": np.array(a.future), f"quadratic_{rate}": np.array(not a.linear)}
            report[str(rate)] = {"train_rms_log10": round(rms, 4), "features": int(emap.weights.shape[0])}
            prog.advance(task)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(a.out, **arrays)
    corpus = a.corpus[0] if len(a.corpus) == 1 else a.corpus
    meta = {"corpus": corpus, "past": a.past, "future": a.future, "quadratic": not a.linear}
    meta |= {"crops": a.crops, "ridge": a.ridge, "seed": a.seed}
    a.out.with_suffix(".json").write_text(json.dumps(meta | {"fit": report}, indent=1) + "\n")
    print(json.dumps(report))


if __name__ == "__main__":
    main()

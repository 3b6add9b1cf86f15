"""Grid search of few-step noise schedules on the exported model (the runtime does the sampling).

``python -m export.vocoder.schedule rtaudio/models/vocoder24k.onnx --out runs/fast24k/schedules.json``

Starts from WaveGrad's published 6-step betas (and geometric 2/4/8-step ones) and runs
coordinate descent: each beta in turn is multiplied by 1/4, 1/2, 2, 4 and the change kept
when the objective (log-mel L1 + multi-resolution STFT distance, mean over clips) improves.
Clips are random crops of the *training* languages with a fixed seed: the held-out
languages stay untouched for the quality report. The noise seed is fixed, so candidates are
compared on the same noise.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from export.vocoder.data import Crops, train_audio
from export.vocoder.export_onnx import initial_schedules
from rtaudio.metrics_vocode import log_mel_l1, mrstft_distance
from rtaudio.tasks.mel import log_mel
from rtaudio.tasks.vocode import Vocoder

MULTIPLIERS = (0.25, 0.5, 2.0, 4.0)
BETA_RANGE = (1e-7, 0.5)


def objective(model: Path, betas: list[float], clips: np.ndarray, threads: int | None) -> float:
    voc = Vocoder(model, betas=betas, threads=threads)
    mels = np.stack([log_mel(c, voc.spec).T for c in clips])
    out = voc.synthesize(mels, 0)
    return float(np.mean([log_mel_l1(c, y, voc.spec) + mrstft_distance(c, y) for c, y in zip(clips, out, strict=True)]))


def search(model: Path, start: list[float], clips: np.ndarray, rounds: int, threads: int | None) -> tuple[list, float]:
    best, best_val = list(start), objective(model, start, clips, threads)
    for _ in range(rounds):
        improved = False
        for i in range(len(best)):
            for m in MULTIPLIERS:
                cand = list(best)
                cand[i] = float(np.clip(cand[i] * m, *BETA_RANGE))
                val = objective(model, cand, clips, threads)
                if val < best_val - 1e-4:
                    best, best_val, improved = cand, val, True
        if not improved:
            break
    return best, best_val


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", type=Path, help="exported .onnx with its card")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--steps", type=int, nargs="+", default=[2, 4, 6, 8])
    ap.add_argument("--clips", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--threads", type=int, default=None)
    a = ap.parse_args()
    rate = 24000
    crops = Crops(train_audio("klettres", rate), seed=1234)
    clips = crops.batch(a.clips, int(a.seconds * rate) // 300 * 300)
    initial = initial_schedules()
    result: dict = {"schedules": {"0": []}, "objective": {}, "start_objective": {}}
    result["objective"]["0"] = result["start_objective"]["0"] = objective(a.model, [], clips, a.threads)
    print(f"0 steps: {result['objective']['0']:.4f}")
    for n in a.steps:
        t0 = time.time()
        start = initial[str(n)]
        result["start_objective"][str(n)] = objective(a.model, start, clips, a.threads)
        betas, val = search(a.model, start, clips, a.rounds, a.threads)
        result["schedules"][str(n)] = betas
        result["objective"][str(n)] = val
        print(f"{n} steps: {result['start_objective'][str(n)]:.4f} -> {val:.4f} ({time.time() - t0:.0f} s) {betas}")
    result["search"] = (
        f"coordinate descent x{MULTIPLIERS} per beta, {a.rounds} rounds; objective log-mel L1 + MR-STFT on "
        f"{a.clips} x {a.seconds} s crops of the training languages (seed 1234), noise seed 0"
    )
    a.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()

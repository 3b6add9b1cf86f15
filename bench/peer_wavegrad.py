"""Peer comparison: a reference WaveGrad's CPU speed, at equal diffusion steps.

WaveGrad (arXiv 2009.00713) is the vocoder whose RTF table ``rtaudio bench`` imitates. No
pretrained peer can be downloaded here, so this scenario builds the reference
implementation's network locally (the architecture of lmnt-com/wavegrad: 128 mel bands,
hop 300 = upsampling x5 x5 x3 x2 x2 with 512, 512, 256, 128, 128 channels, downsampling
blocks on the noisy waveform, FiLM from a positional encoding of the noise level) with
random weights, and times its sampler at the paper's 6-step grid-searched schedule.
Weights do not change the arithmetic, so the speed is the reference's; quality is not
measured. Torch runs eagerly on the CPU with one thread per core, as the reference does.

rtaudio's side of the comparison is its vocoder at the same step count; until a vocoder task
is shipped the result says so instead of comparing against something else.

    .venv/bin/python bench/peer_wavegrad.py --json bench/results/peer_wavegrad.json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rtaudio.benchmark import machine_info

RATE, HOP, N_MELS = 24000, 300, 128
#: the paper's 6-step schedule, found by grid search
SCHEDULE_6 = [1e-6, 1.892873e-5, 1.1943e-4, 1.00475e-3, 1.109425e-2, 0.06]
NOISE_SCALE = 5000.0  # positional-encoding scale of the noise level


def _conv(cin: int, cout: int, k: int, dilation: int = 1) -> nn.Conv1d:
    return nn.Conv1d(cin, cout, k, padding=dilation * (k - 1) // 2, dilation=dilation)


class FiLM(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.dim = cin
        self.input_conv = _conv(cin, cin, 3)
        self.output_conv = _conv(cin, 2 * cout, 3)

    def forward(self, x: torch.Tensor, noise_level: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = F.leaky_relu(self.input_conv(x), 0.2)
        count = self.dim // 2
        step = torch.arange(count, dtype=x.dtype) / count
        enc = NOISE_SCALE * noise_level[:, None] * torch.exp(-math.log(1e4) * step[None, :])
        x = x + torch.cat([torch.sin(enc), torch.cos(enc)], dim=-1)[:, :, None]
        shift, scale = self.output_conv(x).chunk(2, dim=1)
        return shift, scale


class UBlock(nn.Module):
    def __init__(self, cin: int, cout: int, factor: int, dilations: tuple[int, int, int, int]) -> None:
        super().__init__()
        self.factor = factor
        self.residual = _conv(cin, cout, 1)
        self.conv = nn.ModuleList(
            [_conv(cin, cout, 3, dilations[0])] + [_conv(cout, cout, 3, d) for d in dilations[1:]]
        )

    def forward(self, x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        size = x.shape[-1] * self.factor
        residual = self.residual(F.interpolate(x, size=size))
        h = self.conv[0](F.interpolate(F.leaky_relu(x, 0.2), size=size))
        h = self.conv[1](F.leaky_relu(shift + scale * h, 0.2))
        x = residual + h
        h = self.conv[2](F.leaky_relu(shift + scale * x, 0.2))
        h = self.conv[3](F.leaky_relu(shift + scale * h, 0.2))
        return x + h


class DBlock(nn.Module):
    def __init__(self, cin: int, cout: int, factor: int) -> None:
        super().__init__()
        self.factor = factor
        self.residual = _conv(cin, cout, 1)
        self.conv = nn.ModuleList([_conv(cin, cout, 3, 1), _conv(cout, cout, 3, 2), _conv(cout, cout, 3, 4)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-1] // self.factor
        residual = F.interpolate(self.residual(x), size=size)
        x = F.interpolate(x, size=size)
        for conv in self.conv:
            x = conv(F.leaky_relu(x, 0.2))
        return x + residual


class WaveGrad(nn.Module):
    """WaveGrad base with the reference implementation's layer sizes (15.9M parameters)."""

    def __init__(self) -> None:
        super().__init__()
        self.downsample = nn.ModuleList(
            [_conv(1, 32, 5), DBlock(32, 128, 2), DBlock(128, 128, 2), DBlock(128, 256, 3), DBlock(256, 512, 5)]
        )
        self.film = nn.ModuleList([FiLM(32, 128), FiLM(128, 128), FiLM(128, 256), FiLM(256, 512), FiLM(512, 512)])
        self.upsample = nn.ModuleList(
            [
                UBlock(768, 512, 5, (1, 2, 1, 2)),
                UBlock(512, 512, 5, (1, 2, 1, 2)),
                UBlock(512, 256, 3, (1, 2, 4, 8)),
                UBlock(256, 128, 2, (1, 2, 4, 8)),
                UBlock(128, 128, 2, (1, 2, 4, 8)),
            ]
        )
        self.first_conv = _conv(N_MELS, 768, 3)
        self.last_conv = _conv(128, 1, 3)

    def forward(self, audio: torch.Tensor, mel: torch.Tensor, noise_level: torch.Tensor) -> torch.Tensor:
        x = audio[:, None]
        films = []
        for film, down in zip(self.film, self.downsample, strict=True):
            x = down(x)
            films.append(film(x, noise_level))
        x = self.first_conv(mel)
        for up, (shift, scale) in zip(self.upsample, reversed(films), strict=True):
            x = up(x, shift, scale)
        return self.last_conv(x)[:, 0]


@torch.inference_mode()
def sample(model: WaveGrad, mel: torch.Tensor, schedule: list[float], seed: int = 0) -> torch.Tensor:
    """The reference sampler: ancestral denoising from Gaussian noise over ``schedule``."""
    gen = torch.Generator().manual_seed(seed)
    beta = np.asarray(schedule, dtype=np.float64)
    alpha = 1.0 - beta
    alpha_cum = np.cumprod(alpha)
    audio = torch.randn(mel.shape[0], mel.shape[-1] * HOP, generator=gen)
    for n in range(len(beta) - 1, -1, -1):
        level = torch.full((mel.shape[0],), float(alpha_cum[n] ** 0.5))
        eps = model(audio, mel, level)
        audio = (audio - (1 - alpha[n]) / (1 - alpha_cum[n]) ** 0.5 * eps) / alpha[n] ** 0.5
        if n > 0:
            sigma = ((1 - alpha_cum[n - 1]) / (1 - alpha_cum[n]) * beta[n]) ** 0.5
            audio = audio + float(sigma) * torch.randn(audio.shape, generator=gen)
        audio = audio.clamp(-1.0, 1.0)
    return audio


def schedule_for(steps: int) -> list[float]:
    """The paper's 6-step schedule, or a log-spaced one ending at 0.06 for other counts."""
    if steps == 6:
        return SCHEDULE_6
    return np.geomspace(1e-6, 0.06, steps).tolist() if steps > 1 else [0.06]


def rtaudio_vocoder(steps: int, seconds: float) -> dict:
    """rtaudio's side: every shipped vocoder at ``steps``, through ``rtaudio bench``'s measurement."""
    from rtaudio.benchmark import BenchConfig, run_bench
    from rtaudio.registry import shipped_models

    if not shipped_models("vocode"):
        return {"status": "missing: rtaudio's vocoder task has not landed; no like-for-like comparison yet"}
    report = run_bench(BenchConfig(task="vocode", steps=[steps], clips=1, max_seconds=seconds))
    keep = ("model", "faithful", "params", "steps", "status", "rtf", "rtf_median", "rtf_p95", "rtf_offline")
    keep += ("latency_ms", "lsd", "mel_l1", "pesq_wb", "parity_snr_db")
    return {"status": "measured", "rows": [{k: r[k] for k in keep} for r in report["results"]]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=6, help="diffusion steps (default 6, the paper's schedule)")
    ap.add_argument("--seconds", type=float, default=2.0, help="audio generated per run (default 2)")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs after one warm-up (default 3)")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: usable cores)")
    ap.add_argument("--json", default=None, metavar="OUT", help="also write the result here")
    a = ap.parse_args(argv)
    threads = a.threads or len(os.sched_getaffinity(0))
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = WaveGrad().eval()
    params = sum(p.numel() for p in model.parameters())
    frames = max(1, round(a.seconds * RATE / HOP))
    audio_s = frames * HOP / RATE
    mel = torch.randn(1, N_MELS, frames)
    schedule = schedule_for(a.steps)
    sample(model, mel, schedule)  # warm-up: allocator and oneDNN primitive caches
    load_before = os.getloadavg()[0]
    walls, cpus = [], []
    for _ in range(a.repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        sample(model, mel, schedule)
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    rtf = statistics.median(walls) / audio_s
    result = {
        "scenario": "peer_wavegrad",
        "peer": "WaveGrad base (lmnt-com/wavegrad architecture, built locally, random weights), torch eager CPU",
        "params": params,
        "steps": a.steps,
        "schedule": schedule,
        "rate": RATE,
        "audio_seconds": audio_s,
        "threads": threads,
        "wall_seconds": [round(w, 3) for w in walls],
        "rtf_median": round(rtf, 3),
        "rtf_per_step": round(rtf / a.steps, 3),
        # CPU seconds (all threads) per audio second: less sensitive to other load than wall time
        "cpu_seconds_per_audio_second": round(statistics.median(cpus) / audio_s, 3),
        "load_average_before": round(load_before, 2),
        "rtaudio": rtaudio_vocoder(a.steps, a.seconds),
        "machine": machine_info(),
        "torch": torch.__version__,
        "command": " ".join(["python", "bench/peer_wavegrad.py", *(argv if argv is not None else sys.argv[1:])]),
    }
    print(
        f"WaveGrad base ({params / 1e6:.2f}M params), {a.steps} steps, {threads} threads: "
        f"RTF {rtf:.2f} (median of {a.repeats} x {audio_s:.1f} s), {rtf / a.steps:.2f} per step"
    )
    for row in result["rtaudio"].get("rows", []):
        if row["status"] != "ok":
            print(f"rtaudio {row['model']} at {a.steps} steps: {row['status']}")
            continue
        print(
            f"rtaudio {row['model']} ({row['params'] / 1e6:.2f}M params), {a.steps} steps: streaming RTF "
            f"{row['rtf_median']:.3f} (median over chunks), offline RTF {row['rtf_offline']:.3f}; "
            f"WaveGrad base / rtaudio (offline vs offline) = {rtf / row['rtf_offline']:.1f}x"
        )
    if "rows" not in result["rtaudio"]:
        print(f"rtaudio vocoder: {result['rtaudio']['status']}")
    if a.json:
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        Path(a.json).write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

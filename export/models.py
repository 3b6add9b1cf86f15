"""Band-extension networks: a faithful NU-Wave stack and the fast space-to-depth default.

Both networks share one interface and one objective. Given the sinc-upsampled input ``cond``
(48 kHz, band-limited at ``cutoff`` Hz), a noisy missing band ``x_t`` and its noise level
``sigma``, they predict the clean missing band ``x0`` and return it high-passed at ``cutoff``:

    output = cond + net(cond, x_t, sigma, cutoff)      # input band exact by construction

``sigma = SIGMA_PURE`` with ``x_t = 0`` is the deterministic one-step predictor (the "0-step"
sampler); smaller sigmas are refiner steps that re-noise a prediction and denoise it again.

``polarity=True`` makes the fast network polarity-equivariant: it runs its stack on the input
and on the input negated and returns half their difference, so ``net(-x) = -net(x)`` exactly.
Space-to-depth breaks time-shift invariance: any part of the stack's output that does not
depend on the signal's sign (its biases, the mean of the ReLU features) repeats every frame
and is heard as fixed tones at multiples of the frame rate (6 kHz: 12 and 18 kHz). An odd
function has no such part, and a flipped microphone should not change what is added anyway.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rtaudio.rates import MODEL_RATE

SIGMA_PURE = 1.0  # "pure noise" level: x_t carries no information, the net is a predictor
HP_TAPS = 255  # windowed-sinc high-pass; ~1 kHz transition at 48 kHz


@dataclass
class NetConfig:
    s2d: int = 8  # space-to-depth factor (1 = full-rate NU-Wave)
    layers: int = 16
    channels: int = 64
    dilation_cycle: int = 7  # dilations 1, 2, ..., 2**(cycle-1), repeated
    cond_kernel: int = 1  # per-layer conv of the conditioning features (NU-Wave: 3, dilated)
    cond_front: int = 3  # kernel of the shared front conv on the conditioning input
    emb: int = 128
    polarity: bool = False  # odd in the signal: (stack(x) - stack(-x)) / 2, twice the compute

    def dilations(self) -> list[int]:
        return [2 ** (i % self.dilation_cycle) for i in range(self.layers)]

    def receptive_half(self) -> int:
        """One-sided receptive field in 48 kHz samples (network + s2d block + high-pass)."""
        frames = (self.cond_front - 1) // 2 + sum(d * (max(3, self.cond_kernel) - 1) // 2 for d in self.dilations())
        return frames * self.s2d + (self.s2d - 1) + HP_TAPS // 2


PRESETS = {
    "fast": NetConfig(),
    # NU-Wave paper configuration: 30 layers x 64 ch, dilation cycle 10 (1..512) at full rate,
    # the low-res input through its own dilated conv in every layer.
    "nuwave": NetConfig(s2d=1, layers=30, channels=64, dilation_cycle=10, cond_kernel=3, cond_front=1),
}


def level_features(sigma: torch.Tensor, cutoff: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal encodings of log-noise-level and normalised cutoff, (1, 2*dim)."""
    half = dim // 2
    freqs = torch.exp(torch.arange(half, dtype=torch.float32) * (-math.log(1000.0) / max(half - 1, 1)))
    ls = (torch.log10(sigma.reshape(1, 1)) + 4.0) * 50.0  # sigma in [1e-4, 1] -> [0, 200]
    lc = cutoff.reshape(1, 1) / MODEL_RATE * 400.0  # cutoff 4-12 kHz -> [33, 100]
    parts = [
        torch.sin(ls * freqs),
        torch.cos(ls * freqs),
        torch.sin(lc * freqs),
        torch.cos(lc * freqs),
    ]
    return torch.cat(parts, dim=1)


def highpass(x: torch.Tensor, cutoff: torch.Tensor) -> torch.Tensor:
    """Delta minus a Kaiser windowed-sinc lowpass at ``cutoff``; one cutoff per call."""
    return F.conv1d(x, highpass_taps(cutoff).reshape(1, 1, HP_TAPS), padding=HP_TAPS // 2)


def highpass_taps(cutoff: torch.Tensor) -> torch.Tensor:
    """The :func:`highpass` filter, ``(HP_TAPS,)``.

    Built from sin/where on constants (not torch.sinc/kaiser_window) so it exports to ONNX
    with the cutoff as a graph input.
    """
    n = torch.arange(HP_TAPS, dtype=torch.float32) - HP_TAPS // 2
    win = torch.from_numpy(np.kaiser(HP_TAPS, 8.0).astype(np.float32))
    fc = cutoff.reshape(()) / MODEL_RATE  # cycles per sample
    safe_n = torch.where(n == 0, torch.ones_like(n), n)
    lp = torch.where(n == 0, 2 * fc, torch.sin(2 * math.pi * fc * safe_n) / (math.pi * safe_n)) * win
    lp = lp / lp.sum()
    return (n == 0).to(torch.float32) - lp


class Layer(nn.Module):
    def __init__(self, c: int, dil: int, cond_in: int, cond_kernel: int, emb: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(c, 2 * c, 3, padding=dil, dilation=dil)
        pad = dil * (cond_kernel - 1) // 2
        self.cond = nn.Conv1d(cond_in, 2 * c, cond_kernel, padding=pad, dilation=dil)
        self.level = nn.Linear(emb, 2 * c)
        self.out = nn.Conv1d(c, 2 * c, 1)

    def forward(self, h: torch.Tensor, cond: torch.Tensor, e: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.conv(h) + self.cond(cond) + self.level(e).unsqueeze(-1)
        a, b = z.chunk(2, dim=1)
        res, skip = self.out(torch.tanh(a) * torch.sigmoid(b)).chunk(2, dim=1)
        return (h + res) * math.sqrt(0.5), skip


class BandNet(nn.Module):
    def __init__(self, cfg: NetConfig) -> None:
        super().__init__()
        self.cfg = cfg
        c, s = cfg.channels, cfg.s2d
        self.inp = nn.Conv1d(s, c, 1)
        cond_ch = c if s > 1 else 1
        self.front = nn.Conv1d(s, cond_ch, cfg.cond_front, padding=cfg.cond_front // 2) if s > 1 else nn.Identity()
        self.emb = nn.Sequential(
            nn.Linear(4 * (cfg.emb // 2), cfg.emb),
            nn.SiLU(),
            nn.Linear(cfg.emb, cfg.emb),
            nn.SiLU(),
        )
        self.layers = nn.ModuleList(Layer(c, d, cond_ch, cfg.cond_kernel, cfg.emb) for d in cfg.dilations())
        self.skip = nn.Conv1d(c, c, 1)
        self.head = nn.Conv1d(c, s, 1)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(
        self,
        cond: torch.Tensor,
        x_t: torch.Tensor,
        sigma: torch.Tensor,
        cutoff: torch.Tensor,
    ) -> torch.Tensor:
        """cond, x_t: (B, 1, T) with T % s2d == 0; sigma, cutoff: (1,). Returns the high band (B, 1, T)."""
        e = self.emb(level_features(sigma, cutoff, self.cfg.emb))
        if self.cfg.polarity:
            b = cond.shape[0]
            y = self.stack(torch.cat([cond, -cond]), torch.cat([x_t, -x_t]), e)
            return highpass(0.5 * (y[:b] - y[b:]), cutoff)
        return highpass(self.stack(cond, x_t, e), cutoff)

    def stack(self, cond: torch.Tensor, x_t: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        """The residual stack before the high-pass: (B, 1, T) inputs, level embedding ``e``."""
        s = self.cfg.s2d
        b, _, t = cond.shape

        def s2d(x: torch.Tensor) -> torch.Tensor:
            return x.reshape(b, t // s, s).transpose(1, 2)

        cf = self.front(s2d(cond))
        h = self.inp(s2d(x_t))
        skips = torch.zeros_like(h)
        for layer in self.layers:
            h, sk = layer(h, cf, e)
            skips = skips + sk
        y = self.head(F.relu(self.skip(skips * (1.0 / math.sqrt(len(self.layers))))))
        return y.transpose(1, 2).reshape(b, 1, t)


def build(preset: str | dict) -> BandNet:
    cfg = PRESETS[preset] if isinstance(preset, str) else NetConfig(**preset)
    return BandNet(cfg)


def config_dict(net: BandNet) -> dict:
    return asdict(net.cfg)


def sample(
    net: BandNet,
    cond: torch.Tensor,
    cutoff: float,
    sigmas: list[float],
    noise: list[torch.Tensor] | None = None,
) -> torch.Tensor:
    """The shared sampler: a predictor pass, then one re-noise/denoise pass per sigma.

    ``noise[k]`` (same shape as ``cond``) is the refiner noise of step k; the runtime passes
    position-keyed noise so that chunked and whole-file sampling agree.
    """
    c = torch.tensor([float(cutoff)])
    hb = net(cond, torch.zeros_like(cond), torch.tensor([SIGMA_PURE]), c)
    for k, s in enumerate(sigmas):
        eps = noise[k] if noise is not None else torch.randn_like(cond)
        hb = net(cond, hb + s * eps, torch.tensor([float(s)]), c)
    return cond + hb

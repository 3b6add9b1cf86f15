"""Discriminators for adversarial fine-tuning of the vocoder's predictor (training only).

Regression losses leave a one-shot vocoder's phase incoherent: the predicted spectra are
right on average, and the average of many plausible phases is none of them. A critic that
looks at the waveform's periodic structure and at its spectrogram rewards one plausible
phase instead. Two families, sized for training on a laptop CPU:

- :class:`PeriodCritic` (HiFi-GAN's multi-period idea): the waveform folded into ``period``
  columns, so 2-D convolutions along time compare samples a pitch period apart;
- :class:`SpectrogramCritic` (the multi-resolution idea of UniVNet / Vocos): 2-D
  convolutions over a log-magnitude STFT at one resolution.

Each returns its logits and the intermediate feature maps (for the feature-matching loss).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import weight_norm


def _judge(layers: nn.ModuleList, out: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Run a critic's conv stack: logits, and every layer's activations for feature matching."""
    feats = []
    for layer in layers:
        x = F.leaky_relu(layer(x), 0.1)
        feats.append(x)
    return out(x).flatten(1), feats


class PeriodCritic(nn.Module):
    def __init__(self, period: int, channels: tuple[int, ...] = (16, 32, 64, 128)) -> None:
        super().__init__()
        self.period = period
        layers, cin = [], 1
        for c in channels:
            layers.append(weight_norm(nn.Conv2d(cin, c, (5, 1), (3, 1), padding=(2, 0))))
            cin = c
        layers.append(weight_norm(nn.Conv2d(cin, cin, (5, 1), 1, padding=(2, 0))))
        self.layers = nn.ModuleList(layers)
        self.out = weight_norm(nn.Conv2d(cin, 1, (3, 1), 1, padding=(1, 0)))

    def forward(self, y: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        b, n = y.shape
        pad = (-n) % self.period
        x = F.pad(y, (0, pad), mode="reflect").reshape(b, 1, (n + pad) // self.period, self.period)
        return _judge(self.layers, self.out, x)


class SpectrogramCritic(nn.Module):
    def __init__(self, n_fft: int, channels: int = 16) -> None:
        super().__init__()
        self.n_fft = n_fft
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)
        c = channels
        self.layers = nn.ModuleList(
            [
                weight_norm(nn.Conv2d(1, c, (3, 9), (1, 2), padding=(1, 4))),
                weight_norm(nn.Conv2d(c, c, (3, 9), (1, 2), padding=(1, 4))),
                weight_norm(nn.Conv2d(c, c, (3, 9), (1, 2), padding=(1, 4))),
                weight_norm(nn.Conv2d(c, c, (3, 3), padding=(1, 1))),
            ]
        )
        self.out = weight_norm(nn.Conv2d(c, 1, (3, 3), padding=(1, 1)))

    def forward(self, y: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        spec = torch.stft(y, self.n_fft, self.n_fft // 4, window=self.window, return_complex=True)
        x = torch.log(spec.abs().clamp_min(1e-5)).transpose(1, 2)[:, None]  # (B, 1, frames, bins)
        return _judge(self.layers, self.out, x)


class Critics(nn.Module):
    """All critics; :meth:`forward` returns one (logits, features) pair per critic."""

    def __init__(self, periods: tuple[int, ...] = (2, 3, 5, 7, 11), ffts: tuple[int, ...] = (512, 1024, 2048)) -> None:
        super().__init__()
        self.critics = nn.ModuleList([PeriodCritic(p) for p in periods] + [SpectrogramCritic(n) for n in ffts])

    def forward(self, y: torch.Tensor) -> list[tuple[torch.Tensor, list[torch.Tensor]]]:
        return [critic(y) for critic in self.critics]


def critic_loss(real: list, fake: list) -> torch.Tensor:
    """Least-squares GAN: real -> 1, generated -> 0, averaged over critics."""
    return sum(((1 - r) ** 2).mean() + (f**2).mean() for (r, _), (f, _) in zip(real, fake, strict=True)) / len(real)


def generator_losses(real: list, fake: list) -> tuple[torch.Tensor, torch.Tensor]:
    """(adversarial, feature matching): generated -> 1, and L1 between critics' feature maps."""
    adv = sum(((1 - f) ** 2).mean() for f, _ in fake) / len(fake)
    pairs = [(g, r) for (_, rf), (_, gf) in zip(real, fake, strict=True) for r, g in zip(rf, gf, strict=True)]
    return adv, sum(F.l1_loss(g, r.detach()) for g, r in pairs) / len(pairs)

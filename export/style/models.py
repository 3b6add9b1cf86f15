"""The feed-forward style network: a causal dilated conv stack on log-magnitude STFT frames.

Frames: 16 kHz, n_fft 512, hop 128, periodic Hann, *causal* framing (frame ``k`` covers input
samples ``[(k + 1) * hop - n_fft, (k + 1) * hop)``, so it is complete when hop ``k`` arrives).
The network maps ``log1p(|X|)`` ``(batch, 257, frames)`` to the output's log-magnitude
(``relu(S + delta)``, the last layer zero-initialised: training starts from the identity); the
input's phase and an inverse STFT make the waveform. Every conv looks only at past frames, so
:meth:`StyleNet.step` runs one frame at a time with each layer's last ``(k - 1) * d`` inputs as
carried state and gives the same numbers as :meth:`StyleNet.forward` on the whole sequence.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class StyleNetConfig:
    """Architecture and framing (stored in checkpoints and the card)."""

    sample_rate: int = 16000
    n_fft: int = 512
    hop: int = 128
    channels: int = 128
    kernel: int = 3
    dilations: tuple[int, ...] = (1, 2, 4, 8)

    @property
    def bins(self) -> int:
        return self.n_fft // 2 + 1

    def state_lengths(self) -> list[int]:
        """Frames of history each dilated layer carries."""
        return [(self.kernel - 1) * d for d in self.dilations]

    def to_dict(self) -> dict:
        d = asdict(self)
        d["dilations"] = list(self.dilations)
        return d


class StyleNet(torch.nn.Module):
    """Causal residual conv stack: 1x1 in, dilated convs with ReLU and skips, 1x1 out (delta log-magnitude)."""

    def __init__(self, cfg: StyleNetConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.inp = torch.nn.Conv1d(cfg.bins, cfg.channels, 1)
        self.layers = torch.nn.ModuleList(
            torch.nn.Conv1d(cfg.channels, cfg.channels, cfg.kernel, dilation=d) for d in cfg.dilations
        )
        self.out = torch.nn.Conv1d(cfg.channels, cfg.bins, 1)
        torch.nn.init.zeros_(self.out.weight)
        torch.nn.init.zeros_(self.out.bias)

    def forward(self, logmag: torch.Tensor) -> torch.Tensor:
        """``(batch, bins, frames)`` -> output log-magnitude, same shape (causal)."""
        h = torch.relu(self.inp(logmag))
        for conv, pad in zip(self.layers, self.cfg.state_lengths(), strict=True):
            h = h + torch.relu(conv(F.pad(h, (pad, 0))))
        return torch.relu(logmag + self.out(h))

    def step(self, frame: torch.Tensor, states: list[torch.Tensor]) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """One frame ``(batch, bins, 1)`` and each layer's history ``(batch, channels, (k-1)*d)``
        -> the output frame and the new histories."""
        h = torch.relu(self.inp(frame))
        new = []
        for conv, state in zip(self.layers, states, strict=True):
            x = torch.cat([state, h], dim=-1)
            new.append(x[..., 1:])
            h = h + torch.relu(conv(x))
        return torch.relu(frame + self.out(h)), new


def causal_frames(audio: torch.Tensor, cfg: StyleNetConfig) -> torch.Tensor:
    """``(batch, n)`` -> complex ``(batch, bins, n // hop)`` spectra of the causal frames."""
    padded = F.pad(audio, (cfg.n_fft - cfg.hop, 0))
    window = torch.hann_window(cfg.n_fft, dtype=audio.dtype)
    return torch.stft(padded, cfg.n_fft, cfg.hop, window=window, center=False, return_complex=True)


def synthesise(spec: torch.Tensor, cfg: StyleNetConfig, length: int) -> torch.Tensor:
    """Inverse of :func:`causal_frames` (Hann synthesis, constant overlap-add gain 1.5): ``(batch, length)``.

    Output sample ``i`` lines up with input sample ``i - (n_fft - hop)``: the kernel's delay.
    """
    window = torch.hann_window(cfg.n_fft, dtype=spec.real.dtype)
    frames = torch.fft.irfft(spec, cfg.n_fft, dim=1) * window[None, :, None] / 1.5  # (batch, n_fft, frames)
    total = (frames.shape[-1] - 1) * cfg.hop + cfg.n_fft
    out = F.fold(frames, (1, total), (1, cfg.n_fft), stride=(1, cfg.hop))[:, 0, 0]
    return out[:, :length]


def stylise(net: StyleNet, audio: torch.Tensor) -> torch.Tensor:
    """Whole-signal output of ``net`` for ``(batch, n)`` audio, delay included (output ``i`` = input ``i - delay``)."""
    cfg = net.cfg
    spec = causal_frames(audio, cfg)
    mag = torch.expm1(net(torch.log1p(spec.abs())))
    return synthesise(torch.polar(mag, spec.angle()), cfg, audio.shape[-1])

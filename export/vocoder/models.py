"""Vocoder networks: WaveGrad (paper configuration and a small one) and a frame-rate predictor.

A :class:`Vocoder` is an optional one-shot :class:`FramePredictor` (mel frames -> STFT
frames -> waveform, all convolution at the 80 Hz frame rate) plus an optional
:class:`WaveGrad` denoiser. Without a predictor it is plain WaveGrad (the ``wavegrad_base``
configuration: 15.8M parameters, hop 300 at 24 kHz). With one, WaveGrad becomes a refiner
that denoises the predictor's scaled residual ``(y - y0) * residual_scale`` and also sees
``y0``: few steps then start close to the answer, and 0 steps is the predictor alone.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rtaudio.tasks.mel import DEFAULT, MelSpec, mel_filters
from rtaudio.tasks.spectral import PREDICTOR_GAIN


@dataclass
class WaveGradConfig:
    """WaveGrad's shape; the defaults are the paper's base model."""

    n_mels: int = 80
    pre_channels: int = 768
    up_factors: tuple[int, ...] = (5, 5, 3, 2, 2)
    up_channels: tuple[int, ...] = (512, 512, 256, 128, 128)
    #: input conv's channels, then one per downsampling block (factors = up_factors reversed, bar the first)
    down_channels: tuple[int, ...] = (32, 128, 128, 256, 512)
    in_channels: int = 1
    pe_scale: float = 5000.0


@dataclass
class PredictorConfig:
    """Frame-rate ConvNeXt-style backbone with an inverse-STFT head (n_fft = 4 hops)."""

    n_mels: int = 80
    channels: int = 256
    blocks: int = 8
    kernel: int = 7
    expand: int = 3
    hop: int = 300
    #: "scalar": one raw output per bin is the phase; "atan2": two outputs per bin (a pseudo real
    #: and imaginary part) whose angle is the phase, which has no wrap-around to learn across
    phase_head: str = "scalar"


@dataclass
class VocoderConfig:
    hop: int = 300
    predictor: PredictorConfig | None = None
    wavegrad: WaveGradConfig | None = field(default_factory=WaveGradConfig)
    residual_scale: float = 1.0

    @staticmethod
    def from_dict(d: dict) -> VocoderConfig:
        pred = d.get("predictor")
        wg = d.get("wavegrad")
        return VocoderConfig(
            hop=int(d.get("hop", 300)),
            predictor=PredictorConfig(**pred) if pred else None,
            wavegrad=WaveGradConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in wg.items()})
            if wg
            else None,
            residual_scale=float(d.get("residual_scale", 1.0)),
        )

    def to_dict(self) -> dict:
        return asdict(self)


# -------------------------------------------------------------------------------------------
# WaveGrad
# -------------------------------------------------------------------------------------------


def _conv(cin: int, cout: int, k: int = 3, dilation: int = 1) -> nn.Conv1d:
    return nn.Conv1d(cin, cout, k, padding=dilation * (k - 1) // 2, dilation=dilation)


def noise_encoding(level: torch.Tensor, dim: int, scale: float) -> torch.Tensor:
    """Sinusoidal encoding of the continuous noise level sqrt(alpha_bar): ``(batch,) -> (batch, dim, 1)``."""
    half = dim // 2
    freqs = torch.exp(-math.log(1e4) * torch.arange(half, dtype=level.dtype, device=level.device) / half)
    arg = scale * level[:, None] * freqs[None, :]
    return torch.cat([torch.sin(arg), torch.cos(arg)], dim=1)[:, :, None]


class FiLM(nn.Module):
    """Scale and shift for an upsampling block from a downsampling block's features + noise level."""

    def __init__(self, cin: int, cout: int, pe_scale: float) -> None:
        super().__init__()
        self.pe_scale = pe_scale
        self.inp = _conv(cin, cin)
        self.scale = _conv(cin, cout)
        self.shift = _conv(cin, cout)

    def forward(self, x: torch.Tensor, level: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = F.leaky_relu(self.inp(x), 0.2) + noise_encoding(level, x.shape[1], self.pe_scale)
        return self.scale(h), self.shift(h)


class UBlock(nn.Module):
    """Upsample by ``factor``; four dilated convs (1, 2, 4, 8) modulated by FiLM."""

    def __init__(self, cin: int, cout: int, factor: int) -> None:
        super().__init__()
        self.factor = factor
        self.skip = nn.Conv1d(cin, cout, 1)
        self.convs = nn.ModuleList([_conv(cin, cout, 3, 1), _conv(cout, cout, 3, 2)])
        self.convs2 = nn.ModuleList([_conv(cout, cout, 3, 4), _conv(cout, cout, 3, 8)])

    def forward(self, x: torch.Tensor, scale: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
        up = x.repeat_interleave(self.factor, dim=-1)
        h = self.convs[0](F.leaky_relu(up, 0.2))
        h = self.convs[1](F.leaky_relu(scale * h + shift, 0.2))
        h = h + self.skip(up)
        g = self.convs2[0](F.leaky_relu(scale * h + shift, 0.2))
        g = self.convs2[1](F.leaky_relu(scale * g + shift, 0.2))
        return h + g


class DBlock(nn.Module):
    """Downsample by ``factor`` (strided conv; average in the shortcut); three dilated convs (1, 2, 4).

    Kernel = stride = factor keeps every window's blocks on the same absolute grid (multiples
    of 60 samples in the base model), which is what lets chunks match whole-signal output.
    """

    def __init__(self, cin: int, cout: int, factor: int) -> None:
        super().__init__()
        self.factor = factor
        self.skip = nn.Conv1d(cin, cout, 1)
        self.down = nn.Conv1d(cin, cin, factor, stride=factor)
        self.convs = nn.ModuleList([_conv(cin, cout, 3, 1), _conv(cout, cout, 3, 2), _conv(cout, cout, 3, 4)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.down(x)
        for conv in self.convs:
            h = conv(F.leaky_relu(h, 0.2))
        return h + F.avg_pool1d(self.skip(x), self.factor)


class WaveGrad(nn.Module):
    """Predicts the noise in ``x`` (``(B, in_channels, T)``) given mel ``(B, n_mels, T / hop)``."""

    def __init__(self, cfg: WaveGradConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.pre = _conv(cfg.n_mels, cfg.pre_channels)
        ups, cin = [], cfg.pre_channels
        for f, c in zip(cfg.up_factors, cfg.up_channels, strict=True):
            ups.append(UBlock(cin, c, f))
            cin = c
        self.ups = nn.ModuleList(ups)
        self.post = _conv(cin, 1)
        self.inp = _conv(cfg.in_channels, cfg.down_channels[0], 5)
        down_factors = cfg.up_factors[::-1][:-1]  # (2, 2, 3, 5) for the base model
        self.downs = nn.ModuleList(
            DBlock(a, b, f) for a, b, f in zip(cfg.down_channels[:-1], cfg.down_channels[1:], down_factors, strict=True)
        )
        # FiLM k feeds upsampling block k from the downsampling output at the same rate
        film_in = cfg.down_channels[::-1]
        self.films = nn.ModuleList(FiLM(a, b, cfg.pe_scale) for a, b in zip(film_in, cfg.up_channels, strict=True))

    def forward(self, x: torch.Tensor, mel: torch.Tensor, level: torch.Tensor) -> torch.Tensor:
        feats = [self.inp(x)]
        for down in self.downs:
            feats.append(down(feats[-1]))
        h = self.pre(mel)
        for up, film, feat in zip(self.ups, self.films, feats[::-1], strict=True):
            h = up(h, *film(feat, level))
        return self.post(F.leaky_relu(h, 0.2))


# -------------------------------------------------------------------------------------------
# One-shot predictor
# -------------------------------------------------------------------------------------------


class _ChannelNorm(nn.Module):
    def __init__(self, ch: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(ch, 1))
        self.bias = nn.Parameter(torch.zeros(ch, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mu = x.mean(dim=1, keepdim=True)
        var = (x - mu).pow(2).mean(dim=1, keepdim=True)
        return (x - mu) * torch.rsqrt(var + 1e-6) * self.weight + self.bias


class _ConvNeXt(nn.Module):
    def __init__(self, ch: int, kernel: int, expand: int) -> None:
        super().__init__()
        self.dw = nn.Conv1d(ch, ch, kernel, padding=kernel // 2, groups=ch)
        self.norm = _ChannelNorm(ch)
        self.pw1 = nn.Conv1d(ch, ch * expand, 1)
        self.pw2 = nn.Conv1d(ch * expand, ch, 1)
        self.gamma = nn.Parameter(torch.full((ch, 1), 0.1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.gamma * self.pw2(F.gelu(self.pw1(self.norm(self.dw(x)))))


def synthesis_basis(n_fft: int) -> torch.Tensor:
    """``(2 * bins, n_fft)``: [real; imag] half-spectrum -> Hann-windowed frame, scaled for 4x overlap-add."""
    bins = n_fft // 2 + 1
    k = torch.arange(bins, dtype=torch.float64)[:, None]
    n = torch.arange(n_fft, dtype=torch.float64)[None, :]
    weight = torch.full((bins, 1), 2.0, dtype=torch.float64)
    weight[0] = weight[-1] = 1.0  # DC and Nyquist appear once in the full spectrum
    arg = 2 * math.pi * k * n / n_fft
    hann = 0.5 - 0.5 * torch.cos(2 * math.pi * n / n_fft)
    # periodic Hann at hop n_fft/4 sums to 2, so the overlap-add is a partition of unity after / 2
    scale = weight / n_fft * hann / 2.0
    return torch.cat([torch.cos(arg) * scale, -torch.sin(arg) * scale]).float()


def angle(im: torch.Tensor, re: torch.Tensor) -> torch.Tensor:
    """``atan2(im, re)`` in [-pi, pi], written with ``atan`` so every ONNX runtime has it.

    Half-angle identities, each used where it is well conditioned: 2 atan(y / (r + x)) for
    x >= 0, and +-pi - 2 atan(y / (r - x)) for x < 0 (the sign of y picks the side; y = 0 gives pi).
    """
    radius = torch.sqrt(re * re + im * im)
    right = 2.0 * torch.atan(im / (radius + re + 1e-20))
    side = torch.where(im >= 0, torch.full_like(im, math.pi), torch.full_like(im, -math.pi))
    left = side - 2.0 * torch.atan(im / (radius - re + 1e-20))
    return torch.where(re >= 0, right, left)


class FramePredictor(nn.Module):
    """Mel ``(B, n_mels, F)`` -> waveform ``(B, 1, F * hop)`` in one pass (log magnitude + phase per frame)."""

    def __init__(self, cfg: PredictorConfig, mel: MelSpec = DEFAULT) -> None:
        super().__init__()
        self.cfg = cfg
        self.n_fft = 4 * cfg.hop
        self.bins = self.n_fft // 2 + 1
        self.inp = nn.Conv1d(cfg.n_mels, cfg.channels, cfg.kernel, padding=cfg.kernel // 2)
        self.blocks = nn.Sequential(*[_ConvNeXt(cfg.channels, cfg.kernel, cfg.expand) for _ in range(cfg.blocks)])
        self.norm = _ChannelNorm(cfg.channels)
        if cfg.phase_head not in ("scalar", "atan2"):
            raise ValueError(f"unknown phase_head {cfg.phase_head!r}")
        phase_outputs = 2 if cfg.phase_head == "atan2" else 1
        self.head = nn.Conv1d(cfg.channels, (1 + phase_outputs) * self.bins, 1)
        self.register_buffer("basis", synthesis_basis(self.n_fft))
        # The log magnitude is predicted as a correction to the mel filters' pseudo-inverse, so
        # training starts from a sensible spectral envelope (fail safe, fast to learn).
        inverse = np.linalg.pinv(mel_filters(replace(mel, n_fft=self.n_fft, hop=cfg.hop, n_mels=cfg.n_mels)))
        self.register_buffer("mel_inverse", torch.from_numpy(inverse / PREDICTOR_GAIN).float(), persistent=False)

    def spectrum(self, mel: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-frame log magnitude and phase ``(B, bins, F)``, frames centred on multiples of the hop.

        ``exp(logmag) * PREDICTOR_GAIN`` estimates the magnitude of the target's Hann STFT; the
        runtime synthesises these with :func:`rtaudio.tasks.spectral.griffin_lim`.
        """
        h = self.head(self.norm(self.blocks(self.inp(mel))))
        envelope = torch.log((self.mel_inverse @ torch.exp(mel)).clamp_min(1e-5))
        logmag = (envelope + h[:, : self.bins]).clamp(max=6.0)
        if self.cfg.phase_head == "scalar":
            return logmag, h[:, self.bins :]
        return logmag, angle(h[:, 2 * self.bins :], h[:, self.bins : 2 * self.bins])

    def synthesize(self, logmag: torch.Tensor, phase: torch.Tensor) -> torch.Tensor:
        """Windowed inverse DFT of each frame and 4x overlap-add: ``(B, 1, F * hop)``.

        The same synthesis as :func:`rtaudio.tasks.spectral.istft` of ``spectrum * PREDICTOR_GAIN``,
        written as a matmul so training can differentiate through it.
        """
        b, _, frames = logmag.shape
        mag = torch.exp(logmag)
        spec = torch.cat([mag * torch.cos(phase), mag * torch.sin(phase)], dim=1)  # (B, 2*bins, F)
        seg = (spec.transpose(1, 2) @ self.basis).reshape(b, frames, 4, self.cfg.hop)
        # frame f covers samples [(f - 2) * hop, (f + 2) * hop): output block g sums quarter j of frame g + 2 - j
        seg = F.pad(seg, (0, 0, 0, 0, 1, 2))
        out = seg[:, 3 : 3 + frames, 0] + seg[:, 2 : 2 + frames, 1] + seg[:, 1 : 1 + frames, 2] + seg[:, :frames, 3]
        return out.reshape(b, 1, frames * self.cfg.hop)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        return self.synthesize(*self.spectrum(mel))

    def receptive_half(self) -> int:
        """Frames of context each side that make a window's output equal whole-signal output."""
        return (self.cfg.kernel // 2) * (self.cfg.blocks + 1) + 2  # + 2: the 4-hop synthesis frames


# -------------------------------------------------------------------------------------------
# The vocoder
# -------------------------------------------------------------------------------------------


class Vocoder(nn.Module):
    """Predictor and/or WaveGrad for mel frames analysed with ``mel`` (the card's ``"mel"``)."""

    def __init__(self, cfg: VocoderConfig, mel: MelSpec = DEFAULT) -> None:
        super().__init__()
        self.cfg = cfg
        self.predictor = FramePredictor(cfg.predictor, mel) if cfg.predictor else None
        self.wavegrad = WaveGrad(cfg.wavegrad) if cfg.wavegrad else None
        if self.predictor is not None and self.wavegrad is not None and cfg.wavegrad.in_channels != 2:
            raise ValueError("a refiner must take 2 input channels (noisy residual, prediction)")

    def predict(self, mel: torch.Tensor) -> torch.Tensor:
        """The one-shot estimate ``y0`` (zeros without a predictor)."""
        if self.predictor is None:
            return mel.new_zeros(mel.shape[0], 1, mel.shape[-1] * self.cfg.hop)
        return self.predictor(mel)

    def denoise(self, x_t: torch.Tensor, y0: torch.Tensor, mel: torch.Tensor, level: torch.Tensor) -> torch.Tensor:
        """Noise estimate for the (scaled residual) state ``x_t`` at noise level sqrt(alpha_bar)."""
        assert self.wavegrad is not None
        x = torch.cat([x_t, y0], dim=1) if self.predictor is not None else x_t
        return self.wavegrad(x, mel, level)


def count_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())

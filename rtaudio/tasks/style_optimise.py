"""Audio style transfer by optimisation (Ulyanov & Lebedev's method), and its losses, in torch.

Torch is the ``train`` extra: only ``rtaudio style`` and ``export/style`` import this module
(the streaming runtime, :mod:`rtaudio.tasks.style`, never does). The method:

- the log-magnitude STFT ``log1p(|X|)`` (n_fft 2048) of content and style is a
  ``(bins, frames)`` matrix read as channels x time;
- a shallow 1-D CNN over time with random, frozen weights (conv, ReLU; optionally a second
  conv and ReLU) gives features ``(filters, frames)``;
- content loss = MSE between the output's features and the content's; style loss = MSE
  between Gram matrices ``F F^T / frames`` (MSE: normalised by the Gram's size), so style and
  content clips of any length compare;
- Adam on the output log-magnitude, started from the content's (the published code starts
  from noise; starting from the content needs far fewer steps for the same style distance and
  keeps its timing), then phase retrieval (:func:`rtaudio.tasks.style.fast_griffin_lim`,
  started from the content's phase).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

try:
    import torch
except ImportError as exc:  # pragma: no cover - exercised by the command's one-line error
    raise ImportError("audio style transfer by optimisation needs torch: pip install 'rtaudio[train]'") from exc


class RandomFeatures(torch.nn.Module):
    """Random, frozen 1-D conv features over time: conv -> ReLU (-> conv -> ReLU).

    Parameters
    ----------
    channels
        Input channels (STFT bins).
    filters
        Filters per layer.
    kernel
        Conv width in frames.
    layers
        1 or 2 conv layers.
    seed
        Seed of the random weights (a fixed seed: the same features in every run).
    """

    def __init__(self, channels: int, filters: int = 1024, kernel: int = 11, layers: int = 1, seed: int = 0) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        convs = []
        n_in = channels
        for _ in range(layers):
            conv = torch.nn.Conv1d(n_in, filters, kernel, padding=kernel // 2)
            # the published initialisation: std = sqrt(2) * sqrt(2 / ((in + out) * width)), zero bias
            std = math.sqrt(2.0) * math.sqrt(2.0 / ((n_in + filters) * kernel))
            with torch.no_grad():
                conv.weight.copy_(torch.randn(conv.weight.shape, generator=gen) * std)
                conv.bias.zero_()
            conv.requires_grad_(False)
            convs.append(conv)
            n_in = filters
        self.convs = torch.nn.ModuleList(convs)

    def forward(self, logmag: torch.Tensor) -> torch.Tensor:
        """``(batch, bins, frames)`` -> ``(batch, filters, frames)``."""
        x = logmag
        for conv in self.convs:
            x = torch.relu(conv(x))
        return x


def gram(features: torch.Tensor) -> torch.Tensor:
    """``(batch, filters, frames)`` -> ``(batch, filters, filters)``: ``F F^T / frames``."""
    return features @ features.transpose(1, 2) / features.shape[-1]


def content_loss(features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared feature difference."""
    return torch.mean((features - target) ** 2)


def style_loss(features: torch.Tensor, target_gram: torch.Tensor) -> torch.Tensor:
    """Mean squared difference of the features' Gram and ``target_gram`` (normalised by its size)."""
    return torch.mean((gram(features) - target_gram) ** 2)


@dataclass
class StyleResult:
    """What :func:`optimise` returns."""

    logmag: np.ndarray  # (frames, bins) optimised log1p-magnitude
    content_loss: list[float]
    style_loss: list[float]
    seconds: float


def optimise(
    content: np.ndarray,
    style: np.ndarray,
    iterations: int = 100,
    style_weight: float = 1.0,
    content_weight: float = 1.0,
    seed: int = 0,
    filters: int = 1024,
    kernel: int = 11,
    layers: int = 1,
    lr: float = 0.05,
    progress: Callable[[int, float, float], None] | None = None,
) -> StyleResult:
    """Optimise a log-magnitude spectrogram towards ``content``'s features and ``style``'s Grams.

    Parameters
    ----------
    content, style
        ``(frames, bins)`` log1p-magnitude spectrograms (any frame counts, the same bins).
    iterations
        Adam steps on the output spectrogram.
    style_weight, content_weight
        Loss weights. Both losses are divided by their value for the starting point measured
        against the other target (the style loss of the content, and the content loss of a
        flat spectrogram at the style's mean level), so weight 1 : 1 means "equally important"
        whatever the material's level.
    seed
        Seed of the random feature network.
    filters, kernel, layers
        The feature network (:class:`RandomFeatures`).
    lr
        Adam learning rate (log-magnitude units per step).
    progress
        Called after each step with ``(step, content_loss, style_loss)`` (weighted, normalised).
    """
    import time

    t0 = time.perf_counter()
    net = RandomFeatures(content.shape[1], filters, kernel, layers, seed)
    c = torch.from_numpy(np.ascontiguousarray(content.T, dtype=np.float32))[None]
    s = torch.from_numpy(np.ascontiguousarray(style.T, dtype=np.float32))[None]
    with torch.no_grad():
        target_features = net(c)
        target_gram = gram(net(s))
        style_scale = max(float(style_loss(target_features, target_gram)), 1e-12)
        flat = torch.full_like(c, float(s.mean()))
        content_scale = max(float(content_loss(net(flat), target_features)), 1e-12)
    x = c.clone().requires_grad_(True)
    opt = torch.optim.Adam([x], lr=lr)
    history_c: list[float] = []
    history_s: list[float] = []
    for step in range(iterations):
        opt.zero_grad()
        f = net(x)
        lc = content_weight * content_loss(f, target_features) / content_scale
        ls = style_weight * style_loss(f, target_gram) / style_scale
        (lc + ls).backward()
        opt.step()
        with torch.no_grad():
            x.clamp_(min=0.0)  # log1p of a magnitude is never negative
        history_c.append(float(lc.detach()))
        history_s.append(float(ls.detach()))
        if progress is not None:
            progress(step + 1, history_c[-1], history_s[-1])
    out = x.detach()[0].numpy().T.astype(np.float64)
    return StyleResult(out, history_c, history_s, time.perf_counter() - t0)

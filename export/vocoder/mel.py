"""Torch twin of :func:`rtaudio.tasks.mel.log_mel` for training (batched, differentiable).

The filters and window come from the runtime module, so the definition lives in one place;
``tests/test_vocode.py`` holds the two implementations to within 1e-4.
"""

from __future__ import annotations

import torch

from rtaudio.tasks.mel import DEFAULT, MelSpec, mel_filters, window


class LogMel(torch.nn.Module):
    """``(batch, n)`` audio -> ``(batch, n_mels, ceil(n / hop))`` log-mel frames.

    Computes in the input's dtype: float32 matches the numpy front end to ~1e-4 (float32
    FFT error seen through the log near the floor), float64 to ~1e-12.
    """

    def __init__(self, spec: MelSpec = DEFAULT) -> None:
        super().__init__()
        self.spec = spec
        self.register_buffer("filters", torch.from_numpy(mel_filters(spec).astype("float32")), persistent=False)
        self.register_buffer("window", torch.from_numpy(window(spec).astype("float32")), persistent=False)

    def stft(self, audio: torch.Tensor) -> torch.Tensor:
        """Complex ``(batch, frames, n_fft // 2 + 1)`` Hann STFT; frame f centred on sample f * hop."""
        s = self.spec
        n = audio.shape[-1]
        frames = -(-n // s.hop)
        half = s.n_fft // 2
        x = torch.nn.functional.pad(audio, (half, frames * s.hop - n + half))
        seg = x.unfold(-1, s.n_fft, s.hop)[..., :frames, :]  # (batch, frames, n_fft)
        return torch.fft.rfft(seg * self.window.to(x.dtype), dim=-1)

    def from_stft(self, spec: torch.Tensor) -> torch.Tensor:
        """Log-mel ``(batch, n_mels, frames)`` of a :meth:`stft` result."""
        mel = spec.abs() @ self.filters.to(spec.real.dtype).T
        return torch.log(mel.clamp_min(self.spec.log_floor)).transpose(-1, -2)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        return self.from_stft(self.stft(audio))

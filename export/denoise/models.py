"""Denoiser networks: a streaming STFT-mask GRU (shipped) and the faithful SEGAN (Pascual et al. 2017).

:class:`StreamDenoiser` works on a 512-point STFT with a 128-sample hop (16 kHz: 32 ms frames,
8 ms hop), sqrt-Hann analysis and synthesis windows (perfect reconstruction at 75 % overlap).
Per frame: log power (257 bins) -> causal conv over the last ``context`` frames -> GRU layers
-> a real gain per bin in (0, 1) (the conv features skip around the GRU into the gain head).
With ``df_bins > 0`` a second head adds deep filtering (DeepFilterNet's idea) in the lowest
``df_bins`` bins: a complex filter over the current and ``df_order - 1`` past frames of the noisy
spectrum, added to the gained bin, so harmonics closer than a bin's resolution and the noise
between them can be separated; the head starts at zero, so a fine-tune starts as the gain model.
The DFT and its inverse are FFTs in :meth:`StreamDenoiser.forward`
(whole signal, for training) and matrix products in :meth:`StreamDenoiser.step` (one hop with explicit state, the
exported graph), so the two agree to float rounding. Algorithmic delay: ``n_fft - hop`` samples
(24 ms); the stream engine adds one hop of buffering (32 ms total).

:class:`SEGAN` is the paper's generator: 11 strided convolutions (kernel 31, stride 2, PReLU),
latent noise concatenated at the 1024 x 8 bottleneck, a mirrored transposed-conv decoder with
skip connections, tanh output; it works on pre-emphasised (0.95) 16,384-sample windows.
:class:`PairCritic` is SEGAN's discriminator on (noisy, clean|enhanced) pairs; the streaming
model's adversarial training uses a narrower one.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

PREEMPH = 0.95
SEGAN_WINDOW = 16384


@dataclass
class StreamConfig:
    n_fft: int = 512
    hop: int = 128
    hidden: int = 192
    layers: int = 2
    context: int = 3
    df_bins: int = 0
    df_order: int = 3

    @property
    def bins(self) -> int:
        return self.n_fft // 2 + 1

    @property
    def delay(self) -> int:
        """Algorithmic delay in samples: a frame's first hop is complete once the frame has arrived."""
        return self.n_fft - self.hop


def _windows(n_fft: int, hop: int) -> tuple[np.ndarray, np.ndarray]:
    """sqrt periodic Hann analysis window, and the synthesis window that makes overlap-added
    analysis * synthesis exactly one."""
    analysis = np.sqrt(0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft))
    overlap = sum(np.roll(analysis**2, s * hop) for s in range(n_fft // hop))
    return analysis, analysis / overlap


def _dft_mats(n_fft: int, hop: int) -> tuple[torch.Tensor, ...]:
    """Windowed real DFT (n_fft x bins, re and im) and its windowed inverse (bins x n_fft)."""
    n = np.arange(n_fft)
    k = np.arange(n_fft // 2 + 1)
    analysis, synthesis = _windows(n_fft, hop)
    ang = 2 * np.pi * np.outer(n, k) / n_fft  # (n_fft, bins)
    fwd_re, fwd_im = analysis[:, None] * np.cos(ang), -analysis[:, None] * np.sin(ang)
    c = np.full(len(k), 2.0)
    c[0] = c[-1] = 1.0
    inv_re = (c[:, None] * np.cos(ang.T) / n_fft) * synthesis[None]
    inv_im = (-c[:, None] * np.sin(ang.T) / n_fft) * synthesis[None]
    return tuple(torch.tensor(m, dtype=torch.float32) for m in (fwd_re, fwd_im, inv_re, inv_im))


class StreamDenoiser(nn.Module):
    """Causal STFT-gain denoiser; see the module docstring."""

    def __init__(self, cfg: StreamConfig) -> None:
        super().__init__()
        self.cfg = cfg
        for name, m in zip(("fwd_re", "fwd_im", "inv_re", "inv_im"), _dft_mats(cfg.n_fft, cfg.hop), strict=True):
            self.register_buffer(name, m, persistent=False)
        for name, w in zip(("analysis", "synthesis"), _windows(cfg.n_fft, cfg.hop), strict=True):
            self.register_buffer(name, torch.tensor(w, dtype=torch.float32), persistent=False)
        self.inp = nn.Conv1d(cfg.bins, cfg.hidden, cfg.context)
        self.gru = nn.GRU(cfg.hidden, cfg.hidden, cfg.layers, batch_first=True)
        self.head = nn.Linear(2 * cfg.hidden, cfg.bins)
        if cfg.df_bins:
            self.df_head = nn.Linear(2 * cfg.hidden, 2 * cfg.df_order * cfg.df_bins)
            nn.init.zeros_(self.df_head.weight)
            nn.init.zeros_(self.df_head.bias)

    def _deep_filter(
        self, z: torch.Tensor, hist_re: torch.Tensor, hist_im: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The complex filter's output in the low bins: ``z`` (..., 2 * order * df_bins) head output,
        ``hist_*`` (..., order, df_bins) the noisy frames with index ``k`` = ``k`` frames ago."""
        c = self.cfg
        coef = z.unflatten(-1, (2, c.df_order, c.df_bins))
        a, b = coef.select(-3, 0), coef.select(-3, 1)
        return (a * hist_re - b * hist_im).sum(-2), (a * hist_im + b * hist_re).sum(-2)

    @staticmethod
    def features(re: torch.Tensor, im: torch.Tensor) -> torch.Tensor:
        return 0.25 * torch.log(re * re + im * im + 1e-9)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Whole-signal enhancement ``(B, T) -> (B, T)``, aligned with the input (no delay)."""
        c = self.cfg
        t = x.shape[-1]
        lead = c.n_fft - c.hop
        xp = F.pad(x, (lead, lead + (-t) % c.hop))
        frames = xp.unfold(-1, c.n_fft, c.hop)  # (B, F, n_fft): frame k ends at input sample (k + 1) * hop
        # FFTs here (training speed), the same transform as step()'s DFT matrices to float rounding
        spec = torch.fft.rfft(frames * self.analysis, dim=-1)
        re, im = spec.real, spec.imag
        f = F.pad(self.features(re, im).transpose(1, 2), (c.context - 1, 0))
        h = torch.relu(self.inp(f)).transpose(1, 2)  # (B, F, H)
        g, _ = self.gru(h)
        z = torch.cat([g, h], -1)
        out = spec * torch.sigmoid(self.head(z))
        if c.df_bins:
            low = F.pad(spec[..., : c.df_bins].transpose(1, 2), (c.df_order - 1, 0))  # (B, df_bins, pad + F)
            frames_n = spec.shape[1]
            hist = torch.stack(
                [low[..., c.df_order - 1 - k : c.df_order - 1 - k + frames_n] for k in range(c.df_order)]
            )
            hist = hist.permute(1, 3, 0, 2)  # (B, F, order, df_bins)
            df_re, df_im = self._deep_filter(self.df_head(z), hist.real, hist.imag)
            out = out + F.pad(torch.complex(df_re, df_im), (0, c.bins - c.df_bins))
        y = torch.fft.irfft(out, c.n_fft, dim=-1) * self.synthesis  # (B, F, n_fft)
        n = xp.shape[-1]
        ola = F.fold(y.transpose(1, 2), (1, n), (1, c.n_fft), stride=(1, c.hop))[:, 0, 0]
        return ola[:, lead : lead + t]

    def initial_state(self, channels: int) -> dict[str, torch.Tensor]:
        c = self.cfg
        return {
            "frame_in": torch.zeros(channels, c.n_fft - c.hop),
            "feat_in": torch.zeros(channels, c.bins, c.context - 1),
            "hidden_in": torch.zeros(c.layers, channels, c.hidden),
            "ola_in": torch.zeros(channels, c.n_fft - c.hop),
        } | ({"df_in": torch.zeros(channels, 2, c.df_order - 1, c.df_bins)} if c.df_bins else {})

    def step(
        self,
        x: torch.Tensor,
        frame: torch.Tensor,
        feat: torch.Tensor,
        hidden: torch.Tensor,
        ola: torch.Tensor,
        df: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, ...]:
        """One hop ``(C, hop)`` with explicit state; returns (output hop, new states...).

        ``df`` (with ``df_bins``): the low bins of the last ``df_order - 1`` noisy frames
        ``(C, 2 [re, im], df_order - 1 [oldest first], df_bins)``.

        Output hop ``k`` is the whole-signal output's samples ``[k * hop - delay, (k + 1) * hop - delay)``.
        """
        c = self.cfg
        fr = torch.cat([frame, x], -1)
        re, im = fr @ self.fwd_re, fr @ self.fwd_im  # (C, bins)
        stack = torch.cat([feat, self.features(re, im)[..., None]], -1)  # (C, bins, context)
        w = self.inp.weight.reshape(c.hidden, -1)
        h = torch.relu(stack.reshape(stack.shape[0], -1) @ w.T + self.inp.bias)
        layer_in, states = h, []
        for k in range(c.layers):
            w_ih, w_hh = getattr(self.gru, f"weight_ih_l{k}"), getattr(self.gru, f"weight_hh_l{k}")
            b_ih, b_hh = getattr(self.gru, f"bias_ih_l{k}"), getattr(self.gru, f"bias_hh_l{k}")
            gi, gh = layer_in @ w_ih.T + b_ih, hidden[k] @ w_hh.T + b_hh
            i_r, i_z, i_n = gi.chunk(3, -1)  # torch's gate order: reset, update, new
            h_r, h_z, h_n = gh.chunk(3, -1)
            r, z = torch.sigmoid(i_r + h_r), torch.sigmoid(i_z + h_z)
            new = torch.tanh(i_n + r * h_n)
            layer_in = (1 - z) * new + z * hidden[k]
            states.append(layer_in)
        z = torch.cat([layer_in, h], -1)
        gain = torch.sigmoid(self.head(z))
        out_re, out_im = re * gain, im * gain
        new_df = ()
        if c.df_bins:
            now = torch.stack([re[:, : c.df_bins], im[:, : c.df_bins]], 1)[:, :, None]  # (C, 2, 1, df_bins)
            frames = torch.cat([df, now], 2)  # oldest first
            hist = frames.flip(2)  # index k = k frames ago
            df_re, df_im = self._deep_filter(self.df_head(z), hist[:, 0], hist[:, 1])
            out_re = out_re + F.pad(df_re, (0, c.bins - c.df_bins))
            out_im = out_im + F.pad(df_im, (0, c.bins - c.df_bins))
            new_df = (frames[:, :, 1:],)
        y = out_re @ self.inv_re + out_im @ self.inv_im + F.pad(ola, (0, c.hop))
        return (y[:, : c.hop], fr[:, c.hop :], stack[..., 1:], torch.stack(states), y[:, c.hop :], *new_df)


# ---------------------------------------------------------------------------------------------
# SEGAN
# ---------------------------------------------------------------------------------------------


@dataclass
class SeganConfig:
    channels: list[int] = field(default_factory=lambda: [16, 32, 32, 64, 64, 128, 128, 256, 256, 512, 1024])
    kernel: int = 31
    latent: bool = True


class SEGAN(nn.Module):
    """SEGAN's generator on pre-emphasised waveforms ``(B, T)``, ``T`` a multiple of 2**layers."""

    def __init__(self, cfg: SeganConfig) -> None:
        super().__init__()
        self.cfg = cfg
        k, ch = cfg.kernel, cfg.channels
        self.enc = nn.ModuleList()
        cin = 1
        for c in ch:
            self.enc.append(nn.Sequential(nn.Conv1d(cin, c, k, 2, k // 2), nn.PReLU(c)))
            cin = c
        self.dec = nn.ModuleList()
        cin = ch[-1] * (2 if cfg.latent else 1)
        for c in [*ch[-2::-1], 1]:
            up = nn.ConvTranspose1d(cin, c, k, 2, k // 2, output_padding=1)
            self.dec.append(nn.Sequential(up, nn.PReLU(c)) if c != 1 else up)
            cin = 2 * c  # the skip from the encoder level of the same size is concatenated
        self.z: torch.Tensor | None = None  # a fixed latent for deterministic inference

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, skips = x[:, None], []
        for layer in self.enc:
            h = layer(h)
            skips.append(h)
        if self.cfg.latent:
            z = self.z if self.z is not None and self.z.shape == h.shape else torch.randn_like(h)
            h = torch.cat([h, z], 1)
        for i, layer in enumerate(self.dec):
            h = layer(h)
            if i < len(self.dec) - 1:
                h = torch.cat([h, skips[-2 - i]], 1)
        return torch.tanh(h[:, 0])


class PairCritic(nn.Module):
    """SEGAN's discriminator: strided convs (LeakyReLU 0.3) over the (noisy, candidate) pair.

    Batch norm stands in for SEGAN's virtual batch norm; a 1x1 conv to one channel is followed by
    a linear layer over time when ``fc_len`` is set (SEGAN: 8 positions), else per-position
    logits (a patch critic, for any length).
    """

    def __init__(self, channels: list[int], kernel: int = 31, stride: int = 2, fc_len: int | None = None) -> None:
        super().__init__()
        layers, cin = [], 2
        for c in channels:
            layers += [nn.Conv1d(cin, c, kernel, stride, kernel // 2), nn.BatchNorm1d(c), nn.LeakyReLU(0.3)]
            cin = c
        self.body = nn.Sequential(*layers)
        self.out = nn.Conv1d(cin, 1, 1)
        self.fc = nn.Linear(fc_len, 1) if fc_len else None

    def forward(self, noisy: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
        h = self.out(self.body(torch.stack([noisy, other], 1)))[:, 0]
        return self.fc(F.leaky_relu(h, 0.3)) if self.fc is not None else h


def preemphasis(x: torch.Tensor, coef: float = PREEMPH) -> torch.Tensor:
    return torch.cat([x[..., :1], x[..., 1:] - coef * x[..., :-1]], -1)


def deemphasis(x: np.ndarray, coef: float = PREEMPH) -> np.ndarray:
    from scipy.signal import lfilter

    return lfilter([1.0], [1.0, -coef], x, axis=-1).astype(np.float32)


def build(model_cfg: dict) -> nn.Module:
    """A generator from a config's ``model`` section (``kind``: ``stream`` or ``segan``)."""
    kw = {k: v for k, v in model_cfg.items() if k != "kind"}
    if model_cfg["kind"] == "stream":
        return StreamDenoiser(StreamConfig(**kw))
    if model_cfg["kind"] == "segan":
        return SEGAN(SeganConfig(**kw))
    raise ValueError(f"unknown model kind {model_cfg['kind']!r}")


def weights_from_step_graph(path) -> dict[str, torch.Tensor]:
    """A shipped stream graph's parameters by name (the shipped model has no checkpoint here).

    Tracing :meth:`StreamDenoiser.step` stores the transposed matrices under anonymous names;
    they are taken in the order the graph multiplies by them, which is the order ``step`` uses
    them: the input conv, then each GRU layer's input and hidden matrices.
    """
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(path)).graph
    consts = {i.name: torch.from_numpy(numpy_helper.to_array(i).copy()) for i in graph.initializer}
    state = {k.removeprefix("net."): v for k, v in consts.items() if k.startswith("net.")}
    mats = [consts[n.input[1]] for n in graph.node if n.op_type == "MatMul" and n.input[1] in consts]
    hidden = state["inp.bias"].numel()
    layers = sum(1 for k in state if k.startswith("gru.bias_ih_l"))
    weights = [m for m in mats if m.shape[-1] in (hidden, 3 * hidden)]  # not the DFT matrices
    if len(weights) != 1 + 2 * layers:
        raise ValueError(f"{path}: expected {1 + 2 * layers} weight matrices, found {len(weights)}")
    context = weights[0].shape[0] // (state["head.bias"].numel())
    state["inp.weight"] = weights[0].T.reshape(hidden, -1, context).contiguous()
    for k in range(layers):
        state[f"gru.weight_ih_l{k}"] = weights[1 + 2 * k].T.contiguous()
        state[f"gru.weight_hh_l{k}"] = weights[2 + 2 * k].T.contiguous()
    return state


def load_step_graph(path) -> StreamDenoiser:
    """The torch model of a shipped stream graph (architecture from its card, weights from the graph)."""
    import json
    from pathlib import Path

    arch = json.loads(Path(path).with_suffix(".json").read_text())["architecture"]
    net = build({k: v for k, v in arch.items() if k != "kind"} | {"kind": "stream"})  # the card's kind is prose
    net.load_state_dict(weights_from_step_graph(path))
    return net.eval()


def config_dict(net: nn.Module) -> dict:
    kind = "stream" if isinstance(net, StreamDenoiser) else "segan"
    return {"kind": kind, **asdict(net.cfg)}


def count_params(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def segan_enhance(net: SEGAN, noisy: np.ndarray, seed: int = 0) -> np.ndarray:
    """SEGAN's test procedure: pre-emphasis, non-overlapping 16,384-sample windows (zero-padded
    tail), one fixed latent per window from ``seed``, de-emphasis. ``(T,) -> (T,)``."""
    t = len(noisy)
    n = -(-t // SEGAN_WINDOW)
    x = np.zeros(n * SEGAN_WINDOW, np.float32)
    x[:t] = noisy
    gen = torch.Generator().manual_seed(seed)
    dev = next(net.parameters()).device
    with torch.no_grad():
        xs = preemphasis(torch.from_numpy(x)).reshape(n, SEGAN_WINDOW).to(dev)
        bott = SEGAN_WINDOW >> len(net.cfg.channels)
        net.z = torch.randn(n, net.cfg.channels[-1], bott, generator=gen).to(dev)
        y = net(xs).reshape(-1).cpu().numpy()
    net.z = None
    return deemphasis(y)[:t]

"""Cached-convolution twin of :class:`~export.models.BandNet`: new frames in, the delayed band out.

The same weights, run causally on a delayed grid (the RAVE ``cached_conv`` / DemucsStreamer
technique): every non-causal convolution keeps its last ``(k - 1) * dilation`` input frames as
state and runs only on the new frames; the residual path reads the conv's centre tap from
that cache, the conditioning features and the skip sum go through delay lines, so every
layer's sum lines up. One call maps the 48 kHz samples ``[p, p + n)`` of ``cond`` and ``x_t``
(``p`` and ``n`` multiples of ``s2d``) to the high band at ``[p - delay, p - delay + n)``, where

    ``delay = s2d * (front lookahead + sum(dilations)) + HP_TAPS // 2 + 1``

(the ``+ 1`` keeps ``delay`` a whole number of space-to-depth frames, so refiner cascades stay
on the frame grid). State is three tensors, carried by the caller (``state_in``: the front
conv's and ``x_t``'s frames; ``state_h``: every layer's cache, skip delay and the
conditioning delay line; ``state_hp``: the high-pass's samples).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from export.models import HP_TAPS, BandNet, NetConfig, highpass_taps, level_features

#: graph interface of the step graph (state inputs have ``_next`` twins among the outputs)
STATE_NAMES = ("state_in", "state_h", "state_hp")
INPUT_NAMES = ("cond", "x_t", "sigma", "cutoff", *STATE_NAMES)
OUTPUT_NAMES = ("high_band", *(f"{n}_next" for n in STATE_NAMES))
HP_STATE = HP_TAPS  # one sample more than the filter needs: the delay's extra sample


def bandnet_from_onnx(path: Path, cfg: NetConfig | None = None) -> BandNet:
    """A :class:`BandNet` holding the weights of an exported graph (its initializers by parameter name)."""
    import onnx
    from onnx import numpy_helper

    if cfg is None:  # the card beside the graph records the architecture (NetConfig fields)
        card = Path(path).with_suffix(".json")
        arch = json.loads(card.read_text()).get("architecture", {}) if card.exists() else {}
        fields = set(NetConfig.__dataclass_fields__)
        cfg = NetConfig(**{k: v for k, v in arch.items() if k in fields})
    net = BandNet(cfg)
    weights = {i.name: numpy_helper.to_array(i) for i in onnx.load(str(path)).graph.initializer}
    state = net.state_dict()
    missing = [k for k in state if k not in weights]
    if missing:
        raise ValueError(f"{path}: no initializers for {missing[:4]}{'...' if len(missing) > 4 else ''}")
    net.load_state_dict({k: torch.from_numpy(weights[k].copy()) for k in state})
    return net.eval()


class StreamBandNet(nn.Module):
    """Streaming form of a :class:`BandNet` (fast preset: space-to-depth, 1x1 conditioning convs).

    Parameters
    ----------
    net
        The trained network; its modules are shared, not copied.
    """

    def __init__(self, net: BandNet) -> None:
        super().__init__()
        cfg = net.cfg
        if cfg.s2d < 2 or cfg.cond_kernel != 1 or cfg.cond_front % 2 != 1 or cfg.cond_front < 3:
            raise ValueError("streaming needs the space-to-depth preset (s2d > 1, cond_kernel 1, odd cond_front >= 3)")
        self.net = net
        self.s2d = cfg.s2d
        # a polarity-equivariant net runs its stack on +x and -x: the hidden state is kept for both
        # (side by side on the channel axis); the raw-input caches of -x are those of +x negated
        self.polarities = 2 if cfg.polarity else 1
        self.dilations = cfg.dilations()
        self.front_cache = cfg.cond_front - 1  # cond frames the front conv keeps
        self.lead = self.front_cache // 2  # its lookahead: cf lags the new frames by this much
        # lag[i]: delay (frames) of layer i's output; the conditioning delay line spans them all
        self.lag = [self.lead + sum(self.dilations[: i + 1]) for i in range(len(self.dilations))]
        self.frames_delay = self.lag[-1]
        self.delay = self.s2d * self.frames_delay + HP_STATE // 2 + 1
        self.cf_len = self.frames_delay - self.lead
        self.state_h_len = sum(2 * d for d in self.dilations) + sum(self.dilations[1:]) + self.cf_len
        # every layer's time-invariant terms (noise-level/cutoff embedding, conv and conditioning biases) in one
        # matrix product per call
        layers = net.layers
        self.register_buffer("level_weight", torch.cat([m.level.weight for m in layers]).detach().clone())
        bias = [m.level.bias + m.conv.bias + m.cond.bias for m in layers]
        self.register_buffer("level_bias", torch.cat(bias).detach().clone())

    def state_shapes(self, batch: int) -> dict[str, tuple[int, ...]]:
        """Shapes of the three state tensors for ``batch`` channels (all zeros at a cold start)."""
        c = self.net.cfg.channels
        return {
            "state_in": (batch, self.s2d, self.front_cache + self.lead),
            "state_h": (batch, self.polarities * c, self.state_h_len),
            "state_hp": (batch, 1, HP_STATE),
        }

    def forward(
        self,
        cond: torch.Tensor,
        x_t: torch.Tensor,
        sigma: torch.Tensor,
        cutoff: torch.Tensor,
        state_in: torch.Tensor,
        state_h: torch.Tensor,
        state_hp: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """cond, x_t: (B, 1, n), n % s2d == 0; returns (high band (B, 1, n), next states)."""
        net, c = self.net, self.net.cfg.channels
        e = net.emb(level_features(sigma, cutoff, net.cfg.emb))
        levels = F.linear(e, self.level_weight, self.level_bias).reshape(len(net.layers), 2 * c, 1)
        if self.polarities == 2:  # +x and -x as one batch of 2B (one pass of every op)
            both = [torch.cat([v, -v]) for v in (cond, x_t, state_in)]
            y, next_in, next_h = self.stack(*both, torch.cat(torch.split(state_h, [c, c], dim=1)), levels)
            y_pos, y_neg = y.chunk(2)
            y, next_in = 0.5 * (y_pos - y_neg), next_in.chunk(2)[0]
            next_h = torch.cat(next_h.chunk(2), 1)
        else:
            y, next_in, next_h = self.stack(cond, x_t, state_in, state_h, levels)
        hpcat = torch.cat([state_hp, y], 2)
        band = F.conv1d(hpcat, highpass_taps(cutoff).reshape(1, 1, HP_TAPS))[:, :, :-1]
        return band, next_in, next_h, hpcat[:, :, -HP_STATE:]

    def stack(
        self, cond: torch.Tensor, x_t: torch.Tensor, state_in: torch.Tensor, state_h: torch.Tensor, levels: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One polarity's residual stack over a block: (band before the high-pass, next input and hidden caches)."""
        # Slices count from the ends of each concatenation (constant indices whatever the block length),
        # so the graph carries no shape arithmetic per layer.
        net, s, c = self.net, self.s2d, self.net.cfg.channels
        b = cond.shape[0]

        def s2d(x: torch.Tensor) -> torch.Tensor:
            return x.reshape(b, -1, s).transpose(1, 2)

        kc, lead = self.front_cache, self.lead
        ccat = torch.cat([state_in[:, :, :kc], s2d(cond)], 2)
        xcat = torch.cat([state_in[:, :, kc:], s2d(x_t)], 2)  # x_t lags like cf: lead frames
        next_in = torch.cat([ccat[:, :, -kc:], xcat[:, :, -lead:]], 2)
        cf_new = F.conv1d(ccat, net.front.weight, net.front.bias)
        h = F.conv1d(xcat[:, :, :-lead], net.inp.weight, net.inp.bias)

        pos = 0
        pieces = []

        def take(n: int) -> torch.Tensor:
            nonlocal pos
            pos += n
            return state_h[:, :, pos - n : pos]

        cfcat = torch.cat([take(self.cf_len), cf_new], 2)
        pieces_cf = cfcat[:, :, -self.cf_len :]
        skips = torch.zeros(0)
        for i, (layer, d) in enumerate(zip(net.layers, self.dilations, strict=True)):
            hcat = torch.cat([take(2 * d), h], 2)
            pieces.append(hcat[:, :, -2 * d :])
            start, tail = self.frames_delay - self.lag[i], self.lag[i] - lead  # cf frames at this layer's lag
            cf_i = cfcat[:, :, start:-tail] if tail else cfcat[:, :, start:]
            z = F.conv1d(hcat, layer.conv.weight, dilation=d) + F.conv1d(cf_i, layer.cond.weight) + levels[i]
            a, g = torch.split(z, [c, c], dim=1)
            res, sk = torch.split(layer.out(torch.tanh(a) * torch.sigmoid(g)), [c, c], dim=1)
            h = (hcat[:, :, d:-d] + res) * math.sqrt(0.5)
            if i == 0:
                skips = sk
            else:  # the running skip sum catches up with this layer's lag
                scat = torch.cat([take(d), skips], 2)
                pieces.append(scat[:, :, -d:])
                skips = scat[:, :, :-d] + sk
        y = net.head(F.relu(net.skip(skips * (1.0 / math.sqrt(len(net.layers))))))
        y = y.transpose(1, 2).reshape(b, 1, -1)
        return y, next_in, torch.cat([pieces_cf, *pieces], 2)  # next_h: the order take() read them in


def export_step_graph(stream: StreamBandNet, out: Path, frames: int = 60) -> None:
    """Write the step graph: one self-contained ONNX file, dynamic batch and block length."""
    n = frames * stream.s2d
    shapes = stream.state_shapes(1)
    args = (
        torch.zeros(1, 1, n),
        torch.zeros(1, 1, n),
        torch.tensor([1.0]),
        torch.tensor([8000.0]),
        *(torch.zeros(shapes[k]) for k in STATE_NAMES),
    )
    dyn = {"cond": {0: "batch", 2: "time"}, "x_t": {0: "batch", 2: "time"}, "high_band": {0: "batch", 2: "time"}}
    for k in STATE_NAMES:
        dyn[k] = {0: "batch"}
        dyn[f"{k}_next"] = {0: "batch"}
    torch.onnx.export(
        stream,
        args,
        str(out),
        input_names=list(INPUT_NAMES),
        output_names=list(OUTPUT_NAMES),
        dynamic_axes=dyn,
        opset_version=17,
        dynamo=False,  # as export/export_onnx.py: the TorchScript exporter handles the symbolic reshapes
        external_data=False,
    )

"""Run a training checkpoint (``runs/*/last.pt``) through the runtime's upsample kernel.

The runtime never imports torch; for development, ``export/`` hands the kernel a torch
network with the same named-input interface as the ONNX graph, and the card the checkpoint
implies. ``upsample_kernel(path, ...)`` accepts either an exported ``.onnx`` or a ``.pt``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from export.models import BandNet, NetConfig
from rtaudio.rates import BAND_EXTENSION_PAIRS
from rtaudio.tasks.neural_upsample import MODEL_RATE, NeuralUpsampleKernel


class TorchNetwork:
    """A checkpoint's network, called like :class:`rtaudio.backends.onnx.OnnxModel`: ``run(feeds) -> outputs``."""

    def __init__(self, path: Path, threads: int | None = None) -> None:
        if threads:
            torch.set_num_threads(threads)
        ck = torch.load(path, map_location="cpu", weights_only=False)
        self.net = BandNet(NetConfig(**ck["net_config"]))
        self.net.load_state_dict(ck["model"])
        self.net.eval()
        self.checkpoint = ck

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        args = [torch.from_numpy(feeds[k]) for k in ("cond", "x_t", "sigma", "cutoff")]
        with torch.inference_mode():
            return {"hb": self.net(*args).numpy()}


def checkpoint_card(path: Path, checkpoint: dict[str, Any]) -> dict[str, Any]:
    """The card a checkpoint implies (its run folder may hold ``envelope.npz`` from export/envelope.py)."""
    cfg = NetConfig(**checkpoint["net_config"])
    card: dict[str, Any] = {
        "model_rate": MODEL_RATE,
        "s2d": cfg.s2d,
        "receptive_field": 2 * cfg.receptive_half() + 1,
        "schedules": checkpoint.get("schedules", {"0": []}),
        "steps_default": 0,
        "rate_pairs": [list(p) for p in BAND_EXTENSION_PAIRS],
    }
    if (path.parent / "envelope.npz").exists():
        card["envelope"] = {"file": "envelope.npz"}
    return card


def upsample_kernel(path: str | Path, in_rate: int, out_rate: int, **kwargs: Any) -> NeuralUpsampleKernel:
    """The runtime kernel for an exported ``.onnx`` or a training ``.pt`` (run by torch)."""
    path = Path(path)
    if path.suffix != ".pt":
        return NeuralUpsampleKernel(path, in_rate, out_rate, **kwargs)
    network = TorchNetwork(path, kwargs.pop("threads", None))
    kwargs.pop("backend", None)
    card = checkpoint_card(path, network.checkpoint)
    return NeuralUpsampleKernel(path, in_rate, out_rate, network=network, card=card, **kwargs)

"""Torch backend: runs a training checkpoint (``runs/*/last.pt``) for development.

torch and the ``export`` package are imported lazily, so the runtime never needs them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rtaudio.backends import BackendUnavailable


class TorchBackend:
    def __init__(self, path: Path, threads: int | None = None) -> None:
        try:
            import torch

            from export.models import BandNet, NetConfig
        except ImportError as e:
            raise BackendUnavailable(
                "the torch backend needs torch and the export/ package (run from a checkout)"
            ) from e
        self._torch = torch
        if threads:
            torch.set_num_threads(threads)
        ck = torch.load(path, map_location="cpu", weights_only=False)
        self.net = BandNet(NetConfig(**ck["net_config"]))
        self.net.load_state_dict(ck["model"])
        self.net.eval()
        self.checkpoint = {
            k: ck[k] for k in ("step", "wall_seconds", "net_config", "train_config", "params") if k in ck
        }
        self.name = "torch"

    def run(self, cond: np.ndarray, x_t: np.ndarray, sigma: np.ndarray, cutoff: np.ndarray) -> np.ndarray:
        t = self._torch
        with t.inference_mode():
            out = self.net(t.from_numpy(cond), t.from_numpy(x_t), t.from_numpy(sigma), t.from_numpy(cutoff))
        return out.numpy()

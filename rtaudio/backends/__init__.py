"""Inference backends for band-extension networks.

Every backend runs one network call, ``run(cond, x_t, sigma, cutoff) -> high band``, on
float32 arrays: ``cond`` and ``x_t`` are (batch, 1, T), ``sigma`` and ``cutoff`` are (1,).
Asking for a backend that is not available raises :class:`BackendUnavailable`; nothing
falls back silently to another device.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np

#: Names accepted by :func:`open_backend`.
BACKENDS = ("cpu", "cuda", "tensorrt", "torch")


class BackendUnavailable(RuntimeError):
    """The requested backend cannot run here (missing package, provider or device)."""


class Backend(Protocol):
    name: str

    def run(self, cond: np.ndarray, x_t: np.ndarray, sigma: np.ndarray, cutoff: np.ndarray) -> np.ndarray: ...


def open_backend(
    model_path: str | Path,
    backend: str = "cpu",
    threads: int | None = None,
    cache_dir: str | Path | None = None,
) -> Backend:
    """Open ``model_path`` (``.onnx`` for ORT backends, a training ``.pt`` for ``torch``)."""
    path = Path(model_path)
    if backend not in BACKENDS:
        raise BackendUnavailable(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if backend == "torch":
        from rtaudio.backends.torch_backend import TorchBackend

        return TorchBackend(path, threads=threads)
    if path.suffix != ".onnx":
        raise BackendUnavailable(f"backend {backend!r} needs an .onnx model, got {path.name}")
    from rtaudio.backends.onnx import OrtBackend

    return OrtBackend(path, provider=backend, threads=threads, cache_dir=cache_dir)

"""Inference backends: one generic ONNX Runtime model runner for every task.

:class:`~rtaudio.backends.onnx.OnnxModel` runs a graph on named inputs,
``run(feeds) -> outputs`` (both dicts of float32 arrays keyed by the graph's names), on the
CPU, CUDA or TensorRT execution provider. Asking for a provider that is not available raises
:class:`BackendUnavailable`; nothing falls back silently to another device. A model file that
ONNX Runtime cannot load, or whose inputs and outputs are not the ones the task feeds, raises
:class:`ModelFileError` naming the file and what is wrong. PyTorch checkpoints are run by
``export/`` (the runtime never imports torch).
"""

from __future__ import annotations

from pathlib import Path

#: Names accepted by :func:`open_model` (ONNX Runtime execution providers).
BACKENDS = ("cpu", "cuda", "tensorrt")


class BackendUnavailable(RuntimeError):
    """The requested backend cannot run here (missing package, provider or device)."""


class ModelFileError(ValueError):
    """A model file (or its card or a side file) is unreadable or is not the model the task expects."""


def open_model(
    path: str | Path,
    backend: str = "cpu",
    threads: int | None = None,
    *,
    inputs: tuple[str, ...] | None = None,
    outputs: tuple[str, ...] | None = None,
    cache_dir: str | Path | None = None,
):  # -> OnnxModel
    """Open the ONNX graph at ``path`` on ``backend`` and check its interface.

    Parameters
    ----------
    path
        An ``.onnx`` file.
    backend
        ``"cpu"``, ``"cuda"`` or ``"tensorrt"``.
    threads
        Intra-op threads (``None``: ONNX Runtime's default, all cores).
    inputs, outputs
        Names the caller feeds and reads; a graph that lacks one is refused with
        :class:`ModelFileError` (a valid ONNX file of another model, say).
    cache_dir
        TensorRT engine and timing cache folder.
    """
    if backend not in BACKENDS:
        raise BackendUnavailable(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    path = Path(path)
    if path.suffix != ".onnx":
        raise ModelFileError(f"{path}: the runtime runs .onnx models (PyTorch checkpoints run through export/)")
    from rtaudio.backends.onnx import OnnxModel

    return OnnxModel(path, provider=backend, threads=threads, inputs=inputs, outputs=outputs, cache_dir=cache_dir)

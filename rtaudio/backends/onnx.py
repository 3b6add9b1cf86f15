"""ONNX Runtime backend: CPU (default), CUDA and TensorRT execution providers."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rtaudio.backends import BackendUnavailable

_PROVIDERS = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
}


class OrtBackend:
    def __init__(
        self,
        path: Path,
        provider: str = "cpu",
        threads: int | None = None,
        cache_dir: str | Path | None = None,
    ) -> None:
        try:
            import onnxruntime as ort
        except ImportError as e:  # pragma: no cover - onnxruntime is a hard dependency
            raise BackendUnavailable("onnxruntime is not installed") from e
        want = _PROVIDERS[provider]
        available = ort.get_available_providers()
        if want not in available:
            hint = "" if provider == "cpu" else " (install the GPU extra: onnxruntime-gpu, and check the CUDA driver)"
            raise BackendUnavailable(f"{want} is not available; this onnxruntime has {available}{hint}")
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
            opts.inter_op_num_threads = 1
        providers: list = [want]
        if provider == "tensorrt":
            cache = Path(cache_dir or Path.home() / ".cache" / "rtaudio" / "trt")
            cache.mkdir(parents=True, exist_ok=True)
            trt = {
                "trt_fp16_enable": True,
                "trt_engine_cache_enable": True,
                "trt_engine_cache_path": str(cache),
                "trt_timing_cache_enable": True,
                "trt_timing_cache_path": str(cache),
            }
            # Ops TensorRT cannot take run on CUDA, never on the CPU behind the user's back.
            providers = [(want, trt), "CUDAExecutionProvider"]
        self.session = ort.InferenceSession(str(path), sess_options=opts, providers=providers)
        used = self.session.get_providers()
        if used[0] != want:
            raise BackendUnavailable(f"{want} failed to initialise; onnxruntime chose {used}")
        self.name = provider

    def run(self, cond: np.ndarray, x_t: np.ndarray, sigma: np.ndarray, cutoff: np.ndarray) -> np.ndarray:
        feeds = {"cond": cond, "x_t": x_t, "sigma": sigma, "cutoff": cutoff}
        return self.session.run(None, feeds)[0]

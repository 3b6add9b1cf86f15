"""ONNX Runtime model runner: CPU (default), CUDA and TensorRT execution providers."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rtaudio.backends import BackendUnavailable, ModelFileError

_PROVIDERS = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
}


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:300] + ("..." if len(text) > 300 else "")


class OnnxModel:
    """One ONNX Runtime session with named inputs and outputs.

    Create it once per stream (session creation costs milliseconds to seconds) and call
    :meth:`run` per chunk; per-call overhead is 10-20 us on the CPU.

    Parameters
    ----------
    path
        The ``.onnx`` file (single file: weights inside).
    provider
        ``"cpu"``, ``"cuda"`` or ``"tensorrt"``.
    threads
        Intra-op threads; ``None`` leaves ONNX Runtime's default.
    inputs, outputs
        Names the caller will feed and read; checked against the graph at load.
    cache_dir
        TensorRT engine/timing cache folder (default ``~/.cache/rtaudio/trt``).
    """

    def __init__(
        self,
        path: Path,
        provider: str = "cpu",
        threads: int | None = None,
        inputs: tuple[str, ...] | None = None,
        outputs: tuple[str, ...] | None = None,
        cache_dir: str | Path | None = None,
    ) -> None:
        import onnxruntime as ort

        self.path = Path(path)
        want = _PROVIDERS[provider]
        available = ort.get_available_providers()
        if want not in available:
            hint = "" if provider == "cpu" else " (install the GPU extra: onnxruntime-gpu, and check the CUDA driver)"
            raise BackendUnavailable(f"{want} is not available; this onnxruntime has {available}{hint}")
        opts = ort.SessionOptions()
        opts.log_severity_level = 3  # warnings about unused initialisers are not the user's business
        # idle worker threads sleep instead of spinning: a spinning pool takes the cores the audio
        # callback, the JACK server and the device need between calls (speed cost measured: none)
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        opts.add_session_config_entry("session.inter_op.allow_spinning", "0")
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
        if not self.path.is_file():
            raise ModelFileError(f"{self.path}: model file does not exist")
        try:
            self.session = ort.InferenceSession(str(self.path), sess_options=opts, providers=providers)
        except Exception as exc:  # ORT raises its own exception types for corrupt/unsupported graphs
            raise ModelFileError(f"{self.path.name}: ONNX Runtime cannot load it ({_one_line(exc)})") from exc
        used = self.session.get_providers()
        if used[0] != want:
            raise BackendUnavailable(f"{want} failed to initialise; onnxruntime chose {used}")
        self.name = provider
        self.input_names = tuple(i.name for i in self.session.get_inputs())
        self.output_names = tuple(o.name for o in self.session.get_outputs())
        self.input_shapes = {i.name: tuple(i.shape) for i in self.session.get_inputs()}
        self._check("inputs", inputs, self.input_names)
        self._check("outputs", outputs, self.output_names)

    def _check(self, what: str, wanted: tuple[str, ...] | None, present: tuple[str, ...]) -> None:
        missing = [n for n in (wanted or ()) if n not in present]
        if missing:
            raise ModelFileError(
                f"{self.path.name}: graph {what} are {list(present)}, missing {missing} "
                "(is this the model its card describes?)"
            )

    def run(self, feeds: dict[str, np.ndarray], outputs: tuple[str, ...] | None = None) -> dict[str, np.ndarray]:
        """Run the graph on ``feeds`` (name -> array); return the requested (default: all) outputs by name."""
        names = list(outputs or self.output_names)
        try:
            values = self.session.run(names, feeds)
        except Exception as exc:  # shape/type mismatches surface here, as ORT's own exception types
            raise RuntimeError(f"{self.path.name}: inference failed ({_one_line(exc)})") from exc
        return dict(zip(names, values, strict=True))

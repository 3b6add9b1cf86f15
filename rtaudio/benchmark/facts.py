"""What a bench run reads off a model card and the runtime: faithful or fast, size, steps, backends."""

from __future__ import annotations

from typing import Any

from rtaudio.backends import BACKENDS
from rtaudio.benchmark.config import DEFAULT_STEPS, BenchConfig
from rtaudio.registry import ModelInfo

_ORT_PROVIDERS = {"cuda": "CUDAExecutionProvider", "tensorrt": "TensorrtExecutionProvider"}


def is_faithful(card: dict[str, Any]) -> bool:
    """Whether a model card declares the faithful paper configuration.

    ``"faithful": true``, ``"configuration": "paper"``, or a ``kind`` that names the paper
    configuration (the vocoder export writes "WaveGrad (paper base configuration)").
    """
    if card.get("kind") == "baseline":
        return False
    config = str(card.get("configuration", "")).lower()
    kind = str(card.get("kind", "")).lower()
    return bool(card.get("faithful")) or config in ("paper", "faithful") or "paper" in kind or "faithful" in kind


def card_params(card: dict[str, Any]) -> int | None:
    """Parameter count from a model card (``params`` or ``parameters``); baselines have 0."""
    if card.get("kind") == "baseline":
        return 0
    value = card.get("params", card.get("parameters"))
    if isinstance(value, dict):  # e.g. {"total": n, ...}
        value = value.get("total")
    return int(value) if isinstance(value, (int, float)) else None


def training_steps(card: dict[str, Any]) -> int | None:
    training = card.get("training")
    steps = training.get("steps") if isinstance(training, dict) else None
    return int(steps) if isinstance(steps, (int, float)) else None


def steps_for(info: ModelInfo, config: BenchConfig) -> list[int | None]:
    """Step counts to measure for a model: one row (``None``) for a baseline.

    Requested counts are all measured (one the card has no schedule for becomes an
    'unavailable' row); by default, the counts of :data:`DEFAULT_STEPS` the card has a
    schedule for, plus its default (``--quick``: the 0-step predictor and the default).
    """
    if info.path is None:
        return [None]
    if config.steps is not None:
        return sorted(set(config.steps))
    default = info.card.get("steps_default")
    wanted = {0} if config.quick else set(DEFAULT_STEPS)
    if default is not None:
        wanted.add(int(default))
    schedules = info.card.get("schedules")
    if isinstance(schedules, dict):
        wanted &= {int(k) for k in schedules}
    return sorted(wanted)


def backend_unavailable(backend: str) -> str | None:
    """Why ``backend`` cannot run here, or ``None`` when it can."""
    if backend not in BACKENDS:
        return f"unknown backend (choose from {', '.join(BACKENDS)})"
    if backend in _ORT_PROVIDERS:
        import onnxruntime as ort

        provider = _ORT_PROVIDERS[backend]
        if provider not in ort.get_available_providers():
            return f"onnxruntime has no {provider} here (needs onnxruntime-gpu and an NVIDIA GPU)"
    return None


def backend_state(backend: str) -> str:
    reason = backend_unavailable(backend)
    return f"unavailable: {reason}" if reason else "available"

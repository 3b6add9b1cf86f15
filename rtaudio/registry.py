"""Model lookup: task + model name (or path) + rates -> a ready chunk kernel.

Shipped neural models live in ``rtaudio/models/`` as ``NAME.onnx`` beside a model card
``NAME.json``; the baselines ``sinc`` and ``linear`` are always available.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from rtaudio.tasks.base import Kernel
from rtaudio.tasks.resample import LinearKernel, SincKernel, adapt

TASKS = ("upsample", "vocode")
BASELINES = ("sinc", "linear")
#: out rate for baselines when neither the user nor a model says otherwise
DEFAULT_BASELINE_OUT_RATE = 48000
MIN_RATE, MAX_RATE = 1000, 768000


class ModelError(ValueError):
    """Unknown task/model, bad card, or a rate the model cannot serve (one-line message)."""


@dataclass(frozen=True)
class ModelInfo:
    """A shipped or user-supplied model: its card and where its weights are."""

    name: str
    task: str
    card: dict[str, Any]
    path: Path | None  # None for baselines

    @property
    def pairs(self) -> list[tuple[int, int]]:
        """(in_rate, out_rate) pairs the model serves natively."""
        return [(int(a), int(b)) for a, b in self.card.get("rate_pairs", [])]


def _baseline_card(name: str) -> dict[str, Any]:
    what = "soxr very-high-quality sinc" if name == "sinc" else "linear interpolation"
    return {"name": name, "task": "upsample", "kind": "baseline", "description": what, "rate_pairs": []}


def models_dir() -> Path:
    """Folder of the shipped models inside the installed package."""
    return Path(str(resources.files("rtaudio") / "models"))


def _card_for(onnx_path: Path) -> dict[str, Any]:
    card_path = onnx_path.with_suffix(".json")
    if not card_path.is_file():
        raise ModelError(f"model card {card_path} is missing (expected beside {onnx_path.name})")
    try:
        return json.loads(card_path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelError(f"model card {card_path} is unreadable: {exc}") from None


def shipped_models(task: str | None = None) -> list[ModelInfo]:
    """Baselines and shipped neural models, optionally for one task."""
    found = [ModelInfo(n, "upsample", _baseline_card(n), None) for n in BASELINES]
    for onnx_path in sorted(models_dir().glob("*.onnx")):
        card = _card_for(onnx_path)
        found.append(ModelInfo(card.get("name", onnx_path.stem), card.get("task", "?"), card, onnx_path))
    return [m for m in found if task is None or m.task == task]


def default_model(task: str, in_rate: int | None) -> str:
    """The shipped model a task uses by default for a source rate (sinc until one exists).

    A card without ``rate_pairs`` (a vocoder) serves any source rate.
    """
    for info in shipped_models(task):
        if (
            info.path is not None
            and info.card.get("default")
            and (in_rate is None or not info.pairs or any(a == in_rate for a, _ in info.pairs))
        ):
            return info.name
    if task == "vocode":
        raise ModelError("no vocoder is installed (rtaudio/models/ has no default vocode model)")
    return "sinc"


def find_model(task: str, model: str) -> ModelInfo:
    """Resolve a model name, or a path to an ``.onnx`` file with its card beside it."""
    if task not in TASKS:
        raise ModelError(f"unknown task {task!r} (available: {', '.join(TASKS)})")
    candidate = Path(model)
    if candidate.suffix == ".onnx":
        if not candidate.is_file():
            raise ModelError(f"model file {model} does not exist")
        card = _card_for(candidate)
        return ModelInfo(card.get("name", candidate.stem), card.get("task", task), card, candidate)
    for info in shipped_models(task):
        if info.name == model:
            return info
    names = ", ".join(m.name for m in shipped_models(task))
    raise ModelError(f"unknown model {model!r} for task {task!r} (available: {names})")


def check_rate(rate: int, what: str) -> int:
    """Reject absurd sample rates with a one-line error."""
    if not MIN_RATE <= int(rate) <= MAX_RATE:
        raise ModelError(f"{what} {rate} Hz is outside {MIN_RATE}..{MAX_RATE} Hz")
    return int(rate)


@dataclass(frozen=True)
class KernelPlan:
    """What :func:`build_kernel` decided: the kernel and the rates it bridges."""

    kernel: Kernel
    model: ModelInfo
    source_rate: int  # rate of the audio handed to the engine
    band_rate: int  # rate whose Nyquist bounds the source's content (--in-rate)
    out_rate: int


def build_kernel(
    task: str = "upsample",
    model: str | None = None,
    source_rate: int = 16000,
    in_rate: int | None = None,
    out_rate: int | None = None,
    steps: int | None = None,
    seed: int = 0,
    backend: str = "cpu",
    threads: int | None = None,
    mel_input: bool = False,
) -> KernelPlan:
    """Build the kernel for ``task``/``model`` that takes ``source_rate`` audio.

    Parameters
    ----------
    source_rate
        Sample rate of the audio that will be fed (file or device rate).
    in_rate
        Bandwidth of the source, as a rate: e.g. 16000 for 16 kHz material stored at
        48 kHz. Defaults to ``source_rate``. The source is resampled to it first.
    out_rate
        Output rate; defaults to the model's native output rate for ``in_rate``.
    steps, seed, backend, threads
        Diffusion steps (``None``: the card's default), noise seed, runtime backend and
        its thread count. Ignored by the baselines.
    mel_input
        ``vocode`` only: the source is log-mel frames (channels = mel bands) at the model's
        frame rate, not audio; ``source_rate`` is then ignored.
    """
    if task == "vocode":
        return _vocoder_plan(
            find_model(task, model or default_model(task, None)),
            source_rate,
            out_rate,
            steps,
            seed,
            backend,
            threads,
            mel_input,
        )
    if mel_input:
        raise ModelError(f"mel input needs --task vocode, not {task}")
    source_rate = check_rate(source_rate, "source rate")
    band_rate = check_rate(in_rate if in_rate is not None else source_rate, "input rate")
    name = model or default_model(task, band_rate)
    info = find_model(task, name)
    if info.path is None:
        final_rate = check_rate(out_rate or DEFAULT_BASELINE_OUT_RATE, "output rate")
        cls = SincKernel if info.name == "sinc" else LinearKernel
        inner: Kernel = cls(band_rate, final_rate)
    else:
        native = dict(info.pairs)
        if band_rate not in native:
            rates = ", ".join(f"{a}->{b}" for a, b in info.pairs)
            raise ModelError(
                f"model {info.name} serves {rates} Hz, not a {band_rate} Hz source "
                "(declare the source bandwidth with --in-rate, or use --model sinc)"
            )
        from rtaudio.tasks.neural_upsample import NeuralUpsampleKernel

        inner = NeuralUpsampleKernel(
            info.path, band_rate, native[band_rate], steps=steps, seed=seed, backend=backend, threads=threads
        )
        final_rate = check_rate(out_rate or native[band_rate], "output rate")
    return KernelPlan(adapt(inner, source_rate, final_rate), info, source_rate, band_rate, final_rate)


def _vocoder_plan(
    info: ModelInfo,
    source_rate: int,
    out_rate: int | None,
    steps: int | None,
    seed: int,
    backend: str,
    threads: int | None,
    mel_input: bool,
) -> KernelPlan:
    """Vocoder kernels: audio -> mel -> audio (any source rate, resampled), or mel frames -> audio."""
    from rtaudio.tasks.vocode import AudioVocodeKernel, MelVocodeKernel

    if info.path is None:
        raise ModelError(f"{info.name} is not a vocoder")
    cls = MelVocodeKernel if mel_input else AudioVocodeKernel
    inner = cls(info.path, steps=steps, seed=seed, backend=backend, threads=threads)
    rate = inner.in_rate if mel_input else check_rate(source_rate, "source rate")
    final_rate = check_rate(out_rate or inner.out_rate, "output rate")
    return KernelPlan(adapt(inner, rate, final_rate), info, rate, rate, final_rate)

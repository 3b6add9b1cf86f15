"""The one place tasks are registered, and model lookup: task + model name (or path) -> a plan.

Shipped models live in ``rtaudio/models/`` as ``NAME.onnx`` beside a model card ``NAME.json``
(:mod:`rtaudio.cards`); each task's baselines are always available. Adding a task is one
module (a :class:`~rtaudio.tasks.task.Task` subclass) and one line in :data:`TASKS`.
"""

from __future__ import annotations

import dataclasses
from importlib import resources
from pathlib import Path
from typing import Any

from rtaudio.cards import CardError, read_card
from rtaudio.tasks.denoise import DENOISE
from rtaudio.tasks.generate import GENERATE
from rtaudio.tasks.style import STYLE
from rtaudio.tasks.task import MAX_RATE, MIN_RATE, ModelError, ModelInfo, Plan, Request, Task, check_rate
from rtaudio.tasks.upsample import UPSAMPLE
from rtaudio.tasks.vocode import VOCODE

__all__ = [
    "MAX_RATE",
    "MIN_RATE",
    "TASKS",
    "ModelError",
    "ModelInfo",
    "Plan",
    "Request",
    "build_plan",
    "check_rate",
    "default_model",
    "find_model",
    "get_task",
    "models_dir",
    "shipped_models",
]

#: every task, by its ``--task`` name
TASKS: dict[str, Task] = {task.name: task for task in (UPSAMPLE, VOCODE, GENERATE, DENOISE, STYLE)}


def get_task(name: str) -> Task:
    """The registered task called ``name`` (one-line error listing the others)."""
    try:
        return TASKS[name]
    except KeyError:
        raise ModelError(f"unknown task {name!r} (available: {', '.join(TASKS)})") from None


def models_dir() -> Path:
    """Folder of the shipped models inside the installed package."""
    return Path(str(resources.files("rtaudio") / "models"))


def _weights(folder: Path) -> list[Path]:
    """Weight files with a card beside them (``.onnx``; other formats a task ships, e.g. ``.npz`` weights)."""
    return sorted(p for p in folder.iterdir() if p.suffix in (".onnx", ".npz") and p.with_suffix(".json").is_file())


def shipped_models(task: str | None = None) -> list[ModelInfo]:
    """Baselines and shipped models, optionally for one task (an unknown task is a one-line error)."""
    tasks = [get_task(task)] if task is not None else list(TASKS.values())
    found = [ModelInfo(n, t.name, t.baseline_card(n), None) for t in tasks for n in t.baselines]
    wanted = {t.name for t in tasks}
    for path in _weights(models_dir()):
        card = read_card(path)
        if card.get("task") in wanted:
            found.append(ModelInfo(str(card.get("name", path.stem)), str(card["task"]), card, path))
    return found


def default_model(task: str, band_rate: int | None) -> str:
    """The model a task uses when none is named, for a source band of ``band_rate`` Hz."""
    return get_task(task).default_model(shipped_models(task), band_rate)


def find_model(task: str, model: str) -> ModelInfo:
    """Resolve a model name, or a path to an ``.onnx`` file with its card beside it."""
    get_task(task)
    candidate = Path(model)
    if candidate.suffix == ".onnx":
        if not candidate.is_file():
            raise ModelError(f"model file {model} does not exist")
        card = read_card(candidate)
        name = card.get("name", candidate.stem)
        return ModelInfo(str(name), str(card.get("task", task)), card, candidate)
    for info in shipped_models(task):
        if info.name == model:
            return info
    names = ", ".join(m.name for m in shipped_models(task))
    raise ModelError(f"unknown model {model!r} for task {task!r} (available: {names})")


def build_plan(
    task: str = "upsample",
    model: str | None = None,
    source_rate: int = 16000,
    in_rate: int | None = None,
    out_rate: int | None = None,
    steps: int | None = None,
    seed: int = 0,
    backend: str = "cpu",
    threads: int | None = None,
    options: dict[str, Any] | None = None,
    input_kind: str = "audio",
) -> Plan:
    """Build the plan for ``task``/``model`` that takes ``source_rate`` audio.

    Parameters
    ----------
    task
        A registered task name (:data:`TASKS`).
    model
        Shipped model name, a baseline, or a path to an ``.onnx`` with its card;
        ``None``: the task's default for the source band.
    source_rate
        Sample rate of the audio that will be fed (file or device rate).
    in_rate
        Bandwidth of the source, as a rate: e.g. 16000 for 16 kHz material stored at
        48 kHz. Defaults to ``source_rate``.
    out_rate
        Output rate; defaults to the model's native output rate.
    steps, seed, backend, threads
        Diffusion steps (``None``: the card's default), noise seed, runtime backend and
        its thread count. Ignored by the baselines.
    options
        The task's own options (``Task.option_names``).
    input_kind
        ``"audio"`` or a task-specific input (``"mel"`` frames for ``vocode``).
    """
    chosen = get_task(task)
    if threads is not None and threads < 1:
        raise ModelError(f"--threads must be at least 1, not {threads}")
    if steps is not None and steps < 0:
        raise ModelError(f"--steps must not be negative, not {steps}")
    request = Request(source_rate, in_rate, out_rate, steps, seed, backend, threads, dict(options or {}), input_kind)
    band = check_rate(in_rate if in_rate is not None else source_rate, "input rate") if input_kind == "audio" else None
    name = model or chosen.default_model(shipped_models(task), band)
    info = find_model(task, name)
    if info.task != chosen.name:
        raise CardError(f"{name} is a {info.task!r} model (its card says so), not a {chosen.name!r} one")
    plan = chosen.build(info, request)
    if model is None and info.is_baseline and any(not m.is_baseline for m in shipped_models(task)):
        served = sorted({a for m in shipped_models(task) for a, _ in m.pairs})
        hint = (
            f"no shipped {task} model serves a {band} Hz band, so {info.name} runs; if the material's band is "
            f"narrower, declare it with --in-rate ({', '.join(map(str, served))})"
        )
        plan = dataclasses.replace(plan, notes=(*plan.notes, hint))
    return plan

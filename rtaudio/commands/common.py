"""Options shared by the commands that run a model (stream, live, bridge)."""

from __future__ import annotations

import argparse

from rtaudio.backends import BACKENDS
from rtaudio.cli import positive_int
from rtaudio.registry import TASKS


def add_model_options(parser: argparse.ArgumentParser) -> None:
    """--task, --model, --in-rate, --out-rate, --chunk-ms, --steps, --seed, --backend, --threads."""
    group = parser.add_argument_group("model")
    tasks = "; ".join(f"{t.name}: {t.summary}" for t in TASKS.values())
    group.add_argument("--task", default="upsample", help=f"what to do ({tasks}; default upsample)")
    group.add_argument(
        "--model",
        default=None,
        help="shipped model name, sinc, linear, or a path to an .onnx with its card (default: the task's default)",
    )
    group.add_argument(
        "--in-rate",
        type=int,
        default=None,
        metavar="HZ",
        help="bandwidth of the source as a rate, e.g. 16000 for 16 kHz material stored at 48 kHz "
        "(default: the source's own rate)",
    )
    group.add_argument(
        "--out-rate", type=int, default=None, metavar="HZ", help="output rate (default: the model's native rate)"
    )
    group.add_argument(
        "--chunk-ms",
        type=float,
        default=None,
        metavar="MS",
        help="new audio per chunk of a window-kernel model (default: from the model card); usable range "
        "2..60000 ms, anything outside is refused; rounded up to whole samples at every rate of the chain. "
        "Stream kernels (the shipped upsampler at its native rates) have a fixed hop instead (--hop-ms)",
    )
    group.add_argument("--steps", type=int, default=None, metavar="N", help="diffusion steps (default: the card's)")
    group.add_argument("--seed", type=int, default=0, metavar="N", help="noise seed (default 0: deterministic)")
    group.add_argument("--backend", default="cpu", choices=BACKENDS, help="ONNX Runtime provider (default cpu)")
    group.add_argument(
        "--threads", type=positive_int, default=None, metavar="N", help="inference threads (default: all cores)"
    )

    for task in TASKS.values():
        task.add_options(parser)


def plan_from_args(args: argparse.Namespace, source_rate: int, input_kind: str = "audio"):  # -> Plan
    """Build the plan the options describe for a source at ``source_rate`` (or a task-specific input)."""
    from rtaudio.registry import build_plan, get_task

    task = get_task(args.task)
    options = {name: getattr(args, name) for name in task.option_names() if hasattr(args, name)}
    return build_plan(
        args.task,
        args.model,
        source_rate,
        args.in_rate,
        args.out_rate,
        args.steps,
        args.seed,
        args.backend,
        args.threads,
        options=options,
        input_kind=input_kind,
    )

"""What a bench run measures (:class:`BenchConfig`) and the constants of the method."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

SCHEMA = "rtaudio-bench/2"
DEFAULT_STEPS: tuple[int, ...] = (0, 1, 2, 4, 6, 8)
#: --quick: one clip, cut short, the default step count and the 0-step predictor only
QUICK_CLIPS, QUICK_SECONDS = 1, 3.0
#: --quick skips (and says so) the neural rows it cannot afford once this much time is spent
QUICK_BUDGET_S = 40.0
BUDGET_NOTE = "--quick spent its {budget:g} s budget{progress}; run without --quick to measure this row"
#: a host delivering one chunk at a time; timing is per chunk, so this only sets overhead
FEED_CHUNKS = 1


@dataclass
class BenchConfig:
    """What to measure.

    Parameters
    ----------
    task
        Task to benchmark (a registered task name).
    models
        Model names or ``.onnx`` paths; ``None`` means the baselines and every shipped
        model of the task.
    steps
        Diffusion step counts for neural models; ``None`` means :data:`DEFAULT_STEPS`
        (``--quick``: the 0-step predictor and the card's default).
    backends
        Runtime backends; an unavailable one is reported, never replaced by another.
    pairs
        ``(in_rate, out_rate)`` pairs; ``None``: the task's own (``Task.bench_pairs``).
    quick
        One clip of :data:`QUICK_SECONDS` per pair and fewer step counts.
    clips, max_seconds
        Number of evaluation clips and seconds kept of each (``None``: all of them).
    seed, threads
        Noise seed (the same for streamed and offline runs) and inference threads.
    chunk_ms
        New audio per chunk for every window-kernel model; ``None``: each card's own
        (latency and per-chunk overhead both follow it).
    """

    task: str = "upsample"
    models: Sequence[str] | None = None
    steps: Sequence[int] | None = None
    backends: Sequence[str] = ("cpu",)
    pairs: Sequence[tuple[int, int]] | None = None
    quick: bool = False
    clips: int | None = None
    max_seconds: float | None = None
    seed: int = 0
    threads: int | None = None
    chunk_ms: float | None = None

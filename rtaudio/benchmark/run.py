"""A whole bench run: which cases, in which order, within which budget; the JSON-ready report.

The task's baselines and any faithful paper configuration are measured in the same run as
its fast models, so every ratio in the report comes from one machine under one load.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, replace
from typing import Any

from rtaudio.backends import BACKENDS
from rtaudio.benchmark.case import CaseResult, run_case, run_peer
from rtaudio.benchmark.config import BUDGET_NOTE, QUICK_BUDGET_S, QUICK_CLIPS, QUICK_SECONDS, SCHEMA, BenchConfig
from rtaudio.benchmark.facts import backend_state, is_faithful, steps_for
from rtaudio.benchmark.machine import machine_info
from rtaudio.registry import ModelInfo, find_model, get_task, shipped_models

__all__ = ["BACKENDS", "BUDGET_NOTE", "plan_cases", "report_row", "run_bench", "select_models", "task_pairs"]


def select_models(config: BenchConfig) -> list[ModelInfo]:
    """The models a run covers: the task's baselines always, then the requested or shipped ones."""
    if config.models is None:
        return shipped_models(config.task)
    chosen = [find_model(config.task, name) for name in config.models]
    names = {m.name for m in chosen}
    baselines = [find_model(config.task, b) for b in get_task(config.task).baselines if b not in names]
    return baselines + chosen


def task_pairs(config: BenchConfig) -> list[tuple[int, int]]:
    """The rate pairs of a run: requested, or the task's (a vocoder's: its own rate, in = out)."""
    if config.pairs is not None:
        return [tuple(p) for p in config.pairs]
    return get_task(config.task).bench_pairs(select_models(config))


def plan_cases(config: BenchConfig) -> list[tuple[ModelInfo, tuple[int, int], int | None, str]]:
    """Every (model, pair, steps, backend) the run will measure, in table order."""
    cases = []
    for pair in task_pairs(config):
        for info in select_models(config):
            # the baselines are numpy + soxr: one row, on the CPU, whatever the backends
            backends = ["cpu"] if info.is_baseline else list(config.backends)
            for steps in steps_for(info, config):
                for backend in backends:
                    cases.append((info, pair, steps, backend))
    return cases


def report_row(result: CaseResult) -> dict[str, Any]:
    """A result as a report row: speed and cost figures with the task's quality figures beside them."""
    row = asdict(result)
    quality = row.pop("quality")
    row.update(quality)
    return {k: round(v, 6) if isinstance(v, float) else v for k, v in row.items()}


def run_bench(
    config: BenchConfig,
    on_start: Callable[[int], None] | None = None,
    on_clip: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run every case of ``config`` and return the JSON-ready report.

    Parameters
    ----------
    config
        What to measure.
    on_start, on_clip
        Progress hooks: ``on_start(total_clip_runs)`` once, then ``on_clip(case_label)``
        after each clip (a skipped case counts its clips as done).
    """
    task = get_task(config.task)  # an unknown task is a one-line error before any work
    pairs = task_pairs(config)
    count = QUICK_CLIPS if config.quick and config.clips is None else config.clips
    seconds = QUICK_SECONDS if config.quick and config.max_seconds is None else config.max_seconds
    clip_sets = {pair: task.bench_clips(pair, count, seconds) for pair in pairs}
    if config.quick:  # the figures that cost seconds per clip wait for a full run
        clip_sets = {pair: [replace(c, cheap=True) for c in clips] for pair, clips in clip_sets.items()}
    cases = plan_cases(config)
    if on_start:
        on_start(sum(len(clip_sets[pair]) for _, pair, _, _ in cases))
    started = time.time()
    machine = machine_info()
    results: list[CaseResult | None] = [None] * len(cases)
    cost: dict[tuple[str, str], float] = {}  # (model, backend) -> compute per network call per audio second
    for i in _execution_order(cases):
        info, pair, steps, backend = cases[i]
        label = f"{info.name} {pair[0] // 1000}k->{pair[1] // 1000}k" + ("" if steps is None else f" {steps} steps")
        clips = clip_sets[pair]
        tick = (lambda label=label: on_clip(label)) if on_clip else None
        calls = (steps or 0) + 1
        # streaming + offline parity: twice the clip audio at the cost of `calls` network calls
        estimate = 2 * cost.get((info.name, backend), 0.0) * calls * sum(len(c.source) for c in clips) / pair[0]
        # the baselines always run: every other figure is read against them
        deadline = started + QUICK_BUDGET_S if config.quick and not info.is_baseline else None
        result = run_case(info, pair, steps, backend, clips, config, tick, deadline, estimate)
        if result.rtf is not None:
            cost[(info.name, backend)] = result.rtf / calls
        for _ in range(len(clips) - len(result.per_clip) if tick else 0):
            tick()
        results[i] = result
    faithful_present = any(r is not None and r.faithful and r.status == "ok" for r in results)
    return {
        "schema": SCHEMA,
        "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "wall_seconds": round(time.time() - started, 2),
        "machine": machine,
        "config": {
            "task": config.task,
            "models": [m.name for m in select_models(config)],
            "steps": list(config.steps) if config.steps is not None else None,
            "backends": list(config.backends),
            "pairs": [list(p) for p in pairs],
            "quick": config.quick,
            "clips": {f"{a}->{b}": [c.name for c in clip_sets[(a, b)]] for a, b in pairs},
            "clip_seconds": seconds,
            "seed": config.seed,
            "threads": config.threads,
            "chunk_ms": config.chunk_ms,
        },
        "figures": [{"key": f.key, "header": f.header, "fmt": f.fmt, "label": f.label} for f in task.figures],
        "backends": {b: backend_state(b) for b in config.backends},
        "faithful": {"present": faithful_present, "note": _faithful_note(config, results, faithful_present)},
        "results": [report_row(r) for r in results if r is not None],
        # other projects' processors on the same clips, in the same run (the task's own peers)
        "peers": {
            f"{a}->{b}": [
                run_peer(peer, task, (a, b), clip_sets[(a, b)]) for peer in task.bench_peers(clip_sets[(a, b)], (a, b))
            ]
            for a, b in pairs
        },
    }


def _faithful_note(config: BenchConfig, results: list[CaseResult | None], present: bool) -> str:
    if present:
        return "measured beside the fast model(s)"
    if any(r is not None and r.faithful for r in results):
        return "not measured: its rows were skipped or unavailable (see their status)"
    shipped = [m.name for m in shipped_models(config.task) if is_faithful(m.card)]
    if shipped:
        return f"not in this run: add --models {','.join(shipped)}"
    return "missing: no shipped model card declares the faithful paper configuration"


def _execution_order(cases: list[tuple[ModelInfo, tuple[int, int], int | None, str]]) -> list[int]:
    """Baselines first, then the first rate pair's fast and paper models (few steps before
    many), then the other pairs: --quick's budget goes to the headline comparison first, and
    each estimate has a measured, cheaper case of the same model to scale from."""
    pairs = list(dict.fromkeys(pair for _, pair, _, _ in cases))

    def key(i: int) -> tuple:
        info, pair, steps, _ = cases[i]
        return (not info.is_baseline, pairs.index(pair), is_faithful(info.card), steps or 0, i)

    return sorted(range(len(cases)), key=key)

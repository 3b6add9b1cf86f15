"""One bench case: a (model, rate pair, steps, backend) streamed through the engine and measured.

The case builds its plan through :func:`rtaudio.registry.build_plan` and its engine with
:func:`rtaudio.api.processor_for`, exactly as ``rtaudio stream`` does, streams each held-out
clip through it, and records speed (per-chunk RTF median/p95, chunk compute p50/p99, total
RTF), cost (latency, peak RSS, parameters), the task's quality figures against the clip's
reference, and streaming parity: the streamed output against the whole-signal reference
(``process_offline`` of the plan's reference kernel, same seed) and the largest error at a
chunk boundary.
"""

from __future__ import annotations

import gc
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rtaudio.backends import BackendUnavailable, ModelFileError
from rtaudio.benchmark.config import BUDGET_NOTE, FEED_CHUNKS, QUICK_BUDGET_S, BenchConfig
from rtaudio.benchmark.facts import backend_unavailable, card_params, is_faithful, training_steps
from rtaudio.benchmark.machine import peak_rss_mb, reset_peak_rss
from rtaudio.engine.processor import process_offline
from rtaudio.engine.scheduler import ChunkStats
from rtaudio.registry import ModelInfo, Plan, get_task
from rtaudio.tasks.task import BenchClip, BenchPeer, Task

_DB_FLOOR = -200.0  # an exact match reports this instead of -inf (JSON has no infinity)


@dataclass
class CaseResult:
    """Everything measured for one (model, pair, steps, backend); ``None`` = not measured.

    ``quality`` holds the task's figures (``Task.figures``); a report row flattens them
    beside the speed figures.
    """

    task: str
    model: str
    kind: str  # "baseline" or "neural"
    faithful: bool  # the paper configuration, kept beside the fast model
    in_rate: int
    out_rate: int
    steps: int | None  # None for the baselines
    backend: str
    status: str  # "ok", "unavailable: <reason>", "skipped: <reason>" or "failed: <reason>"
    engine: str | None = None  # "stream" (stateful kernel) or "window" (overlap-add)
    params: int | None = None
    training_steps: int | None = None  # from the card; 0 = untrained (speed figures only)
    clips: int = 0
    audio_seconds: float = 0.0
    compute_seconds: float = 0.0
    chunks: int = 0
    rtf: float | None = None  # compute_seconds / audio_seconds
    rtf_median: float | None = None  # over chunks: chunk compute / chunk audio
    rtf_p95: float | None = None
    rtf_offline: float | None = None  # the whole clip as one window (no chunking overhead)
    chunk_ms: float | None = None
    chunk_p50_ms: float | None = None
    chunk_p99_ms: float | None = None
    latency_ms: float | None = None
    peak_rss_mb: float | None = None
    quality: dict[str, float | None] = field(default_factory=dict)
    #: the same figures per material (BenchClip.group) when a run has more than one
    quality_by_group: dict[str, dict[str, float | None]] = field(default_factory=dict)
    parity_snr_db: float | None = None  # streamed vs offline, same seed
    boundary_err_dbfs: float | None = None  # largest |streamed - offline| at chunk boundaries
    max_err_dbfs: float | None = None  # largest |streamed - offline| anywhere
    per_clip: list[dict[str, Any]] = field(default_factory=list)


class BudgetSpent(Exception):
    """``--quick`` ran out of time in the middle of a case; the message says how far it got."""


def _db(value: float) -> float:
    return max(_DB_FLOOR, 20.0 * math.log10(value)) if value > 0 else _DB_FLOOR


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _check_deadline(proc: Any, deadline: float | None) -> None:
    if deadline is not None and time.time() > deadline:
        done = proc.stats.chunks * proc.chunk_seconds
        rtf = f" (RTF about {proc.stats.compute_seconds / done:.2g} over {proc.stats.chunks} chunks)" if done else ""
        raise BudgetSpent(BUDGET_NOTE.format(budget=QUICK_BUDGET_S, progress=rtf))


def stream_through(proc: Any, audio: np.ndarray, deadline: float | None = None) -> np.ndarray:
    """Feed ``audio`` chunk by chunk, as a host would, and flush; the stats stay in ``proc``."""
    block = proc.hop * FEED_CHUNKS
    pieces = []
    for i in range(0, len(audio), block):
        _check_deadline(proc, deadline)
        pieces.append(proc.process(audio[i : i + block]))
    pieces.append(proc.flush())
    return np.concatenate(pieces)


def boundary_errors(streamed: np.ndarray, offline: np.ndarray, proc: Any) -> tuple[float, float]:
    """Largest ``|streamed - offline|`` near chunk boundaries and anywhere, in dBFS.

    A boundary is where chunk ``k`` takes over from chunk ``k - 1``: the crossfade region of a
    window kernel, the hop edge of a stream kernel (one sample either side included); clicks
    live there when context or state is wrong.
    """
    n = min(len(streamed), len(offline))
    err = np.abs(streamed[:n].astype(np.float64) - offline[:n])
    hop = proc.hop * proc.out_rate // proc.in_rate
    fade = proc.crossfade * proc.out_rate // proc.in_rate
    starts = np.arange(hop, n, hop)
    idx = (starts[:, None] + np.arange(-1, fade + 1)[None, :]).ravel()
    idx = idx[idx < n]
    boundary = float(err[idx].max()) if idx.size else 0.0
    return _db(boundary), _db(float(err.max()) if n else 0.0)


def _mean(rows: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in rows if r.get(key) is not None]
    return float(np.mean(values)) if values else None


def run_peer(peer: BenchPeer, task: Task, pair: tuple[int, int], clips: list[BenchClip]) -> dict[str, Any]:
    """A peer's report row: the task's quality figures (means over ``clips``, as for a case), its
    RTF over whole clips (compute / audio, one call per clip) and latency; or why it is missing."""
    row: dict[str, Any] = {"model": peer.name, "is_input": peer.is_input}
    if peer.run is None:
        return {**row, "unavailable": peer.unavailable}
    info = ModelInfo(peer.name, task.name, {"name": peer.name, "kind": "peer"}, None)
    scores, compute = [], 0.0
    for clip in clips:
        mono = clip.source if clip.source.ndim == 1 else clip.source.mean(axis=1)
        t0 = time.perf_counter()
        out = peer.run(mono, pair[0])
        compute += time.perf_counter() - t0
        scores.append(task.quality(clip, out, pair, info))
    audio_s = sum(len(c.source) for c in clips) / pair[0]
    quality = {key: _mean(scores, key) for key in task.quality_keys}
    rtf = None if peer.is_input else compute / audio_s
    return {**row, "version": peer.version, "latency_ms": peer.latency_ms, "rtf": rtf, **quality}


def run_case(
    info: ModelInfo,
    pair: tuple[int, int],
    steps: int | None,
    backend: str,
    clips: list[BenchClip],
    config: BenchConfig,
    on_clip: Callable[[], None] | None = None,
    deadline: float | None = None,
    estimate: float = 0.0,
) -> CaseResult:
    """Measure one (model, pair, steps, backend) on ``clips``; failures become the status.

    With a ``deadline`` (``time.time()`` value), a case expected to take ``estimate``
    seconds past it is skipped, and one that runs past it stops: status ``skipped: ...``.
    """
    from rtaudio.api import processor_for
    from rtaudio.registry import build_plan

    task = get_task(config.task)
    in_rate, out_rate = pair
    result = CaseResult(
        task=config.task,
        model=info.name,
        kind="baseline" if info.is_baseline else "neural",
        faithful=is_faithful(info.card),
        in_rate=in_rate,
        out_rate=out_rate,
        steps=steps,
        backend=backend,
        status="ok",
        params=card_params(info.card),
        training_steps=training_steps(info.card),
        quality={k: None for k in task.quality_keys},
    )
    reason = None if info.is_baseline else backend_unavailable(backend)
    if reason:
        result.status = f"unavailable: {reason}"
        return result
    if deadline is not None and time.time() + estimate > deadline:
        result.status = "skipped: " + BUDGET_NOTE.format(budget=QUICK_BUDGET_S, progress="")
        return result
    model_ref = info.name if info.is_baseline else str(info.path)
    gc.collect()
    reset_peak_rss()
    request = task.bench_request(pair, steps, config.seed, backend, config.threads)
    try:
        plan = build_plan(
            config.task,
            model_ref,
            request.source_rate,
            request.in_rate,
            request.out_rate,
            request.steps,
            request.seed,
            request.backend,
            request.threads,
            options=request.options,
        )
    except ModelFileError as exc:  # a broken model file or card: the model's fault, not the machine's
        result.status = f"failed: {_one_line(exc)}"
        return result
    except (ValueError, BackendUnavailable) as exc:  # a rate pair, step count or device it lacks
        result.status = f"unavailable: {_one_line(exc)}"
        return result
    except Exception as exc:  # one broken model must not hide the others' figures
        result.status = f"failed: {_one_line(exc)}"
        return result
    try:
        measure(result, plan, processor_for(plan, chunk_ms=config.chunk_ms), clips, on_clip, deadline)
    except BudgetSpent as exc:
        result.status = f"skipped: {exc}"
        result.per_clip.clear()
    except Exception as exc:  # reported in the row and in the exit code
        result.status = f"failed: {_one_line(exc)}"
    return result


def measure(result: CaseResult, plan: Plan, proc: Any, clips: list[BenchClip], on_clip, deadline: float | None) -> None:
    """Stream every clip through ``proc``, compare with the whole-signal reference, fill ``result``."""
    from rtaudio import metrics

    pair = (result.in_rate, result.out_rate)
    result.engine = "stream" if plan.streaming else "window"
    # one warm-up chunk: session and allocator start-up is not a steady-state chunk
    stream_through(proc, np.zeros(proc.delay_in, np.float32))
    pooled = ChunkStats()
    offline_seconds = 0.0
    for clip in clips:
        proc.reset()
        streamed = stream_through(proc, clip.source, deadline)
        for seconds in proc.stats.recent():
            pooled.add(float(seconds))
        result.audio_seconds += len(clip.source) / result.in_rate
        if result.peak_rss_mb is None:  # streaming only: the offline reference holds a whole clip
            result.peak_rss_mb = peak_rss_mb()
        _check_deadline(proc, deadline)
        t0 = time.perf_counter()
        offline = process_offline(plan.reference, clip.source)
        offline_seconds += time.perf_counter() - t0
        row = {"clip": clip.name, "group": clip.group, **plan.task.quality(clip, streamed, pair, plan.model)}
        row["parity_snr_db"] = metrics.snr(offline, streamed)
        row["boundary_err_dbfs"], row["max_err_dbfs"] = boundary_errors(streamed, offline, proc)
        result.per_clip.append({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()})
        if on_clip:
            on_clip()
    chunk_s = proc.chunk_seconds
    result.clips = len(clips)
    result.chunks = pooled.chunks
    result.compute_seconds = pooled.compute_seconds
    result.rtf = pooled.compute_seconds / result.audio_seconds
    # per-chunk RTF is chunk compute over one chunk's audio: its percentiles are the compute's
    result.rtf_median = pooled.percentile_ms(50) * 1e-3 / chunk_s
    result.rtf_p95 = pooled.percentile_ms(95) * 1e-3 / chunk_s
    result.rtf_offline = offline_seconds / result.audio_seconds
    result.chunk_ms = chunk_s * 1e3
    result.chunk_p50_ms = pooled.percentile_ms(50)
    result.chunk_p99_ms = pooled.percentile_ms(99)
    result.latency_ms = proc.latency_seconds * 1e3
    rows = result.per_clip
    result.quality = {key: _mean(rows, key) for key in plan.task.quality_keys}
    groups = sorted({r["group"] for r in rows})
    if len(groups) > 1:
        result.quality_by_group = {
            g: {key: _mean([r for r in rows if r["group"] == g], key) for key in plan.task.quality_keys} for g in groups
        }
    result.parity_snr_db = min(r["parity_snr_db"] for r in rows)  # the worst clip
    result.boundary_err_dbfs = max(r["boundary_err_dbfs"] for r in rows)
    result.max_err_dbfs = max(r["max_err_dbfs"] for r in rows)

"""The measurements behind ``rtaudio bench``: speed, latency and quality in one run.

A *case* is one (task, model, rate pair, steps, backend). Each case builds its kernel
through :func:`rtaudio.registry.build_kernel` and chunks it with
:func:`rtaudio.api.processor_for`, exactly as ``rtaudio stream`` does, then streams the
shipped held-out evaluation clips through it and records:

- speed: per-chunk RTF (chunk compute / chunk audio) median and p95, chunk compute
  p50/p99, and the total RTF (all compute / all audio);
- cost: algorithmic latency, peak resident memory, parameter count (from the card);
- quality of the streamed output against the reference, averaged over clips: for
  upsampling LSD, LSD-HF and SNR against the full-band clip (:mod:`rtaudio.metrics`), for
  vocoding LSD, log-mel L1, multi-resolution STFT distance and wideband PESQ against the
  clip it resynthesises (:mod:`rtaudio.metrics_vocode`);
- streaming parity: SNR of the streamed output against :func:`process_offline` with the
  same seed, and the largest error near a chunk boundary.

The upsampling baselines (sinc, linear) and any faithful paper configuration are measured
in the same run, so every ratio in the report comes from one machine under one load. The
report is a JSON-ready dict.
"""

from __future__ import annotations

import gc
import importlib.metadata
import importlib.util
import math
import os
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import soxr

from rtaudio.backends import BackendUnavailable
from rtaudio.engine.processor import ChunkStats, Processor, process_offline
from rtaudio.registry import BASELINES, ModelError, ModelInfo, find_model, shipped_models

SCHEMA = "rtaudio-bench/1"
EVAL_RATE = 48000  # rate of the shipped evaluation clips
#: (input rate, output rate): wideband, super-wideband and narrowband restoration
RATE_PAIRS: tuple[tuple[int, int], ...] = ((16000, 48000), (24000, 48000), (8000, 16000))
VOCODER_RATE = 24000  # a vocoder resynthesises the clip at its own rate (WaveGrad: 24 kHz)
#: quality figures per task, each averaged over the clips (DESIGN.md, "Measuring quality")
QUALITY_KEYS = {"upsample": ("lsd", "lsd_hf", "snr_db"), "vocode": ("lsd", "mel_l1", "mrstft", "pesq_wb")}
DEFAULT_STEPS: tuple[int, ...] = (0, 1, 2, 4, 6, 8)
BACKENDS = ("cpu", "cuda", "tensorrt", "torch")
#: --quick: one clip, cut short, the default step count and the 0-step predictor only
QUICK_CLIPS, QUICK_SECONDS = 1, 3.0
#: --quick skips (and says so) the neural rows it cannot afford once this much time is spent
QUICK_BUDGET_S = 40.0
BUDGET_NOTE = "--quick spent its {budget:g} s budget{progress}; run without --quick to measure this row"
#: a host delivering one chunk at a time; timing is per chunk, so this only sets overhead
FEED_CHUNKS = 1
_DB_FLOOR = -200.0  # an exact match reports this instead of -inf (JSON has no infinity)
_ORT_PROVIDERS = {"cuda": "CUDAExecutionProvider", "tensorrt": "TensorrtExecutionProvider"}


@dataclass(frozen=True)
class EvalClip:
    """One evaluation clip at a rate pair: the band-limited input and its reference."""

    name: str
    low: np.ndarray  # at the input rate: the reference resampled down (soxr VHQ)
    reference: np.ndarray  # at the output rate: the full-band clip


@dataclass
class BenchConfig:
    """What to measure.

    Parameters
    ----------
    task
        Task to benchmark (``"upsample"``).
    models
        Model names or ``.onnx`` paths; ``None`` means the baselines and every shipped
        model of the task.
    steps
        Diffusion step counts for neural models; ``None`` means :data:`DEFAULT_STEPS`
        (``--quick``: the 0-step predictor and the card's default).
    backends
        Runtime backends; an unavailable one is reported, never replaced by another.
    pairs
        ``(in_rate, out_rate)`` pairs; ``None``: :data:`RATE_PAIRS` for upsampling, the
        vocoder's own rate for vocoding.
    quick
        One clip of :data:`QUICK_SECONDS` per pair and fewer step counts.
    clips, max_seconds
        Number of evaluation clips and seconds kept of each (``None``: all of them).
    seed, threads
        Noise seed (the same for streamed and offline runs) and inference threads.
    chunk_ms
        New audio per chunk for every model; ``None``: each card's own (latency and
        per-chunk overhead both follow it).
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


@dataclass
class CaseResult:
    """Everything measured for one (model, pair, steps, backend); ``None`` = not measured."""

    task: str
    model: str
    kind: str  # "baseline" or "neural"
    faithful: bool  # the paper configuration, kept beside the fast model
    in_rate: int
    out_rate: int
    steps: int | None  # None for the baselines
    backend: str
    status: str  # "ok", "unavailable: <reason>" or "failed: <reason>"
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
    lsd: float | None = None
    lsd_hf: float | None = None  # upsampling: bins above the input's Nyquist
    snr_db: float | None = None  # upsampling
    mel_l1: float | None = None  # vocoding: log-mel L1
    mrstft: float | None = None  # vocoding: multi-resolution STFT distance
    pesq_wb: float | None = None  # vocoding: wideband PESQ at 16 kHz
    parity_snr_db: float | None = None  # streamed vs offline, same seed
    boundary_err_dbfs: float | None = None  # largest |streamed - offline| at chunk boundaries
    max_err_dbfs: float | None = None  # largest |streamed - offline| anywhere
    per_clip: list[dict[str, Any]] = field(default_factory=list)


# -- evaluation material -------------------------------------------------------------------
def eval_dir() -> Path:
    """Folder of the shipped held-out evaluation clips (48 kHz speech)."""
    return Path(str(resources.files("rtaudio") / "assets" / "eval"))


@lru_cache(maxsize=8)
def _read_clip(path: str) -> np.ndarray:
    audio, rate = sf.read(path, dtype="float32", always_2d=True)
    if rate != EVAL_RATE:
        raise ValueError(f"evaluation clip {path} is {rate} Hz, expected {EVAL_RATE}")
    audio = audio.mean(axis=1)
    # a multiple of 48 samples at 48 kHz is a whole number of samples at every kHz rate
    return audio[: len(audio) - len(audio) % 48]


def eval_clips(
    in_rate: int, out_rate: int, count: int | None = None, max_seconds: float | None = None
) -> list[EvalClip]:
    """The evaluation clips as (input, reference) pairs for ``in_rate -> out_rate``.

    The reference is the clip at ``out_rate``; the input is the clip resampled down to
    ``in_rate`` with soxr VHQ (a clean band limit at the input's Nyquist).
    """
    paths = sorted(eval_dir().glob("*.flac"))[:count]
    if not paths:
        raise FileNotFoundError(f"no evaluation clips in {eval_dir()}")
    clips = []
    for path in paths:
        full = _read_clip(str(path))
        if max_seconds is not None:
            keep = int(max_seconds * EVAL_RATE)
            full = full[: keep - keep % 48]
        reference = full if out_rate == EVAL_RATE else soxr.resample(full, EVAL_RATE, out_rate, quality="VHQ")
        low = soxr.resample(full, EVAL_RATE, in_rate, quality="VHQ")
        clips.append(EvalClip(path.stem, low.astype(np.float32), reference.astype(np.float32)))
    return clips


# -- machine and process facts -------------------------------------------------------------
def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


#: instruction-set extensions that change ONNX Runtime's and torch's CPU kernels
_CPU_FEATURES = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile")


def _cpuinfo(field_name: str) -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(field_name):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def cpu_model() -> str:
    """CPU model name from /proc/cpuinfo (``platform.processor()`` elsewhere)."""
    return _cpuinfo("model name") or platform.processor() or "unknown"


def machine_info() -> dict[str, Any]:
    """The machine a report was measured on: CPU, cores, load, memory, library versions."""
    import onnxruntime as ort

    from rtaudio import __version__

    mem_total = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_total = round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return {
        "cpu_model": cpu_model(),
        "cpu_features": [f for f in _CPU_FEATURES if f in (_cpuinfo("flags") or "").split()],
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        # other work on the machine (a training run) slows every figure: say so
        "load_average": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None,
        "memory_gb": mem_total,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "rtaudio": __version__,
        "numpy": np.__version__,
        "onnxruntime": ort.__version__,
        "onnxruntime_providers": ort.get_available_providers(),
        "soxr": _version("soxr"),
        "soundfile": _version("soundfile"),
        "torch": _version("torch"),  # read from metadata: torch is never imported here
    }


def _reset_peak_rss() -> bool:
    # Linux: writing 5 to clear_refs resets VmHWM, so each case gets its own peak
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def peak_rss_mb() -> float | None:
    """Peak resident memory of this process since the last reset (VmHWM), in MiB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    try:
        import resource

        return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    except (ImportError, OSError):
        return None


# -- model facts ---------------------------------------------------------------------------
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


def _training_steps(card: dict[str, Any]) -> int | None:
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
    if backend == "torch" and importlib.util.find_spec("torch") is None:
        return "torch is not installed (pip install rtaudio[train])"
    return None


def _backend_state(backend: str) -> str:
    reason = backend_unavailable(backend)
    return f"unavailable: {reason}" if reason else "available"


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _db(value: float) -> float:
    return max(_DB_FLOOR, 20.0 * math.log10(value)) if value > 0 else _DB_FLOOR


# -- one case ------------------------------------------------------------------------------
class BudgetSpent(Exception):
    """``--quick`` ran out of time in the middle of a case; the message says how far it got."""


def _check_deadline(proc: Processor, deadline: float | None) -> None:
    if deadline is not None and time.time() > deadline:
        done = proc.stats.chunks * proc.chunk_seconds
        rtf = f" (RTF about {proc.stats.compute_seconds / done:.2g} over {proc.stats.chunks} chunks)" if done else ""
        raise BudgetSpent(BUDGET_NOTE.format(budget=QUICK_BUDGET_S, progress=rtf))


def _stream(proc: Processor, audio: np.ndarray, deadline: float | None = None) -> np.ndarray:
    """Feed ``audio`` chunk by chunk, as a host would, and flush; the stats stay in ``proc``."""
    block = proc.hop * FEED_CHUNKS
    pieces = []
    for i in range(0, len(audio), block):
        _check_deadline(proc, deadline)
        pieces.append(proc.process(audio[i : i + block]))
    pieces.append(proc.flush())
    return np.concatenate(pieces)


def boundary_errors(streamed: np.ndarray, offline: np.ndarray, proc: Processor) -> tuple[float, float]:
    """Largest ``|streamed - offline|`` near chunk boundaries and anywhere, in dBFS.

    A boundary is the crossfade region where chunk ``k`` takes over from chunk ``k - 1``
    (one sample either side included); clicks live there when context is too short.
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


def _quality(task: str, reference: np.ndarray, estimate: np.ndarray, out_rate: int, in_rate: int) -> dict:
    """The task's quality figures for one clip (:data:`QUALITY_KEYS`); ``None`` = not available."""
    from rtaudio import metrics

    if task == "upsample":
        return {
            "lsd": metrics.lsd(reference, estimate),
            "lsd_hf": metrics.lsd_hf(reference, estimate, out_rate, in_rate),
            "snr_db": metrics.snr(reference, estimate),
        }
    from rtaudio import metrics_vocode

    try:
        pesq = metrics_vocode.pesq_wb(reference, estimate, out_rate)
    except ImportError:  # the pesq package is a dev/bench extra, not a runtime dependency
        pesq = None
    return {
        "lsd": metrics.lsd(reference, estimate),
        # one mel front end (the shipped default) for every model: a yardstick, not each model's own
        "mel_l1": metrics_vocode.log_mel_l1(reference, estimate),
        "mrstft": metrics_vocode.mrstft_distance(reference, estimate),
        "pesq_wb": pesq,
    }


def _mean(rows: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in rows if r.get(key) is not None]
    return float(np.mean(values)) if values else None


def run_case(
    info: ModelInfo,
    pair: tuple[int, int],
    steps: int | None,
    backend: str,
    clips: list[EvalClip],
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
    from rtaudio.registry import build_kernel

    in_rate, out_rate = pair
    result = CaseResult(
        task=config.task,
        model=info.name,
        kind="baseline" if info.path is None else "neural",
        faithful=is_faithful(info.card),
        in_rate=in_rate,
        out_rate=out_rate,
        steps=steps,
        backend=backend,
        status="ok",
        params=card_params(info.card),
        training_steps=_training_steps(info.card),
    )
    reason = None if info.path is None else backend_unavailable(backend)
    if reason:
        result.status = f"unavailable: {reason}"
        return result
    if deadline is not None and time.time() + estimate > deadline:
        result.status = "skipped: " + BUDGET_NOTE.format(budget=QUICK_BUDGET_S, progress="")
        return result
    model_ref = info.name if info.path is None else str(info.path)
    gc.collect()
    _reset_peak_rss()
    try:
        plan = build_kernel(
            config.task, model_ref, in_rate, in_rate, out_rate, steps, config.seed, backend, config.threads
        )
    except (ValueError, BackendUnavailable) as exc:  # a rate pair, step count or device it lacks
        result.status = f"unavailable: {_one_line(exc)}"
        return result
    except Exception as exc:  # one broken model must not hide the others' figures
        result.status = f"failed: {_one_line(exc)}"
        return result
    try:
        _measure(result, plan, processor_for(plan, chunk_ms=config.chunk_ms), clips, on_clip, deadline)
    except BudgetSpent as exc:
        result.status = f"skipped: {exc}"
        result.per_clip.clear()
    except Exception as exc:  # reported in the row and in the exit code
        result.status = f"failed: {_one_line(exc)}"
    return result


def _measure(
    result: CaseResult, plan: Any, proc: Processor, clips: list[EvalClip], on_clip, deadline: float | None
) -> None:
    from rtaudio import metrics

    in_rate, out_rate = result.in_rate, result.out_rate
    # one warm-up chunk: session and allocator start-up is not a steady-state chunk
    _stream(proc, np.zeros(proc.delay_in, np.float32))
    pooled = ChunkStats()
    offline_seconds = 0.0
    for clip in clips:
        proc.reset()
        streamed = _stream(proc, clip.low, deadline)
        for seconds in proc.stats.recent():
            pooled.add(float(seconds))
        result.audio_seconds += len(clip.low) / in_rate
        if result.peak_rss_mb is None:  # streaming only: the offline reference holds a whole clip
            result.peak_rss_mb = peak_rss_mb()
        _check_deadline(proc, deadline)
        t0 = time.perf_counter()
        offline = process_offline(plan.kernel, clip.low)
        offline_seconds += time.perf_counter() - t0
        row = {"clip": clip.name, **_quality(result.task, clip.reference, streamed, out_rate, in_rate)}
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
    for key in QUALITY_KEYS[result.task]:
        setattr(result, key, _mean(rows, key))
    result.parity_snr_db = min(r["parity_snr_db"] for r in rows)  # the worst clip
    result.boundary_err_dbfs = max(r["boundary_err_dbfs"] for r in rows)
    result.max_err_dbfs = max(r["max_err_dbfs"] for r in rows)


# -- the whole run -------------------------------------------------------------------------
def select_models(config: BenchConfig) -> list[ModelInfo]:
    """The models a run covers: the baselines always, then the requested or shipped ones."""
    if config.models is None:
        chosen = shipped_models(config.task)
    else:
        chosen = [find_model(config.task, name) for name in config.models]
    if config.task != "upsample":  # sinc and linear are upsamplers; a vocoder has no such baseline
        return chosen
    names = {m.name for m in chosen}
    baselines = [find_model(config.task, b) for b in BASELINES if b not in names]
    return baselines + chosen


def task_pairs(config: BenchConfig) -> list[tuple[int, int]]:
    """The rate pairs of a run: requested, or the task's (a vocoder's: its own rate, in = out)."""
    if config.pairs is not None:
        return [tuple(p) for p in config.pairs]
    if config.task == "upsample":
        return list(RATE_PAIRS)
    rates = {int(m.card.get("sample_rate", VOCODER_RATE)) for m in select_models(config)} or {VOCODER_RATE}
    return [(rate, rate) for rate in sorted(rates)]


def plan_cases(config: BenchConfig) -> list[tuple[ModelInfo, tuple[int, int], int | None, str]]:
    """Every (model, pair, steps, backend) the run will measure, in table order."""
    cases = []
    for pair in task_pairs(config):
        for info in select_models(config):
            # the baselines are numpy + soxr: one row, on the CPU, whatever the backends
            backends = ["cpu"] if info.path is None else list(config.backends)
            for steps in steps_for(info, config):
                for backend in backends:
                    cases.append((info, pair, steps, backend))
    return cases


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
    if config.task not in QUALITY_KEYS:
        raise ModelError(f"bench has no scenario for task {config.task!r} (available: {', '.join(QUALITY_KEYS)})")
    pairs = task_pairs(config)
    count = QUICK_CLIPS if config.quick and config.clips is None else config.clips
    seconds = QUICK_SECONDS if config.quick and config.max_seconds is None else config.max_seconds
    clip_sets = {pair: eval_clips(pair[0], pair[1], count, seconds) for pair in pairs}
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
        estimate = 2 * cost.get((info.name, backend), 0.0) * calls * sum(len(c.low) for c in clips) / pair[0]
        # the baselines always run: every other figure is read against them
        deadline = started + QUICK_BUDGET_S if config.quick and info.path is not None else None
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
        "backends": {b: _backend_state(b) for b in config.backends},
        "faithful": {"present": faithful_present, "note": _faithful_note(config, results, faithful_present)},
        "results": [_rounded(asdict(r)) for r in results if r is not None],
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
        return (info.path is not None, pairs.index(pair), is_faithful(info.card), steps or 0, i)

    return sorted(range(len(cases)), key=key)


def _rounded(row: dict[str, Any]) -> dict[str, Any]:
    return {k: round(v, 6) if isinstance(v, float) else v for k, v in row.items()}


# -- reading a report ----------------------------------------------------------------------
def comparisons(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Speed-up and quality change of each fast neural model against the faithful one.

    Pairs rows of the same rate pair, backend and step count; ``deltas`` are fast minus
    faithful for every quality figure both have. Empty when no faithful configuration ran.
    """
    ok = [r for r in report["results"] if r["status"] == "ok" and r["kind"] == "neural"]
    faithful = {(r["in_rate"], r["out_rate"], r["backend"], r["steps"]): r for r in ok if r["faithful"]}
    out = []
    for r in ok:
        ref = faithful.get((r["in_rate"], r["out_rate"], r["backend"], r["steps"]))
        if r["faithful"] or ref is None:
            continue
        keys = [k for k in QUALITY_KEYS[r["task"]] if r[k] is not None and ref[k] is not None]
        out.append(
            {
                "model": r["model"],
                "faithful_model": ref["model"],
                "pair": [r["in_rate"], r["out_rate"]],
                "backend": r["backend"],
                "steps": r["steps"],
                "speedup": ref["rtf"] / r["rtf"] if r["rtf"] else None,
                "deltas": {k: r[k] - ref[k] for k in keys},
            }
        )
    return out


#: what the plot shows under the RTF row, per task, with axis labels
PLOT_KEYS = {
    # LSD rewards any high-band energy (linear's imaging beats sinc): SNR keeps it honest
    "upsample": (("lsd", "LSD (lower is better)"), ("snr_db", "SNR dB (higher is better)")),
    "vocode": (("mel_l1", "log-mel L1 (lower is better)"), ("pesq_wb", "PESQ wb (higher is better)")),
}


def plot_report(report: dict[str, Any], path: str) -> None:
    """Write a PNG: RTF and the task's quality figures against steps (rows), a column per rate pair.

    One line per neural model and backend; the baselines have no steps and are drawn as
    horizontal dashed lines. matplotlib is imported here only: the runtime does not need it.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise RuntimeError("--plot needs matplotlib (pip install rtaudio[plot])") from None
    ok = [r for r in report["results"] if r["status"] == "ok"]
    pairs = [tuple(p) for p in report["config"]["pairs"]]
    metrics = [("rtf_median", "RTF (median over chunks)")]
    metrics += [(k, label) for k, label in PLOT_KEYS[report["config"]["task"]] if any(r[k] is not None for r in ok)]
    metrics = metrics if len(metrics) > 1 else [*metrics, ("lsd", "LSD (lower is better)")]
    fig, axes = plt.subplots(len(metrics), len(pairs), figsize=(4.4 * len(pairs), 3.2 * len(metrics)), squeeze=False)
    all_steps = sorted({r["steps"] for r in ok if r["steps"] is not None}) or [0, 1]
    span = (min(all_steps), max(max(all_steps), min(all_steps) + 1))
    colours: dict[tuple[str, str], str] = {}
    for col, (a, b) in enumerate(pairs):
        series: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for r in ok:
            if (r["in_rate"], r["out_rate"]) == (a, b):
                series.setdefault((r["model"], r["backend"]), []).append(r)
        for key, rows in series.items():
            colour = colours.setdefault(key, f"C{len(colours) % 10}")
            baseline = rows[0]["steps"] is None
            rows.sort(key=lambda r: r["steps"] or 0)
            steps = list(span) if baseline else [r["steps"] for r in rows]
            style = {"linestyle": "--", "marker": None} if baseline else {"linestyle": "-", "marker": "o"}
            label = key[0] if baseline else f"{key[0]} ({key[1]})"
            for row, (metric, _) in enumerate(metrics):
                values = [rows[0][metric]] * 2 if baseline else [r[metric] for r in rows]
                axes[row, col].plot(steps, values, color=colour, label=label, **style)
        title = f"{a / 1000:g} kHz -> {b / 1000:g} kHz" if a != b else f"{a / 1000:g} kHz resynthesis"
        axes[0, col].set(title=title, yscale="log")
        axes[0, col].axhline(1.0, color="grey", linewidth=0.8)  # the real-time line
        for row, (_, label) in enumerate(metrics):
            axes[row, col].set(ylabel=label, xticks=all_steps)
        axes[-1, col].set(xlabel="diffusion steps")
    axes[1, 0].legend(fontsize=7, loc="best")
    machine = report["machine"]
    load = machine.get("load_average") or [float("nan")]
    fig.suptitle(
        f"rtaudio bench: {machine['cpu_model']}, {machine['usable_cores']} cores, load {load[0]:.1f}", fontsize=9
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)

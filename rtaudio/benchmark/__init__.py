"""The measurements behind ``rtaudio bench``: speed, latency and quality in one run.

A *case* is one (task, model, rate pair, steps, backend), built and chunked exactly as
``rtaudio stream`` does (:mod:`rtaudio.benchmark.case`); a *run* measures every case of a
:class:`BenchConfig` with the task's baselines and faithful configurations beside its fast
models (:mod:`rtaudio.benchmark.run`); the task says what material is used and which quality
figures are computed (``Task.bench_clips``, ``Task.quality``). :mod:`~rtaudio.benchmark.machine`
records the machine, :mod:`~rtaudio.benchmark.report` reads a report (comparisons, plot).
"""

from rtaudio.backends import BACKENDS
from rtaudio.benchmark.case import CaseResult, boundary_errors, run_case, stream_through
from rtaudio.benchmark.config import DEFAULT_STEPS, QUICK_BUDGET_S, QUICK_CLIPS, QUICK_SECONDS, SCHEMA, BenchConfig
from rtaudio.benchmark.facts import backend_unavailable, card_params, is_faithful, steps_for
from rtaudio.benchmark.machine import cpu_model, machine_info, peak_rss_mb
from rtaudio.benchmark.report import comparisons, plot_report
from rtaudio.benchmark.run import plan_cases, report_row, run_bench, select_models, task_pairs
from rtaudio.tasks.task import BenchClip
from rtaudio.tasks.upsample import EVAL_RATE, eval_clips, eval_dir

__all__ = [
    "BACKENDS",
    "DEFAULT_STEPS",
    "EVAL_RATE",
    "QUICK_BUDGET_S",
    "QUICK_CLIPS",
    "QUICK_SECONDS",
    "SCHEMA",
    "BenchClip",
    "BenchConfig",
    "CaseResult",
    "backend_unavailable",
    "boundary_errors",
    "card_params",
    "comparisons",
    "cpu_model",
    "eval_clips",
    "eval_dir",
    "is_faithful",
    "machine_info",
    "peak_rss_mb",
    "plan_cases",
    "plot_report",
    "report_row",
    "run_bench",
    "run_case",
    "select_models",
    "steps_for",
    "stream_through",
    "task_pairs",
]

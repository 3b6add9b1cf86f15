"""``rtaudio bench``: speed, latency and quality of every model and baseline, in one run."""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rtaudio.registry import TASKS

if TYPE_CHECKING:
    from rich.console import Console

    from rtaudio.benchmark import BenchConfig

LOG_WIDTH = 160  # columns of the report when it goes to a file or pipe


def _int_list(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not values or min(values) < 0:
        raise argparse.ArgumentTypeError(f"expected non-negative integers, got {text!r}")
    return values


def _positive(kind: type) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {text}")
        return value

    return parse


def _name_list(text: str) -> list[str]:
    values = [v.strip() for v in text.split(",") if v.strip()]
    if not values:
        raise argparse.ArgumentTypeError("expected a comma-separated list")
    return values


def _pair_list(text: str) -> list[tuple[int, int]]:
    pairs = []
    for item in _name_list(text):
        try:
            a, b = (int(v) * 1000 if int(v) < 1000 else int(v) for v in item.split(":"))  # 16 means 16 kHz
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected IN:OUT rates like 16000:48000 or 16:48, got {item!r}") from None
        pairs.append((a, b))
    return pairs


def register(sub: argparse._SubParsersAction) -> None:
    from rtaudio.benchmark import BACKENDS, DEFAULT_STEPS, QUICK_SECONDS

    p = sub.add_parser(
        "bench",
        help="measure RTF, latency and quality of models and baselines",
        description="Stream the shipped held-out speech clips through every model of a task and report "
        "streaming RTF (median and p95 over chunks), chunk compute p50/p99, algorithmic latency, peak memory, "
        "parameters, quality against the reference, and streaming parity (streamed vs offline SNR, same seed) "
        "with the largest chunk-boundary error. upsample: 16->48, 24->48 and 8->16 kHz, LSD, LSD-HF and SNR, "
        "with the sinc and linear baselines in the same table; vocode: resynthesis at the vocoder's rate; "
        "denoise: PESQ-wb, STOI and SI-SDR on held-out noisy speech, with the noisy input, RNNoise and "
        "DeepFilterNet3 (the peers extra; a missing one is a row saying why) on the same clips. "
        "Figures depend on what else the machine is doing.",
    )
    p.add_argument("--task", default="upsample", help=f"task to measure ({', '.join(TASKS)}; default upsample)")
    p.add_argument(
        "--models",
        type=_name_list,
        default=None,
        metavar="A,B",
        help="models (names or .onnx paths); upsampling always adds the sinc and linear baselines "
        "(default: every shipped model of the task)",
    )
    p.add_argument(
        "--steps",
        type=_int_list,
        default=None,
        metavar="N,M",
        help=f"diffusion step counts for neural models (default: those of {','.join(map(str, DEFAULT_STEPS))} the "
        "model card has a schedule for, plus its default; 0 is the one-shot predictor)",
    )
    p.add_argument(
        "--backends",
        type=_name_list,
        default=["cpu"],
        metavar="B,C",
        help=f"runtime backends ({', '.join(BACKENDS)}; default cpu); one that cannot run here is "
        "reported as unavailable, never replaced",
    )
    p.add_argument(
        "--pairs",
        type=_pair_list,
        default=None,
        metavar="IN:OUT",
        help="rate pairs (upsample default 16:48,24:48,8:16 kHz; vocode: the vocoder's rate)",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help=f"one clip of {QUICK_SECONDS:g} s per rate pair, the 0-step predictor and the default step count "
        "(under a minute on 2 cores)",
    )
    p.add_argument(
        "--clips", type=_positive(int), default=None, metavar="N", help="evaluation clips per rate pair (default all)"
    )
    p.add_argument(
        "--seconds", type=_positive(float), default=None, metavar="S", help="seconds kept of each clip (default all)"
    )
    p.add_argument(
        "--chunk-ms",
        type=_positive(float),
        default=None,
        metavar="MS",
        help="new audio per chunk for every model (default: each model card's; latency grows with it)",
    )
    p.add_argument("--seed", type=int, default=0, metavar="N", help="noise seed (default 0)")
    p.add_argument("--threads", type=int, default=None, metavar="N", help="inference threads (default: all cores)")
    p.add_argument("--json", default=None, metavar="OUT", help="write the full report as JSON to OUT (- for stdout)")
    p.add_argument("--plot", default=None, metavar="OUT.png", help="write plots of RTF and quality against steps")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from rtaudio.benchmark import BACKENDS, BenchConfig, plot_report, run_bench
    from rtaudio.display import console
    from rtaudio.registry import get_task

    own = get_task(args.task).bench_command(args)
    if own is not None:
        return own

    unknown = [b for b in args.backends if b not in BACKENDS]
    if unknown:
        raise ValueError(f"unknown backend {unknown[0]!r} (choose from {', '.join(BACKENDS)})")
    # fail before minutes of measuring, not after
    for path in (p for p in (args.json, args.plot) if p and p != "-"):
        folder = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(folder) or not os.access(folder, os.W_OK):
            raise ValueError(f"cannot write {path}: {folder} is not a writable folder")
    if args.plot and importlib.util.find_spec("matplotlib") is None:
        raise RuntimeError("--plot needs matplotlib (pip install rtaudio[plot])")
    config = BenchConfig(
        task=args.task,
        models=args.models,
        steps=args.steps,
        backends=args.backends,
        pairs=args.pairs,
        quick=args.quick,
        clips=args.clips,
        max_seconds=args.seconds,
        seed=args.seed,
        threads=args.threads,
        chunk_ms=args.chunk_ms,
    )
    err = console(stderr=True)
    report = _run_with_progress(config, err, run_bench) if err.is_terminal else run_bench(config)
    out = console(stderr=args.json == "-")
    if not out.is_terminal:
        out.width = max(out.width, LOG_WIDTH)  # a log or a file does not wrap: keep rows whole
    for table in report_tables(report):
        out.print(table)
    for line in report_notes(report):
        out.print(line)
    if args.json == "-":
        print(json.dumps(report, indent=1))
    elif args.json:
        with open(args.json, "w") as fh:
            json.dump(report, fh, indent=1)
    if args.plot:
        plot_report(report, args.plot)
    failed = [r for r in report["results"] if r["status"].startswith("failed")]
    return 1 if failed else 0


def _run_with_progress(config: BenchConfig, con: Console, run_bench: Callable[..., dict]) -> dict[str, Any]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("[bold]bench"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=con,
        transient=True,
    ) as progress:
        task = progress.add_task("", total=None)
        return run_bench(
            config,
            on_start=lambda total: progress.update(task, total=total),
            on_clip=lambda label: progress.update(task, advance=1, description=label),
        )


# -- rendering -----------------------------------------------------------------------------
def _num(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def _rtf(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}" if value >= 0.01 else f"{value:.4f}"


def report_tables(report: dict[str, Any]) -> list:
    """One rich table per rate pair: rows model x steps, an RTF column per backend, quality."""
    from rich.table import Table

    task = report["config"]["task"]
    quality = report["figures"]
    backends = report["config"]["backends"]
    tables = []
    for a, b in report["config"]["pairs"]:
        rows = [r for r in report["results"] if (r["in_rate"], r["out_rate"]) == (a, b)]
        clips = report["config"]["clips"].get(f"{a}->{b}", [])
        seconds = report["config"]["clip_seconds"]
        span = f"{len(clips)} clip(s)" + (f" x {seconds:g} s" if seconds else "")
        what = f"{a / 1000:g} kHz -> {b / 1000:g} kHz" if a != b else f"{a / 1000:g} kHz resynthesis"
        materials = sorted({g for r in rows for g in (r.get("quality_by_group") or {})}) or ["speech"]
        table = Table(title=f"{task} {what}  ({span}, held-out {' + '.join(materials)})")
        for name in ("model", "steps", "params", "latency ms"):
            table.add_column(name)
        for backend in backends:
            table.add_column(f"RTF {backend}\nmedian (p95)", justify="right")
        headers = ["chunk ms\np50/p99", *(f["header"] for f in quality), "parity dB", "boundary\ndBFS"]
        for name in [*headers, "RSS MB"]:
            table.add_column(name, justify="right")
        grouped: dict[tuple[str, Any], dict[str, dict[str, Any]]] = {}
        for r in rows:
            grouped.setdefault((r["model"], r["steps"]), {})[r["backend"]] = r
        notes: list[str] = []  # long reasons go under the table, numbered, so rows stay one line
        for (model, steps), by_backend in grouped.items():
            table.add_row(*_row_cells(model, steps, by_backend, backends, quality, notes))
        for peer in report.get("peers", {}).get(f"{a}->{b}", []):
            table.add_row(*_peer_cells(peer, backends, quality, notes))
        faithful = report["faithful"]
        if not faithful["present"]:  # say so in the table: the comparison the reader looks for is absent
            if not any(r["faithful"] for r in rows):
                state = "missing" if faithful["note"].startswith("missing") else "not run"
                table.add_row("paper config", "-", "-", "-", *[state] * len(backends), *["-"] * (len(headers) + 1))
            notes.append(f"paper config: {faithful['note']}")
        table.caption = "\n".join(f"[{i}] {n}" for i, n in enumerate(notes, 1)) or None
        table.caption_justify = "left"
        tables.append(table)
        if len(materials) > 1:
            tables.append(_material_table(f"{task} {what}: quality by material", rows, quality, materials))
    return tables


def _material_table(title: str, rows: list[dict[str, Any]], quality: list[dict[str, Any]], materials: list[str]):
    """The quality figures of each (model, steps) per material (one backend's row: quality does not
    depend on it)."""
    from rich.table import Table

    table = Table(title=title)
    for name in ("model", "steps", "material", *(f["header"] for f in quality)):
        table.add_column(name, justify="left" if name in ("model", "steps", "material") else "right")
    seen = set()
    for r in rows:
        key = (r["model"], r["steps"])
        if key in seen or r["status"] != "ok" or not r.get("quality_by_group"):
            continue
        seen.add(key)
        for m in materials:
            q = r["quality_by_group"].get(m, {})
            steps = "-" if r["steps"] is None else str(r["steps"])
            table.add_row(r["model"], steps, m, *(_num(q.get(f["key"]), f["fmt"]) for f in quality))
    return table


def _row_cells(
    model: str,
    steps: Any,
    by_backend: dict[str, dict[str, Any]],
    backends: list[str],
    quality: list[dict[str, Any]],
    notes: list[str],
) -> list[str]:
    first = next(iter(by_backend.values()))
    measured = next((r for r in by_backend.values() if r["status"] == "ok"), None)
    name = model + (" (paper config)" if first["faithful"] else "")
    name += " (untrained)" if first.get("training_steps") == 0 else ""  # its quality figures mean nothing
    params = "-" if first["params"] is None else (f"{first['params'] / 1e6:.2f}M" if first["params"] else "0")
    cells = [name, "-" if steps is None else str(steps), params, _num(measured and measured["latency_ms"], ".1f")]
    for backend in backends:
        r = by_backend.get(backend)
        if r is None:  # a baseline: numpy + soxr, measured once on the CPU
            cells.append("-")
        elif r["status"] != "ok":
            kind = r["status"].partition(": ")[0]
            note = f"{backend}: {r['status']}"
            if note not in notes:
                notes.append(note)
            cells.append(f"{kind} [{notes.index(note) + 1}]")
        else:
            cells.append(f"{_rtf(r['rtf_median'])} ({_rtf(r['rtf_p95'])})")
    if measured is None:
        return cells + ["-"] * (len(quality) + 4)
    m = measured
    return [
        *cells,
        f"{m['chunk_p50_ms']:.2f}/{m['chunk_p99_ms']:.2f}",
        *(_num(m.get(f["key"]), f["fmt"]) for f in quality),
        f"{m['parity_snr_db']:.1f}",
        f"{m['boundary_err_dbfs']:.1f}",
        _num(m["peak_rss_mb"], ".0f"),
    ]


def _peer_cells(
    peer: dict[str, Any], backends: list[str], quality: list[dict[str, Any]], notes: list[str]
) -> list[str]:
    """A peer's row: run whole clips outside the engine, so no chunk, parity or memory figures;
    its RTF (one CPU thread) sits in the first backend's column."""
    name = peer["model"] + ("" if peer["is_input"] else " (peer)")
    if "unavailable" in peer:
        notes.append(f"{peer['model']}: {peer['unavailable']}")
        return [name, "-", "-", "-", f"unavailable [{len(notes)}]", *["-"] * (len(backends) + len(quality) + 3)]
    if peer.get("version"):
        notes.append(f"{peer['model']}: {peer['version']}; latency = algorithmic delay + one 10 ms frame")
    return [
        name,
        "-",
        "-",
        _num(peer["latency_ms"], ".1f"),
        *[_rtf(peer["rtf"]) if i == 0 else "-" for i in range(len(backends))],
        "-",
        *(_num(peer.get(f["key"]), f["fmt"]) for f in quality),
        "-",
        "-",
        "-",
    ]


def report_notes(report: dict[str, Any]) -> list[str]:
    """Lines under the tables: machine, unavailable backends, fast-vs-paper ratios."""
    from rtaudio.benchmark import comparisons

    m = report["machine"]
    load = m.get("load_average")
    lines = [
        f"machine: {m['cpu_model']}, {m['usable_cores']} of {m['cores']} cores usable"
        + (f", load {load[0]:.2f} at start" if load else "")
        + f"; onnxruntime {m['onnxruntime']}, numpy {m['numpy']}, soxr {m['soxr']}; {report['wall_seconds']:.1f} s"
    ]
    for backend, state in report["backends"].items():
        if state != "available":
            lines.append(f"backend {backend}: {state}")
    headers = {f["key"]: f["header"] for f in report["figures"]}
    for c in comparisons(report):
        deltas = ", ".join(f"{headers[k]} {v:+.3f}" for k, v in c["deltas"].items())
        lines.append(
            f"{c['model']} vs {c['faithful_model']} ({c['pair'][0] // 1000}k->{c['pair'][1] // 1000}k, "
            f"{c['backend']}, {c['steps']} steps): {c['speedup']:.1f}x faster; {deltas}"
        )
    lines.append(
        "RTF = chunk compute / chunk audio (below 1 is faster than real time); parity = streamed vs offline SNR "
        "(same seed); boundary = largest streamed-vs-offline error at chunk boundaries."
    )
    return lines

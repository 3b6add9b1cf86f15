"""``rtaudio stream IN OUT``: file streaming mode, any length, constant memory."""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass

import numpy as np

from rtaudio.commands.common import add_model_options, plan_from_args
from rtaudio.engine.processor import Processor, process_offline
from rtaudio.io.files import AtomicWriter, AudioIOError, AudioReader, same_file

READ_BLOCK = 4096  # frames per file read: small enough for constant memory, big enough for speed
REALTIME_BLOCK_MS = 10.0  # a live source's block when --realtime paces the input


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "stream",
        help="process an audio file (any length, constant memory)",
        description="Stream IN through a model into OUT, block by block, in constant memory. "
        "Formats by extension (wav, flac, ogg, ...); '-' is a WAV stream on stdin/stdout; "
        "with --task vocode, IN may be a .npy of log-mel frames (see rtaudio/tasks/mel.py). "
        "OUT appears only when processing completed. WAV on stdout has its real sizes when stdout is a "
        "file (> out.wav); on a pipe they cannot be known in advance and read 0xFFFFFFFF (players take "
        "'until the end'; soxi shows about 12 h).",
    )
    p.add_argument("input", metavar="IN", help="input audio file, or - for WAV on stdin (any PCM/float WAV)")
    p.add_argument("output", metavar="OUT", help="output audio file, or - for WAV on stdout")
    p.add_argument(
        "--subtype",
        metavar="TYPE",
        help="output sample format: PCM_16, PCM_24, PCM_32, FLOAT, DOUBLE, ... (default: the input's when it is "
        "PCM or float and OUT's format holds it, else the format's default, e.g. PCM_16 for WAV)",
    )
    p.add_argument(
        "--overwrite-input",
        action="store_true",
        help="allow OUT to be IN itself (it is replaced once the whole input was read); refused otherwise",
    )
    add_model_options(p)
    p.add_argument(
        "--offline",
        action="store_true",
        help="process the whole input as one chunk (the reference for streaming parity); "
        "memory grows with the input's length",
    )
    p.add_argument(
        "--realtime",
        action="store_true",
        help="feed the input at wall-clock speed in 10 ms blocks, as a live source would, and count missed deadlines",
    )
    p.add_argument("--json", action="store_true", help="print the summary as JSON (to stdout unless OUT is -)")
    p.set_defaults(run=run)


@dataclass
class StreamSummary:
    """What a stream run measured."""

    input: str
    output: str
    model: str
    source_rate: int
    in_rate: int
    out_rate: int
    channels: int
    audio_seconds: float
    wall_seconds: float
    compute_seconds: float
    rtf: float
    chunks: int
    chunk_ms: float
    chunk_p50_ms: float
    chunk_p99_ms: float
    latency_ms: float
    frames_in: int
    frames_out: int
    nonfinite_samples: int
    clipped_samples: int  # beyond full scale, clipped by an integer output format
    missed_deadlines: int | None
    mode: str
    engine: str  # "stream" (stateful kernel, no recompute) or "window" (overlap-add of windows)
    notes: list[str]
    warnings: list[str]


def run(args: argparse.Namespace) -> int:
    from rtaudio.api import processor_for
    from rtaudio.display import console, key_value_table, stream_progress
    from rtaudio.registry import get_task

    con = console(stderr=True)
    if same_file(args.input, args.output) and not args.overwrite_input:
        raise AudioIOError(
            f"{args.output}: is the input file itself; choose another OUT (or pass --overwrite-input to replace it)"
        )
    task = get_task(args.task)
    kind = task.input_kind(args.input)
    # a task-specific input (mel frames) is read at the model's own rate: plan first, then open
    special = plan_from_args(args, 0, kind) if kind != "audio" else None
    reader = task.open_input(args.input, special) if special is not None else AudioReader(args.input)
    with reader:
        plan = special or plan_from_args(args, reader.rate)
        for note in plan.notes:
            con.print(f"[yellow]note:[/] {note}", highlight=False)
        proc = processor_for(plan, reader.channels, args.chunk_ms)
        with AtomicWriter(args.output, plan.out_rate, proc.out_channels, reader.subtype, args.subtype) as writer:
            t0 = time.perf_counter()
            if args.offline:
                stats = _run_offline(reader, writer, plan)
            else:
                show = con.is_terminal and not args.json
                with stream_progress(con) if show else _NoProgress() as progress:
                    stats = _run_stream(reader, writer, proc, progress, args.realtime)
            wall = time.perf_counter() - t0
            writer.commit()
    frames_in, frames_out, compute, nonfinite, missed = stats
    nonfinite += reader.nonfinite
    warnings = [*reader.warnings, *filter(None, [writer.clip_warning()])]
    for warning in warnings:
        print(f"rtaudio: warning: {warning}", file=sys.stderr)
    audio_s = frames_in / reader.rate
    summary = StreamSummary(
        input=args.input,
        output=args.output,
        model=plan.model.name,
        source_rate=reader.rate,
        in_rate=plan.band_rate,
        out_rate=plan.out_rate,
        channels=reader.channels,
        audio_seconds=round(audio_s, 4),
        wall_seconds=round(wall, 4),
        compute_seconds=round(compute, 4),
        rtf=round(compute / audio_s, 5) if audio_s else 0.0,
        chunks=proc.stats.chunks if not args.offline else 1,
        chunk_ms=round(proc.chunk_seconds * 1e3, 3),
        chunk_p50_ms=round(proc.stats.percentile_ms(50), 3),
        chunk_p99_ms=round(proc.stats.percentile_ms(99), 3),
        latency_ms=round(proc.latency_seconds * 1e3, 3) if not args.offline else round(audio_s * 1e3, 3),
        frames_in=frames_in,
        frames_out=frames_out,
        nonfinite_samples=nonfinite,
        clipped_samples=writer.clipped_samples,
        missed_deadlines=missed,
        mode="offline" if args.offline else ("realtime" if args.realtime else "stream"),
        engine="stream" if plan.streaming else "window",
        notes=list(plan.notes),
        warnings=warnings,
    )
    if args.json:
        print(json.dumps(asdict(summary)), file=sys.stderr if args.output == "-" else sys.stdout)
    else:
        rows = [
            ("model", f"{summary.model} ({plan.task.describe_rates(plan)})"),
            ("input", reader.describe()),
            ("wall", f"{summary.wall_seconds:.2f} s"),
            ("RTF", f"{summary.rtf:.4f} (compute / audio)"),
            ("chunks", f"{summary.chunks} x {summary.chunk_ms:.1f} ms"),
            ("chunk compute", f"p50 {summary.chunk_p50_ms:.2f} ms, p99 {summary.chunk_p99_ms:.2f} ms"),
            ("latency", f"{summary.latency_ms:.1f} ms algorithmic"),
            ("output", f"{summary.output} ({summary.frames_out} frames)"),
        ]
        if nonfinite:
            silence = "the log floor" if reader.nonfinite else "0"
            rows.append(("sanitized", f"{nonfinite} NaN/Inf values replaced by {silence}"))
        if writer.clipped_samples:
            rows.append(("clipped", f"{writer.clipped_samples} samples above full scale ({writer.subtype})"))
        if missed is not None:
            rows.append(("missed deadlines", str(missed)))
        con.print(key_value_table(f"rtaudio stream ({summary.mode})", rows))
    return 0


class _NoProgress:
    def __enter__(self) -> _NoProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def add_task(self, *args: object, **kwargs: object) -> int:
        return 0

    def update(self, *args: object, **kwargs: object) -> None:
        pass


def _run_stream(reader: AudioReader, writer: AtomicWriter, proc: Processor, progress, realtime: bool):
    total_s = reader.frames / reader.rate if reader.frames else None
    task = progress.add_task("streaming", total=total_s)
    frames_in = frames_out = 0
    missed = 0
    block = max(1, round(REALTIME_BLOCK_MS * 1e-3 * reader.rate)) if realtime else READ_BLOCK
    t_start = time.perf_counter()
    for data in reader.blocks(block):
        if realtime:
            # the block 'arrives' when its last sample would have been captured
            arrival = t_start + (frames_in + len(data)) / reader.rate
            wait = arrival - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
        out = proc.process(data)
        if realtime and time.perf_counter() > arrival + len(data) / reader.rate:
            missed += 1  # not done before the next block arrived: a live stream would glitch
        writer.write(out)
        frames_in += len(data)
        frames_out += len(out)
        audio_s = frames_in / reader.rate
        progress.update(task, completed=audio_s, rtf=proc.stats.compute_seconds / audio_s)
    tail = proc.flush()
    writer.write(tail)
    frames_out += len(tail)
    audio_s = frames_in / reader.rate
    progress.update(task, completed=audio_s, total=audio_s, rtf=proc.stats.compute_seconds / max(audio_s, 1e-9))
    return (
        frames_in,
        frames_out,
        proc.stats.compute_seconds,
        proc.stats.nonfinite_samples,
        (missed if realtime else None),
    )


def _run_offline(reader: AudioReader, writer: AtomicWriter, plan):
    audio = reader.read_all()  # raises on an input without frames
    bad = ~np.isfinite(audio)
    t0 = time.perf_counter()
    out = process_offline(plan.reference, audio)
    compute = time.perf_counter() - t0
    writer.write(out)
    return len(audio), len(out), compute, int(bad.sum()), None

"""``rtaudio generate OUT --chord C:maj``: WaveNet chord generation to a file, with its RTF.

Also the sessions ``rtaudio live --task generate`` and ``rtaudio bridge --task generate`` run
(output only, pulled by the device clock; chord changes typed or piped one per line on stdin).
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

PULL_FRAMES = 1600  # frames per pull (100 ms at 16 kHz): progress granularity, not a model limit


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "generate",
        help="generate chords with the WaveNet (sample by sample, native kernel)",
        description="Generate S seconds of a chord (or a comma-separated progression, split evenly "
        "over the take) with the shipped WaveNet. The same seed and options reproduce the take "
        "exactly. OUT appears only when generation completed.",
    )
    p.add_argument("output", metavar="OUT", help="output audio file (wav, flac, ...), or - for WAV on stdout")
    p.add_argument("--seconds", type=float, default=4.0, metavar="S", help="length of the take (default 4)")
    p.add_argument(
        "--chord", default="C:maj", help="ROOT[:maj|:min] (C:maj, F#:min, Bb:maj), or a progression C:maj,A:min,F,G"
    )
    p.add_argument("--instrument", default="piano", help="piano, epiano, organ, guitar or strings (default piano)")
    p.add_argument("--seed", type=int, default=0, metavar="N", help="sampling seed (default 0)")
    p.add_argument(
        "--temperature", type=float, default=None, metavar="T", help="softmax temperature (default: the card's)"
    )
    p.add_argument("--model", type=Path, default=None, help="a generate .npz with its card (default: the shipped one)")
    p.add_argument(
        "--precision",
        choices=("int8", "float32"),
        default="int8",
        help="the kernel's arithmetic: int8 products (default, about 2x faster) or the exported float32 weights",
    )
    p.add_argument("--json", action="store_true", help="print the summary as JSON (to stdout unless OUT is -)")
    p.set_defaults(run=run)


@dataclass
class GenerateSummary:
    """What a generate run did and measured."""

    output: str
    model: str
    chords: list[str]
    changes: list[tuple[int, str]]  # (sample, chord) where each chord took effect
    instrument: str
    seed: int
    temperature: float
    sample_rate: int
    frames: int
    audio_seconds: float
    compute_seconds: float
    wall_seconds: float
    rtf: float
    kernel_isa: str
    precision: str


def run(args: argparse.Namespace) -> int:
    from rtaudio import _wavenet
    from rtaudio.commands.stream import _NoProgress
    from rtaudio.display import console, key_value_table, stream_progress
    from rtaudio.engine.generator import GeneratorSource
    from rtaudio.io.files import AtomicWriter
    from rtaudio.tasks.generate import WaveNetGenerator, WaveNetWeights, check_instrument, parse_chord

    if not 0 < args.seconds <= 24 * 3600:
        raise ValueError(f"--seconds must be in (0, 86400], got {args.seconds}")
    chords = [parse_chord(c) for c in args.chord.split(",")]
    check_instrument(args.instrument)
    weights = WaveNetWeights.load(args.model)
    temperature = args.temperature if args.temperature is not None else weights.card.get("default_temperature", 1.0)
    gen = WaveNetGenerator(weights, chords[0], args.instrument, args.seed, temperature, precision=args.precision)
    source = GeneratorSource(gen, blocks_per_render=PULL_FRAMES // gen.block)
    rate = gen.out_rate
    total = round(args.seconds * rate)
    # chord k starts at the first pull at or after k * total / len(chords)
    starts = [round(k * total / len(chords)) for k in range(len(chords))]
    con = console(stderr=True)
    show = con.is_terminal and not args.json
    with AtomicWriter(args.output, rate, 1) as writer:
        t0 = time.perf_counter()
        done, nxt = 0, 1
        with stream_progress(con) if show else _NoProgress() as progress:
            task = progress.add_task("generating", total=total / rate)
            while done < total:
                if nxt < len(chords) and done + PULL_FRAMES > starts[nxt]:
                    source.control(chords[nxt])
                    nxt += 1
                n = min(PULL_FRAMES, total - done)
                writer.write(source.pull(n))
                done += n
                progress.update(task, completed=done / rate, rtf=source.stats.compute_seconds / (done / rate))
        wall = time.perf_counter() - t0
        writer.commit()
    compute = source.stats.compute_seconds
    summary = GenerateSummary(
        output=args.output,
        model=weights.card.get("name", "?"),
        chords=[str(c) for c in chords],
        changes=[(0, str(chords[0]))] + [(pos, str(c)) for pos, c in source.control_log],
        instrument=args.instrument,
        seed=args.seed,
        temperature=float(temperature),
        sample_rate=rate,
        frames=total,
        audio_seconds=round(total / rate, 4),
        compute_seconds=round(compute, 4),
        wall_seconds=round(wall, 4),
        rtf=round(compute / (total / rate), 4),
        kernel_isa=_wavenet.isa_int8 if args.precision == "int8" else _wavenet.isa,
        precision=args.precision,
    )
    if args.json:
        print(json.dumps(asdict(summary)), file=sys.stderr if args.output == "-" else sys.stdout)
    else:
        changes = ", ".join(f"{c} @ {p / rate:.2f} s" for p, c in summary.changes)
        rows = [
            ("model", f"{summary.model} ({rate} Hz, native kernel {summary.kernel_isa} {summary.precision})"),
            ("chords", f"{changes} ({summary.instrument})"),
            ("seed", f"{summary.seed}, temperature {summary.temperature:g}"),
            ("audio", f"{summary.audio_seconds:.2f} s ({total} frames)"),
            ("RTF", f"{summary.rtf:.3f} (compute / audio; wall {summary.wall_seconds:.2f} s)"),
            ("output", summary.output),
        ]
        con.print(key_value_table("rtaudio generate", rows))
    return 0


def read_controls(stream: Any, pump: Any) -> threading.Thread:
    """Feed chord changes typed (or piped) one per line on ``stream`` to ``pump``; bad lines are skipped.

    A line is a chord (``A:min``) or ``instrument NAME``; each takes effect at the generator's
    next block boundary (logged in the summary's ``changes``).
    """
    from rtaudio.tasks.generate import check_instrument, parse_chord

    def run() -> None:
        for line in stream:
            text = line.strip()
            if not text:
                continue
            try:
                if text.startswith("instrument "):
                    pump.control({"instrument": check_instrument(text.split(None, 1)[1].strip())})
                else:
                    pump.control(parse_chord(text))
            except ValueError:
                continue  # a typo must not stop the music

    thread = threading.Thread(target=run, name="rtaudio-controls", daemon=True)
    thread.start()
    return thread


def _changes(pump: Any) -> Callable[[], dict]:
    source = pump.source

    def extra() -> dict:
        rate = source.out_rate
        first = [(0, str(source.generator.initial[0]))]
        log = first + [(p, str(v) if not isinstance(v, dict) else json.dumps(v)) for p, v in source.control_log]
        return {"changes": [{"sample": p, "seconds": round(p / rate, 4), "control": c} for p, c in log],
                "control_latency_ms": round(pump.control_latency_frames / pump.rate * 1e3, 2),
                "generated_seconds": round(source.position / rate, 3)}  # fmt: skip

    return extra


def run_live(args: argparse.Namespace) -> int:
    """``rtaudio live --task generate``: the generator to an output device (no input device)."""
    from rtaudio.commands.live import check_session_args, parse_latency, run_session
    from rtaudio.live import devices
    from rtaudio.live.source_pump import OutputStream
    from rtaudio.registry import get_task

    latency = parse_latency(args.latency)
    check_session_args(args)
    if args.record:
        raise ValueError("--record is not available for --task generate: use rtaudio generate OUT.wav")
    task = get_task(args.task)
    dev_out = devices.resolve(args.output, "output")
    rate = args.rate or devices.default_rate(dev_out)
    devices.check(dev_out, "output", args.channels, rate)
    source = task.open_source(args)
    stream = OutputStream(source, dev_out, rate, args.channels, blocksize=args.blocksize, latency=latency)
    read_controls(sys.stdin, stream.pump)
    return run_session(
        args,
        stream.pump,
        task.plan_for(source, rate),
        mode="live",
        device=f"{args.chord} -> {devices.device_names()[dev_out]}",
        device_latency=stream.device_latency,
        start=stream.start,
        stop=stream.stop,
        check=stream.check,
        extra=_changes(stream.pump),
    )


def run_bridge(args: argparse.Namespace) -> int:
    """``rtaudio bridge --task generate``: a JACK source with ports ``out_1..out_N`` a DAW records."""
    from rtaudio.commands.live import check_session_args, run_session
    from rtaudio.live.jack_bridge import open_client
    from rtaudio.live.source_pump import JackSource
    from rtaudio.registry import get_task

    check_session_args(args)
    if args.connect_in or args.record:
        raise ValueError("--task generate has no input ports and no --record: use --connect-out / rtaudio generate")
    if len(args.connect_out) > args.channels:
        raise ValueError(f"{len(args.connect_out)} --connect-out ports for {args.channels} channel(s); add --channels")
    task = get_task(args.task)
    source = task.open_source(args)
    client = open_client(args.name)
    try:
        jack_source = JackSource(client, source, args.channels)
    except BaseException:
        client.close()
        raise
    read_controls(sys.stdin, jack_source.pump)
    return run_session(
        args,
        jack_source.pump,
        task.plan_for(source, jack_source.rate),
        mode="bridge",
        device=f"JACK source {client.name}",
        device_latency=0.0,
        start=lambda: jack_source.start(args.connect_out),
        stop=jack_source.stop,
        check=jack_source.check,
        extra=_changes(jack_source.pump),
    )

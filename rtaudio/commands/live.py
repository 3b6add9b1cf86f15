"""``rtaudio live``: a sound device through a model to a sound device, with a live RTF panel.

Also holds what ``rtaudio bridge`` shares with it: the session options, the engine for a
device rate, and the run loop (panel, JSON log, summary).
"""

from __future__ import annotations

import argparse
import faulthandler
import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from rtaudio.commands.common import add_model_options, plan_from_args

if TYPE_CHECKING:
    from rtaudio.engine.processor import Processor
    from rtaudio.live.pump import EnginePump
    from rtaudio.live.recorder import Recorder
    from rtaudio.registry import Plan

#: GIL switch interval during a session. Python's 5 ms default is about one 256-frame
#: period at 48 kHz: the audio callback could wait that long while the worker runs Python.
SWITCH_INTERVAL = 0.0005
#: seconds a live session may take to stop, finalize its recording and print its summary
STOP_WATCHDOG_S = 20.0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "live",
        help="live device stream through a model, with an RTF panel",
        description="Capture from a sound device, run the model, play to a sound device. The panel shows the "
        "real-time factor, chunk compute times, end-to-end latency, xruns and levels; Ctrl-C stops and prints "
        "a summary. Devices: see `rtaudio devices`.",
    )
    add_model_options(p)
    dev = p.add_argument_group("devices")
    dev.add_argument("--input", metavar="DEV", help="input device: index or part of its name (default: the default)")
    dev.add_argument("--output", metavar="DEV", help="output device: index or part of its name (default: the default)")
    dev.add_argument(
        "--rate", type=int, metavar="HZ", help="device sample rate (default: the output device's default rate)"
    )
    dev.add_argument(
        "--blocksize",
        type=int,
        default=0,
        metavar="N",
        help="frames per device callback (default 0: the host picks)",
    )
    dev.add_argument(
        "--latency",
        default="low",
        metavar="low|high|MS",
        help="device buffering PortAudio should aim for: low, high, or milliseconds (default low)",
    )
    add_session_options(p)
    p.set_defaults(run=run)


def add_session_options(p: argparse.ArgumentParser) -> None:
    """--channels, --adaptive, --record, --json-log, --duration, --json (live and bridge)."""
    g = p.add_argument_group("session")
    g.add_argument("--channels", type=int, default=1, metavar="N", help="channels (default 1)")
    g.add_argument(
        "--adaptive",
        action="store_true",
        help="when compute falls behind, grow the latency by one chunk instead of dropping audio to hold it",
    )
    g.add_argument(
        "--record", metavar="OUT", help="write the processed stream to OUT (wav, flac, ...), finalized on stop"
    )
    g.add_argument("--json-log", metavar="FILE", help="write live stats as one JSON line per second, and a final one")
    g.add_argument("--duration", type=float, metavar="S", help="stop after S seconds (default: run until Ctrl-C)")
    g.add_argument("--json", action="store_true", help="print the exit summary as JSON on stdout (no panel)")


def parse_latency(text: str) -> str | float:
    """``low`` / ``high`` / milliseconds -> sounddevice's ``latency`` argument."""
    if text in ("low", "high"):
        return text
    try:
        ms = float(text)
    except ValueError:
        raise ValueError(f"--latency must be low, high or milliseconds, not {text!r}") from None
    if not 0 < ms <= 10_000:
        raise ValueError(f"--latency {ms:g} ms is outside (0, 10000] ms")
    return ms / 1e3


def check_session_args(args: argparse.Namespace) -> None:
    if args.channels < 1:
        raise ValueError("--channels must be at least 1")
    if args.duration is not None and args.duration <= 0:
        raise ValueError("--duration must be positive")


def engine_for(args: argparse.Namespace, rate: int) -> tuple[Processor, Plan]:
    """The Processor for a device at ``rate``: the kernel chain takes and returns that rate."""
    from rtaudio.api import processor_for

    if args.out_rate is not None and args.out_rate != rate:
        raise ValueError(f"live output runs at the device rate ({rate} Hz), not --out-rate {args.out_rate}")
    plan = plan_from_args(argparse.Namespace(**{**vars(args), "out_rate": rate}), rate)
    return processor_for(plan, args.channels, args.chunk_ms), plan


def run_session(
    args: argparse.Namespace,
    pump: EnginePump,
    plan: Plan,
    *,
    mode: str,
    device: str,
    device_latency: float,
    start: Callable[[], None],
    stop: Callable[[], object],
    check: Callable[[], None] | None = None,
    recorder: Recorder | None = None,
    extra: Callable[[], dict] | None = None,
) -> int:
    """Start, show the panel until --duration or Ctrl-C, stop, print the summary.

    ``extra`` adds fields to the JSON summary (a generator's control changes).
    """
    from rtaudio.display import console
    from rtaudio.live.panel import monitor, render_summary
    from rtaudio.live.stats import JsonLog, StatsTracker

    con = console(stderr=True)
    neural = not plan.model.is_baseline
    tracker = StatsTracker(
        pump,
        device_latency,
        mode=mode,
        model=plan.model.name,
        backend=args.backend if neural else "soxr",
        steps=plan.steps if neural else None,
        device=device,
        in_rate=plan.band_rate,
        hint=plan.task.live_hint(plan, pump.rate),
    )
    json_log = None
    failure: Exception | None = None  # a failure mid-session (JACK server shut down, engine died)
    previous = sys.getswitchinterval()
    sys.setswitchinterval(SWITCH_INTERVAL)
    try:
        try:
            json_log = JsonLog(args.json_log) if args.json_log else None
            start()
            try:
                monitor(
                    tracker,
                    con,
                    duration=args.duration,
                    json_log=json_log,
                    show_panel=con.is_terminal and not args.json,
                    check=check,
                )
            except Exception as exc:  # the session ran: still log, record and summarise it
                failure = exc
        except KeyboardInterrupt:
            pass  # Ctrl-C, SIGTERM or SIGHUP while starting: stop as cleanly as from the panel
        finally:
            # a session that cannot shut down (a device or server that never returns) must not
            # outlive its stop signal: after STOP_WATCHDOG_S the threads' tracebacks go to stderr
            # and the process exits 1; the command exits right after this function otherwise
            faulthandler.dump_traceback_later(STOP_WATCHDOG_S, exit=True)
            stop()  # also after a failed start: releases the device and the worker
        stats = tracker.snapshot()
        if json_log is not None:
            json_log.write(stats, final=True, **({"error": str(failure)} if failure else {}))
    finally:
        sys.setswitchinterval(previous)
        if json_log is not None:
            json_log.close()
        if recorder is not None:
            recorder.close()  # the file is complete, whatever ended the session
    if args.json:
        summary = json.loads(stats.to_json()) | (extra() if extra is not None else {})
        if recorder is not None:
            summary["record"] = {"path": recorder.path, "frames": recorder.frames}
        if failure is not None:
            summary["error"] = str(failure)
        print(json.dumps(summary), flush=True)
    elif failure is None:  # after a failure the error line alone goes to stderr
        con.print(render_summary(stats))
        if recorder is not None:
            con.print(f"recorded {recorder.frames} frames to {recorder.path}")
    if failure is not None:
        raise failure
    return 0


def run(args: argparse.Namespace) -> int:
    from rtaudio.registry import get_task

    if getattr(get_task(args.task), "is_source", False):  # a generator: output device only
        from rtaudio.commands.generate import run_live

        return run_live(args)
    from rtaudio.live import devices
    from rtaudio.live.duplex import DuplexStream
    from rtaudio.live.recorder import Recorder

    latency = parse_latency(args.latency)
    check_session_args(args)
    if args.blocksize < 0:
        raise ValueError("--blocksize must not be negative")
    dev_in = devices.resolve(args.input, "input")
    dev_out = devices.resolve(args.output, "output")
    rate = args.rate or devices.default_rate(dev_out)
    devices.check(dev_in, "input", args.channels, rate)
    devices.check(dev_out, "output", args.channels, rate)
    proc, plan = engine_for(args, rate)
    recorder = Recorder(args.record, rate, args.channels) if args.record else None
    try:
        stream = DuplexStream(
            proc, dev_in, dev_out, blocksize=args.blocksize, latency=latency, adaptive=args.adaptive, sink=recorder
        )
        names = devices.device_names()
    except BaseException:  # also a signal: run_session, which finalizes the recording, never starts
        if recorder is not None:
            recorder.discard()
        raise
    return run_session(
        args,
        stream.pump,
        plan,
        mode="live",
        device=f"{names[dev_in]} -> {names[dev_out]}",
        device_latency=stream.device_latency,
        start=stream.start,
        stop=stream.stop,
        recorder=recorder,
    )

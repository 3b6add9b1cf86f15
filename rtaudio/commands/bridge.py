"""``rtaudio bridge``: a JACK client for DAWs, ports ``in_N`` -> model -> ``out_N``."""

from __future__ import annotations

import argparse

from rtaudio.commands.common import add_model_options
from rtaudio.commands.live import add_session_options, check_session_args, engine_for, run_session


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "bridge",
        help="JACK client for DAWs: in_N -> model -> out_N, latency reported to JACK",
        description="Run the model as a JACK client (JACK, or PipeWire via pw-jack). Route a DAW track's send to "
        "NAME:in_1 and NAME:out_1 back to a track input; the client reports its delay through JACK port latencies "
        "so hosts that compensate latency keep tracks aligned. Ctrl-C stops and prints a summary.",
    )
    add_model_options(p)
    j = p.add_argument_group("JACK")
    j.add_argument("--name", default="rtaudio", help="JACK client name (default rtaudio)")
    j.add_argument(
        "--connect-in",
        action="append",
        default=[],
        metavar="PORT",
        help="connect PORT to in_1 (repeat for in_2, ...), e.g. system:capture_1",
    )
    j.add_argument(
        "--connect-out",
        action="append",
        default=[],
        metavar="PORT",
        help="connect out_1 to PORT (repeat for out_2, ...), e.g. system:playback_1",
    )
    add_session_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from rtaudio.live.jack_bridge import JackBridge, open_client
    from rtaudio.live.recorder import Recorder
    from rtaudio.registry import get_task

    if getattr(get_task(args.task), "is_source", False):  # a generator: output ports only
        from rtaudio.commands.generate import run_bridge

        return run_bridge(args)
    check_session_args(args)
    for option, ports in (("--connect-in", args.connect_in), ("--connect-out", args.connect_out)):
        if len(ports) > args.channels:
            raise ValueError(f"{len(ports)} {option} ports for {args.channels} channel(s); add --channels")
    client = open_client(args.name)
    recorder = None
    try:
        rate = int(client.samplerate)
        proc, plan = engine_for(args, rate)
        recorder = Recorder(args.record, rate, args.channels) if args.record else None
        bridge = JackBridge(client, proc, adaptive=args.adaptive, sink=recorder)
    except BaseException:
        client.close()
        if recorder is not None:
            recorder.discard()
        raise
    return run_session(
        args,
        bridge.pump,
        plan,
        mode="bridge",
        device=f"JACK client {client.name}",
        device_latency=0.0,  # JACK adds the graph's own latencies around the ports
        start=lambda: bridge.start(args.connect_in, args.connect_out),
        stop=bridge.stop,
        check=bridge.check,
        recorder=recorder,
    )

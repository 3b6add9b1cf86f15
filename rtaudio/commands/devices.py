"""``rtaudio devices``: host APIs and sound devices, with the defaults marked."""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "devices",
        help="list sound devices (for live --input/--output)",
        description="List host APIs and devices with channel counts and default rates; > marks the default "
        "input, < the default output. Pass an index or part of a name to `rtaudio live --input/--output`.",
    )
    p.add_argument("--json", action="store_true", help="print host APIs and devices as JSON")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from rich.table import Table

    from rtaudio.display import console
    from rtaudio.live.devices import list_devices

    found = list_devices()
    if args.json:
        print(json.dumps(found))
        return 0
    con = console(stderr=False)
    table = Table(title="sound devices (> default input, < default output)", title_justify="left")
    for col, justify in (("", "left"), ("#", "right"), ("name", "left"), ("host API", "left")):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for col in ("in", "out", "default rate", "low latency"):
        table.add_column(col, justify="right")
    for dev in found["devices"]:
        mark = (">" if dev["default_input"] else " ") + ("<" if dev["default_output"] else " ")
        table.add_row(
            mark,
            str(dev["index"]),
            dev["name"],
            dev["host_api"],
            str(dev["max_input_channels"]),
            str(dev["max_output_channels"]),
            f"{dev['default_samplerate']:g} Hz",
            f"{dev['default_low_latency_ms']:.1f} ms",
        )
    con.print(table)
    apis = ", ".join(f"{api['name']} ({len(api['devices'])})" for api in found["host_apis"])
    con.print(f"host APIs: {apis}")
    if not found["devices"]:
        con.print("no devices: is a sound server (JACK, PipeWire, PulseAudio) running, or a sound card present?")
    return 0

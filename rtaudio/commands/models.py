"""``rtaudio models``: shipped models and baselines with their cards."""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="list shipped models and baselines", description="List models with their cards.")
    p.add_argument("--task", default=None, help="only this task")
    p.add_argument("--json", action="store_true", help="print the cards as JSON")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from rich.table import Table

    from rtaudio.display import console
    from rtaudio.registry import TASKS, shipped_models

    models = shipped_models(args.task)  # an unknown --task is a one-line error
    if args.json:
        print(json.dumps([{"name": m.name, "task": m.task, "file": str(m.path or ""), "card": m.card} for m in models]))
        return 0
    defaults = set()
    for task in {m.task for m in models}:
        own = [m for m in models if m.task == task]
        rates = {a for m in own for a, _ in m.pairs} or {None}
        defaults |= {TASKS[task].default_model(own, rate) for rate in rates}
    table = Table(title="rtaudio models")
    for col in ("name", "task", "rates", "steps", "latency", "quality (held-out)", "description"):
        table.add_column(col)
    for m in models:
        card = m.card
        rates = ", ".join(f"{a // 1000}k->{b // 1000}k" for a, b in m.pairs) or "any"
        quality = card.get("quality_summary", "baseline")
        name = f"{m.name} (default)" if m.name in defaults and m.path is not None else m.name
        steps = str(card.get("steps_default", "-"))
        latency = f"{card['latency_ms']:.0f} ms" if "latency_ms" in card else "-"
        table.add_row(name, m.task, rates, steps, latency, str(quality), card.get("description", ""))
    console(stderr=False).print(table)
    return 0

"""Terminal output: rich consoles, tables and the stream progress bar.

Rich honours ``NO_COLOR`` and drops styling when the stream is not a terminal, so the
same code serves people and logs.
"""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, Progress, ProgressColumn, Task, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text


def console(stderr: bool = True) -> Console:
    """A console for human-readable output; stderr by default so stdout can carry data."""
    return Console(stderr=stderr, highlight=False)


def error_console() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


class _RtfColumn(ProgressColumn):
    """Live real-time factor: compute seconds per audio second so far."""

    def render(self, task: Task) -> Text:
        rtf = task.fields.get("rtf")
        return Text("RTF  --  " if rtf is None else f"RTF {rtf:5.3f}", style="cyan")


class _AudioColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        total = "?" if task.total is None else f"{task.total:.1f}"
        return Text(f"{task.completed:.1f}/{total} s audio")


def stream_progress(con: Console) -> Progress:
    """Progress bar for file streaming: bar, audio seconds, live RTF, ETA."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        _AudioColumn(),
        _RtfColumn(),
        TimeRemainingColumn(),
        console=con,
        transient=False,
    )


def key_value_table(title: str, rows: list[tuple[str, str]]) -> Table:
    """Two-column summary table."""
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    for key, value in rows:
        table.add_row(key, value)
    return table

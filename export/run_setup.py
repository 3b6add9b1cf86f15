"""What every training entry point does first: parse the run options, load the config,
create the run folder and seed every RNG, so runs are reproducible and resumable the same way."""

from __future__ import annotations

import argparse
import json
import math
import random
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


def run_arguments(description: str | None) -> argparse.ArgumentParser:
    """``--config``, ``--resume``, ``--init``, ``--max-minutes``, ``--threads``: shared by all trainers."""
    ap = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", required=True, type=Path)
    ap.add_argument("--resume", action="store_true", help="continue runs/NAME/last.pt")
    ap.add_argument(
        "--init", type=Path, help="start from this checkpoint's weights (fine-tuning: new optimizer, step 0)"
    )
    ap.add_argument("--max-minutes", type=float, default=None, help="stop (with a checkpoint) after this wall time")
    ap.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    return ap


def start_run(args: argparse.Namespace) -> tuple[dict, Path, int]:
    """Load the config, make ``runs/<config stem>`` (or the config's ``run_dir``), seed RNGs.

    Returns the config, the run folder and the seed.
    """
    cfg = json.loads(args.config.read_text())
    torch.set_num_threads(args.threads)
    run = Path(cfg.get("run_dir", f"runs/{args.config.stem}"))
    run.mkdir(parents=True, exist_ok=True)
    seed = int(cfg.get("seed", 0))
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return cfg, run, seed


def fresh_start(
    args: argparse.Namespace, net: torch.nn.Module, log_path: Path, graph_weights: Callable[[Path], dict] | None = None
) -> None:
    """A run that does not resume: take ``--init``'s weights if given, and start a new log.

    ``graph_weights`` reads a shipped model file (not a ``.pt`` checkpoint) whose arrays are not
    the parameters under their own names (a traced step graph stores transposed matrices
    anonymously; the WaveNet's ``.npz`` is in the kernel's layout)."""
    if args.init:
        shipped = Path(args.init).suffix != ".pt" and graph_weights is not None
        load_weights(net, graph_weights(args.init) if shipped else initial_weights(args.init))
        print(f"initialised from {args.init}")
    if log_path.exists():
        log_path.unlink()


def initial_weights(path: Path) -> dict:
    """A checkpoint's ``model`` state, or a shipped ONNX graph's initializers by parameter name
    (the shipped models have no checkpoint in the repository)."""
    if Path(path).suffix == ".onnx":
        import onnx
        from onnx import numpy_helper

        graph = onnx.load(str(path)).graph
        return {i.name: torch.from_numpy(numpy_helper.to_array(i).copy()) for i in graph.initializer}
    return torch.load(path, weights_only=False)["model"]


def load_weights(net: torch.nn.Module, state: dict) -> None:
    """Copy ``state`` into ``net`` where it fits, for fine-tuning a changed architecture.

    Same-shape tensors are copied; a tensor that grew along its first axis (an output head
    given more channels) keeps the old rows and leaves the new ones at their initialisation;
    anything else is left initialised. What was not copied whole is printed.
    """
    own = net.state_dict()
    partial = []
    for key, old in state.items():
        new = own.get(key)
        if new is None:
            continue
        if new.shape == old.shape:
            new.copy_(old)
        elif new.dim() == old.dim() and new.shape[1:] == old.shape[1:] and new.shape[0] > old.shape[0]:
            new[: old.shape[0]].copy_(old)
            partial.append(f"{key} (first {old.shape[0]} of {new.shape[0]})")
        else:
            partial.append(f"{key} (new)")
    partial += [f"{key} (new)" for key in own if key not in state]
    if partial:
        print("initialised, not copied whole: " + ", ".join(partial))


def training_progress() -> Progress:
    """The trainers' progress bar: step n/N, bar, elapsed, and a per-step ``info`` field."""
    return Progress(
        TextColumn("step"),
        MofNCompleteColumn(),
        BarColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[info]}"),
        refresh_per_second=1,
    )


def save_checkpoint(state: dict, path: Path) -> None:
    """Write ``state`` to ``path`` atomically: a kill mid-save never loses the last checkpoint."""
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    tmp.replace(path)


def lr_scale(step: int, warmup: int, total_steps: int, wall_minutes: float, budget_minutes: float) -> float:
    """Learning-rate factor: linear warm-up, then cosine from 1 to 0.05 over whichever budget ends first.

    The budget is ``total_steps`` or ``budget_minutes`` of wall time (``--max-minutes``), so a run
    cut short on a shared machine still ends at a low learning rate.
    """
    if step < warmup:
        return (step + 1) / warmup
    p = min(1.0, max((step - warmup) / max(1, total_steps - warmup), wall_minutes / budget_minutes))
    return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * p))


def save_loss_plot(
    log_path: Path,
    png: Path,
    curves: dict[str, str],
    points: dict[str, str] | None = None,
    log_scale: bool = True,
    ylabel: str | None = None,
    points_axis: str | None = None,
    smooth: int = 50,
) -> None:
    """The training curves of ``log_path`` (JSON lines) as ``png``.

    ``curves`` (log key -> legend label) are drawn as ``smooth``-step running means; ``points``
    (evaluations logged every so often) as markers, on a second axis labelled ``points_axis``
    when given. A key logged fewer than twice is left out (logs from before a term existed).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [json.loads(line) for line in log_path.read_text().splitlines() if line.strip()]
    fig, ax = plt.subplots(figsize=(7, 4))
    for key, label in curves.items():
        pts = [(r["step"], r[key]) for r in rows if r.get(key) is not None]
        if len(pts) < 2:
            continue
        s, v = np.array(pts, dtype=float).T
        k = min(smooth, len(v))
        ax.plot(s[k - 1 :], np.convolve(v, np.ones(k) / k, mode="valid"), label=label)
    ax.set_xlabel("step")
    if ylabel:
        ax.set_ylabel(ylabel)
    if log_scale:
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left")
    other = ax.twinx() if points_axis else ax
    for key, label in (points or {}).items():
        pts = [(r["step"], r[key]) for r in rows if r.get(key) is not None]
        if pts:
            other.plot(*np.array(pts, dtype=float).T, "k.-", label=label)
    if points_axis:
        other.set_ylabel(points_axis)
        other.legend(loc="upper right")
    elif points:
        ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)

"""``rtaudio style CONTENT STYLE OUT``: the published optimisation-based audio style transfer.

Adam on the output's log-magnitude STFT against a random conv net's features of the content
and Gram matrices of the style (:mod:`rtaudio.tasks.style_optimise`, torch: the ``train``
extra), then phase retrieval from the content's phase (:func:`rtaudio.tasks.style.fast_griffin_lim`).
The streamable, feed-forward form is ``rtaudio stream IN OUT --task style``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass

import numpy as np

#: the published method's rate (Ulyanov's); inputs at other rates are resampled to it
DEFAULT_RATE = 22050


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "style",
        help="style transfer by optimisation: CONTENT takes on the texture of STYLE (needs torch)",
        description="Optimise the log-magnitude spectrogram (n_fft 2048) of CONTENT so a random conv net "
        "sees CONTENT's features and STYLE's Gram matrices, then retrieve a phase (fast Griffin-Lim from "
        "CONTENT's phase). Mono; inputs are resampled to --rate. Needs torch (pip install 'rtaudio[train]'). "
        "OUT appears only when the run completed.",
    )
    p.add_argument("content", metavar="CONTENT", help="the recording whose content (timing, words) is kept")
    p.add_argument("style", metavar="STYLE", help="the recording whose texture and timbre are taken")
    p.add_argument("output", metavar="OUT", help="output audio file (wav, flac, ...)")
    p.add_argument("--iterations", type=int, default=100, metavar="N", help="Adam steps (default 100)")
    p.add_argument("--style-weight", type=float, default=10.0, metavar="W", help="style loss weight (default 10)")
    p.add_argument("--content-weight", type=float, default=1.0, metavar="W", help="content loss weight (default 1)")
    p.add_argument("--seed", type=int, default=0, metavar="N", help="seed of the random feature net (default 0)")
    p.add_argument("--rate", type=int, default=DEFAULT_RATE, help=f"processing rate in Hz (default {DEFAULT_RATE})")
    p.add_argument("--filters", type=int, default=1024, help="filters of the feature net (default 1024)")
    p.add_argument("--lr", type=float, default=0.05, help="Adam learning rate on the log-magnitude (default 0.05)")
    p.add_argument("--phase-iters", type=int, default=100, help="fast Griffin-Lim iterations (default 100)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    p.add_argument("--plot", metavar="PNG", default=None, help="write content / style / output spectrograms")
    p.set_defaults(run=run)


@dataclass
class StyleSummary:
    """What a style run did and measured (``--json``)."""

    content: str
    style: str
    output: str
    sample_rate: int
    seconds: float
    iterations: int
    style_weight: float
    content_weight: float
    seed: int
    content_loss_final: float
    style_loss_start: float
    style_loss_final: float
    optimise_seconds: float
    phase_seconds: float
    wall_seconds: float
    figures: dict


def _read_mono(path: str, rate: int) -> np.ndarray:
    from rtaudio.io.files import AudioReader
    from rtaudio.tasks.resample import sinc_resample

    with AudioReader(path) as reader:
        audio = reader.read_all().mean(axis=1)
        source_rate = reader.rate
    audio = sinc_resample(audio[None], source_rate, rate)[0]
    if len(audio) < 4 * 2048:
        raise ValueError(f"{path}: {len(audio) / rate:.2f} s is too short for style transfer (at least 0.4 s)")
    return audio


def _check(args: argparse.Namespace) -> None:
    from rtaudio.tasks.task import check_rate

    if args.iterations < 1:
        raise ValueError(f"--iterations must be at least 1, not {args.iterations}")
    if args.style_weight < 0 or args.content_weight < 0 or args.style_weight + args.content_weight == 0:
        raise ValueError("--style-weight and --content-weight must be >= 0 and not both 0")
    if args.filters < 1 or args.phase_iters < 0 or args.lr <= 0:
        raise ValueError("--filters must be >= 1, --phase-iters >= 0 and --lr > 0")
    check_rate(args.rate, "--rate")


def run(args: argparse.Namespace) -> int:
    from rtaudio.cli import UserError

    _check(args)
    try:
        import torch

        from rtaudio.tasks import style_optimise
    except ImportError:
        raise UserError("rtaudio style needs torch, which is not installed: pip install 'rtaudio[train]'") from None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from rtaudio.display import console, key_value_table
    from rtaudio.io.files import AtomicWriter
    from rtaudio.tasks.style import fast_griffin_lim, log_spectrogram, style_figures

    if args.threads:
        torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    content = _read_mono(args.content, args.rate)
    style = _read_mono(args.style, args.rate)
    content_logmag, content_phase = log_spectrogram(content)
    style_logmag, _ = log_spectrogram(style)
    con = console(stderr=True)
    progress = Progress(
        TextColumn("[bold]optimising"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("content {task.fields[content]:.4f}  style {task.fields[style]:.4f}"),
        TimeElapsedColumn(),
        console=con,
        disable=not con.is_terminal or args.json,
    )
    with progress:
        task = progress.add_task("optimise", total=args.iterations, content=0.0, style=float("nan"))
        result = style_optimise.optimise(
            content_logmag,
            style_logmag,
            args.iterations,
            args.style_weight,
            args.content_weight,
            args.seed,
            args.filters,
            lr=args.lr,
            progress=lambda step, lc, ls: progress.update(task, completed=step, content=lc, style=ls),
        )
    t1 = time.perf_counter()
    audio = fast_griffin_lim(np.expm1(result.logmag), content_phase, iters=args.phase_iters, length=len(content))
    phase_seconds = time.perf_counter() - t1
    peak = float(np.max(np.abs(audio)))
    if peak > 0.99:  # the optimised spectrum may be louder than the content: never clip
        audio = audio * (0.99 / peak)
    with AtomicWriter(args.output, args.rate, 1) as writer:
        writer.write(audio.astype(np.float32)[:, None])
        writer.commit()
    figures = style_figures(audio, content, style, args.rate)
    if args.plot:
        from rtaudio.spectrogram import save_spectrograms

        save_spectrograms(
            [("content", content, args.rate), ("style", style, args.rate), ("output", audio, args.rate)],
            args.plot,
            max_hz=args.rate / 2,
        )
    summary = StyleSummary(
        content=args.content,
        style=args.style,
        output=args.output,
        sample_rate=args.rate,
        seconds=round(len(content) / args.rate, 3),
        iterations=args.iterations,
        style_weight=args.style_weight,
        content_weight=args.content_weight,
        seed=args.seed,
        content_loss_final=result.content_loss[-1],
        style_loss_start=result.style_loss[0],
        style_loss_final=result.style_loss[-1],
        optimise_seconds=round(result.seconds, 2),
        phase_seconds=round(phase_seconds, 2),
        wall_seconds=round(time.perf_counter() - t0, 2),
        figures={k: (None if v is None else round(v, 4)) for k, v in figures.items()},
    )
    if args.json:
        print(json.dumps(asdict(summary)), file=sys.stdout)
        return 0
    f = summary.figures
    rows = [
        ("content / style", f"{args.content} / {args.style} ({summary.seconds:.2f} s at {args.rate} Hz)"),
        (
            "losses",
            f"content {summary.content_loss_final:.4f}, style {summary.style_loss_start:.4f} -> "
            f"{summary.style_loss_final:.4f} (weighted, normalised)",
        ),
        (
            "style distance",
            f"{f['style_ratio']:.3f} x the content's (log-mel Gram); {f['style_ratio_cnn']:.3f} (independent CNN)",
        ),
        ("content kept", f"onset corr {f['onset_corr']:.3f}, energy corr {f['energy_corr']:.3f}, STOI {f['stoi']}"),
        ("time", f"{summary.optimise_seconds:.1f} s optimising, {summary.phase_seconds:.1f} s phase retrieval"),
        ("output", args.output + (f", plot {args.plot}" if args.plot else "")),
    ]
    con.print(key_value_table("rtaudio style", rows))
    return 0

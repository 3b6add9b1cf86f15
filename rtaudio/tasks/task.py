"""What a task is: the object the registry holds, and the plan it builds.

A :class:`Task` knows how to turn a model (its card and weight file) and the user's options
into an engine-ready :class:`Plan`: the kernel (one of the engine's contracts), the rates it
bridges and the reference kernel that ``--offline`` and streaming-parity checks use. It also
names its baselines, adds its own command-line options, and says how ``rtaudio bench``
measures it (reference material, quality figures). Commands, the embedding API and the bench
go through tasks only; nothing else branches on a task's name.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rtaudio.engine.contracts import StreamKernel, WindowKernel

#: the quietest and loudest sample rates accepted anywhere (a typo guard, not a limit of the engine)
MIN_RATE, MAX_RATE = 1000, 768000


class ModelError(ValueError):
    """Unknown task/model, bad card, or a rate the model cannot serve (one-line message)."""


def check_rate(rate: int, what: str) -> int:
    """Reject absurd sample rates with a one-line error."""
    if not MIN_RATE <= int(rate) <= MAX_RATE:
        raise ModelError(f"{what} {rate} Hz is outside {MIN_RATE}..{MAX_RATE} Hz")
    return int(rate)


@dataclass(frozen=True)
class ModelInfo:
    """A shipped or user-supplied model (or a baseline): its card and where its weights are."""

    name: str
    task: str
    card: dict[str, Any]
    path: Path | None  # None for baselines

    @property
    def pairs(self) -> list[tuple[int, int]]:
        """(in_rate, out_rate) pairs the model serves natively (empty: any rate)."""
        return [(int(a), int(b)) for a, b in self.card.get("rate_pairs", [])]

    @property
    def is_baseline(self) -> bool:
        return self.path is None


@dataclass(frozen=True)
class Request:
    """What the user asked for, independent of the task.

    Attributes
    ----------
    source_rate
        Rate of the audio that will be fed (file or device rate).
    in_rate
        Bandwidth of the source as a rate (``--in-rate``); ``None``: the source's own.
    out_rate
        Output rate; ``None``: the model's native rate.
    steps, seed, backend, threads
        Diffusion steps (``None``: the card's), noise seed, runtime backend, intra-op threads.
    options
        The task's own options (see :meth:`Task.add_options`), by destination name.
    input_kind
        ``"audio"``, or a task-specific input (``"mel"`` frames for the vocoder).
    """

    source_rate: int
    in_rate: int | None = None
    out_rate: int | None = None
    steps: int | None = None
    seed: int = 0
    backend: str = "cpu"
    threads: int | None = None
    options: dict[str, Any] = field(default_factory=dict)
    input_kind: str = "audio"


@dataclass(frozen=True)
class Plan:
    """What a task built: the kernel and everything the engine and the reports need.

    Attributes
    ----------
    kernel
        A :class:`~rtaudio.engine.contracts.WindowKernel` or
        :class:`~rtaudio.engine.contracts.StreamKernel`, taking ``source_rate`` audio.
    reference
        The whole-signal reference (a window kernel: ``process_offline`` runs it on the
        whole input as one window); the stream kernel's output must equal it to float rounding.
    model, task
        The model and task names' objects.
    source_rate, band_rate, out_rate
        Rate fed, the source's bandwidth as a rate, and the output rate.
    steps
        Diffusion steps the kernel runs (``None`` for a baseline).
    notes
        Things the user should be told (a resampling path taken, a hint); printed once.
    chunk_ms, crossfade_ms
        The card's chunking for a window kernel (``None``: the engine defaults).
    """

    kernel: WindowKernel | StreamKernel
    reference: WindowKernel
    model: ModelInfo
    task: Task
    source_rate: int
    band_rate: int
    out_rate: int
    steps: int | None = None
    notes: tuple[str, ...] = ()
    chunk_ms: float | None = None
    crossfade_ms: float | None = None

    @property
    def streaming(self) -> bool:
        """Whether the kernel is a stateful stream kernel (no context recomputed)."""
        return isinstance(self.kernel, StreamKernel) and not isinstance(self.kernel, WindowKernel)


@dataclass(frozen=True)
class Figure:
    """One quality figure of a task's bench report: JSON key, table header, format, direction."""

    key: str
    header: str
    fmt: str = ".3f"
    higher_is_better: bool = False
    plot: bool = False  # drawn under the RTF row of ``rtaudio bench --plot``

    @property
    def label(self) -> str:
        return f"{self.header} ({'higher' if self.higher_is_better else 'lower'} is better)"


@dataclass(frozen=True)
class BenchClip:
    """One bench item: what is fed, and the reference its output is judged against."""

    name: str
    source: np.ndarray  # at the input rate: fed to the engine
    reference: np.ndarray  # at the output rate
    group: str = "speech"  # material class, reported apart (speech, music, ...)
    cheap: bool = False  # --quick: figures that cost seconds per clip (ViSQOL) are skipped (None)


@dataclass(frozen=True)
class BenchPeer:
    """Another project's processor (or the unprocessed input) that ``rtaudio bench`` runs on the
    task's clips beside the engine's rows: ``run(mono clip, rate)`` -> same length, aligned; or
    ``run`` ``None`` and ``unavailable`` saying why."""

    name: str
    run: Callable[[np.ndarray, int], np.ndarray] | None
    latency_ms: float = 0.0
    version: str = ""
    unavailable: str = ""
    is_input: bool = False  # the unprocessed input: quality only, no speed figure


class Task:
    """A kind of processing (upsample, vocode, ...): subclass it, then register one instance.

    Subclasses set :attr:`name`, :attr:`summary`, :attr:`figures` and implement
    :meth:`build`; the rest has defaults that fit an audio-in, audio-out task.
    """

    #: the ``--task`` value
    name: str = ""
    #: one line for ``--help``
    summary: str = ""
    #: baseline model names, always available, measured beside the task's models in the bench
    baselines: tuple[str, ...] = ()
    #: bench quality figures, in report order
    figures: tuple[Figure, ...] = ()
    #: card fields a model of this task must have, with their types
    card_fields: dict[str, Any] = {}

    # -- models -------------------------------------------------------------------------
    def baseline_card(self, name: str) -> dict[str, Any]:
        """The card of a baseline (no weights)."""
        return {"name": name, "task": self.name, "kind": "baseline", "rate_pairs": []}

    def default_model(self, models: Sequence[ModelInfo], band_rate: int | None) -> str:
        """The model used when ``--model`` is not given, for a source band of ``band_rate``.

        The shipped model whose card says ``"default": true`` and serves the rate; else the
        first baseline; else a one-line error.
        """
        for info in models:
            serves = band_rate is None or not info.pairs or any(a == band_rate for a, _ in info.pairs)
            if not info.is_baseline and info.card.get("default") and serves:
                return info.name
        if self.baselines:
            return self.baselines[0]
        raise ModelError(f"no {self.name} model is installed (rtaudio/models/ has no default {self.name} model)")

    def build(self, model: ModelInfo, request: Request) -> Plan:
        """The plan for ``model`` under ``request`` (a one-line :class:`ModelError` if it cannot serve it)."""
        raise NotImplementedError

    # -- command line -------------------------------------------------------------------
    def add_options(self, parser: argparse.ArgumentParser) -> None:
        """Add this task's own options (an argument group named after the task); none by default."""

    def option_names(self) -> tuple[str, ...]:
        """Destination names of the options :meth:`add_options` adds (collected into ``Request.options``)."""
        return ()

    def input_kind(self, path: str) -> str:
        """What an input file holds for this task: ``"audio"`` unless the task reads something else."""
        return "audio"

    def open_input(self, path: str, plan: Plan) -> Any:
        """A reader for a non-audio input (see :meth:`input_kind`); the stream command reads audio itself."""
        raise ModelError(f"task {self.name} reads audio only")

    def live_hint(self, plan: Plan, device_rate: int) -> str | None:
        """A hint for the live panel (e.g. a setting that makes the session pointless), or ``None``."""
        return None

    def describe_rates(self, plan: Plan) -> str:
        """The rates line of a summary."""
        return f"{plan.band_rate} -> {plan.out_rate} Hz"

    # -- bench --------------------------------------------------------------------------
    def bench_command(self, args: argparse.Namespace) -> int | None:
        """A bench of the task's own for ``rtaudio bench`` (its exit status), or ``None`` for the
        engine's streaming bench (rate pairs x clips x models, :meth:`bench_pairs` ...)."""
        return None

    def bench_pairs(self, models: Sequence[ModelInfo]) -> list[tuple[int, int]]:
        """The (input rate, output rate) pairs a bench run covers by default."""
        raise NotImplementedError

    def bench_clips(self, pair: tuple[int, int], count: int | None, seconds: float | None) -> list[BenchClip]:
        """The held-out material for ``pair``: what is fed and its reference."""
        raise NotImplementedError

    def quality(
        self, clip: BenchClip, estimate: np.ndarray, pair: tuple[int, int], model: ModelInfo
    ) -> dict[str, float | None]:
        """The quality figures of one output of ``model`` (keys of :attr:`figures`; ``None``: not available here)."""
        raise NotImplementedError

    def bench_peers(self, clips: Sequence[BenchClip], pair: tuple[int, int]) -> list[BenchPeer]:
        """Other projects' processors the bench measures on the same ``clips`` (none by default)."""
        return []

    @property
    def quality_keys(self) -> tuple[str, ...]:
        """The JSON keys of :attr:`figures`, in order."""
        return tuple(f.key for f in self.figures)

    def bench_request(self, pair: tuple[int, int], steps: int | None, seed: int, backend: str, threads: int | None):
        """The :class:`Request` the bench builds each case with."""
        return Request(pair[0], pair[0], pair[1], steps, seed, backend, threads)

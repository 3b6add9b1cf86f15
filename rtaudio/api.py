"""The embedding API: ``rtaudio.open(task) -> Processor``."""

from __future__ import annotations

from typing import Any

from rtaudio.engine.processor import Processor
from rtaudio.engine.stream import StreamProcessor
from rtaudio.registry import Plan, build_plan

__all__ = ["Engine", "open", "processor_for"]

#: chunking of window kernels whose card says nothing (baselines: tiny context, so latency is chunk + crossfade)
BASELINE_CHUNK_MS = 20.0
BASELINE_CROSSFADE_MS = 5.0
#: chunks below this are refused: per-chunk overhead would dominate (and below one rate quantum
#: there is no chunk at all)
MIN_CHUNK_MS = 2.0
MAX_CHUNK_MS = 60_000.0

#: what :func:`open` returns: both schedulers share one interface
Engine = Processor | StreamProcessor


def processor_for(
    plan: Plan,
    channels: int = 1,
    chunk_ms: float | None = None,
    crossfade_ms: float | None = None,
) -> Engine:
    """The engine for a plan: a :class:`StreamProcessor` for a stream kernel, else a :class:`Processor`.

    ``chunk_ms``/``crossfade_ms`` set a window kernel's chunking (default: the card's, else
    20/5 ms); a stream kernel's hop is fixed by the kernel (``--hop-ms`` for the upsampler).
    """
    if chunk_ms is not None and not MIN_CHUNK_MS <= chunk_ms <= MAX_CHUNK_MS:
        raise ValueError(
            f"--chunk-ms {chunk_ms:g} is outside the usable range {MIN_CHUNK_MS:g}..{MAX_CHUNK_MS:g} ms "
            "(shorter chunks cost more in per-chunk overhead than they save in latency)"
        )
    if plan.streaming:
        return StreamProcessor(plan.kernel, channels=channels)
    chunk_ms = float(chunk_ms if chunk_ms is not None else plan.chunk_ms or BASELINE_CHUNK_MS)
    if crossfade_ms is None:
        crossfade_ms = float(plan.crossfade_ms if plan.crossfade_ms is not None else BASELINE_CROSSFADE_MS)
    if crossfade_ms < 0:
        raise ValueError("crossfade must not be negative")
    crossfade_ms = min(crossfade_ms, chunk_ms)
    rate = plan.source_rate
    return Processor(
        plan.kernel,
        channels=channels,
        chunk=max(1, round(chunk_ms * 1e-3 * rate)),
        crossfade=round(crossfade_ms * 1e-3 * rate),
    )


def open(  # noqa: A001 - mirrors the built-in's role: rtaudio.open(...) gives a stream
    task: str = "upsample",
    model: str | None = None,
    rate: int = 16000,
    *,
    in_rate: int | None = None,
    out_rate: int | None = None,
    channels: int = 1,
    chunk_ms: float | None = None,
    crossfade_ms: float | None = None,
    steps: int | None = None,
    seed: int = 0,
    backend: str = "cpu",
    threads: int | None = None,
    mel_input: bool = False,
    options: dict[str, Any] | None = None,
) -> Engine:
    """Open a streaming processor for a host (plugin, DAW bridge, script).

    ``p.process(block)`` takes blocks of any size (1 to 8192 frames is the plugin range,
    but minutes work too), ``(frames,)`` for mono or ``(frames, channels)``, at ``rate``,
    and returns the float32 output frames now due at ``p.out_rate``. Output trails input
    by exactly ``p.latency_samples`` output samples (report it to the host for delay
    compensation); the first ``latency_samples`` worth of calls return less audio, and
    ``p.flush()`` returns the tail. ``p.reset()`` starts a new stream. The output does
    not depend on how the input is cut into blocks.

    Thread-safety: a Processor is not thread-safe; call it from one thread at a time,
    and never from a real-time audio callback (it runs the model). Create one per stream.

    Parameters
    ----------
    task
        A registered task (``rtaudio.registry.TASKS``): ``"upsample"``, ``"vocode"`` (audio ->
        log-mel -> audio at the vocoder's rate), ...
    model
        Shipped model name, ``"sinc"``, ``"linear"``, or a path to an ``.onnx`` with its
        card beside it. Default: the task's shipped default for ``in_rate``.
    rate
        Sample rate of the blocks you will feed.
    in_rate
        Bandwidth of the material as a rate (16000 for 16 kHz audio stored at 48 kHz).
    out_rate
        Output rate; default the model's native rate.
    channels
        Channels per frame.
    chunk_ms, crossfade_ms
        Chunk and crossfade length of a window kernel; defaults from the model card. Latency
        grows with both. A stream kernel (the shipped upsampler at its native rates) has a
        fixed hop instead and ignores them.
    steps, seed
        Diffusion steps (default: the card's) and the noise seed.
    backend, threads
        ``"cpu"``, ``"cuda"`` or ``"tensorrt"`` (ONNX Runtime providers); intra-op threads.
    mel_input
        ``"vocode"`` only: feed log-mel frames ``(frames, n_mels)`` at the model's frame rate
        (format in :mod:`rtaudio.tasks.mel`) instead of audio; ``rate`` and ``channels`` are
        then taken from the model card.
    options
        The task's own options by name (e.g. ``{"hop_ms": 10}`` for the upsampler).
    """
    kind = "mel" if mel_input else "audio"
    plan = build_plan(task, model, rate, in_rate, out_rate, steps, seed, backend, threads, options, kind)
    if mel_input:
        channels = int(plan.model.card["mel"]["n_mels"])
    return processor_for(plan, channels, chunk_ms, crossfade_ms)

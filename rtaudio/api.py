"""The embedding API: ``rtaudio.open(task) -> Processor``."""

from __future__ import annotations

from rtaudio.engine.processor import Processor
from rtaudio.registry import KernelPlan, build_kernel

#: chunking of the baselines (their context is tiny, so latency is chunk + crossfade)
BASELINE_CHUNK_MS = 20.0
BASELINE_CROSSFADE_MS = 5.0


def processor_for(
    plan: KernelPlan,
    channels: int = 1,
    chunk_ms: float | None = None,
    crossfade_ms: float | None = None,
) -> Processor:
    """Wrap a planned kernel in a :class:`Processor` with the model's default chunking."""
    card = plan.model.card
    if chunk_ms is None:
        # A card may set a longer chunk for a pair whose context is long relative to its rate
        # (8 -> 16 kHz), trading latency for real-time headroom.
        by_pair = card.get("chunk_ms_by_pair", {}).get(f"{plan.band_rate}->{plan.out_rate}")
        chunk_ms = float(by_pair if by_pair is not None else card.get("chunk_ms", BASELINE_CHUNK_MS))
    if crossfade_ms is None:
        crossfade_ms = float(card.get("crossfade_ms", BASELINE_CROSSFADE_MS))
    if not 0 < chunk_ms <= 60_000:
        raise ValueError(f"chunk of {chunk_ms} ms is outside (0, 60000] ms")
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
) -> Processor:
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
        ``"upsample"`` or ``"vocode"`` (audio -> log-mel -> audio at the vocoder's rate).
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
        Chunk and crossfade length; defaults from the model card. Latency grows with both.
    steps, seed
        Diffusion steps (default: the card's) and the noise seed.
    backend, threads
        ``"cpu"`` (ONNX Runtime), ``"cuda"``, ``"tensorrt"`` or ``"torch"``; intra-op threads.
    mel_input
        ``"vocode"`` only: feed log-mel frames ``(frames, n_mels)`` at the model's frame rate
        (format in :mod:`rtaudio.tasks.mel`) instead of audio; ``rate`` and ``channels`` are
        then taken from the model card.
    """
    plan = build_kernel(task, model, rate, in_rate, out_rate, steps, seed, backend, threads, mel_input=mel_input)
    if mel_input:
        channels = int(plan.model.card["mel"]["n_mels"])
    return processor_for(plan, channels, chunk_ms, crossfade_ms)

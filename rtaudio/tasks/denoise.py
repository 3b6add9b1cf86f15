"""The denoise task: speech enhancement by a streaming STFT-gain GRU (GAN-trained, SEGAN lineage).

The shipped model (``rtaudio/models/denoise16k.onnx``) is one *step graph*: it takes one hop of
new samples per channel and its state tensors, and returns the enhanced hop and the new state
(the analysis frame's history, the causal conv's feature history, the GRU hidden state, the
overlap-add tail and, for a deep-filtering model, the low bins of the last noisy frames; the
card's ``state_shapes`` names them, in the graph's input order). :class:`DenoiseKernel`
carries that state between hops: a :class:`~rtaudio.engine.contracts.StreamKernel` with
``hop`` = the STFT hop and ``delay`` = the frame's lookback (``n_fft - hop``), nothing
recomputed. Channels are independent and run as one batch (stereo keeps its channels).

``mix`` blends the enhanced signal with the input delayed by exactly the kernel's delay, so dry
and wet line up sample for sample (``mix=0`` is the delayed input, bit for bit);
``atten_limit_db`` is the same knob as an attenuation limit (the noise floor is lowered by at
most that many dB, DeepFilterNet's ``--atten-lim``).

The whole-signal reference (``--offline``) is :class:`~rtaudio.engine.stream.WholeStream`: a
fresh stream over the whole window, delay removed. It is exact for a whole signal (what
``--offline`` and the parity checks use); the recurrent state makes it only approximately chunkable.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rtaudio.backends import open_model
from rtaudio.cards import load_card
from rtaudio.engine.rate_stream import at_rates
from rtaudio.engine.stream import WholeStream
from rtaudio.tasks.task import BenchClip, BenchPeer, Figure, ModelError, ModelInfo, Plan, Request, Task, check_rate

#: the step graph's state inputs every model has (output names: ``y`` and each state with
#: ``_in`` -> ``_out``); a model may carry more, listed after these in its card's ``state_shapes``
STATE_INPUTS = ("frame_in", "feat_in", "hidden_in", "ola_in")
#: card fields the kernel reads, with their types
CARD_FIELDS = {"model_rate": int, "hop": int, "delay": int, "state_shapes": dict}
#: the model's rate when no card says
MODEL_RATE = 16000
#: half-length of the resampling filters, in model samples (each filter's lookahead: 1.5 ms at 16 kHz)
RESAMPLE_HALF = 24


def _whole(stream: Any) -> WholeStream:
    """The whole-signal reference (``--offline``) of a denoising stream; chunked with one second of
    context it is close, not exact (the GRU forgets in well under a second)."""
    return WholeStream(stream, context_in=stream.in_rate)


def mix_for_limit(atten_limit_db: float | None) -> float:
    """The dry/wet mix that lowers a stationary noise floor by at most ``atten_limit_db`` dB."""
    if atten_limit_db is None or math.isinf(atten_limit_db):
        return 1.0
    if atten_limit_db < 0:
        raise ModelError(f"--atten-limit {atten_limit_db} dB must be >= 0")
    return 1.0 - 10 ** (-atten_limit_db / 20)


class DenoiseKernel:
    """Stream kernel around the step graph (see the module docstring).

    Parameters
    ----------
    model_path
        The ``.onnx`` step graph; its card (beside it) is loaded and sha256-checked.
    mix
        Wet share in [0, 1]: ``out = mix * enhanced + (1 - mix) * delayed input``.
    backend, threads
        ONNX Runtime provider and intra-op threads.
    """

    def __init__(self, model_path: Path, mix: float = 1.0, backend: str = "cpu", threads: int | None = None) -> None:
        if not 0.0 <= mix <= 1.0:
            raise ModelError(f"--mix {mix} must be between 0 and 1")
        self.card = load_card(Path(model_path), "denoise", CARD_FIELDS)
        self.in_rate = self.out_rate = int(self.card["model_rate"])
        self.hop = int(self.card["hop"])
        self.delay = int(self.card["delay"])
        self.mix = float(mix)
        self._shapes = {k: tuple(v) for k, v in self.card["state_shapes"].items()}
        missing = [s for s in STATE_INPUTS if s not in self._shapes]
        if missing:
            raise ModelError(f"{model_path}: card state_shapes lacks {', '.join(missing)}")
        self._names = tuple(self._shapes)
        outputs = ("y", *(s.replace("_in", "_out") for s in self._names))
        self.model = open_model(model_path, backend, threads, inputs=("x", *self._names), outputs=outputs)
        self.reset()

    def reset(self) -> None:
        self._state: dict[str, np.ndarray] | None = None
        self._dry: np.ndarray | None = None

    def _start(self, channels: int) -> None:
        # "C" marks the channel axis of each state shape in the card
        self._state = {
            name: np.zeros([channels if d == "C" else int(d) for d in self._shapes[name]], np.float32)
            for name in self._names
        }
        self._dry = np.zeros((channels, self.delay + self.hop), np.float32)

    def process(self, block: np.ndarray) -> np.ndarray:
        block = np.ascontiguousarray(block, dtype=np.float32)
        if self._state is None:
            self._start(block.shape[0])
        # dry path: the input delayed by exactly ``delay`` samples (a shift register of delay + hop)
        self._dry[:, self.delay :] = block
        dry = self._dry[:, : self.hop].copy()
        self._dry[:, : self.delay] = self._dry[:, self.hop :]
        if self.mix == 0.0:
            return dry
        out = self.model.run({"x": block, **self._state})
        self._state = {name: out[name.replace("_in", "_out")] for name in self._names}
        wet = out["y"]
        if self.mix == 1.0:
            return wet
        return (self.mix * wet + (1.0 - self.mix) * dry).astype(np.float32)


class FullBandMix:
    """``mix * stream + (1 - mix) * source`` for a stream whose rates in and out are equal: the dry
    path is the source itself (full band, above the model's), delayed by the stream's delay."""

    def __init__(self, stream: Any, mix: float) -> None:
        if stream.in_rate != stream.out_rate:
            raise ValueError("a full-band dry path needs equal rates in and out")
        self.stream, self.mix = stream, float(mix)
        self.in_rate = self.out_rate = stream.in_rate
        self.hop, self.delay = stream.hop, stream.delay
        self.reset()

    def reset(self) -> None:
        self.stream.reset()
        self._dry: np.ndarray | None = None

    def process(self, block: np.ndarray) -> np.ndarray:
        block = np.ascontiguousarray(block, dtype=np.float32)
        wet = self.stream.process(block)
        if self._dry is None:
            self._dry = np.zeros((block.shape[0], self.delay + self.hop), np.float32)
        self._dry[:, self.delay :] = block
        dry = self._dry[:, : self.hop].copy()
        self._dry[:, : self.delay] = self._dry[:, self.hop :]
        return (self.mix * wet + (1.0 - self.mix) * dry).astype(np.float32)


class _Blend:
    """Window-kernel twin of a full-band dry/wet mix: ``mix * kernel + (1 - mix) * input``."""

    def __init__(self, kernel: Any, mix: float) -> None:
        self.kernel, self.mix = kernel, mix
        self.in_rate, self.out_rate = kernel.in_rate, kernel.out_rate
        self.context_in, self.quantum_in = kernel.context_in, kernel.quantum_in

    def run(self, window: np.ndarray, start: int) -> np.ndarray:
        return (self.mix * self.kernel.run(window, start) + (1.0 - self.mix) * window).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# Quality figures (DESIGN.md: PESQ-wb, STOI, SI-SDR against the clean reference)
# ---------------------------------------------------------------------------------------------


def si_sdr(ref: np.ndarray, est: np.ndarray) -> float:
    """Scale-invariant SDR in dB (mean-removed; the longer signal is cut to the shorter)."""
    n = min(len(ref), len(est))
    r = np.asarray(ref[:n], np.float64) - np.mean(ref[:n])
    e = np.asarray(est[:n], np.float64) - np.mean(est[:n])
    target = np.dot(e, r) / max(np.dot(r, r), 1e-20) * r
    return float(10 * np.log10(np.sum(target**2) / max(np.sum((e - target) ** 2), 1e-20)))


def stoi(ref: np.ndarray, est: np.ndarray, rate: int) -> float | None:
    """STOI (``pystoi``; ``None`` when it is not installed)."""
    try:
        from pystoi import stoi as _stoi
    except ImportError:
        return None
    n = min(len(ref), len(est))
    return float(_stoi(np.asarray(ref[:n], np.float64), np.asarray(est[:n], np.float64), rate, extended=False))


def quality(ref: np.ndarray, est: np.ndarray, rate: int) -> dict[str, float | None]:
    """PESQ-wb, STOI and SI-SDR of one output against its clean reference."""
    try:
        from rtaudio.metrics_vocode import pesq_wb

        p: float | None = pesq_wb(ref, est, rate)
    except ImportError:
        p = None
    return {"pesq_wb": p, "stoi": stoi(ref, est, rate), "si_sdr": si_sdr(ref, est)}


# ---------------------------------------------------------------------------------------------
# The task
# ---------------------------------------------------------------------------------------------


def bench_dir() -> Path:
    """Shipped held-out noisy/clean pairs (``NAME_noisy.flac`` / ``NAME_clean.flac``, 16 kHz)."""
    from importlib import resources

    return Path(str(resources.files("rtaudio") / "assets" / "denoise"))


def bench_pairs_from(folder: Path, count: int | None = None, seconds: float | None = None) -> list[BenchClip]:
    """The noisy/clean pairs in ``folder`` as bench clips (noisy fed, clean the reference)."""
    import soundfile as sf

    clips = []
    for noisy_path in sorted(folder.glob("*_noisy.flac"))[:count]:
        name = noisy_path.name[: -len("_noisy.flac")]
        noisy, rate = sf.read(noisy_path, dtype="float32")
        clean, _ = sf.read(folder / f"{name}_clean.flac", dtype="float32")
        if seconds is not None:
            noisy, clean = noisy[: int(seconds * rate)], clean[: int(seconds * rate)]
        clips.append(BenchClip(name, noisy, clean, group="noisy speech"))
    if not clips:
        raise ModelError(f"no denoise bench clips in {folder}")
    return clips


class DenoiseTask(Task):
    """``--task denoise``: noisy speech in, enhanced speech out (16 kHz model; stereo channel by channel)."""

    name = "denoise"
    summary = "remove noise from speech (streaming GAN-trained STFT-gain GRU, 32 ms latency at 16 kHz)"
    figures = (
        Figure("pesq_wb", "PESQ wb", ".2f", higher_is_better=True, plot=True),
        Figure("stoi", "STOI", ".3f", higher_is_better=True),
        Figure("si_sdr", "SI-SDR dB", ".2f", higher_is_better=True, plot=True),
    )
    card_fields = CARD_FIELDS

    def build(self, model: ModelInfo, request: Request) -> Plan:
        if model.is_baseline:
            raise ModelError(f"{model.name} is not a denoiser")
        source_rate = check_rate(request.source_rate, "source rate")
        opts = request.options
        mix = opts.get("mix")
        limit = opts.get("atten_limit")
        if mix is not None and limit is not None:
            raise ModelError("give --mix or --atten-limit, not both")
        mix = mix_for_limit(limit) if mix is None else float(mix)
        rate = int(model.card.get("model_rate", MODEL_RATE))
        out_rate = check_rate(request.out_rate or source_rate, "output rate")
        notes: list[str] = []
        from rtaudio.tasks.resample import adapt

        native = source_rate == rate and out_rate == rate
        full_band_dry = not native and source_rate == out_rate and mix != 1.0
        inner_mix = 1.0 if full_band_dry else mix

        def kernel() -> DenoiseKernel:
            return DenoiseKernel(model.path, inner_mix, request.backend, request.threads)

        # the whole-signal reference: a fresh stream over the whole input (its own kernel: no shared state)
        reference: Any = adapt(_whole(kernel()), source_rate, out_rate)
        if native:
            stream: Any = kernel()
        else:
            # 32/48 kHz: 2x/3x FIRs; any other rate (44.1 kHz): polyphase FIRs of the same length
            stream = at_rates(kernel(), source_rate, out_rate, RESAMPLE_HALF)
            reference = _whole(at_rates(kernel(), source_rate, out_rate, RESAMPLE_HALF))
        if full_band_dry:
            stream = FullBandMix(stream, mix)
            reference = _Blend(reference, mix)
        if not native:
            notes.append(
                f"the model runs at {rate} Hz: {source_rate} Hz input is resampled to it and back (output band "
                f"{rate // 2000} kHz{', dry path full band' if full_band_dry else ''}; latency "
                f"{1000 * (stream.hop + stream.delay * source_rate / out_rate) / source_rate:.1f} ms)"
            )
        return Plan(
            stream,
            reference,
            model,
            self,
            source_rate,
            source_rate,
            out_rate,
            notes=tuple(notes),
            chunk_ms=model.card.get("chunk_ms"),
            crossfade_ms=model.card.get("crossfade_ms"),
        )

    def describe_rates(self, plan: Plan) -> str:
        return f"{plan.source_rate} -> {plan.out_rate} Hz (model at {MODEL_RATE} Hz)"

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        group = parser.add_argument_group("denoise")
        group.add_argument(
            "--mix",
            type=float,
            default=None,
            metavar="WET",
            help="dry/wet: 1 = fully denoised (default), 0 = the input (delayed by the model's latency)",
        )
        group.add_argument(
            "--atten-limit",
            type=float,
            default=None,
            metavar="DB",
            help="lower the noise by at most this many dB (the dry/wet mix that keeps the rest)",
        )

    def option_names(self) -> tuple[str, ...]:
        return ("mix", "atten_limit")

    # -- bench --------------------------------------------------------------------------
    def bench_pairs(self, models: Sequence[ModelInfo]) -> list[tuple[int, int]]:
        return [(MODEL_RATE, MODEL_RATE)]

    def bench_clips(self, pair, count, seconds):
        return bench_pairs_from(bench_dir(), count, seconds)

    def quality(
        self, clip: BenchClip, estimate: np.ndarray, pair: tuple[int, int], model: ModelInfo
    ) -> dict[str, float | None]:
        return quality(clip.reference, estimate, pair[1])

    def bench_peers(self, clips: Sequence[BenchClip], pair: tuple[int, int]) -> list[BenchPeer]:
        """The noisy input itself, RNNoise and DeepFilterNet3 (the ``peers`` extra); each peer runs a
        whole clip as one stream (its own state, its delay, measured on a clean clip, removed)."""
        from rtaudio.peers import PEERS, load_peer

        peers = [BenchPeer("noisy input", lambda x, rate: x, is_input=True)]
        for name in PEERS:
            peer = load_peer(name, (clips[0].reference, pair[0]))
            if isinstance(peer, str):
                peers.append(BenchPeer(name, None, unavailable=peer))
            else:
                peers.append(BenchPeer(name, peer, round(peer.live_latency_ms, 1), peer.version))
        return peers


DENOISE = DenoiseTask()

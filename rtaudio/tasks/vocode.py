"""Vocoder chunk kernels (numpy + onnxruntime): ``--task vocode``.

Two ways in, one synthesis:

- :class:`AudioVocodeKernel`: audio -> log-mel analysis (:mod:`rtaudio.tasks.mel`) ->
  resynthesis, at the vocoder's rate (the registry resamples other sources), which is how
  users judge a vocoder;
- :class:`MelVocodeKernel`: mel frames (channels = ``n_mels`` at the frame rate, e.g. from a
  ``.npy`` written by a TTS front end) -> one waveform channel.

Synthesis runs the shipped network's one-shot predictor (per-frame log magnitude and phase),
turns it into a waveform with the card's ``phase_retrieval`` (``"mel"``:
:func:`rtaudio.tasks.spectral.mel_griffin_lim`, which holds the result to the input mel, with
``phase_momentum``; ``"griffin-lim"``: to the predicted magnitude) over ``phase_iters`` iterations, started from
the card's ``phase_init`` (the predicted phase, or a random phase keyed to frame positions),
then runs ``steps`` WaveGrad refiner steps on its scaled residual (``steps = 0``: the
predictor alone). Diffusion noise is keyed
to absolute output-sample positions (:func:`rtaudio.engine.noise.position_noise`), so
overlapping chunks denoise the same realisation and streamed output converges to offline.

The ONNX graph holds both networks: inputs ``pred_mel`` -> ``logmag``, ``phase`` (the predictor),
and ``x_t``, ``cond``, ``mel``, ``level`` -> ``eps`` (the refiner's noise estimate). ONNX
Runtime runs every node of a graph, so the half not needed by a call gets a one-frame input.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rtaudio.backends import open_model
from rtaudio.cards import load_card
from rtaudio.engine.noise import position_noise
from rtaudio.tasks.mel import MelSpec, log_mel, mel_bands
from rtaudio.tasks.resample import adapt
from rtaudio.tasks.spectral import PREDICTOR_GAIN, griffin_lim, mel_griffin_lim
from rtaudio.tasks.task import BenchClip, Figure, ModelError, ModelInfo, Plan, Request, Task, check_rate

#: Streams of position_noise per channel: channel * 64 + k; the sampler uses k = 0 (start
#: state) and k >= 1 (step noise), the random starting phase k = 62, 63 (real, imaginary).
_NOISE_STREAMS_PER_CHANNEL = 64
_PHASE_STREAM = 62
#: Phase retrievals a card may name (``"phase_retrieval"``) and starting phases (``"phase_init"``)
PHASE_RETRIEVALS = ("griffin-lim", "mel")
PHASE_INITS = ("predicted", "random")
#: the two synthesis paths (``--synthesis``; the card's ``synthesis_default``)
SYNTHESES = ("streaming", "window")
#: a vocoder's rate when no card says (WaveGrad's)
DEFAULT_RATE = 24000
#: card fields the vocoder reads, with their types
CARD_FIELDS = {
    "mel": dict,
    "mel.n_mels": int,
    "mel.hop": int,
    "mel.sample_rate": int,
    "steps_default": int,
    "schedules": dict,
    "context_frames": int,
}


def levels(betas: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """alpha_t and sqrt(alpha_bar_t) of a schedule (float64)."""
    alpha = 1.0 - np.asarray(betas, dtype=np.float64)
    return alpha, np.sqrt(np.cumprod(alpha))


def predicted_waveform(
    magnitude: np.ndarray,
    start_phase: np.ndarray,
    mel: np.ndarray,
    spec: MelSpec,
    iters: int,
    retrieval: str,
    momentum: float = 0.0,
) -> np.ndarray:
    """The predictor's waveform: phase retrieval from ``magnitude`` ``(..., frames, bins)`` (an
    STFT magnitude) and ``start_phase``, held to the log-mel ``mel`` ``(..., n_mels, frames)``
    (``retrieval="mel"``, with ``momentum``) or to ``magnitude`` (``"griffin-lim"``). Training
    builds the refiner's input with this same function."""
    if retrieval == "mel":
        target = np.exp(mel.astype(np.float64)).swapaxes(-1, -2)
        return mel_griffin_lim(magnitude, start_phase, target, mel_bands(spec), spec.hop, iters, momentum)
    return griffin_lim(magnitude, start_phase, spec.hop, iters)


def random_phase(seed: int, batch: int, start: int, frames: int, bins: int) -> np.ndarray:
    """Uniform phases ``(batch, frames, bins)`` for absolute frames ``start...``, keyed to position.

    Overlapping windows (and a stream, frame by frame) draw the same phase for the same frame
    and bin, so phase retrieval started from it gives the same answer wherever a window begins.
    """
    n, first = frames * bins, start * bins
    out = np.empty((batch, frames, bins))
    for c in range(batch):
        stream = c * _NOISE_STREAMS_PER_CHANNEL + _PHASE_STREAM
        re = position_noise(seed, stream, first, n)
        im = position_noise(seed, stream + 1, first, n)
        out[c] = np.arctan2(im, re).reshape(frames, bins)
    return out


class Vocoder:
    """The network behind both kernels: mel frames -> waveform at ``sample_rate``.

    Parameters
    ----------
    model_path
        ``.onnx`` with its card (``.json``) beside it.
    steps
        Refiner steps; ``None`` takes the card's ``steps_default``. The card lists the
        schedules it has (0, 2, 4, 6, 8 for the shipped model).
    seed
        Noise seed: output is a pure function of (mel, position, seed, steps).
    backend, threads
        ONNX Runtime provider (``"cpu"``, ``"cuda"``, ``"tensorrt"``) and intra-op threads.
    betas
        A schedule to use instead of the card's (the schedule search's candidates).
    phase_iters, phase_retrieval, phase_init
        Phase retrieval of the predictor's synthesis (iterations, ``"mel"`` or
        ``"griffin-lim"``, ``"random"`` or ``"predicted"`` start); ``None`` takes the card's.
    """

    def __init__(
        self,
        model_path: str | Path,
        steps: int | None = None,
        seed: int = 0,
        backend: str = "cpu",
        threads: int | None = None,
        betas: list[float] | None = None,
        phase_iters: int | None = None,
        phase_retrieval: str | None = None,
        phase_init: str | None = None,
    ) -> None:
        path = Path(model_path)
        self.card = load_card(path, "vocode", CARD_FIELDS)
        self.network = open_model(path, backend, threads, inputs=("x_t", "mel", "level"), outputs=("eps",))
        self.spec = MelSpec(**self.card["mel"])
        self.hop = self.spec.hop
        self.has_predictor = bool(self.card.get("predictor", True))
        self.residual_scale = float(self.card.get("residual_scale", 1.0))
        if betas is None:
            steps = int(self.card["steps_default"] if steps is None else steps)
            schedules = self.card["schedules"]
            if str(steps) not in schedules:
                raise ValueError(f"no {steps}-step schedule; the card has {sorted(schedules, key=int)} steps")
            betas = schedules[str(steps)]
        self.betas = [float(b) for b in betas]
        self.steps = len(self.betas)
        if self.steps == 0 and not self.has_predictor:
            raise ValueError("a plain WaveGrad model needs at least one step")
        self.seed = int(seed)
        self.phase_iters = int(self.card.get("phase_iters", 0) if phase_iters is None else phase_iters)
        self.phase_retrieval = str(phase_retrieval or self.card.get("phase_retrieval", "griffin-lim"))
        self.phase_init = str(phase_init or self.card.get("phase_init", "predicted"))
        self.phase_momentum = float(self.card.get("phase_momentum", 0.0))
        if self.phase_retrieval not in PHASE_RETRIEVALS or self.phase_init not in PHASE_INITS:
            raise ValueError(f"unknown phase retrieval or start: {self.phase_retrieval}, {self.phase_init}")
        if self.phase_retrieval == "mel" and self.spec.n_fft != 4 * self.hop:
            raise ValueError("mel phase retrieval needs the synthesis frame (4 hops) to be the mel's n_fft")
        self.context_frames = int(self.card["context_frames"])
        #: context that phase retrieval needs (less than the predictor's network), and the refiner
        self.synthesis_context_frames = int(self.card.get("synthesis_context_frames", self.context_frames))
        self.refiner_context_frames = int(self.card.get("refiner_context_frames", self.synthesis_context_frames))

    def _run(self, pred_mel: np.ndarray, x_t: np.ndarray, cond: np.ndarray, mel: np.ndarray, level: np.ndarray):
        feeds = {"x_t": x_t, "mel": mel, "level": level}
        if self.has_predictor:
            feeds |= {"pred_mel": pred_mel, "cond": cond}
        return list(self.network.run(feeds).values())

    def synthesize(self, mel: np.ndarray, start: int, context: int = 0) -> np.ndarray:
        """Waveforms for ``mel`` ``(batch, n_mels, frames)`` whose frame 0 is absolute frame ``start``.

        ``context`` frames at each end are context that the caller discards. The predictor's
        network runs on every frame (its receptive field needs them); phase retrieval keeps
        ``synthesis_context_frames`` of them and the refiner, whose reach is shorter still,
        ``refiner_context_frames``; the rest stay zero: most of the streaming overhead saved.
        Returns float32 ``(batch, frames * hop)``.
        """
        mel = np.ascontiguousarray(mel, dtype=np.float32)
        b, n_mels, frames = mel.shape
        out = np.zeros((b, frames * self.hop), np.float32)
        lo = max(0, min(context - self.synthesis_context_frames, frames // 2))
        hi = frames - lo
        if hi <= lo:
            return out
        if self.has_predictor:
            tiny_mel = np.zeros((b, n_mels, 1), np.float32)
            tiny_wave = np.zeros((b, 1, self.hop), np.float32)
            logmag, phase = self._run(mel, tiny_wave, tiny_wave, tiny_mel, np.ones(b, np.float32))[:2]
            magnitude = np.exp(logmag[:, :, lo:hi].astype(np.float64)).transpose(0, 2, 1) * PREDICTOR_GAIN
            if self.phase_init == "random":
                start_phase = self.random_phase(b, start + lo, hi - lo, magnitude.shape[-1])
            else:
                start_phase = phase[:, :, lo:hi].transpose(0, 2, 1)
            y = predicted_waveform(
                magnitude,
                start_phase,
                mel[:, :, lo:hi],
                self.spec,
                self.phase_iters,
                self.phase_retrieval,
                self.phase_momentum,
            )
        else:
            y = np.zeros((b, (hi - lo) * self.hop), np.float32)
        out[:, lo * self.hop : hi * self.hop] = y
        if self.betas:
            r_lo = max(lo, min(context - self.refiner_context_frames, frames // 2))
            r_hi = frames - r_lo
            y0 = out[:, None, r_lo * self.hop : r_hi * self.hop]
            residual = self._refine(y0, np.ascontiguousarray(mel[:, :, r_lo:r_hi]), start + r_lo)
            out[:, r_lo * self.hop : r_hi * self.hop] += residual
        return out

    def random_phase(self, batch: int, start: int, frames: int, bins: int) -> np.ndarray:
        """:func:`random_phase` under this vocoder's seed."""
        return random_phase(self.seed, batch, start, frames, bins)

    def _refine(self, y0: np.ndarray, mel: np.ndarray, start: int) -> np.ndarray:
        """The sampler: residual ``(batch, n)`` for prediction ``y0`` ``(batch, 1, n)``."""
        b, _, n = y0.shape
        a0 = start * self.hop
        tiny_mel = np.zeros((b, mel.shape[1], 1), np.float32)
        streams = [c * _NOISE_STREAMS_PER_CHANNEL for c in range(b)]
        alpha, level = levels(self.betas)
        # A refiner starts at its last noise level around the prediction (residual 0), so few
        # steps start close to the answer; plain WaveGrad starts from unit noise, as published.
        start_std = math.sqrt(1.0 - level[-1] ** 2) if self.has_predictor else 1.0
        x = np.stack([position_noise(self.seed, s, a0, n) for s in streams])[:, None] * start_std
        x = x.astype(np.float64)
        for t in range(len(self.betas) - 1, -1, -1):
            lv = np.full(b, level[t], np.float32)
            eps = self._run(tiny_mel, x.astype(np.float32), y0, mel, lv)[-1].astype(np.float64)
            # WaveGrad's ancestral step, with the noise level the network was told
            x = (x - (1.0 - alpha[t]) / math.sqrt(1.0 - level[t] ** 2) * eps) / math.sqrt(alpha[t])
            if t > 0:
                sigma = math.sqrt((1.0 - level[t - 1] ** 2) / (1.0 - level[t] ** 2) * (1.0 - alpha[t]))
                z = np.stack([position_noise(self.seed, s + t, a0, n) for s in streams])[:, None]
                x += sigma * z
        return (x[:, 0] / self.residual_scale).astype(np.float32)


class MelVocodeKernel:
    """Mel frames in (``n_mels`` channels at the frame rate), one waveform channel out.

    The engine hands windows of whole frames; the frame rate must be a whole number of Hz
    (80 for the shipped model: 24 kHz / hop 300).
    """

    quantum_in = 1
    out_channels = 1

    def __init__(self, model_path: str | Path, **kwargs) -> None:
        self.vocoder = Vocoder(model_path, **kwargs)
        self.name = self.vocoder.card.get("name", Path(model_path).stem)
        spec = self.vocoder.spec
        if spec.sample_rate % spec.hop:
            raise ValueError(f"frame rate {spec.frame_rate} Hz is not whole; the engine needs integer rates")
        self.in_rate = spec.sample_rate // spec.hop
        self.out_rate = spec.sample_rate
        self.n_mels = spec.n_mels
        self.context_in = self.vocoder.context_frames

    def run(self, window: np.ndarray, start: int) -> np.ndarray:
        if window.shape[0] != self.n_mels:
            raise ValueError(f"expected {self.n_mels} mel bands as channels, got {window.shape[0]}")
        # The engine pads before and after the stream with zeros, which in log-mel is a loud
        # flat frame; real frames are never exactly all zero, so those become silence.
        mel = np.where((window == 0).all(axis=0), np.float32(np.log(self.vocoder.spec.log_floor)), window)
        return self.vocoder.synthesize(mel[None], start, self.context_in)


class AudioVocodeKernel:
    """Audio in, resynthesised audio out, at the vocoder's rate; channels are independent.

    Windows are whole hops starting on the absolute hop grid, so every frame is the frame
    whole-signal analysis would compute; ``context_in`` adds the STFT's half window to the
    network's context.
    """

    def __init__(self, model_path: str | Path, **kwargs) -> None:
        self.vocoder = Vocoder(model_path, **kwargs)
        self.name = self.vocoder.card.get("name", Path(model_path).stem)
        spec = self.vocoder.spec
        self.in_rate = self.out_rate = spec.sample_rate
        self.quantum_in = spec.hop
        self.context_in = (self.vocoder.context_frames + -(-spec.n_fft // 2 // spec.hop)) * spec.hop

    def run(self, window: np.ndarray, start: int) -> np.ndarray:
        spec = self.vocoder.spec
        mel = np.stack([log_mel(ch, spec).T for ch in window])  # (channels, n_mels, frames)
        return self.vocoder.synthesize(mel, start // spec.hop, self.context_in // spec.hop)


class VocodeTask(Task):
    """``--task vocode``: audio -> log-mel -> waveform (or ``.npy`` mel frames -> waveform)."""

    name = "vocode"
    summary = "mel -> waveform (audio is analysed to log-mel and resynthesised; or .npy mel frames in)"
    figures = (
        Figure("lsd", "LSD"),
        Figure("mel_l1", "mel L1", plot=True),
        Figure("mrstft", "MR-STFT"),
        Figure("pesq_wb", "PESQ wb", ".2f", higher_is_better=True, plot=True),
    )
    card_fields = CARD_FIELDS

    def input_kind(self, path: str) -> str:
        return "mel" if path.lower().endswith(".npy") else "audio"

    def open_input(self, path: str, plan: Plan):
        from rtaudio.io.melfile import MelReader

        mel = plan.model.card["mel"]
        return MelReader(path, plan.source_rate, int(mel["n_mels"]), float(mel.get("log_floor", MelSpec.log_floor)))

    def build(self, model: ModelInfo, request: Request) -> Plan:
        if model.is_baseline:
            raise ModelError(f"{model.name} is not a vocoder")
        mel_input = request.input_kind == "mel"
        cls = MelVocodeKernel if mel_input else AudioVocodeKernel
        common = {"steps": request.steps, "seed": request.seed, "backend": request.backend, "threads": request.threads}
        inner = cls(model.path, **common)
        rate = inner.in_rate if mel_input else check_rate(request.source_rate, "source rate")
        out_rate = check_rate(request.out_rate or inner.out_rate, "output rate")
        stream, note = self._stream_kernel(model, request, inner.vocoder.steps, rate, out_rate, mel_input)
        kernel = adapt(inner, rate, out_rate)
        if stream is not None:
            from rtaudio.tasks.vocode_stream import WholeStream

            return Plan(stream, WholeStream(stream), model, self, rate, rate, out_rate, steps=0)
        return Plan(
            kernel,
            kernel,
            model,
            self,
            rate,
            rate,
            out_rate,
            steps=inner.vocoder.steps,
            notes=(note,) if note else (),
            chunk_ms=model.card.get("chunk_ms"),
            crossfade_ms=model.card.get("crossfade_ms"),
        )

    @staticmethod
    def _stream_kernel(model: ModelInfo, request: Request, steps: int, rate: int, out_rate: int, mel_input: bool):
        """The card's streaming phase retrieval (:mod:`rtaudio.tasks.vocode_stream`) when the
        request can use it, else ``None``; and a note when the user would have expected it."""
        card = model.card
        synthesis = request.options.get("synthesis") or card.get("synthesis_default", "window")
        if synthesis != "streaming":
            return None, None
        if "streaming_phase" not in card:
            return None, f"{model.name} has no streaming phase retrieval (card field streaming_phase): window path"
        if steps:
            return None, f"{steps} refiner steps need the window path ({card.get('latency_ms', '?')} ms latency)"
        from rtaudio.tasks.vocode_stream import stream_kernel

        return stream_kernel(card, rate, out_rate, mel_input, request.seed)

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        group = parser.add_argument_group("vocode")
        group.add_argument(
            "--synthesis",
            choices=SYNTHESES,
            default=None,
            help="streaming: frame-by-frame phase retrieval with a few frames of look-ahead (about 100 ms latency); "
            "window: whole-chunk phase retrieval and optional refiner steps (the card's latency_ms); "
            "default: the card's synthesis_default",
        )

    def option_names(self) -> tuple[str, ...]:
        return ("synthesis",)

    def describe_rates(self, plan: Plan) -> str:
        from rtaudio.tasks.vocode_stream import StreamingMelVocoder

        if isinstance(getattr(plan.kernel, "inner", plan.kernel), (MelVocodeKernel, StreamingMelVocoder)):
            n_mels = plan.model.card["mel"]["n_mels"]
            return f"{n_mels} mels at {plan.source_rate} frames/s -> {plan.out_rate} Hz"
        return f"{plan.source_rate} -> {plan.out_rate} Hz"

    # -- bench --------------------------------------------------------------------------
    def bench_pairs(self, models: Sequence[ModelInfo]) -> list[tuple[int, int]]:
        rates = {int(m.card["mel"]["sample_rate"]) for m in models if "mel" in m.card} or {DEFAULT_RATE}
        return [(rate, rate) for rate in sorted(rates)]

    def bench_clips(self, pair, count, seconds):
        from rtaudio.tasks.upsample import eval_clips

        return eval_clips(pair[0], pair[1], count, seconds)

    def quality(
        self, clip: BenchClip, estimate: np.ndarray, pair: tuple[int, int], model: ModelInfo
    ) -> dict[str, float | None]:
        from rtaudio import metrics, metrics_vocode

        try:
            pesq = metrics_vocode.pesq_wb(clip.reference, estimate, pair[1])
        except ImportError:  # the pesq package is a dev/bench extra, not a runtime dependency
            pesq = None
        return {
            "lsd": metrics.lsd(clip.reference, estimate),
            # one mel front end (the shipped default) for every model: a yardstick, not each model's own
            "mel_l1": metrics_vocode.log_mel_l1(clip.reference, estimate),
            "mrstft": metrics_vocode.mrstft_distance(clip.reference, estimate),
            "pesq_wb": pesq,
        }


VOCODE = VocodeTask()

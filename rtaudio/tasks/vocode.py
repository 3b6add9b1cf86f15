"""Vocoder chunk kernels (numpy + onnxruntime): ``--task vocode``.

Two ways in, one synthesis:

- :class:`AudioVocodeKernel`: audio -> log-mel analysis (:mod:`rtaudio.tasks.mel`) ->
  resynthesis, at the vocoder's rate (the registry resamples other sources), which is how
  users judge a vocoder;
- :class:`MelVocodeKernel`: mel frames (channels = ``n_mels`` at the frame rate, e.g. from a
  ``.npy`` written by a TTS front end) -> one waveform channel.

Synthesis runs the shipped network's one-shot predictor (per-frame log magnitude and phase,
turned into a waveform by :func:`rtaudio.tasks.spectral.griffin_lim` with the card's
``phase_iters`` iterations started from the predicted phase), then ``steps`` WaveGrad refiner
steps on its scaled residual (``steps = 0``: the predictor alone). Diffusion noise is keyed
to absolute output-sample positions (:func:`rtaudio.engine.noise.position_noise`), so
overlapping chunks denoise the same realisation and streamed output converges to offline.

The ONNX graph holds both networks: inputs ``pred_mel`` -> ``logmag``, ``phase`` (the predictor),
and ``x_t``, ``cond``, ``mel``, ``level`` -> ``eps`` (the refiner's noise estimate). ONNX
Runtime runs every node of a graph, so the half not needed by a call gets a one-frame input.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from rtaudio.backends import BackendUnavailable
from rtaudio.engine.noise import position_noise
from rtaudio.tasks.mel import MelSpec, log_mel
from rtaudio.tasks.spectral import PREDICTOR_GAIN, griffin_lim

#: Streams of position_noise used by the sampler: channel * 64 + k, k = 0 start state, k >= 1 step noise.
_NOISE_STREAMS_PER_CHANNEL = 64


def levels(betas: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """alpha_t and sqrt(alpha_bar_t) of a schedule (float64)."""
    alpha = 1.0 - np.asarray(betas, dtype=np.float64)
    return alpha, np.sqrt(np.cumprod(alpha))


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
    phase_iters
        Griffin-Lim iterations of the predictor's synthesis; ``None`` takes the card's.
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
    ) -> None:
        from rtaudio.tasks.neural_upsample import load_card  # sha256-verified card loading

        path = Path(model_path)
        self.card = load_card(path)
        if backend == "torch":
            raise BackendUnavailable("the vocoder runs on ONNX Runtime backends (cpu, cuda, tensorrt)")
        from rtaudio.backends.onnx import OrtBackend

        self.session = OrtBackend(path, provider=backend, threads=threads).session
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
        self.context_frames = int(self.card["context_frames"])
        #: context that phase refinement and the refiner need (less than the predictor's network)
        self.synthesis_context_frames = int(self.card.get("synthesis_context_frames", self.context_frames))

    def _run(self, pred_mel: np.ndarray, x_t: np.ndarray, cond: np.ndarray, mel: np.ndarray, level: np.ndarray):
        feeds = {"x_t": x_t, "mel": mel, "level": level}
        if self.has_predictor:
            feeds |= {"pred_mel": pred_mel, "cond": cond}
        return self.session.run(None, feeds)

    def synthesize(self, mel: np.ndarray, start: int, margin: int = 0) -> np.ndarray:
        """Waveforms for ``mel`` ``(batch, n_mels, frames)`` whose frame 0 is absolute frame ``start``.

        ``margin`` frames at each end are context that the caller discards. The predictor's
        network runs on every frame (its receptive field needs them); phase refinement and
        the refiner, whose reach is shorter, skip the margin and leave zeros there: most of
        the streaming overhead saved. Returns float32 ``(batch, frames * hop)``.
        """
        mel = np.ascontiguousarray(mel, dtype=np.float32)
        b, n_mels, frames = mel.shape
        out = np.zeros((b, frames * self.hop), np.float32)
        lo = max(0, min(margin, frames // 2))
        hi = frames - lo
        if hi <= lo:
            return out
        if self.has_predictor:
            tiny_mel = np.zeros((b, n_mels, 1), np.float32)
            tiny_wave = np.zeros((b, 1, self.hop), np.float32)
            logmag, phase = self._run(mel, tiny_wave, tiny_wave, tiny_mel, np.ones(b, np.float32))[:2]
            magnitude = np.exp(logmag[:, :, lo:hi].astype(np.float64)).transpose(0, 2, 1) * PREDICTOR_GAIN
            y = griffin_lim(magnitude, phase[:, :, lo:hi].transpose(0, 2, 1), self.hop, self.phase_iters)
        else:
            y = np.zeros((b, (hi - lo) * self.hop), np.float32)
        if self.betas:
            y = y + self._refine(y[:, None], np.ascontiguousarray(mel[:, :, lo:hi]), start + lo)
        out[:, lo * self.hop : hi * self.hop] = y
        return out

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
        margin = self.context_in - self.vocoder.synthesis_context_frames
        return self.vocoder.synthesize(mel[None], start, margin)


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
        margin = self.context_in // spec.hop - self.vocoder.synthesis_context_frames
        return self.vocoder.synthesize(mel, start // spec.hop, margin)

"""The style task (numpy + onnxruntime): a feed-forward style network streamed in the STFT domain.

Runtime side of audio style transfer. Torch lives in :mod:`rtaudio.tasks.style_optimise` (the
published optimisation, ``rtaudio style``) and ``export/style`` (training); this module holds
what both share without torch: the log-magnitude analysis, phase retrieval for the optimiser,
the style metrics of the bench, and the streaming kernel of the shipped networks.

Measurement (the bench, ``rtaudio style --json``, the tests):

- *style distance*: the Frobenius distance between Gram matrices of a feature set that no
  network here is optimised with: 64-band log-mel frames (n_fft 1024, hop 256) of the
  loudness-normalised signal (:func:`mel_gram`), over all frames and over the content's active
  frames only (filling the content's silences with texture moves the first a lot); a second
  feature set, a random conv net of another seed, width and resolution than the loss networks
  (:func:`cnn_gram`), is reported beside it. Reported as the ratio
  ``d(output, style) / d(content, style)``: below 1, the output is nearer the style than the
  content was. :func:`spectrum_match` (a static EQ to the style's long-term spectrum) is the
  baseline a style method must beat; the bench streams its causal form, the ``style_eq``
  baseline (:class:`EqNetwork`: the EQ from the content's running average spectrum), beside
  every style model;
- *content preservation*: Pearson correlation of the spectral-flux onset envelopes (and of the
  frame log-energy envelopes) of output and content; STOI of the output against the content.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from rtaudio import dsp
from rtaudio.backends import open_model
from rtaudio.cards import load_card
from rtaudio.engine.rate_stream import at_rates
from rtaudio.engine.stream import WholeStream
from rtaudio.tasks import spectral
from rtaudio.tasks.mel import MelSpec, log_mel
from rtaudio.tasks.task import BenchClip, Figure, ModelError, ModelInfo, Plan, Request, Task, check_rate

#: the published analysis: n_fft 2048, hop n_fft / 4
OPT_N_FFT, OPT_HOP = 2048, 512
#: zero hops around the optimiser's audio: the centred frames reach 2 hops beyond a sample
EDGE_HOPS = 2


# ---------------------------------------------------------------------------------------------
# Analysis and phase retrieval for the optimiser
# ---------------------------------------------------------------------------------------------


def log_spectrogram(audio: np.ndarray, hop: int = OPT_HOP) -> tuple[np.ndarray, np.ndarray]:
    """``log1p(|X|)`` and the phase of the centred Hann STFT (n_fft ``4 * hop``), both ``(frames, bins)``.

    The audio is zero-extended by :data:`EDGE_HOPS` hops before and after (and to whole hops), so
    the synthesis's frame overlap is complete over every sample; :func:`fast_griffin_lim` with
    ``length`` removes that extension again.
    """
    spec = _edge_stft(audio, hop)
    return np.log1p(np.abs(spec)), np.angle(spec)


def _edge_stft(audio: np.ndarray, hop: int) -> np.ndarray:
    x = np.asarray(audio, np.float64)
    edge = EDGE_HOPS * hop
    return spectral.stft(np.pad(x, (edge, edge + -len(x) % hop)), hop)


def spectrum_match(content: np.ndarray, style: np.ndarray, hop: int = OPT_HOP) -> np.ndarray:
    """The baseline any style method must beat: ``content`` through one static EQ that gives it
    the style's long-term average spectrum (per-bin gain ``sqrt(E|S|^2 / E|C|^2)``), content phase."""
    c, s = _edge_stft(content, hop), _edge_stft(style, hop)
    gain = np.sqrt(np.mean(np.abs(s) ** 2, axis=0) / np.maximum(np.mean(np.abs(c) ** 2, axis=0), 1e-20))
    y = spectral.istft(c * gain, hop)
    return y[EDGE_HOPS * hop : EDGE_HOPS * hop + len(content)]


def fast_griffin_lim(
    magnitude: np.ndarray,
    phase: np.ndarray,
    hop: int = OPT_HOP,
    iters: int = 100,
    momentum: float = 0.99,
    length: int | None = None,
) -> np.ndarray:
    """Samples whose STFT magnitude approaches ``magnitude`` ``(frames, bins)``, started from ``phase``.

    Griffin-Lim with Perraudin et al.'s momentum (fast Griffin-Lim) on the project's frame grid
    (:func:`rtaudio.tasks.spectral.stft` / ``istft``); ``momentum=0`` is
    :func:`~rtaudio.tasks.spectral.griffin_lim`. Started from the content's phase, the output
    keeps the content's timing where the magnitude did not move. ``length``: the samples of the
    audio :func:`log_spectrogram` analysed (its edge extension removed); ``None``: every sample.
    """
    z = previous = magnitude * np.exp(1j * phase)
    projected = z
    for _ in range(iters):
        est = spectral.stft(spectral.istft(z, hop), hop)
        previous, projected = projected, magnitude * est / np.maximum(np.abs(est), 1e-9)
        z = projected + momentum * (projected - previous)
    y = spectral.istft(projected, hop)
    return y if length is None else y[EDGE_HOPS * hop : EDGE_HOPS * hop + length]


# ---------------------------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------------------------


def _normalised(x: np.ndarray, where: np.ndarray | None = None) -> np.ndarray:
    """``x`` at RMS 0.1 (loudness is not style), measured over the samples ``where`` is true (default all)."""
    x = np.asarray(x, np.float64).ravel()
    part = x if where is None else x[where[: len(x)]]
    return x / max(float(np.sqrt(np.mean(part**2))) if part.size else 0.0, 1e-9) * 0.1


@lru_cache(maxsize=8)
def _metric_mel(rate: int) -> MelSpec:
    return MelSpec(sample_rate=rate, n_fft=1024, hop=256, n_mels=64, fmin=40.0, fmax=rate / 2)


def mel_gram(audio: np.ndarray, rate: int, mask: np.ndarray | None = None) -> np.ndarray:
    """``(64, 64)`` Gram ``L^T L / frames`` of the log-mel frames ``L`` of the loudness-normalised
    signal; with a frame ``mask``, over those frames only, loudness measured over them too (so
    what fills the other frames does not move their level)."""
    where = None if mask is None else np.repeat(mask, _metric_mel(rate).hop)
    frames = log_mel(_normalised(audio, where), _metric_mel(rate)).astype(np.float64)
    if mask is not None:
        frames = frames[mask[: len(frames)]]
    return frames.T @ frames / max(len(frames), 1)


def active_frames(audio: np.ndarray, rate: int, floor_db: float = 40.0) -> np.ndarray:
    """Metric frames whose energy is within ``floor_db`` of the loudest (where the content is not silent)."""
    frames = log_mel(_normalised(audio), _metric_mel(rate)).astype(np.float64)
    energy = np.log(np.exp(frames).sum(axis=1))
    return energy > energy.max() - floor_db / 20 * np.log(10)


@lru_cache(maxsize=4)
def _metric_cnn(bins: int, filters: int = 256, kernel: int = 5, seed: int = 1234) -> np.ndarray:
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((filters, bins, kernel)) * np.sqrt(2.0 / (bins * kernel))
    w.setflags(write=False)
    return w


def cnn_gram(audio: np.ndarray, rate: int) -> np.ndarray:
    """``(256, 256)`` Gram of an independent random conv net (width 5, seed 1234, ReLU) on
    ``log1p(|STFT|)`` at n_fft 1024 / hop 256 of the loudness-normalised signal."""
    x = _normalised(audio)
    spec = np.log1p(np.abs(dsp.stft(x, dsp.hann(1024), 256)))  # (frames, bins)
    w = _metric_cnn(spec.shape[1])
    windows = dsp.frames(spec.T, w.shape[2], 1)  # (bins, frames', kernel)
    feats = np.maximum(np.einsum("bfk,obk->of", windows, w, optimize=True), 0.0)
    return feats @ feats.T / feats.shape[1]


def gram_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Frobenius distance of two Grams, relative to the second's norm."""
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-12))


def onset_envelope(audio: np.ndarray, rate: int) -> np.ndarray:
    """Spectral-flux onset envelope: the summed positive log-mel rise per frame."""
    frames = log_mel(_normalised(audio), _metric_mel(rate)).astype(np.float64)
    return np.maximum(np.diff(frames, axis=0), 0.0).sum(axis=1)


def energy_envelope(audio: np.ndarray, rate: int) -> np.ndarray:
    """Frame log-energy (dB) at the metric hop."""
    hop = _metric_mel(rate).hop
    x = np.asarray(audio, np.float64).ravel()
    n = len(x) // hop
    return 10 * np.log10(np.mean(x[: n * hop].reshape(n, hop) ** 2, axis=1) + 1e-10)


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    n = min(len(a), len(b))
    a, b = a[:n] - a[:n].mean(), b[:n] - b[:n].mean()
    return float(np.dot(a, b) / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-12))


def style_figures(output: np.ndarray, content: np.ndarray, style: np.ndarray, rate: int) -> dict[str, float | None]:
    """The style figures of one output (see the module docstring); all three at ``rate``.

    Returns
    -------
    dict
        ``style_ratio`` (log-mel Gram), ``style_ratio_active`` (the same over the content's
        active frames), ``style_ratio_cnn`` (independent random CNN Gram),
        ``onset_corr``, ``energy_corr``, ``stoi`` (``None`` without ``pystoi``), ``peak_ratio``
        (the output's peak over the content's: above 1 a style turns peaks the content did not
        have into clipping wherever the content was near full scale).
    """
    n = min(len(output), len(content))
    output, content = np.asarray(output[:n], np.float64), np.asarray(content[:n], np.float64)
    figures: dict[str, float | None] = {}
    for key, fn in (("style_ratio", mel_gram), ("style_ratio_cnn", cnn_gram)):
        target = fn(style, rate)
        figures[key] = gram_distance(fn(output, rate), target) / max(gram_distance(fn(content, rate), target), 1e-12)
    # the same distance over the content's active frames only: texture where there is speech,
    # apart from filling the content's silences (which the full distance also rewards)
    active = active_frames(content, rate)
    target = mel_gram(style, rate)
    own = gram_distance(mel_gram(content, rate, active), target)
    figures["style_ratio_active"] = gram_distance(mel_gram(output, rate, active), target) / max(own, 1e-12)
    figures["onset_corr"] = _corr(onset_envelope(output, rate), onset_envelope(content, rate))
    figures["energy_corr"] = _corr(energy_envelope(output, rate), energy_envelope(content, rate))
    try:
        from pystoi import stoi
    except ImportError:  # a bench extra (``peers``), not a runtime dependency
        figures["stoi"] = None
    else:
        figures["stoi"] = float(stoi(content, output, rate, extended=False))
    figures["peak_ratio"] = float(np.max(np.abs(output)) / max(float(np.max(np.abs(content))), 1e-12))
    return figures


# ---------------------------------------------------------------------------------------------
# The feed-forward style network, streamed
# ---------------------------------------------------------------------------------------------

#: card fields the kernel reads, with their types
CARD_FIELDS = {"sample_rate": int, "n_fft": int, "hop": int, "delay": int, "state_shapes": list}


class StyleNetwork:
    """The shipped graph (see ``export/style/export_onnx.py``) and its framing, from a card.

    Frames are causal: frame ``k`` covers input samples ``[(k + 1) * hop - n_fft, (k + 1) * hop)``
    (periodic Hann); the network maps ``log1p(|X|)`` to the output's log-magnitude, which takes
    the input's phase; synthesis is Hann overlap-add with gain 1.5 (hop = n_fft / 4). Output
    sample ``i`` of the synthesis lines up with input sample ``i - (n_fft - hop)``: the delay.

    Parameters
    ----------
    model_path
        The ``.onnx`` graph; its card (beside it) is loaded and sha256-checked.
    backend
        ONNX Runtime provider (``"cpu"``, ``"cuda"``, ``"tensorrt"``).
    threads
        Intra-op threads; ``None``: the card's ``threads_default`` (1: one frame per call).
    """

    def __init__(self, model_path: Path, backend: str = "cpu", threads: int | None = None) -> None:
        self.card = load_card(Path(model_path), "style", CARD_FIELDS)
        self.rate = int(self.card["sample_rate"])
        self.n_fft, self.hop = int(self.card["n_fft"]), int(self.card["hop"])
        if self.n_fft != 4 * self.hop or int(self.card["delay"]) != self.n_fft - self.hop:
            raise ModelError(f"{model_path}: the style kernel needs hop = n_fft / 4 and delay = n_fft - hop")
        self.bins = self.n_fft // 2 + 1
        self.state_shapes = [tuple(s) for s in self.card["state_shapes"]]
        self.state_names = tuple(f"state{i}" for i in range(len(self.state_shapes)))
        outputs = ("logmag_out", "frame_out", *(f"{n}_out" for n in self.state_names))
        # one frame per call: a second intra-op thread only adds wake-ups (and stalls on a busy machine)
        threads = int(self.card.get("threads_default", 1)) if threads is None else threads
        self.model = open_model(
            model_path, backend, threads, inputs=("logmag", "frame", *self.state_names), outputs=outputs
        )
        self.window = dsp.hann(self.n_fft)
        self.gain = dsp.ola_gain(self.window, self.hop)

    def zero_states(self, channels: int) -> dict[str, np.ndarray]:
        """Each dilated layer's history at the stream start (``"C"`` in the card: the channel axis)."""
        return {
            name: np.zeros([channels if d == "C" else int(d) for d in shape], np.float32)
            for name, shape in zip(self.state_names, self.state_shapes, strict=True)
        }

    def analyse(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(C, F, n_fft)`` frames -> ``log1p(|X|)`` float32 ``(C, bins, F)`` and the unit phasors ``(C, F, bins)``."""
        spec = np.fft.rfft(frames * self.window, axis=-1)
        mag = np.abs(spec)
        phasor = np.where(mag > 0, spec / np.maximum(mag, 1e-30), 1.0)
        return np.ascontiguousarray(np.log1p(mag).transpose(0, 2, 1), dtype=np.float32), phasor

    def segments(self, logmag_out: np.ndarray, phasor: np.ndarray) -> np.ndarray:
        """Output log-magnitude ``(C, bins, F)`` and input phasors -> windowed segments ``(C, F, n_fft)``."""
        mag = np.expm1(logmag_out.astype(np.float64)).transpose(0, 2, 1)
        return np.fft.irfft(mag * phasor, self.n_fft, axis=-1) * (self.window / self.gain)


class _RunningEq:
    """The EQ baseline's "graph": the interface :class:`StyleKernel` and :class:`StyleWindow` call.

    Per frame, gain ``sqrt(P_style / mean_{frames so far} |X|^2)`` per bin (the content's running
    long-term spectrum; the carried state is its sum and frame count), clipped to +-40 dB
    where the running average is still a few frames of one phoneme.
    """

    GAIN_LIMIT = 100.0

    def __init__(self, style_power: np.ndarray) -> None:
        self.style_power = style_power[None, :, None]  # (1, bins, 1)

    def _eq(self, logmag: np.ndarray, power_sum: np.ndarray, count: np.ndarray) -> tuple[np.ndarray, ...]:
        mag = np.expm1(logmag.astype(np.float64))
        total = power_sum + np.cumsum(mag**2, axis=-1)
        frames = count + np.arange(1, mag.shape[-1] + 1)
        gain = np.sqrt(self.style_power / np.maximum(total / frames, 1e-20))
        out = np.log1p(mag * np.clip(gain, 1.0 / self.GAIN_LIMIT, self.GAIN_LIMIT)).astype(np.float32)
        return out, total[..., -1:], frames[..., -1:]

    def run(self, feeds: dict[str, np.ndarray], outputs: tuple[str, ...]) -> dict[str, np.ndarray]:
        if outputs == ("logmag_out",):  # the sequence path (StyleWindow)
            return {"logmag_out": self._eq(feeds["logmag"], feeds["state0"], feeds["state1"])[0]}
        frame, power_sum, count = self._eq(feeds["frame"], feeds["state0"], feeds["state1"])
        return {"frame_out": frame, "state0_out": power_sum, "state1_out": count}


class EqNetwork(StyleNetwork):
    """The ``style_eq`` baseline on the framing of the style network it is compared with: its
    style's long-term power spectrum (the reference recording, the same periodic-Hann frames),
    the causal form of :func:`spectrum_match`."""

    def __init__(self, style_model: StyleNetwork, style: np.ndarray) -> None:
        self.card = {"sample_rate": style_model.rate, "receptive_frames": 1}
        self.rate, self.n_fft, self.hop = style_model.rate, style_model.n_fft, style_model.hop
        self.bins, self.window, self.gain = style_model.bins, style_model.window, style_model.gain
        self.state_shapes = [("C", self.bins, 1), ("C", 1, 1)]
        self.state_names = ("state0", "state1")
        spec = dsp.stft(style, self.window, self.hop, center=False)
        self.model = _RunningEq(np.mean(np.abs(spec) ** 2, axis=0))

    def zero_states(self, channels: int) -> dict[str, np.ndarray]:
        return {"state0": np.zeros((channels, self.bins, 1)), "state1": np.zeros((channels, 1, 1))}


class StyleKernel:
    """Stream kernel: one STFT hop per call, the network's step with carried state, overlap-add.

    State: the last ``n_fft - hop`` input samples (the analysis frame's history), each dilated
    layer's last ``(k - 1) * d`` feature frames, and the overlap-add tail. ``delay`` =
    ``n_fft - hop`` samples (24 ms for the shipped 16 kHz model); with the hop of buffering the
    engine adds, the latency is ``n_fft`` (32 ms). Channels run as one batch.
    """

    def __init__(self, network: StyleNetwork) -> None:
        self.net = network
        self.in_rate = self.out_rate = network.rate
        self.hop = network.hop
        self.delay = network.n_fft - network.hop
        self._outputs = ("frame_out", *(f"{n}_out" for n in network.state_names))
        self.reset()

    def reset(self) -> None:
        self._frame: np.ndarray | None = None

    def process(self, block: np.ndarray) -> np.ndarray:
        net, hop = self.net, self.hop
        block = np.asarray(block, dtype=np.float32)
        if self._frame is None:
            channels = block.shape[0]
            self._frame = np.zeros((channels, net.n_fft))
            self._tail = np.zeros((channels, net.n_fft))
            self._states = net.zero_states(channels)
            self._unused = np.zeros((channels, net.bins, 1), np.float32)
        self._frame[:, :-hop] = self._frame[:, hop:]
        self._frame[:, -hop:] = block
        logmag, phasor = net.analyse(self._frame[:, None])
        # the step path's outputs only: the sequence path would run on the unused input too
        out = net.model.run({"logmag": self._unused, "frame": logmag, **self._states}, self._outputs)
        self._states = {name: out[f"{name}_out"] for name in net.state_names}
        self._tail += net.segments(out["frame_out"], phasor)[:, 0]
        y = self._tail[:, :hop].astype(np.float32)
        self._tail[:, :-hop] = self._tail[:, hop:]
        self._tail[:, -hop:] = 0.0
        return y


class StyleWindow:
    """Whole-signal reference (a window kernel): every causal frame of the window through the
    network's sequence path at once, overlap-added; equal to :class:`StyleKernel`'s stream with
    its delay dropped, to float rounding. ``context_in`` covers the causal receptive field
    (frames reaching ``receptive_frames - 1`` hops back, each spanning ``n_fft``)."""

    def __init__(self, network: StyleNetwork) -> None:
        self.net = network
        self.in_rate = self.out_rate = network.rate
        self.quantum_in = network.hop
        self.context_in = network.n_fft + (int(network.card.get("receptive_frames", 1)) - 1) * network.hop

    def run(self, window: np.ndarray, start: int) -> np.ndarray:
        net, hop = self.net, self.net.hop
        channels, n = window.shape
        pad = net.n_fft - hop
        n_frames = -(-(n + pad) // hop)  # every frame that starts before the window's end
        # frames that end before the stream start are never computed by the stream (its
        # layers start from zero history, not from the features of silence): skip them too
        first = min(max(0, -start // hop), n_frames - 1)
        x = np.zeros((channels, (n_frames - 1) * hop + net.n_fft))
        x[:, pad : pad + n] = window
        logmag, phasor = net.analyse(dsp.frames(x[:, first * hop :], net.n_fft, hop, n_frames - first))
        states = net.zero_states(channels)
        out = net.model.run({"logmag": logmag, "frame": logmag[:, :, :1], **states}, ("logmag_out",))["logmag_out"]
        y = np.zeros((channels, x.shape[1]))
        y[:, first * hop :] = dsp.overlap_add(net.segments(out, phasor), hop)
        return np.ascontiguousarray(y[:, pad : pad + n], dtype=np.float32)


#: half-length of the resampling filters, in model samples (each filter's group delay: 1.5 ms at 16 kHz)
RESAMPLE_TAPS_PER_SIDE = 24


# ---------------------------------------------------------------------------------------------
# The task
# ---------------------------------------------------------------------------------------------


def style_reference(model: ModelInfo) -> tuple[np.ndarray, int]:
    """The style recording a model was trained on: its card's ``style.reference`` side file (sha256-checked)."""
    entry = model.card.get("style", {}).get("reference")
    if model.path is None or not isinstance(entry, dict) or "file" not in entry:
        raise ModelError(f"{model.name}: the card names no style reference recording (style.reference.file)")
    with np.load(model.path.parent / entry["file"]) as ref:  # 16-bit samples and their rate
        return ref["audio"].astype(np.float32) / 32768.0, int(ref["rate"])


class StyleTask(Task):
    """``--task style``: a feed-forward style network (one style per model), streamed in the STFT domain.

    At the model's rate the plan runs :class:`StyleKernel`; at 2x or 3x it (32/48 kHz devices)
    :class:`~rtaudio.engine.rate_stream.IntegerRateStream` around it; at any other rate (44.1 kHz)
    :class:`~rtaudio.engine.rate_stream.RationalRateStream`: stream kernels at every rate.

    The bench feeds held-out speech (the shipped evaluation clips, languages not trained on)
    and judges each output against the content (onset/energy correlation, STOI) and against the
    reference recording of the model that made it (Gram distances of features no network here is
    trained with; see the module docstring).
    """

    name = "style"
    #: the causal static EQ to the default style's long-term spectrum (:class:`EqNetwork`)
    baselines = ("style_eq",)
    summary = "feed-forward style transfer: speech takes on a trained style's texture (32 ms latency at 16 kHz)"
    figures = (
        Figure("style_ratio", "style dist (mel Gram)", plot=True),
        Figure("style_ratio_active", "style dist (mel, active)"),
        Figure("style_ratio_cnn", "style dist (CNN Gram)"),
        Figure("onset_corr", "onset corr", higher_is_better=True, plot=True),
        Figure("energy_corr", "energy corr", higher_is_better=True),
        Figure("stoi", "STOI", higher_is_better=True),
        Figure("peak_ratio", "peak / content's"),
    )
    card_fields = CARD_FIELDS

    def build(self, model: ModelInfo, request: Request) -> Plan:
        from rtaudio.tasks.resample import adapt

        source_rate = check_rate(request.source_rate, "source rate")
        out_rate = check_rate(request.out_rate or source_rate, "output rate")
        if model.is_baseline:
            styled = self.styled_model(model)
            style, rate = style_reference(styled)
            network: StyleNetwork = StyleNetwork(styled.path, request.backend, request.threads)
            if rate != network.rate:
                from rtaudio.tasks.resample import sinc_resample

                style = sinc_resample(style[None], rate, network.rate)[0]
            network = EqNetwork(network, style)
        else:
            network = StyleNetwork(model.path, request.backend, request.threads)
        reference = adapt(StyleWindow(network), source_rate, out_rate)
        receptive = network.n_fft * int(network.card.get("receptive_frames", 1))  # model samples
        if source_rate == network.rate and out_rate == network.rate:
            kernel: Any = StyleKernel(network)
        else:
            # 32/48 kHz: 2x/3x FIRs; any other rate (44.1 kHz): polyphase FIRs
            kernel = at_rates(StyleKernel(network), source_rate, out_rate, RESAMPLE_TAPS_PER_SIDE)
            context = math.ceil((kernel.delay / out_rate + receptive / network.rate) * source_rate)
            reference = WholeStream(
                at_rates(StyleKernel(network), source_rate, out_rate, RESAMPLE_TAPS_PER_SIDE), context
            )
        return Plan(kernel, reference, model, self, source_rate, source_rate, out_rate)

    def styled_model(self, model: ModelInfo) -> ModelInfo:
        """The style network ``model`` stands for: itself, or for the baseline the default style."""
        if not model.is_baseline:
            return model
        from rtaudio.registry import find_model, shipped_models

        return find_model(self.name, self.default_model(shipped_models(self.name), None))

    def default_model(self, models: Sequence[ModelInfo], band_rate: int | None) -> str:
        for info in models:  # the baseline needs a style network: never the default
            if not info.is_baseline and info.card.get("default"):
                return info.name
        raise ModelError("no style model is installed (rtaudio/models/ has no default style model)")

    def describe_rates(self, plan: Plan) -> str:
        rate = plan.model.card.get("sample_rate")
        return f"{plan.source_rate} -> {plan.out_rate} Hz" + (f" (model at {rate} Hz)" if rate else "")

    # -- bench --------------------------------------------------------------------------
    def bench_pairs(self, models: Sequence[ModelInfo]) -> list[tuple[int, int]]:
        # the model's own rate, and 3x it (a 48 kHz device: the resampling stream kernel)
        rates = sorted({int(m.card["sample_rate"]) for m in models if "sample_rate" in m.card}) or [16000]
        return [(r, r) for r in rates] + [(3 * r, 3 * r) for r in rates]

    def bench_clips(self, pair: tuple[int, int], count: int | None, seconds: float | None) -> list[BenchClip]:
        from rtaudio.tasks.upsample import eval_clips

        return [BenchClip(c.name, c.source, c.source, "speech") for c in eval_clips(pair[0], pair[0], count, seconds)]

    def quality(
        self, clip: BenchClip, estimate: np.ndarray, pair: tuple[int, int], model: ModelInfo
    ) -> dict[str, float | None]:
        style, rate = style_reference(self.styled_model(model))  # each model against its own style
        if rate != pair[1]:
            from rtaudio.tasks.resample import sinc_resample

            style = sinc_resample(style[None], rate, pair[1])[0]
        return style_figures(estimate, clip.reference, style, pair[1])


STYLE = StyleTask()

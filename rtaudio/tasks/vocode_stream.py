"""Streaming phase retrieval with bounded look-ahead: the low-latency vocoder (``"streaming_phase"``).

The window path (:class:`rtaudio.tasks.vocode.AudioVocodeKernel`) runs 32 iterations of
mel-consistent Griffin-Lim over 200 ms chunks with wide context on both sides: 537.5 ms of
algorithmic latency. This module inverts the mel one frame at a time instead, in the manner of
RTISI-LA (Zhu, Beauregard and Wyse 2007, "Real-time signal estimation from modified short-time
Fourier transform magnitude spectra"):

- frames are *committed* one hop at a time; a committed frame never changes, and its
  overlap-add contribution is kept as the partial signal the next frames must join;
- the ``look_ahead`` newest frames plus the one about to be committed form the *buffer*; each
  hop, ``iters`` iterations refine the whole buffer together against the committed overlap: the
  buffer's signal (committed partial + overlap-add of the buffer frames) is analysed at the
  buffer's frame positions and every bin is scaled by its mel bands' ratio of target to current
  energy (the mel-consistent projection of :func:`rtaudio.tasks.spectral.mel_griffin_lim`:
  only the mel is known, so only the mel is imposed), with the fast-Griffin-Lim momentum;
- a frame entering the buffer starts from the phase of the partial signal at its position (the
  RTISI start, which continues the committed frames' phases), mixed with a small random phasor
  keyed to the frame's absolute position (:func:`rtaudio.tasks.vocode.random_phase`), which is
  what starts the phase where the partial signal is silent; its magnitude starts at the mel
  filters' pseudo-inverse.

Each frame is therefore refined ``(look_ahead + 1) * iters`` times in all, the newest ones
against a signal still missing its right neighbours. The oldest frame of the buffer is then
committed and the output block it completes (covered by four committed frames) is released.

Latency, in hops of 12.5 ms (24 kHz, hop 300, window 1200 = 4 hops, frames centred on
multiples of the hop): audio in, frame ``f`` needs input up to sample ``(f + 2) * hop``; the
frame released is ``look_ahead`` frames older and its output block two frames older still,
so the kernel's delay is ``(3 + look_ahead)`` hops and the engine adds one hop of buffering:
``(4 + look_ahead) * 12.5`` ms (``look_ahead = 4``: 100 ms). Mel frames in: ``2 + look_ahead``
hops of delay plus one frame.

The kernel is its own reference: :func:`rtaudio.engine.stream.stream_whole` over the whole
signal is the output, whatever blocks the host delivers (:class:`WholeStream` presents it as
the window kernel that ``--offline`` and the bench's parity check run). Nothing here needs the
network: on held-out speech the shipped predictor's magnitude adds 0.01 PESQ to the window
path's phase retrieval (card ``limitations``), and its receptive field (23 frames each side,
287.5 ms) would be look-ahead.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from rtaudio import dsp
from rtaudio.engine.rate_stream import IntegerRateStream, at_rates
from rtaudio.engine.stream import WholeStream
from rtaudio.tasks.mel import MelSpec, mel_bands, mel_filters, window
from rtaudio.tasks.spectral import HANN_OLA_GAIN
from rtaudio.tasks.vocode import random_phase

__all__ = ["DEFAULTS", "MelPhaseStream", "StreamingAudioVocoder", "StreamingMelVocoder", "WholeStream"]

#: random start phases are drawn for this many frames at once (a Philox block holds ~7 frames' worth)
PHASE_BATCH = 32
#: the settings a card's ``"streaming_phase"`` may override (tuned on the dev part)
DEFAULTS = {"look_ahead": 4, "iters": 8, "momentum": 0.9, "noise": 1e-3}


@lru_cache(maxsize=8)
def _pinv(spec: MelSpec) -> np.ndarray:
    """``(n_mels, bins)``: mel magnitudes -> a non-negative STFT magnitude (the filters' pseudo-inverse)."""
    p = np.linalg.pinv(mel_filters(spec)).T
    p.setflags(write=False)
    return p


class MelPhaseStream:
    """The frame-by-frame phase retrieval, for ``batch`` independent channels.

    Parameters
    ----------
    spec
        The mel analysis (its ``n_fft`` must be four hops).
    look_ahead
        Frames refined beside the one being committed (latency: this many hops).
    iters
        Iterations per hop over the whole buffer.
    momentum
        Fast-Griffin-Lim extrapolation of each projection along the previous one.
    noise
        Size of the position-keyed random phasor added to a new frame's start (relative to
        its magnitude): the start where the committed signal is silent.
    seed
        Seed of the random phases (:func:`rtaudio.tasks.vocode.random_phase`).
    """

    def __init__(
        self,
        spec: MelSpec,
        look_ahead: int = DEFAULTS["look_ahead"],
        iters: int = DEFAULTS["iters"],
        momentum: float = DEFAULTS["momentum"],
        noise: float = DEFAULTS["noise"],
        seed: int = 0,
    ) -> None:
        if spec.n_fft != 4 * spec.hop:
            raise ValueError("streaming phase retrieval needs the mel's n_fft to be four hops")
        if look_ahead < 0 or iters < 0:
            raise ValueError("look_ahead and iters must not be negative")
        self.spec, self.hop, self.n_fft = spec, spec.hop, spec.n_fft
        self.look_ahead, self.iters = int(look_ahead), int(iters)
        self.momentum, self.noise, self.seed = float(momentum), float(noise), int(seed)
        self.bands = mel_bands(spec)
        self.analysis = window(spec)
        self.synthesis = window(spec) / HANN_OLA_GAIN
        self.bins = spec.n_fft // 2 + 1
        #: output hops released after the frame that completes them (frames span 4 hops)
        self.delay_frames = self.look_ahead + 2
        self.batch = 0

    def reset(self, batch: int, first_frame: int = 0) -> None:
        """Start a new stream of ``batch`` channels whose first pushed frame is ``first_frame``."""
        n = self.look_ahead + 1
        self.batch = batch
        self.frame = int(first_frame)  # absolute index of the next frame pushed (keys its random phase)
        # during push(frame F): buffer slot j holds frame F - n + 1 + j, and the partial signal (the
        # committed frames' overlap-add) spans the buffer frames' support: block i = hop F - n - 1 + i
        self.z = np.zeros((batch, n, self.bins), complex)
        self.prev = np.zeros_like(self.z)
        self.target = np.zeros((batch, n, self.spec.n_mels))
        self.partial = np.zeros((batch, n + 3, self.hop))
        self._phasors, self._phasors_first = None, None

    def push(self, mel_magnitude: np.ndarray) -> np.ndarray:
        """Add frame ``self.frame`` (``(batch, n_mels)`` mel magnitudes, ``exp`` of the log-mel);
        return the hop block completed by the frame it commits: samples
        ``[(frame - delay_frames) * hop, ... + hop)``, ``(batch, hop)`` float64."""
        hop = self.hop
        # the new frame's start: the committed partial's phase at its position, plus a keyed phasor
        self.target = np.concatenate([self.target[:, 1:], mel_magnitude[:, None]], axis=1)
        self.z = np.concatenate([self.z[:, 1:], np.zeros((self.batch, 1, self.bins), complex)], axis=1)
        self.prev = np.concatenate([self.prev[:, 1:], np.zeros((self.batch, 1, self.bins), complex)], axis=1)
        self.partial = np.concatenate([self.partial[:, 1:], np.zeros((self.batch, 1, hop))], axis=1)
        seg = self._signal()
        last = np.fft.rfft(seg[:, -self.n_fft :] * self.analysis, axis=-1)
        magnitude = np.maximum(np.einsum("bm,mk->bk", mel_magnitude, _pinv(self.spec)), 0.0)  # no BLAS threads
        keyed = self._keyed_phasor()
        start = last + self.noise * np.maximum(np.abs(last).max(axis=-1, keepdims=True), 1e-9) * keyed
        self.z[:, -1] = magnitude * start / np.maximum(np.abs(start), 1e-12)
        self.prev[:, -1] = self.z[:, -1]
        projected = self.prev
        for _ in range(self.iters):
            est = self._analyse(self._signal())
            ratio = self.target / np.maximum(self.bands.to_mel(np.abs(est)), 1e-12)
            previous, projected = projected, est * self.bands.to_bins(ratio)
            self.z = projected + self.momentum * (projected - previous) if self.momentum else projected
        self.prev = projected
        # commit the oldest frame (its last projection, as mel_griffin_lim returns the projection)
        committed = np.fft.irfft(projected[:, 0], self.n_fft, axis=-1) * self.synthesis
        self.partial[:, :4] += committed.reshape(self.batch, 4, hop)
        self.frame += 1
        return self.partial[:, 0].copy()

    def _keyed_phasor(self) -> np.ndarray:
        """``exp(i random_phase)`` of frame ``self.frame``, drawn :data:`PHASE_BATCH` frames at a time."""
        first = self.frame - self.frame % PHASE_BATCH
        if self._phasors_first != first:
            phase = random_phase(self.seed, self.batch, first, PHASE_BATCH, self.bins)
            self._phasors, self._phasors_first = np.exp(1j * phase), first
        return self._phasors[:, self.frame - first]

    def _signal(self) -> np.ndarray:
        """``(batch, (n + 3) * hop)``: the committed partial plus the buffer frames' overlap-add."""
        segs = np.fft.irfft(self.z, self.n_fft, axis=-1) * self.synthesis  # (batch, n, n_fft)
        return self.partial.reshape(self.batch, -1) + dsp.overlap_add(segs, self.hop)

    def _analyse(self, seg: np.ndarray) -> np.ndarray:
        """STFT of the buffer's signal at the buffer frames' positions: ``(batch, n, bins)``."""
        # dsp.frames' sliding_window_view costs ~70 us a call here, 6 calls a hop: the same view, built directly
        b, t = seg.strides
        shape, strides = (self.batch, self.look_ahead + 1, self.n_fft), (b, self.hop * t, t)
        frames = np.lib.stride_tricks.as_strided(seg, shape, strides, writeable=False)
        return np.fft.rfft(frames * self.analysis, axis=-1)


class _StreamingVocoder:
    """What both stream kernels share: the phase retrieval, its settings and the mel front end."""

    def __init__(self, spec: MelSpec, settings: dict | None = None, seed: int = 0, name: str = "vocoder") -> None:
        unknown = set(settings or {}) - set(DEFAULTS)
        if unknown:
            raise ValueError(f"unknown streaming_phase settings: {sorted(unknown)} (known: {sorted(DEFAULTS)})")
        self.settings = {**DEFAULTS, **(settings or {})}
        self.spec = spec
        self.retrieval = MelPhaseStream(spec, seed=seed, **self.settings)
        self.name = name
        self.out_rate = spec.sample_rate

    def _target(self, log_mel: np.ndarray) -> np.ndarray:
        # the window path's mel is float32 log-mel: the same information reaches the retrieval
        return np.exp(log_mel.astype(np.float32).astype(np.float64))


class StreamingAudioVocoder(_StreamingVocoder):
    """Audio in, resynthesised audio out (``--task vocode`` on audio), one hop of 12.5 ms per call.

    Call ``k`` analyses the mel frame that hop completes (frame ``k - 1``: centred frames reach
    two hops ahead; frame -1 is the zero padding's, as in whole-signal analysis) and returns
    output hop ``k - 3 - look_ahead``. Channels are independent.
    """

    def __init__(self, spec: MelSpec, settings: dict | None = None, seed: int = 0, name: str = "vocoder") -> None:
        super().__init__(spec, settings, seed, name)
        self.in_rate = spec.sample_rate
        self.hop = spec.hop
        self.delay = (self.retrieval.delay_frames + 1) * spec.hop
        self.reset()

    def reset(self) -> None:
        self._history = None  # the last three hops, per channel (sized on the first call)

    def process(self, block: np.ndarray) -> np.ndarray:
        block = np.asarray(block, dtype=np.float64)
        if self._history is None:
            self._history = np.zeros((block.shape[0], self.spec.n_fft - self.hop))
            self.retrieval.reset(block.shape[0], first_frame=-1)
        frame = np.concatenate([self._history, block], axis=1)
        self._history = frame[:, self.hop :]
        mel = self.retrieval.bands.to_mel(np.abs(np.fft.rfft(frame * self.retrieval.analysis, axis=-1)))
        log_mel = np.log(np.maximum(mel, self.spec.log_floor))
        return self.retrieval.push(self._target(log_mel)).astype(np.float32)


class StreamingMelVocoder(_StreamingVocoder):
    """Mel frames in (``n_mels`` channels at the frame rate, one frame per call), one waveform
    channel out: call ``k`` returns output hop ``k - 2 - look_ahead``."""

    out_channels = 1

    def __init__(self, spec: MelSpec, settings: dict | None = None, seed: int = 0, name: str = "vocoder") -> None:
        super().__init__(spec, settings, seed, name)
        if spec.sample_rate % spec.hop:
            raise ValueError(f"frame rate {spec.frame_rate} Hz is not whole; the engine needs integer rates")
        self.in_rate = spec.sample_rate // spec.hop
        self.hop = 1
        self.delay = self.retrieval.delay_frames * spec.hop
        self.reset()

    def reset(self) -> None:
        self.retrieval.reset(1, first_frame=0)

    def process(self, block: np.ndarray) -> np.ndarray:
        if block.shape[0] != self.spec.n_mels:
            raise ValueError(f"expected {self.spec.n_mels} mel bands as channels, got {block.shape[0]}")
        frame = block[:, 0]
        # the engine's zero padding is a loud flat frame in log-mel; real frames are never all zero
        log_mel = np.full_like(frame, np.log(self.spec.log_floor)) if not frame.any() else frame
        return self.retrieval.push(self._target(log_mel)[None]).astype(np.float32)


#: half-length, in vocoder-rate samples, of the integer-ratio resampling filters (0.7 ms at 24 kHz)
RESAMPLE_HALF = 16


def stream_kernel(card: dict, source_rate: int, out_rate: int, mel_input: bool, seed: int = 0):
    """The card's streaming vocoder for these rates, or ``None`` with the reason (the window path serves it).

    Mel frames in at the vocoder's frame rate; audio in at any rate (an integer multiple of the
    vocoder's through :class:`IntegerRateStream`, any other through :class:`RationalRateStream`);
    out at the vocoder's rate or an integer multiple (mel input) or any rate (audio input).
    """
    spec = MelSpec(**card["mel"])
    settings = {k: v for k, v in card.get("streaming_phase", {}).items() if k in DEFAULTS}
    name = card.get("name", "vocoder")
    inner = (StreamingMelVocoder if mel_input else StreamingAudioVocoder)(spec, settings, seed, name)
    if not mel_input:  # audio at any rate: integer-ratio FIRs, or polyphase ones (a 44.1 kHz device)
        return at_rates(inner, source_rate, out_rate, RESAMPLE_HALF), None
    if source_rate % inner.in_rate or out_rate % inner.out_rate:
        return None, (
            f"the streaming vocoder runs at {inner.in_rate} Hz and its multiples; a {source_rate} -> {out_rate} Hz "
            f"stream takes the window path ({card.get('latency_ms', '?')} ms)"
        )
    m_in, m_out = source_rate // inner.in_rate, out_rate // inner.out_rate
    return (inner if m_in == m_out == 1 else IntegerRateStream(inner, m_in, m_out, RESAMPLE_HALF)), None

"""Stateful streaming of the band-extension upsampler: each input sample is processed once.

:class:`StreamingUpsampleKernel` is the stream-kernel twin of
:class:`~rtaudio.tasks.neural_upsample.NeuralUpsampleKernel` (same weights, same output) that
carries its state between hops instead of recomputing a context window around each chunk
(the RAVE ``cached_conv`` / DemucsStreamer technique). Per hop, in stream order:

1. **Sinc upsampling** to 48 kHz by a polyphase FIR whose taps are soxr VHQ's own impulse
   response (soxr is linear and periodically time-invariant, so this equals
   ``soxr.resample`` of the whole zero-padded signal; taps below 1e-9 of the peak dropped,
   measured >= 180 dB). soxr's own streaming resampler releases output in bursts of up to
   76 ms, which would be latency.
2. **The network** as an ONNX *step graph* (``export/export_stream.py``): every convolution
   cached, so it runs on the hop's frames only and returns the band ``delay_net`` samples
   late. Refiner steps are more instances of the same graph in cascade, each with its own
   state, re-noised with position-keyed noise at the absolute position of its input.
3. **The envelope post-filter** on the absolute 512/128 STFT grid, frames computed once, the
   overlap-add carried (:mod:`rtaudio.tasks.envelope`).
4. The calibrated gain, the input band added back (a delay line), and for another output
   rate (8 -> 16 kHz, or any ``out_rate``) the same soxr-equivalent FIR down to it.

Each stage has a fixed delay; their sum is :attr:`StreamingUpsampleKernel.delay`. At
:meth:`~StreamingUpsampleKernel.reset` the state is the one a stream of silence before
position 0 leaves behind (computed once by running silence through the pipeline, then
copied), so the output equals the whole-signal window-kernel output from the first sample.
"""

from __future__ import annotations

import copy
import math
from fractions import Fraction
from functools import lru_cache
from math import gcd
from pathlib import Path

import numpy as np
import soxr

from rtaudio.backends import open_model
from rtaudio.engine.contracts import rate_quantum, round_up
from rtaudio.engine.noise import position_noise
from rtaudio.tasks import envelope
from rtaudio.tasks.neural_upsample import MODEL_RATE, SIGMA_PURE, band_gain, envelope_maps

__all__ = ["DEFAULT_HOP_MS", "STATE_NAMES", "StreamingUpsampleKernel", "band_gain", "soxr_taps", "stream_kernel"]

#: the step graph's state tensors; each has a ``<name>_next`` output
STATE_NAMES = ("state_in", "state_h", "state_hp")
STEP_INPUTS = ("cond", "x_t", "sigma", "cutoff", *STATE_NAMES)
STEP_OUTPUTS = ("high_band", *(f"{n}_next" for n in STATE_NAMES))
#: hop when neither the caller nor the card says (the card's ``stream.hop_ms`` is measured)
DEFAULT_HOP_MS = 10.0
#: soxr taps smaller than this (relative to the largest) are dropped: >= 180 dB below the signal
TAP_FLOOR = 1e-9


@lru_cache(maxsize=16)
def soxr_taps(in_rate: int, out_rate: int) -> tuple[np.ndarray, int, int]:
    """soxr VHQ as a block FIR: ``(taps (M, L, K), first_lag, M)``.

    soxr maps every block of ``M`` input samples to ``L`` output samples
    (``M / L = in_rate / out_rate`` in lowest terms) linearly and the same way for every block,
    so its impulse responses at the ``M`` input phases define it: output block ``o`` is the sum
    over input phases ``p`` and lags ``b`` of ``taps[p, :, b - first_lag] * x[(o - b) * M + p]``.
    ``first_lag`` is negative: the filter's lookahead, in blocks. Measured against
    ``soxr.resample`` of whole zero-padded signals: equal to float32 rounding (148-160 dB).
    """
    g = gcd(in_rate, out_rate)
    m, n_l = in_rate // g, out_rate // g
    blocks = 2 * max(64, -(-2048 // min(m, n_l)))  # impulse in the middle, well clear of soxr's edges
    centre = blocks // 2
    responses = []
    for p in range(m):
        x = np.zeros(blocks * m)
        x[centre * m + p] = 1.0
        responses.append(soxr.resample(x, in_rate, out_rate, quality="VHQ"))
    r = np.stack(responses)  # (M, n_out); output index centre * L + rel
    keep = np.nonzero(np.abs(r).max(axis=0) > TAP_FLOOR * np.abs(r).max())[0]
    first, last = (keep[0] - centre * n_l) // n_l, (keep[-1] - centre * n_l) // n_l
    taps = np.zeros((m, n_l, last - first + 1))
    for b in range(first, last + 1):
        lo = (centre + b) * n_l
        taps[:, :, b - first] = r[:, lo : lo + n_l]
    return taps, int(first), m


class _BlockFir:
    """Streaming soxr-equivalent resampler with a fixed delay of ``delay`` output samples."""

    def __init__(self, in_rate: int, out_rate: int, channels: int, align: int = 1) -> None:
        taps, first, self.m = soxr_taps(in_rate, out_rate)
        _, self.l, k = taps.shape
        last = first + k - 1
        # delay: the lookahead (-first blocks), rounded up so it is a multiple of ``align`` samples
        lag = next(d for d in range(-first, -first + align + 1) if (d * self.l) % align == 0)
        self.delay = lag * self.l
        # Output block o = newest - lag; window block j (oldest first) is input block newest - (k - 1 - j),
        # so it sits at lag b = k - 1 - j - lag behind the output: taps[..., b - first] where first <= b <= last.
        self.k = last + lag + 1
        w = np.zeros((self.k, self.m, self.l))
        for j in range(self.k):
            b = self.k - 1 - j - lag
            if b >= first:
                w[j] = taps[:, :, b - first]
        self.weights = w.reshape(self.k * self.m, self.l)
        self.hist = np.zeros((channels, self.k - 1, self.m))

    def process(self, x: np.ndarray) -> np.ndarray:
        """``(channels, n * M)`` in, ``(channels, n * L)`` out, float64."""
        c = x.shape[0]
        blocks = np.concatenate([self.hist, x.reshape(c, -1, self.m)], axis=1)
        self.hist = blocks[:, blocks.shape[1] - (self.k - 1) :]
        win = np.lib.stride_tricks.sliding_window_view(blocks, self.k, axis=1)  # (c, n, M, k)
        n = win.shape[1]
        flat = np.ascontiguousarray(win.transpose(0, 1, 3, 2)).reshape(c * n, self.k * self.m)
        return (flat @ self.weights).reshape(c, n * self.l)


class _Delay:
    """A multi-tap delay line: push a block of ``n`` samples, read its span back ``d <= longest`` late."""

    def __init__(self, channels: int, longest: int, n: int, dtype: type = np.float32) -> None:
        self.n = n
        self.buf = np.zeros((channels, longest + n), dtype)

    def push(self, block: np.ndarray) -> None:
        self.buf = np.concatenate([self.buf[:, self.n :], block], axis=1)

    def tap(self, d: int) -> np.ndarray:
        end = self.buf.shape[1] - d
        return self.buf[:, end - self.n : end]


class _EnvelopeStream:
    """The envelope post-filter (:func:`rtaudio.tasks.envelope.shape`) on a stream, frame by frame.

    Frames sit on the absolute grid (starts at multiples of ``HOP``); each is analysed once,
    its gain read from the ridge map with ``past``/``future`` frames of context, and
    overlap-added. ``delay`` is the least that makes every emitted sample final, raised to a
    multiple of ``align`` past ``offset`` (the upstream delay) so later stages stay on their grids.

    Parameters
    ----------
    emap
        The input rate's map; ``None``: no post-filter, only the delay.
    start
        Absolute 48 kHz position of the first sample :meth:`process` will get.
    block
        Samples per call.
    """

    def __init__(
        self, emap: envelope.EnvelopeMap | None, channels: int, start: int, block: int, offset: int, align: int
    ) -> None:
        self.emap, self.block = emap, block
        hop, n_fft = envelope.HOP, envelope.N_FFT
        self.past, self.future = (emap.past, emap.future) if emap is not None else (0, 0)
        need = 0 if emap is None else self._least_delay(start, block)
        self.delay = need + (-(offset + need) % align)
        self.out_pos = start - self.delay
        if emap is None:
            self.line = _Delay(channels, self.delay, block)
            return
        bins = n_fft // 2 + 1
        self.buf_pos = hop * math.floor(start / hop)  # start of the next frame to analyse
        self.cond = np.zeros((channels, start - self.buf_pos))
        self.band = np.zeros((channels, start - self.buf_pos))
        self.context = np.zeros((channels, self.past + self.future, bins), complex)
        self.pending = np.zeros((channels, self.future, bins), complex)
        self.acc = np.zeros((channels, 0))  # overlap-add from out_pos on
        self.norm = np.sum(envelope._WINDOW**2) / hop  # Hann^2 over 4 hops sums to 1.5
        self.sel = emap.out_bands >= 0

    def _least_delay(self, start: int, block: int) -> int:
        # sample t is final once frame floor(t / HOP) + future is analysed, i.e. the input reaches
        # its end; block ends repeat modulo HOP, so one period of them decides
        hop, n_fft = envelope.HOP, envelope.N_FFT
        ends = [start + (k + 1) * block for k in range(hop)]
        for d in range(n_fft + hop * (self.future + 2)):
            if all(hop * ((e - d - 1) // hop + self.future) + n_fft <= e for e in ends):
                return d
        raise AssertionError("no envelope delay found")

    def process(self, cond: np.ndarray, band: np.ndarray) -> np.ndarray:
        """``cond`` (the interpolated input) and ``band`` (the network's band), ``(channels, block)``
        float32 at the same positions; returns the shaped band ``delay`` samples late, float32."""
        if self.emap is None:
            self.line.push(band)
            return self.line.tap(self.delay)
        hop, n_fft, emap = envelope.HOP, envelope.N_FFT, self.emap
        self.cond = np.concatenate([self.cond, cond], axis=1)
        self.band = np.concatenate([self.band, band], axis=1)
        n = max(0, (self.cond.shape[1] - n_fft) // hop + 1)
        if n:
            idx = np.arange(n_fft)[None, :] + hop * np.arange(n)[:, None]
            cond_spec = np.fft.rfft(self.cond[:, idx] * envelope._WINDOW, axis=2)
            band_spec = np.fft.rfft(self.band[:, idx] * envelope._WINDOW, axis=2)
            self.cond, self.band = self.cond[:, n * hop :], self.band[:, n * hop :]
            first = self.buf_pos // hop - self.future  # first frame whose context is now complete
            self.buf_pos += n * hop
            ctx = np.concatenate([self.context, cond_spec], axis=1)
            ready = np.concatenate([self.pending, band_spec], axis=1)
            self.context = ctx[:, ctx.shape[1] - self.past - self.future :]
            self.pending, ready = ready[:, n:], ready[:, :n]
            # rows past..past+n of the context block have all their neighbours: the map's edge padding never acts
            target = np.stack([emap.predict(c)[self.past : self.past + n] for c in ctx])
            self._add(first, envelope.shaped_frames(ready, target, emap))
        if self.acc.shape[1] < self.block:  # only while the pipeline fills: no frame reaches here yet
            self.acc = np.concatenate([self.acc, np.zeros((len(self.acc), self.block - self.acc.shape[1]))], axis=1)
        out = self.acc[:, : self.block] / self.norm
        self.acc = self.acc[:, self.block :]
        self.out_pos += self.block
        return out.astype(np.float32)

    def _add(self, first: int, frames: np.ndarray) -> None:
        hop, n_fft = envelope.HOP, envelope.N_FFT
        c, n, _ = frames.shape
        lo = hop * first - self.out_pos  # may be < 0 only while the pipeline fills (warm-up)
        end = lo + hop * (n - 1) + n_fft
        if end > self.acc.shape[1]:
            self.acc = np.concatenate([self.acc, np.zeros((c, end - self.acc.shape[1]))], axis=1)
        for q in range(n_fft // hop):  # N_FFT is 4 hops: each quarter of every frame lands on whole hops
            span = frames[:, :, q * hop : (q + 1) * hop].reshape(c, -1)
            a = lo + q * hop
            if a + span.shape[1] > 0:
                cut = max(0, -a)
                self.acc[:, a + cut : a + span.shape[1]] += span[:, cut:]


class _Pipeline:
    """Everything one stream carries (numpy arrays only, so a warmed-up copy can be restored)."""

    def __init__(self, k: StreamingUpsampleKernel, channels: int, start: int) -> None:
        b = k.block48
        self.up = _BlockFir(k.in_rate, MODEL_RATE, channels, align=k.s2d)
        self.pos = start * k.ratio - self.up.delay  # absolute 48 kHz position of the next cond block
        n_net = len(k.sigmas) + 1
        self.states = [{n: np.zeros((channels, *shape), np.float32) for n, shape in k.state_shapes.items()}]
        self.states += [copy.deepcopy(self.states[0]) for _ in k.sigmas]
        out_m = 1 if k.out_rate == MODEL_RATE else soxr_taps(MODEL_RATE, k.out_rate)[2]
        upstream = self.up.delay + n_net * k.delay_net
        self.env = _EnvelopeStream(k.envelope, channels, self.pos - n_net * k.delay_net, b, upstream, out_m)
        self.y_delay = upstream + self.env.delay  # 48 kHz output of the band stage, multiple of out_m
        self.band_delay = n_net * k.delay_net + self.env.delay  # of the input band behind cond
        self.cond = _Delay(channels, self.band_delay, b)
        self.down = None if k.out_rate == MODEL_RATE else _BlockFir(MODEL_RATE, k.out_rate, channels)
        self.zeros = np.zeros((channels, 1, b), np.float32)


class StreamingUpsampleKernel:
    """Stream kernel of the shipped band-extension upsampler: state carried, nothing recomputed.

    Streaming contract (:class:`~rtaudio.engine.contracts.StreamKernel`): :meth:`process` takes
    hop ``k`` (input samples ``[k * hop, (k + 1) * hop)`` after :meth:`reset`), float32
    ``(channels, hop)``, and returns ``(channels, hop * out_rate // in_rate)``: the whole-signal
    output of the window kernel (:class:`~rtaudio.tasks.neural_upsample.NeuralUpsampleKernel`,
    same card, steps and seed) ``delay`` output samples late, to float rounding. The channel
    count is fixed from the first hop after a reset.

    Latency: ``delay`` = sinc FIR lookahead (396 samples at 48 kHz from 16 kHz) + the step
    graph's ``delay_net`` (2192: the network's one-sided receptive field) per network pass
    (``steps + 1`` of them) + the envelope post-filter's frame lookahead (384-511), rounded so
    every stage stays on its grid, + for another output rate its FIR's lookahead. The
    :class:`~rtaudio.engine.stream.StreamProcessor` adds up to one hop of buffering; the card's
    ``stream.latency_ms_by_pair`` states the total.

    Refiner steps (``steps > 0``) cascade one more step-graph instance per step, each with its
    own state and ``delay_net`` more latency; the default is 0 steps.

    Parameters
    ----------
    card
        The model card (loaded, sha256 checked, by :func:`rtaudio.cards.load_card`).
    model_path
        The model's ``.onnx`` (its card's folder holds the step graph and envelope maps).
    in_rate, out_rate
        A rate pair of the card, or any ``out_rate`` (reached from 48 kHz by a soxr-equivalent FIR).
    hop
        Input samples per :meth:`process` call; rounded up to the kernel's quantum (:attr:`hop`).
    steps, seed
        Refiner steps (``None``: the card's default) and the noise seed, as for the window kernel.
    backend, threads
        ONNX Runtime provider and intra-op threads.
    """

    def __init__(
        self,
        card: dict,
        model_path: str | Path,
        in_rate: int,
        out_rate: int,
        hop: int,
        *,
        steps: int | None = None,
        seed: int = 0,
        backend: str = "cpu",
        threads: int | None = None,
    ) -> None:
        model_path = Path(model_path)
        entry = card["stream"]
        pairs = {tuple(p) for p in card["rate_pairs"]}
        if not any(a == in_rate for a, _ in pairs):
            raise ValueError(f"{model_path.name} serves {sorted(pairs)}, not a {in_rate} Hz input")
        if MODEL_RATE % in_rate:
            raise ValueError(f"the band rate must divide {MODEL_RATE} Hz, not {in_rate}")
        self.in_rate, self.out_rate = int(in_rate), int(out_rate)
        self.ratio = MODEL_RATE // self.in_rate
        self.s2d = int(card.get("s2d", 8))
        self.seed = int(seed)
        self.steps = int(card["steps_default"] if steps is None else steps)
        if str(self.steps) not in card["schedules"]:
            raise ValueError(f"no {self.steps}-step schedule; the card has {sorted(card['schedules'], key=int)}")
        self.sigmas = [float(s) for s in card["schedules"][str(self.steps)]]
        self.delay_net = int(entry["net_delay_samples"])
        if self.delay_net % self.s2d:
            raise ValueError("the step graph's delay must be whole space-to-depth frames")
        self.envelope = envelope_maps(card, model_path).get(self.in_rate)
        self.gain = band_gain(card, self.in_rate, self.out_rate)
        self._cutoff = np.array([self.in_rate / 2], np.float32)
        self.hop = round_up(max(int(hop), 1), self.hop_quantum(self.in_rate, self.out_rate, self.s2d))
        self.block48 = self.hop * self.ratio
        self.network = open_model(
            model_path.parent / entry["file"], backend, threads, inputs=STEP_INPUTS, outputs=STEP_OUTPUTS
        )
        self.state_shapes = {n: tuple(self.network.input_shapes[n][1:]) for n in STATE_NAMES}
        self._warm: dict[int, _Pipeline] = {}
        self._p: _Pipeline | None = None
        probe = _Pipeline(self, 1, 0)
        self.delay = self._out_delay(probe)
        self.reset()
        self._warm_for(1)

    @staticmethod
    def hop_quantum(in_rate: int, out_rate: int, s2d: int = 8) -> int:
        """Hops must be a multiple of this: whole space-to-depth frames and whole output FIR blocks."""
        ratio = MODEL_RATE // in_rate
        out_m = 1 if out_rate == MODEL_RATE else soxr_taps(MODEL_RATE, out_rate)[2]
        grid = math.lcm(s2d, out_m)
        return math.lcm(grid // gcd(grid, ratio), rate_quantum(in_rate, out_rate))

    @property
    def latency_samples(self) -> int:
        """The kernel's algorithmic delay in output samples (without the scheduler's hop of buffering)."""
        return self.delay

    def _out_delay(self, p: _Pipeline) -> int:
        if p.down is None:
            return p.y_delay
        scale = Fraction(self.out_rate, MODEL_RATE)
        return int(p.y_delay * scale) + p.down.delay

    def reset(self) -> None:
        """Start a new stream at position 0 (the state silence before it leaves)."""
        self._p = None

    def process(self, block: np.ndarray) -> np.ndarray:
        """One hop, float32 ``(channels, hop)`` -> ``(channels, hop * out_rate // in_rate)``."""
        block = np.asarray(block, dtype=np.float32)
        if self._p is None:
            self._p = copy.deepcopy(self._warm_for(block.shape[0]))
        elif block.shape[0] != self._p.zeros.shape[0]:
            raise ValueError(f"stream has {self._p.zeros.shape[0]} channel(s), got a block of {block.shape[0]}")
        return self._step(self._p, block)

    def _warm_for(self, channels: int) -> _Pipeline:
        """The state at position 0 for ``channels``: silence run through a cold pipeline until it is forgotten."""
        if channels not in self._warm:
            hops = self._warmup_hops()
            p = _Pipeline(self, channels, -hops * self.hop)
            silence = np.zeros((channels, self.hop), np.float32)
            for _ in range(hops):
                self._step(p, silence)
            self._warm[channels] = p
        return self._warm[channels]

    def _warmup_hops(self) -> int:
        # Outputs depend on at most the last `memory` input-side samples of every stage's state; after that
        # much silence a cold start is forgotten exactly (all stages are finite: FIR, cached convs, frames).
        p = _Pipeline(self, 1, 0)
        net = self.s2d * sum(s[-1] for s in self.state_shapes.values())  # caches and delay lines, as samples
        memory = p.up.k * self.ratio + (len(self.sigmas) + 1) * net + p.y_delay + 3 * envelope.N_FFT
        if p.down is not None:
            memory += p.down.k * p.down.m
        return -(-memory // self.block48) + 1

    def _step(self, p: _Pipeline, block: np.ndarray) -> np.ndarray:
        cond = p.up.process(block.astype(np.float64)).astype(np.float32)
        p.cond.push(cond)
        x_t, hb = p.zeros, p.zeros
        for i, sigma in enumerate([SIGMA_PURE, *self.sigmas]):
            lag = i * self.delay_net
            if i:  # refiner i - 1: re-noise the band at its own absolute position
                start = p.pos - lag
                eps = np.stack([position_noise(self.seed, c * 64 + i - 1, start, self.block48) for c in range(len(hb))])
                x_t = (hb + np.float32(sigma) * eps[:, None, :]).astype(np.float32)
            feeds = {"cond": p.cond.tap(lag)[:, None], "x_t": x_t, "sigma": np.array([sigma], np.float32)}
            feeds["cutoff"] = self._cutoff
            feeds.update(p.states[i])
            out = self.network.run(feeds)
            p.states[i] = {n: out[f"{n}_next"] for n in STATE_NAMES}
            hb = out["high_band"]
        n_net = len(self.sigmas) + 1
        shaped = p.env.process(p.cond.tap(n_net * self.delay_net), hb[:, 0])
        y = p.cond.tap(p.band_delay) + np.float32(self.gain) * shaped
        p.pos += self.block48
        if p.down is not None:
            y = p.down.process(y.astype(np.float64)).astype(np.float32)
        return np.ascontiguousarray(y, dtype=np.float32)


def stream_kernel(
    card: dict,
    model_path: Path,
    band_rate: int,
    out_rate: int,
    *,
    hop_ms: float | None = None,
    steps: int | None = None,
    seed: int = 0,
    backend: str = "cpu",
    threads: int | None = None,
) -> StreamingUpsampleKernel:
    """The card's streaming kernel for ``band_rate`` -> ``out_rate`` (the task registry's builder).

    Parameters
    ----------
    card, model_path
        The verified card and the model's ``.onnx`` path (the card's ``stream`` entry names the step graph).
    band_rate, out_rate
        The input band's rate (a card rate) and the output rate (any; 48 kHz and the card's pairs are native).
    hop_ms
        Hop in milliseconds (``None``: the card's measured ``stream.hop_ms``), rounded up to the quantum.
    steps, seed
        Refiner steps (``None``: the card's default) and the noise seed.
    backend, threads
        ONNX Runtime provider and intra-op threads (``None``: the card's ``stream.threads``, else ORT's default).
    """
    entry = card["stream"]
    ms = float(entry.get("hop_ms", DEFAULT_HOP_MS) if hop_ms is None else hop_ms)
    threads = entry.get("threads") if threads is None else threads
    hop = round(ms * band_rate / 1000)
    return StreamingUpsampleKernel(
        card, model_path, band_rate, out_rate, hop, steps=steps, seed=seed, backend=backend, threads=threads
    )


class SourceResampledStream:
    """The stream kernel fed from a source stored at another rate (a 48 kHz device carrying a 16 kHz band).

    A streaming soxr-equivalent FIR takes the source to the band rate, then the band-rate kernel
    runs as usual. The FIR's delay is rounded up so that, on the model's 48 kHz timeline, it is a
    whole number of the periods the kernel's grids repeat with (space-to-depth frames, envelope
    hops, output FIR blocks): the kernel then sees the band signal shifted by a whole number of
    grid periods, and its output equals the whole-signal window path (``RateAdapter``) shifted by
    the declared delay. Latency: the FIR's delay + the kernel's.
    """

    def __init__(self, inner: StreamingUpsampleKernel, source_rate: int) -> None:
        self.inner = inner
        self.in_rate, self.out_rate = int(source_rate), inner.out_rate
        out_m = 1 if inner.out_rate == MODEL_RATE else soxr_taps(MODEL_RATE, inner.out_rate)[2]
        grid48 = math.lcm(envelope.HOP, inner.s2d, out_m)
        self._align = grid48 // gcd(grid48, inner.ratio)  # in band samples
        probe = _BlockFir(self.in_rate, inner.in_rate, 1, align=self._align)
        if (inner.hop * self.in_rate) % inner.in_rate or (inner.hop * self.in_rate // inner.in_rate) % probe.m:
            raise ValueError(f"hop {inner.hop} at {inner.in_rate} Hz is not whole FIR blocks at {self.in_rate} Hz")
        self.hop = inner.hop * self.in_rate // inner.in_rate
        self.delay = probe.delay * inner.out_rate // inner.in_rate + inner.delay
        self.steps = inner.steps
        self.reset()

    def reset(self) -> None:
        """Start a new stream at position 0."""
        self.inner.reset()
        self._fir: _BlockFir | None = None

    def process(self, block: np.ndarray) -> np.ndarray:
        """One hop at the source rate -> the kernel's output for it."""
        if self._fir is None:
            self._fir = _BlockFir(self.in_rate, self.inner.in_rate, block.shape[0], align=self._align)
        band = self._fir.process(np.asarray(block, dtype=np.float64)).astype(np.float32)
        return self.inner.process(band)

"""The engine pump shared by the live adapters: two rings, a worker thread, xrun accounting.

An adapter's audio callback calls :meth:`EnginePump.transfer`, which only copies the
device's input block into the input ring and fills the device's output block from the
output ring. A worker thread drains the input ring through the :class:`Processor` and
fills the output ring. The output ring is primed with silence so that the callback
always finds audio while the engine holds back its constant latency:

    latency = engine latency (chunk + crossfade + lookahead)
            + headroom (the worker's time budget: at least one chunk, and enough primed audio
              to ride out 25 ms of scheduling stalls at the compute load measured at start-up)
            + one device block (the worker sees a block only after its callback)

When the worker falls behind, the callback plays silence for the missing frames (audio
stays continuous, nothing blocks) and counts a ring underflow; the worker later drops as
many frames to keep the latency constant, or, with ``adaptive``, keeps them and grows
the latency to one more chunk.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

import numpy as np

from rtaudio.engine.processor import Processor
from rtaudio.engine.ring import RingBuffer

#: frames of input the worker may fall behind before input is dropped
INPUT_SLACK_SECONDS = 2.0
#: the largest host block the rings are sized for by default (JACK's usual maximum)
MAX_BLOCK = 8192
#: stalls the worker must ride out (another process on its core, a slow page): at zero compute
#: load this is the headroom primed into the output ring, whatever the chunk or hop
JITTER_SECONDS = 0.025
#: the compute load (engine seconds per audio second) past which the headroom stops growing: a
#: model this slow on this machine drops out whatever the buffer (the panel's RTF says so)
MAX_LOAD = 0.9
#: audio the warm-up runs to measure the compute load (at least three chunks)
WARM_UP_SECONDS = 0.25
#: how much heavier the load is live than in the quiet warm-up: the device callback, the audio
#: server and its other clients share the cores (measured on a 2-core VM with JACK: the shipped
#: upsampler from 48 kHz at 0.62-0.66 warm, 0.70-0.76 live)
LIVE_LOAD_FACTOR = 1.15
#: --adaptive stops growing after this many chunks and drops frames instead
MAX_GROWTH_CHUNKS = 16


def headroom_frames(load: float, rate: int) -> int:
    """Primed frames that ride out :data:`JITTER_SECONDS` of stall at this compute load.

    After a stall the worker catches up at ``1 - load`` of real time, so the stall it can
    absorb shrinks with the load: a model at RTF 0.75 live needs four times the idle headroom.
    ``load`` is a quiet warm-up's; the live one is :data:`LIVE_LOAD_FACTOR` times heavier.
    (A pump keeps at least one chunk or render besides: a stream kernel's hop can be a few ms,
    less than the jitter; a long chunk is more.)
    """
    live = min(LIVE_LOAD_FACTOR * load, MAX_LOAD)
    return round(JITTER_SECONDS * rate / (1.0 - live))


class EnginePump:
    """Runs a :class:`Processor` on a worker thread between two preallocated rings.

    Parameters
    ----------
    processor
        The engine; its input and output rates must both be the device rate.
    block
        Expected frames per callback (the device or JACK period); part of the latency.
    adaptive
        Grow the latency by one chunk on an underrun (up to 16 chunks) instead of
        dropping frames to hold it constant.
    sink
        Called on the worker thread with every output block of the engine, in stream
        order and before any underrun handling (``--record``); may block briefly.
    max_block
        Largest callback the rings must absorb.
    """

    def __init__(
        self,
        processor: Processor,
        block: int,
        *,
        adaptive: bool = False,
        sink: Callable[[np.ndarray], None] | None = None,
        max_block: int = MAX_BLOCK,
    ) -> None:
        if processor.in_rate != processor.out_rate or processor.out_channels != processor.channels:
            raise ValueError("a live engine takes and gives audio at the device rate and channel count")
        self.proc = processor
        self.rate = processor.in_rate
        self.channels = processor.channels
        self.adaptive = adaptive
        self.sink = sink
        self.max_block = max(int(max_block), int(block))
        self.block = int(block)
        #: engine seconds per audio second measured by :meth:`warm_up` (``None`` before it)
        self.load: float | None = None
        self.headroom = self._headroom(0.0)
        self.growths = 0  # chunks added by --adaptive
        self.target_latency = self._base_latency()
        growth_room = MAX_GROWTH_CHUNKS * processor.hop if adaptive else 0
        most = self._headroom(MAX_LOAD) - self.headroom  # what the measured load may add
        self._in = RingBuffer(round(INPUT_SLACK_SECONDS * self.rate) + 2 * self.max_block, self.channels)
        self._out = RingBuffer(
            self.target_latency + most + growth_room + 2 * self.max_block + 2 * processor.hop, self.channels
        )
        self._scratch = np.zeros((self.max_block, self.channels), dtype=np.float32)
        self._zeros = np.zeros((self.max_block, self.channels), dtype=np.float32)
        # written only by the callback
        self.callbacks = 0
        self.frames_in = 0
        self.ring_overflows = 0  # callbacks whose input did not fit the input ring
        self.ring_underflows = 0  # callbacks that found too little output
        self.input_overflows = 0  # device status flags, counted by the adapter
        self.output_underflows = 0
        self._dropped_in = 0
        self._silenced_out = 0
        # written only by the worker
        self.frames_processed = 0
        self.frames_out = 0
        self.in_peak = 0.0
        self.out_peak = 0.0
        self.output_ring_overflows = 0
        self.error: BaseException | None = None
        self._dropped_in_handled = 0
        self._silenced_out_handled = 0
        self._applied_latency = self._out.write_zeros(self.target_latency)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rtaudio-engine", daemon=True)

    # -- properties -----------------------------------------------------------------
    @property
    def latency_frames(self) -> int:
        """Current input-to-output delay inside the process, in frames (device rate)."""
        return self.target_latency

    @property
    def buffer_frames(self) -> int:
        """The part of :attr:`latency_frames` that is buffering, not the engine's own delay."""
        return self.target_latency - self.proc.latency_samples

    def _headroom(self, load: float) -> int:
        return max(self.proc.hop, headroom_frames(load, self.rate))

    def _base_latency(self) -> int:
        return self.proc.latency_samples + self.headroom + self.block + self.growths * self.proc.hop

    # -- control (any non-real-time thread) --------------------------------------------
    def start(self) -> None:
        """Warm the engine up, then start the worker thread (before the device calls :meth:`transfer`)."""
        self.warm_up()
        self._thread.start()

    def warm_up(self) -> None:
        """Run silence through the engine, measure its load, size the headroom, start a fresh stream.

        A model's first call pays for allocations and caches (measured: 118 ms for the
        streaming vocoder's first 12.5 ms hop, 1-10 ms after): paid here, not inside the
        device's first deadlines. The chunks after it measure the compute load on this machine
        (:attr:`load`), which sets the headroom (:meth:`_headroom`) and so the latency that is
        reported and primed. The stream that follows is unaffected (``reset``).
        """
        hop = self.proc.hop
        self.proc.process(np.zeros((self.proc.delay_in + hop, self.channels), np.float32))
        silence = np.zeros((hop, self.channels), np.float32)
        seconds = []  # per chunk: its median is the load, whatever a stray slow call costs
        for _ in range(max(3, math.ceil(WARM_UP_SECONDS * self.rate / hop))):
            t0 = time.perf_counter()
            self.proc.process(silence)
            seconds.append(time.perf_counter() - t0)
        self.load = float(np.median(seconds)) / (hop / self.rate)
        self.proc.reset()
        self.headroom = self._headroom(self.load)
        target = self._base_latency()
        self._applied_latency += self._out.write_zeros(target - self.target_latency)
        self.target_latency = target

    def stop(self) -> np.ndarray:
        """Stop the worker, then flush the engine; returns the tail (also given to ``sink``).

        Call after the device stopped calling :meth:`transfer`.
        """
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join()
        self._drain()  # input that arrived after the worker's last pass
        tail = self.proc.flush()
        tail = tail[:, None] if tail.ndim == 1 else tail
        if self.sink is not None and len(tail):
            self.sink(tail)
        return tail

    def set_block(self, block: int) -> None:
        """The host's period changed: the worker re-primes to the new latency.

        Raises ``ValueError`` when the rings cannot take blocks that large.
        """
        if block > self.max_block:
            raise ValueError(f"buffer size {block} exceeds the {self.max_block} frames rtaudio was sized for")
        self.block = int(block)
        self.target_latency = self._base_latency()

    # -- real-time side ----------------------------------------------------------------
    def transfer(self, indata: np.ndarray, outdata: np.ndarray) -> None:
        """Copy one device block in and one out. Safe to call from an audio callback.

        Real-time contract: this only copies between preallocated buffers, updates
        counters and sets an event; it never allocates audio memory, takes a lock that
        the engine holds, touches files or logs. When the output ring runs dry the
        missing frames are played as silence and counted, so the device never waits.

        Parameters
        ----------
        indata
            ``(frames, channels)`` float32 block captured by the device.
        outdata
            ``(frames, channels)`` float32 block to fill for playback.
        """
        n = len(indata)
        written = self._in.write(indata)
        if written < n:
            self.ring_overflows += 1
            self._dropped_in += n - written
        self.frames_in += n
        got = self._out.read_into(outdata)
        if got < len(outdata):
            outdata[got:] = 0.0
            self.ring_underflows += 1
            self._silenced_out += len(outdata) - got
        self.callbacks += 1
        self._wake.set()

    # -- worker -------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self._wake.wait(0.1)
                self._wake.clear()
                self._drain()
        except BaseException as exc:  # noqa: BLE001 - reported to the controlling thread
            self.error = exc

    def _drain(self) -> None:
        while True:
            dropped = self._dropped_in - self._dropped_in_handled
            if dropped:  # keep the engine's timeline in step with the device's
                self._dropped_in_handled += dropped
                self._feed(np.zeros((dropped, self.channels), dtype=np.float32))
            n = self._in.read_into(self._scratch)
            if not n:
                return
            self._feed(self._scratch[:n])

    def _feed(self, block: np.ndarray) -> None:
        self.in_peak = max(self.in_peak, _peak(block))
        out = self.proc.process(block)
        out = out[:, None] if out.ndim == 1 else out
        self.frames_processed += len(block)
        if self.sink is not None and len(out):
            self.sink(out)
        self.out_peak = max(self.out_peak, _peak(out))
        self._deliver(out)

    def _deliver(self, out: np.ndarray) -> None:
        silenced = self._silenced_out - self._silenced_out_handled
        if silenced:
            # the callback already played this much silence in place of engine output
            self._silenced_out_handled += silenced
            self._applied_latency += silenced
            if self.adaptive and self.growths < MAX_GROWTH_CHUNKS:
                self.growths += 1
                self.target_latency = self._base_latency()
        adjust = self.target_latency - self._applied_latency
        if adjust > 0:
            self._applied_latency += self._out.write_zeros(adjust)
        elif adjust < 0:
            skip = min(-adjust, len(out))
            out = out[skip:]
            self._applied_latency -= skip
        written = self._out.write(out)
        self.frames_out += written
        if written < len(out):  # the device stopped consuming: nothing to play it to
            self.output_ring_overflows += 1

    def raise_if_failed(self) -> None:
        """Re-raise a worker failure in the calling thread (as ``RuntimeError``)."""
        if self.error is not None:
            raise RuntimeError(f"engine failed: {self.error}") from self.error


def _peak(block: np.ndarray) -> float:
    return float(np.max(np.abs(block))) if len(block) else 0.0

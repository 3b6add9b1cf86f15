"""The output-only pump for generators: a worker keeps the output ring filled, the callback copies.

A :class:`SourcePump` is :class:`~rtaudio.live.pump.EnginePump`'s counterpart for a source with
no input (:class:`~rtaudio.engine.generator.GeneratorSource`): the device clock pulls. The
audio callback (:meth:`SourcePump.transfer`) only copies frames from a preallocated ring to the
device buffer, counts an underrun when the ring runs dry (playing silence for the missing
frames, never waiting), and wakes the worker. The worker tops the ring up to ``target`` frames
by rendering whole generator calls, resampling to the device rate (soxr, streaming) and
duplicating mono to the device's channels.

Control changes (a chord from a key press or a control message) are queued from any thread and
handed to the source by the worker before its next render, so each takes effect at the
generator's next block boundary; :attr:`GeneratorSource.control_log` records where (in
model-rate samples). What the listener hears lags that position by the ring's fill, at most
``target`` frames: :attr:`control_latency_frames`.

The attributes :class:`~rtaudio.live.stats.StatsTracker` reads (``proc.stats``,
``frames_processed``, the xrun counters, ...) have the same meaning as on ``EnginePump``, so
the live panel, ``--json-log`` and the summaries work unchanged.
"""

from __future__ import annotations

import collections
import threading
import time
from typing import Any

import numpy as np

from rtaudio.engine.generator import GeneratorSource
from rtaudio.engine.ring import RingBuffer
from rtaudio.live.pump import MAX_BLOCK, MAX_LOAD, headroom_frames

#: generator calls' worth of audio kept in the ring beyond one device block, at least (a slow
#: generator keeps more: :func:`~rtaudio.live.pump.headroom_frames` of its measured load)
RENDERS_AHEAD = 3


class _SourceView:
    """What the stats read from ``pump.proc``: chunk timings, the model delay (none), chunk length."""

    latency_samples = 0

    def __init__(self, source: GeneratorSource) -> None:
        self.stats = source.stats
        self.chunk_seconds = source.chunk_seconds


class SourcePump:
    """Runs a :class:`GeneratorSource` on a worker thread into one preallocated output ring.

    Parameters
    ----------
    source
        The pulled generator (its ``render_frames`` is the worker's unit of work).
    rate
        Device sample rate (the source is resampled when it differs).
    block
        Expected frames per callback (the device or JACK period).
    channels
        Device output channels (a mono source is copied to each).
    target
        Frames the worker keeps in the ring (default: one block plus three generator calls, or
        more for a generator whose load, measured while priming, needs more to ride out stalls).
    max_block
        Largest callback the ring must absorb.
    """

    def __init__(
        self,
        source: GeneratorSource,
        rate: int,
        block: int,
        channels: int = 1,
        *,
        target: int | None = None,
        max_block: int = MAX_BLOCK,
    ) -> None:
        self.source = source
        self.proc = _SourceView(source)
        self.rate = int(rate)
        self.channels = int(channels)
        self.block = int(block)
        self.max_block = max(int(max_block), self.block)
        self.render_device_frames = -(-source.render_frames * self.rate // source.out_rate)
        self._fixed_target = target
        #: generator seconds per audio second, measured while priming (``None`` before :meth:`start`)
        self.load: float | None = None
        self.target = self._target()
        self._resampler = None
        if self.rate != source.out_rate:
            import soxr

            self._resampler = soxr.ResampleStream(source.out_rate, self.rate, source.channels, dtype="float32")
        # room for the largest target, one more render, and the largest callback
        most = max(self.target, self.block + headroom_frames(MAX_LOAD, self.rate))
        self._ring = RingBuffer(most + 2 * self.render_device_frames + 2 * self.max_block, self.channels)
        self._controls: collections.deque[Any] = collections.deque()
        # EnginePump's counters (StatsTracker reads them); a source has no input side
        self.adaptive, self.growths = False, 0
        self.input_overflows = self.ring_overflows = self.output_ring_overflows = 0
        self.in_peak = 0.0
        # written only by the callback
        self.callbacks = 0
        self.frames_played = 0
        self.ring_underflows = 0  # callbacks that found too little audio
        self.output_underflows = 0  # device status flags / JACK xruns, counted by the adapter
        self.silenced_frames = 0
        # written only by the worker
        self.frames_processed = 0  # device-rate frames rendered into the ring
        self.out_peak = 0.0
        self.error: BaseException | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rtaudio-generator", daemon=True)

    def _target(self) -> int:
        ahead = RENDERS_AHEAD * self.render_device_frames
        if self.load is not None:
            ahead = max(ahead, headroom_frames(self.load, self.rate))
        return self._fixed_target or self.block + ahead

    @property
    def latency_frames(self) -> int:
        """Frames buffered between the generator and the device (a source has no input latency)."""
        return self.target

    @property
    def buffer_frames(self) -> int:
        return self.target

    @property
    def control_latency_frames(self) -> int:
        """Most device frames between a control's logged boundary and when it is heard."""
        return self.target + self.render_device_frames

    # -- control (any non-real-time thread) --------------------------------------------
    def control(self, value: Any) -> None:
        """Queue a control change; it takes effect at the generator's next block boundary."""
        self._controls.append(value)
        self._wake.set()

    def start(self) -> None:
        """Prime the ring to the target, then start the worker (before the device calls).

        The priming renders measure the generator's load on this machine (their median: the
        first pays for allocations); a load that needs more headroom raises the target, and
        the ring is topped up to it.
        """
        seconds = []
        while self._ring.read_available < self.target:
            t0 = time.perf_counter()
            self._render()
            seconds.append(time.perf_counter() - t0)
        self.load = float(np.median(seconds)) / (self.source.render_frames / self.source.out_rate)
        self.target = self._target()
        self._fill()
        self._thread.start()

    def stop(self) -> np.ndarray:
        """Stop the worker (after the device stopped calling); returns no tail (a source has none)."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join()
        return np.zeros((0, self.channels), np.float32)

    def set_block(self, block: int) -> None:
        """The host's period changed: keep one more block's worth in the ring."""
        if block > self.max_block:
            raise ValueError(f"buffer size {block} exceeds the {self.max_block} frames rtaudio was sized for")
        self.block = int(block)
        self.target = self._target()

    def raise_if_failed(self) -> None:
        if self.error is not None:
            raise RuntimeError(f"generator failed: {self.error}") from self.error

    # -- real-time side ----------------------------------------------------------------
    def transfer(self, indata: np.ndarray | None, outdata: np.ndarray) -> None:
        """Fill one device block from the ring. Safe to call from an audio callback.

        Real-time contract: copies from a preallocated ring, updates counters and sets an
        event; never allocates audio memory, takes a lock the worker holds, touches files
        or logs. A dry ring plays silence for the missing frames and counts an underrun.
        ``indata`` is ignored (the signature matches :meth:`EnginePump.transfer`).
        """
        got = self._ring.read_into(outdata)
        if got < len(outdata):
            outdata[got:] = 0.0
            self.ring_underflows += 1
            self.silenced_frames += len(outdata) - got
        self.frames_played += len(outdata)
        self.callbacks += 1
        self._wake.set()

    # -- worker -------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self._wake.wait(0.05)
                self._wake.clear()
                self._fill()
        except BaseException as exc:  # noqa: BLE001 - reported to the controlling thread
            self.error = exc

    def _fill(self) -> None:
        while self._ring.read_available < self.target and not self._stop.is_set():
            self._render()

    def _render(self) -> None:
        """One generator call into the ring (controls queued before it take effect first)."""
        while self._controls:
            self.source.control(self._controls.popleft())
        out = self.source.pull(self.source.render_frames)
        if self._resampler is not None:
            out = self._resampler.resample_chunk(out)
        if out.shape[1] != self.channels:
            out = np.repeat(out[:, :1], self.channels, axis=1)
        self.out_peak = max(self.out_peak, float(np.max(np.abs(out))) if len(out) else 0.0)
        written = self._ring.write(out)
        if written < len(out):
            self.output_ring_overflows += 1
        self.frames_processed += len(out)


class JackSource:
    """An output-only JACK client (ports ``out_1..out_N``) around a :class:`SourcePump`: a DAW records it.

    Parameters
    ----------
    client
        An open ``jack.Client`` (see :func:`rtaudio.live.jack_bridge.open_client`); owned from now on.
    source
        The pulled generator.
    channels
        Output ports.
    """

    def __init__(self, client: Any, source: GeneratorSource, channels: int = 1) -> None:
        from rtaudio.live.jack_bridge import jack_module

        self._jack = jack_module()
        self.client = client
        self.rate = int(client.samplerate)
        self.pump = SourcePump(source, self.rate, int(client.blocksize), channels)
        self.outports = [client.outports.register(f"out_{i + 1}") for i in range(channels)]
        self._stage = np.zeros((self.pump.max_block, channels), dtype=np.float32)
        self.failure: str | None = None
        client.set_process_callback(self._process)
        client.set_blocksize_callback(self._on_blocksize)
        client.set_xrun_callback(self._on_xrun)
        client.set_shutdown_callback(self._on_shutdown)

    def _process(self, frames: int) -> None:
        """JACK's process callback: ring -> ports (see :meth:`SourcePump.transfer`)."""
        stage = self._stage[:frames]
        self.pump.transfer(None, stage)
        for c, port in enumerate(self.outports):
            port.get_array()[:] = stage[:, c]

    def _on_blocksize(self, blocksize: int) -> None:
        try:
            self.pump.set_block(blocksize)
        except ValueError as exc:
            self.failure = f"JACK {exc}; restart with a smaller buffer size"

    def _on_xrun(self, _delay_usecs: float) -> None:
        self.pump.output_underflows += 1

    def _on_shutdown(self, _status: object, reason: str) -> None:
        self.failure = f"the JACK server shut down ({reason})"

    def start(self, connect_out: list[str] | tuple[str, ...] = ()) -> None:
        """Prime and start the pump, activate, connect ``out_{i+1} -> connect_out[i]``."""
        self.pump.start()
        try:
            self.client.activate()
        except self._jack.JackError as exc:
            raise RuntimeError(self.failure or f"JACK could not activate the client ({exc})") from None
        if len(connect_out) > len(self.outports):
            raise ValueError(f"{len(connect_out)} ports to connect, but the source has {len(self.outports)} channel(s)")
        for own, target in zip(self.outports, connect_out, strict=False):
            try:
                self.client.get_port_by_name(target)
            except self._jack.JackError:
                raise ValueError(f"no JACK port named {target!r} (list them with jack_lsp)") from None
            self.client.connect(own, target)

    def check(self) -> None:
        if self.failure:
            raise RuntimeError(self.failure)
        self.pump.raise_if_failed()

    def stop(self) -> np.ndarray:
        try:
            self.client.deactivate()
            self.client.close()
        except self._jack.JackError:
            pass
        return self.pump.stop()


class OutputStream:
    """An output-only sound device (sounddevice/PortAudio) around a :class:`SourcePump`."""

    def __init__(self, source: GeneratorSource, device: int, rate: int, channels: int, *, blocksize: int = 0,
                 latency: str | float = "low") -> None:  # fmt: skip
        from rtaudio.live.devices import DeviceError, quiet_stderr, sounddevice
        from rtaudio.live.duplex import FALLBACK_BLOCK

        sd = sounddevice()
        try:
            with quiet_stderr():
                self._stream = sd.OutputStream(samplerate=rate, blocksize=blocksize, device=device, channels=channels,
                                               dtype="float32", latency=latency, callback=self._callback)  # fmt: skip
        except sd.PortAudioError as exc:
            raise DeviceError(
                f"cannot open output device {device} at {rate} Hz, {channels} ch: {exc.args[0]}"
            ) from None
        self.device_latency = float(self._stream.latency)
        block = blocksize or round(self.device_latency * rate) or FALLBACK_BLOCK
        self.pump = SourcePump(source, rate, block, channels)

    def _callback(self, outdata: np.ndarray, frames: int, time: Any, status: Any) -> None:
        """PortAudio's callback: count underflow flags, copy from the ring (see :meth:`SourcePump.transfer`)."""
        if status and status.output_underflow:
            self.pump.output_underflows += 1
        self.pump.transfer(None, outdata)

    def start(self) -> None:
        self.pump.start()
        self._stream.start()

    def check(self) -> None:
        self.pump.raise_if_failed()

    def stop(self) -> np.ndarray:
        self._stream.stop()
        self._stream.close()
        return self.pump.stop()

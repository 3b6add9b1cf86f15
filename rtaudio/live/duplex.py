"""Full-duplex live stream: a sound device (sounddevice/PortAudio) around an :class:`EnginePump`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from rtaudio.engine.processor import Processor
from rtaudio.live.devices import DeviceError, quiet_stderr, sounddevice
from rtaudio.live.pump import EnginePump

#: assumed callback size when PortAudio picks it (blocksize 0) and reports no latency
FALLBACK_BLOCK = 512


class DuplexStream:
    """Captures from ``input_device``, runs the engine, plays to ``output_device``.

    Both sides share the processor's rate (the device rate) and channel count. Use as a
    context manager or call :meth:`start` / :meth:`stop`.

    Parameters
    ----------
    processor
        Engine whose input and output rate is the device rate.
    input_device, output_device
        PortAudio device indices.
    blocksize
        Frames per callback; 0 lets the host API choose (best for JACK and CoreAudio).
    latency
        PortAudio's suggested device latency: ``"low"``, ``"high"`` or seconds.
    adaptive, sink
        See :class:`EnginePump`.
    """

    def __init__(
        self,
        processor: Processor,
        input_device: int,
        output_device: int,
        *,
        blocksize: int = 0,
        latency: str | float = "low",
        adaptive: bool = False,
        sink: Callable[[np.ndarray], None] | None = None,
    ) -> None:
        sd = sounddevice()
        rate = processor.in_rate
        try:
            with quiet_stderr():
                self._stream = sd.Stream(
                    samplerate=rate,
                    blocksize=blocksize,
                    device=(input_device, output_device),
                    channels=processor.channels,
                    dtype="float32",
                    latency=latency,
                    callback=self._callback,
                )
        except sd.PortAudioError as exc:
            raise DeviceError(
                f"cannot open devices {input_device} -> {output_device} at {rate} Hz, "
                f"{processor.channels} ch: {exc.args[0]}"
            ) from None
        in_latency, out_latency = self._stream.latency
        #: input + output latency PortAudio reports for its own buffering, in seconds
        self.device_latency = float(in_latency + out_latency)
        block = blocksize or round(out_latency * rate) or FALLBACK_BLOCK
        self.pump = EnginePump(processor, block, adaptive=adaptive, sink=sink)

    def _callback(self, indata: np.ndarray, outdata: np.ndarray, frames: int, time: Any, status: Any) -> None:
        """PortAudio's audio-thread callback: count status flags, then copy (see :meth:`EnginePump.transfer`).

        Real-time contract: no allocation of audio buffers, no locks the engine holds, no
        file access, no logging.
        """
        if status:
            if status.input_overflow:
                self.pump.input_overflows += 1
            if status.output_underflow:
                self.pump.output_underflows += 1
        self.pump.transfer(indata, outdata)

    def start(self) -> None:
        """Start the worker, then the device."""
        self.pump.start()
        self._stream.start()

    def stop(self) -> np.ndarray:
        """Stop the device, then the worker; returns the engine's flushed tail."""
        self._stream.stop()
        self._stream.close()
        return self.pump.stop()

    def __enter__(self) -> DuplexStream:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if not self._stream.closed:
            self.stop()

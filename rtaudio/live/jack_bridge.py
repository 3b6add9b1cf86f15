"""The DAW bridge: a JACK client (JACK or PipeWire's JACK) around an :class:`EnginePump`.

Ports ``in_1..in_N`` and ``out_1..out_N`` carry the channels. The bridge reports its
processing delay through JACK's port latency ranges, so hosts that compensate plugin
and client latency (Ardour, Carla, REAPER on JACK, Bitwig via PipeWire) line the
processed track up with the others. A change of JACK buffer size re-primes the pump and
updates the reported latency; a change of sample rate or a server shutdown stops the
bridge with a one-line message.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

import numpy as np

from rtaudio.engine.processor import Processor
from rtaudio.live.devices import quiet_stderr
from rtaudio.live.pump import EnginePump

CAPTURE, PLAYBACK = 0, 1  # jack_latency_callback_mode_t


def jack_module() -> ModuleType:
    """Import JACK-Client, with a one-line ``RuntimeError`` when it or libjack is missing."""
    try:
        import jack
    except ImportError:
        raise RuntimeError("the bridge needs JACK-Client: pip install 'rtaudio[jack]'") from None
    except OSError as exc:  # JACK-Client found no libjack
        raise RuntimeError(f"JACK is not installed ({exc}); install jackd2 or pipewire-jack") from None
    return jack


def open_client(name: str, jack: ModuleType | None = None) -> Any:
    """Connect to the running JACK server as ``name``; never starts a server."""
    jack = jack or jack_module()
    # libjack's own stderr chatter ("Cannot connect to server socket ...") would bury our one line
    jack.set_error_function(lambda _msg: None)
    jack.set_info_function(lambda _msg: None)
    try:
        with quiet_stderr():
            return jack.Client(name, no_start_server=True)
    except jack.JackOpenError:
        raise RuntimeError(
            "no JACK server is running (start one with jackd or qjackctl, or run under PipeWire: pw-jack rtaudio ...)"
        ) from None


class _Range(ctypes.Structure):
    _fields_ = [("min", ctypes.c_uint32), ("max", ctypes.c_uint32)]


_LatencyCallback = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_void_p)


class _LatencyApi:
    """libjack's port-latency functions, which JACK-Client 0.5 does not wrap."""

    def __init__(self, jack: ModuleType) -> None:
        self._ffi = jack._ffi  # JACK-Client's cffi handle: the only way to its raw pointers
        lib = ctypes.CDLL(ctypes.util.find_library("jack") or "libjack.so.0")
        self.set_callback = lib.jack_set_latency_callback
        self.set_callback.argtypes = [ctypes.c_void_p, _LatencyCallback, ctypes.c_void_p]
        self.get_range = lib.jack_port_get_latency_range
        self.get_range.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.POINTER(_Range)]
        self.set_range = lib.jack_port_set_latency_range
        self.set_range.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.POINTER(_Range)]
        self.recompute = lib.jack_recompute_total_latencies
        self.recompute.argtypes = [ctypes.c_void_p]
        self.port_by_name = lib.jack_port_by_name
        self.port_by_name.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        self.port_by_name.restype = ctypes.c_void_p

    def ptr(self, obj: Any) -> int:
        return int(self._ffi.cast("uintptr_t", obj._ptr))

    def range(self, port_ptr: int, mode: int) -> tuple[int, int]:
        r = _Range()
        self.get_range(port_ptr, mode, ctypes.byref(r))
        return int(r.min), int(r.max)


def port_latency(client: Any, port_name: str, mode: int) -> tuple[int, int]:
    """``(min, max)`` capture (``mode=0``) or playback (``mode=1``) latency of any port, in frames."""
    api = _LatencyApi(jack_module())
    port = api.port_by_name(api.ptr(client), port_name.encode())
    if not port:
        raise ValueError(f"no JACK port named {port_name!r}")
    return api.range(port, mode)


class JackBridge:
    """A JACK client that runs the engine between its input and output ports.

    Parameters
    ----------
    client
        An open ``jack.Client`` (see :func:`open_client`); the bridge owns it from now on.
    processor
        Engine at the server's sample rate; one port pair per channel.
    adaptive, sink
        See :class:`EnginePump`.
    """

    def __init__(
        self,
        client: Any,
        processor: Processor,
        *,
        adaptive: bool = False,
        sink: Callable[[np.ndarray], None] | None = None,
    ) -> None:
        self._jack = jack_module()
        self.client = client
        self.rate = int(client.samplerate)
        if processor.in_rate != self.rate:
            raise ValueError(f"the engine runs at {processor.in_rate} Hz but JACK at {self.rate} Hz")
        self.processor = processor
        channels = processor.channels
        self.pump = EnginePump(processor, int(client.blocksize), adaptive=adaptive, sink=sink)
        self.inports = [client.inports.register(f"in_{i + 1}") for i in range(channels)]
        self.outports = [client.outports.register(f"out_{i + 1}") for i in range(channels)]
        self._stage_in = np.zeros((self.pump.max_block, channels), dtype=np.float32)
        self._stage_out = np.zeros((self.pump.max_block, channels), dtype=np.float32)
        self.failure: str | None = None
        self._latency_dirty = False
        self._api = _LatencyApi(self._jack)
        # ctypes must keep the callback object alive for as long as JACK may call it
        self._latency_cb = _LatencyCallback(self._on_latency)
        if self._api.set_callback(self._api.ptr(client), self._latency_cb, None):
            raise RuntimeError("JACK refused the latency callback")
        client.set_process_callback(self._process)
        client.set_blocksize_callback(self._on_blocksize)
        client.set_samplerate_callback(self._on_samplerate)
        client.set_xrun_callback(self._on_xrun)
        client.set_shutdown_callback(self._on_shutdown)

    # -- JACK callbacks -------------------------------------------------------------------
    def _process(self, frames: int) -> None:
        """JACK's process callback: copy the ports through the pump (see :meth:`EnginePump.transfer`).

        Real-time contract: no allocation of audio buffers, no locks the engine holds, no
        file access, no logging.
        """
        stage_in, stage_out = self._stage_in[:frames], self._stage_out[:frames]
        for c, port in enumerate(self.inports):
            stage_in[:, c] = port.get_array()
        self.pump.transfer(stage_in, stage_out)
        for c, port in enumerate(self.outports):
            port.get_array()[:] = stage_out[:, c]

    def _on_latency(self, mode: int, _arg: object) -> None:
        # JACK's rule: a port's latency is its neighbours' plus what this client adds
        delay = self.pump.latency_frames
        api, r = self._api, _Range()
        pairs = zip(self.inports, self.outports, strict=True)
        for src, dst in pairs if mode == CAPTURE else ((o, i) for i, o in pairs):
            lo, hi = api.range(api.ptr(src), mode)
            r.min, r.max = lo + delay, hi + delay
            api.set_range(api.ptr(dst), mode, ctypes.byref(r))

    def _on_blocksize(self, blocksize: int) -> None:
        try:
            self.pump.set_block(blocksize)
        except ValueError as exc:
            self.failure = f"JACK {exc}; restart the bridge with a smaller buffer size"
            return
        self._latency_dirty = True

    def _on_samplerate(self, rate: int) -> None:
        if rate != self.rate:
            self.failure = f"JACK sample rate changed from {self.rate} to {rate} Hz; restart the bridge"

    def _on_xrun(self, _delay_usecs: float) -> None:
        self.pump.output_underflows += 1  # a missed JACK cycle is heard as a dropout

    def _on_shutdown(self, _status: object, reason: str) -> None:
        self.failure = f"the JACK server shut down ({reason})"

    # -- control --------------------------------------------------------------------------
    def start(self, connect_in: Sequence[str] = (), connect_out: Sequence[str] = ()) -> None:
        """Activate, then connect ``connect_in[i] -> in_{i+1}`` and ``out_{i+1} -> connect_out[i]``."""
        self.pump.start()
        try:
            self.client.activate()
        except self._jack.JackError as exc:
            raise RuntimeError(self.failure or f"JACK could not activate the client ({exc})") from None
        for ports, targets, outgoing in ((self.inports, connect_in, False), (self.outports, connect_out, True)):
            if len(targets) > len(ports):
                raise ValueError(f"{len(targets)} ports to connect, but the bridge has {len(ports)} channel(s)")
            for own, target in zip(ports, targets, strict=False):  # fewer targets than ports is fine
                try:
                    self.client.get_port_by_name(target)
                except self._jack.JackError:
                    raise ValueError(f"no JACK port named {target!r} (list them with jack_lsp)") from None
                if outgoing:
                    self.client.connect(own, target)
                else:
                    self.client.connect(target, own)

    def check(self) -> None:
        """Poll from the controlling thread: raise on failures, push latency changes to JACK."""
        if self.failure:
            raise RuntimeError(self.failure)
        if self._latency_dirty:
            self._latency_dirty = False
            self._api.recompute(self._api.ptr(self.client))

    def stop(self) -> np.ndarray:
        """Deactivate and close the client, then the worker; returns the engine's flushed tail."""
        try:
            self.client.deactivate()
            self.client.close()
        except self._jack.JackError:
            pass  # the server is gone already (shutdown): nothing left to release
        return self.pump.stop()

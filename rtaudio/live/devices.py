"""Sound devices through sounddevice (PortAudio), imported only when a device is used.

File mode must work on machines without PortAudio, so nothing here runs at import time.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from types import ModuleType
from typing import Any


class DeviceError(ValueError):
    """A device, rate or channel count the user asked for is not available (one line, exit 2)."""


@contextmanager
def quiet_stderr():
    """Silence C libraries' chatter on fd 2 (ALSA and libjack probe noisily at start-up).

    Python-level errors still surface as exceptions with their own messages.
    """
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no fd 2 (embedded interpreter): nothing to silence
        yield
        return
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def sounddevice() -> ModuleType:
    """Import sounddevice, turning a missing PortAudio into a one-line ``RuntimeError``."""
    try:
        with quiet_stderr():
            import sounddevice as sd
    except OSError as exc:
        raise RuntimeError(f"PortAudio is not available ({exc}); install libportaudio2 (Debian/Ubuntu)") from None
    return sd


def list_devices() -> dict[str, list[dict[str, Any]]]:
    """Host APIs and devices, with channel counts, default rates and the defaults marked."""
    sd = sounddevice()
    with quiet_stderr():
        apis = sd.query_hostapis()
        devices = sd.query_devices()
    default_in, default_out = (_index(d) for d in sd.default.device)
    host_apis = [
        {
            "index": i,
            "name": api["name"],
            "devices": list(api["devices"]),
            "default_input": api["default_input_device"],
            "default_output": api["default_output_device"],
        }
        for i, api in enumerate(apis)
    ]
    rows = [
        {
            "index": i,
            "name": dev["name"],
            "host_api": apis[dev["hostapi"]]["name"],
            "max_input_channels": dev["max_input_channels"],
            "max_output_channels": dev["max_output_channels"],
            "default_samplerate": dev["default_samplerate"],
            "default_low_latency_ms": round(1e3 * dev["default_low_output_latency"], 2),
            "default_input": i == default_in,
            "default_output": i == default_out,
        }
        for i, dev in enumerate(devices)
    ]
    return {"host_apis": host_apis, "devices": rows}


def _index(device: Any) -> int:
    return -1 if device is None else int(device)


def resolve(spec: str | None, kind: str) -> int:
    """Device index for ``spec`` (index, or a substring of the name) or the default ``kind`` device.

    Parameters
    ----------
    spec
        ``None`` for the default, a device index, or part of its name.
    kind
        ``"input"`` or ``"output"``.
    """
    sd = sounddevice()
    if spec is None:
        index = _index(sd.default.device[0 if kind == "input" else 1])
        if index < 0:
            raise DeviceError(f"no default {kind} device (list the devices with `rtaudio devices`)")
        return index
    key: int | str = int(spec) if spec.strip().isdigit() else spec
    try:
        with quiet_stderr():
            info = sd.query_devices(key, kind)
    except ValueError as exc:
        reason = " ".join(str(exc).split())
        raise DeviceError(f"{kind} device {spec!r} not found: {reason} (list them with `rtaudio devices`)") from None
    return int(info["index"])


def check(device: int, kind: str, channels: int, rate: int) -> None:
    """Raise :class:`DeviceError` if ``device`` cannot do ``channels`` at ``rate`` Hz."""
    sd = sounddevice()
    info = sd.query_devices(device)
    available = info[f"max_{kind}_channels"]
    if channels > available:
        raise DeviceError(
            f"{kind} device {device} ({info['name']}) has {available} {kind} channel(s), {channels} requested"
        )
    checker = sd.check_input_settings if kind == "input" else sd.check_output_settings
    try:
        with quiet_stderr():
            checker(device=device, channels=channels, samplerate=rate, dtype="float32")
    except sd.PortAudioError as exc:
        raise DeviceError(
            f"{kind} device {device} ({info['name']}) does not support {channels} channel(s) at {rate} Hz "
            f"({exc.args[0]}); default rate {info['default_samplerate']:g} Hz"
        ) from None


def device_names() -> list[str]:
    """Device names by index."""
    with quiet_stderr():
        return [dev["name"] for dev in sounddevice().query_devices()]


def default_rate(device: int) -> int:
    """The device's default sample rate in Hz."""
    return int(sounddevice().query_devices(device)["default_samplerate"])

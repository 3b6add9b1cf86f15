"""A minimal Standard MIDI File writer (format 0, one track) and its fluidsynth renderer."""

from __future__ import annotations

import struct
import subprocess
import tempfile
from pathlib import Path

import numpy as np

#: ticks per quarter note; at the default tempo (500,000 us per quarter) one tick is 1/960 s
TICKS_PER_BEAT = 480
TICKS_PER_SECOND = 960


def _varlen(value: int) -> bytes:
    """MIDI variable-length quantity (7 bits per byte, high bit = more follows)."""
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


def write_smf(path: Path, events: list[tuple[float, bytes]]) -> None:
    """Write ``events`` (time in seconds, raw channel message) as a format-0 SMF at 120 bpm.

    Events are sorted by time (stably: a note-off listed before a note-on at the same time
    stays before it).
    """
    track = bytearray()
    last = 0
    for t, msg in sorted(events, key=lambda e: e[0]):
        tick = round(t * TICKS_PER_SECOND)
        track += _varlen(tick - last) + msg
        last = tick
    track += _varlen(0) + b"\xff\x2f\x00"  # end of track
    header = b"MThd" + struct.pack(">IHHH", 6, 0, 1, TICKS_PER_BEAT)
    Path(path).write_bytes(header + b"MTrk" + struct.pack(">I", len(track)) + bytes(track))


def program_change(program: int, channel: int = 0) -> bytes:
    return bytes([0xC0 | channel, program])


def note_on(note: int, velocity: int, channel: int = 0) -> bytes:
    return bytes([0x90 | channel, note, velocity])


def note_off(note: int, channel: int = 0) -> bytes:
    return bytes([0x80 | channel, note, 0])


def render_smf(events: list[tuple[float, bytes]], soundfont: str | Path, rate: int, effects: bool = True) -> np.ndarray:
    """Play ``events`` through ``fluidsynth`` with ``soundfont``: mono float32 at ``rate``.

    ``effects=False`` turns fluidsynth's reverb and chorus off (dry notes).
    """
    import soundfile as sf

    with tempfile.TemporaryDirectory() as tmp:
        mid, wav = Path(tmp) / "take.mid", Path(tmp) / "take.wav"
        write_smf(mid, events)
        dry = ["-R", "0", "-C", "0"] if not effects else []
        cmd = ["fluidsynth", "-ni", "-q", *dry, "-g", "0.5", "-r", str(rate), "-F", str(wav), str(soundfont), str(mid)]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        audio, got = sf.read(str(wav), dtype="float32", always_2d=True)
    if got != rate:
        raise RuntimeError(f"fluidsynth wrote {got} Hz, asked for {rate}")
    return audio.mean(axis=1)

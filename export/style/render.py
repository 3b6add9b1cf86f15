"""Render the shipped style's source recording: a string-ensemble chorale played by fluidsynth.

The notes are generated here (a fixed, seeded progression written as a Standard MIDI File with
:mod:`export.wavenet.midi`); the sound is FluidR3_GM's recorded string-ensemble samples
(Debian ``fluid-soundfont-gm``, MIT licence) rendered by ``fluidsynth``. The output is the
style recording ``python -m export.style`` trains on.

Usage: ``python -m export.style.render data/style/strings.wav [--seconds 60] [--rate 16000]``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from export.wavenet.midi import note_off, note_on, program_change, render_smf

SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
#: GM program 48: String Ensemble 1; 42: Cello (the bass line)
STRINGS, CELLO = 48, 42
#: a diatonic progression in C (root, chord tones as semitones above the root)
PROGRESSION = [(48, (0, 4, 7)), (45, (0, 3, 7)), (41, (0, 4, 7)), (43, (0, 4, 7)), (40, (0, 3, 7)), (41, (0, 4, 9))]


def events(seconds: float, seed: int = 0) -> list[tuple[float, bytes]]:
    """Chords of 2 s with a bowed bass and a slowly moving upper voice (seeded)."""
    rng = np.random.default_rng(seed)
    out: list[tuple[float, bytes]] = [(0.0, program_change(STRINGS, 0)), (0.0, program_change(CELLO, 1))]
    t, k = 0.0, 0
    while t < seconds:
        root, tones = PROGRESSION[k % len(PROGRESSION)]
        chord = [root + 12 + s for s in tones]
        for n in chord:
            out += [(t, note_on(n, 70)), (t + 1.95, note_off(n))]
        out += [(t, note_on(root - 12, 80, 1)), (t + 1.95, note_off(root - 12, 1))]
        for j in range(4):  # upper voice: chord tones an octave up, half-second steps
            n = chord[int(rng.integers(len(chord)))] + 12
            out += [(t + 0.5 * j, note_on(n, 60 + int(rng.integers(20)))), (t + 0.5 * j + 0.48, note_off(n))]
        t += 2.0
        k += 1
    return out


def render(path: Path, seconds: float = 60.0, rate: int = 16000, seed: int = 0) -> None:
    """Write the rendered chorale, mono float at ``rate``, to ``path``."""
    import soundfile as sf

    path.parent.mkdir(parents=True, exist_ok=True)
    x = render_smf(events(seconds, seed), SOUNDFONT, rate)[: int(seconds * rate)]
    sf.write(path, x / max(1e-9, np.abs(x).max()) * 0.5, rate, subtype="FLOAT")
    print(f"{path}: {len(x) / rate:.1f} s at {rate} Hz")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", type=Path)
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--rate", type=int, default=16000)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    render(a.out, a.seconds, a.rate, a.seed)


if __name__ == "__main__":
    main()

"""A full-band music corpus for the upsampler: pieces composed here, played by fluidsynth at 48 kHz.

``python -m export.music [--pieces 48] [--heldout 12] [--seconds 20]`` writes
``data/corpus/music/{train.npy, heldout/*.wav}`` (the layout of :mod:`export.data`) and its
entry in ``export/split.json``.

Each piece is seeded: a key, a tempo (72-150 bpm), a four-chord diatonic progression, a bass
line, a chord part (sustained or comped), a melody (a random walk on the scale with rests) and,
in most pieces, a drum kit (kick, snare, hi-hats, crash/ride: the content that reaches 20 kHz).
Instruments are drawn per part from General MIDI families and the piece is played by one of the
Debian soundfonts (``fluid-soundfont-gm``'s FluidR3_GM, MIT; ``timgm6mb-soundfont``, GPL-2)
with fluidsynth's reverb and chorus. A render must reach 15 kHz (``export.data.bandwidth_hz``,
as for ``klettres_wb``): a target without a high band would teach the net to add none.

**Held out by instrument and piece**: the held-out pieces (their own seeds) take their melody,
chord and bass instruments only from :data:`HELDOUT_PROGRAMS`, which no training piece uses.
"""

from __future__ import annotations

import argparse

import numpy as np

from export.data import _write_split, bandwidth_hz
from export.wavenet.midi import note_off, note_on, program_change, render_smf
from rtaudio.rates import MODEL_RATE

SOUNDFONTS = {"fluidr3": "/usr/share/sounds/sf2/FluidR3_GM.sf2", "timgm6mb": "/usr/share/sounds/sf2/TimGM6mb.sf2"}
#: General MIDI programs per part (0-based)
MELODY = (73, 68, 71, 64, 66, 57, 80, 81, 22, 13, 0, 24)  # flute, oboe, clarinet, saxes, trombone, leads, ...
CHORDS = (0, 1, 6, 16, 19, 25, 26, 48, 49, 88, 89, 46)  # pianos, harpsichord, organs, guitars, strings, pads, harp
BASS = (32, 33, 34, 38, 42)  # acoustic/finger/pick/synth bass, cello
#: never in a training piece: violin, alto sax, trumpet (melody); electric piano, vibraphone (chords); fretless
HELDOUT_PROGRAMS = {"melody": (40, 65, 56), "chords": (4, 11), "bass": (35,)}
DRUM_CHANNEL = 9
KICK, SNARE, HAT_CLOSED, HAT_OPEN, CRASH, RIDE = 36, 38, 42, 46, 49, 51
MAJOR, MINOR = (0, 2, 4, 5, 7, 9, 11), (0, 2, 3, 5, 7, 8, 10)
MIN_BANDWIDTH = 15000.0


Programs = dict[str, tuple[int, ...]]


def compose(rng: np.random.Generator, seconds: float, programs: Programs) -> list[tuple[float, bytes]]:
    """MIDI events of one seeded piece ``seconds`` long."""
    scale = MAJOR if rng.random() < 0.6 else MINOR
    key = int(rng.integers(0, 12))
    beat = 60.0 / float(rng.uniform(72, 150))
    degrees = [0] + [int(d) for d in rng.choice([1, 2, 3, 4, 5], size=3)]
    mel, chd, bas = (int(rng.choice(programs[p])) for p in ("melody", "chords", "bass"))
    ev: list[tuple[float, bytes]] = [(0.0, program_change(mel, 0)), (0.0, program_change(chd, 1))]
    ev.append((0.0, program_change(bas, 2)))
    drums = rng.random() < 0.75
    comp = rng.random() < 0.5  # comped chords (on the beats) or held for the bar

    def pitch(degree: int, octave: int) -> int:
        return 12 * (octave + 1) + key + scale[degree % 7] + 12 * (degree // 7)

    t, bar, note = 0.0, 0, 7 * 5  # melody starts on the tonic, octave 5
    while t < seconds:
        d = degrees[bar % 4]
        chord = [pitch(d + k, 4) for k in (0, 2, 4)]
        vel = int(rng.integers(55, 95))
        hits = [t + b * beat for b in range(4)] if comp else [t]
        for h in hits:
            dur = 0.9 * beat if comp else 3.9 * beat
            ev += [(h, note_on(n, vel, 1)) for n in chord] + [(h + dur, note_off(n, 1)) for n in chord]
        for b in range(4):  # bass: root, sometimes the fifth on beat 3
            n = pitch(d + (4 if b == 2 and rng.random() < 0.5 else 0), 2)
            ev += [(t + b * beat, note_on(n, 90, 2)), (t + (b + 0.85) * beat, note_off(n, 2))]
        s = 0.0
        while s < 4:  # melody: eighths and quarters, a random walk on the scale, some rests
            length = 0.5 if rng.random() < 0.6 else 1.0
            note = int(np.clip(note + rng.choice([-2, -1, 0, 1, 2]), 7 * 4, 7 * 6))
            if rng.random() > 0.15:
                n = pitch(note, 0)
                v = int(rng.integers(60, 110))
                ev += [(t + s * beat, note_on(n, v, 0)), (t + (s + 0.95 * length) * beat, note_off(n, 0))]
            s += length
        if drums:
            for e in range(8):
                at = t + e * beat / 2
                hits = [HAT_OPEN if e == 7 and rng.random() < 0.3 else HAT_CLOSED]
                hits += [KICK] if e in (0, 4) else []
                hits += [SNARE] if e in (2, 6) else []
                hits += [CRASH] if e == 0 and bar % 4 == 0 else []
                hits += [RIDE] if e % 2 == 1 and rng.random() < 0.3 else []
                for n in hits:
                    v = int(rng.integers(70, 120))
                    ev += [(at, note_on(n, v, DRUM_CHANNEL)), (at + 0.1, note_off(n, DRUM_CHANNEL))]
        t += 4 * beat
        bar += 1
    # no note starts after the end; every started note is released (fluidsynth renders until all voices end)
    return [e for e in ev if e[0] < seconds or e[1][0] & 0xF0 == 0x80]


def render_piece(seed: int, seconds: float, programs: dict[str, tuple[int, ...]]) -> tuple[np.ndarray, str, float]:
    """One piece at 48 kHz (peak 0.5), its soundfont and its measured bandwidth."""
    rng = np.random.default_rng(seed)
    sf_name = str(rng.choice(list(SOUNDFONTS)))
    x = render_smf(compose(rng, seconds, programs), SOUNDFONTS[sf_name], MODEL_RATE)[: int(seconds * MODEL_RATE)]
    x = x / max(1e-9, float(np.abs(x).max())) * 0.5
    return x.astype(np.float32), sf_name, bandwidth_hz(x)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pieces", type=int, default=48, help="training pieces")
    ap.add_argument("--heldout", type=int, default=12, help="held-out pieces")
    ap.add_argument("--seconds", type=float, default=20.0)
    a = ap.parse_args()
    train_programs = {"melody": MELODY, "chords": CHORDS, "bass": BASS}
    train, heldout, kept, dropped = [], {}, [], []
    for part, count, programs, base in (
        ("train", a.pieces, train_programs, 1000),
        ("heldout", a.heldout, HELDOUT_PROGRAMS, 9000),
    ):
        seed, made = base, 0
        while made < count:
            x, sf_name, bw = render_piece(seed, a.seconds if part == "train" else a.seconds / 2, programs)
            row = {"seed": seed, "part": part, "soundfont": sf_name, "bandwidth_hz": round(bw)}
            seed += 1
            if bw < MIN_BANDWIDTH:
                dropped.append(row)
                continue
            kept.append(row)
            made += 1
            if part == "train":
                train.append(x)
            else:
                heldout[f"music_{made:02d}_{sf_name}"] = x
            print(f"{part:8s} seed {row['seed']}  {sf_name:9s} bandwidth {bw / 1000:5.1f} kHz")
    meta = {
        "source": "pieces composed by export/music.py, rendered by fluidsynth (FluidR3_GM MIT, TimGM6mb GPL-2)",
        "heldout_by": "instrument (export/music.py: HELDOUT_PROGRAMS) and piece (own seeds)",
        "min_bandwidth_hz": MIN_BANDWIDTH,
        "pieces": kept,
        "dropped_narrow_band": dropped,
    }
    _write_split("music", train, heldout, meta)


if __name__ == "__main__":
    main()

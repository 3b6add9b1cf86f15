"""Render the triads corpus: every root x {major, minor}, several GM instruments, two soundfonts.

``python -m export.wavenet.data [--out data/wavenet]``

Each file is one (soundfont, instrument, voicing) and plays all 24 triads in a random order,
each held 1.2-2.4 s at a random velocity (60/85/110), released, then a 0.1-0.5 s gap. The
conditioning label switches at the previous chord's note-off, so a label covers "the old
chord's release tail, silence, then this chord's onset": from silence (a fresh stream) or from
another chord (a live change) the model learns to start the labelled chord. Files start with
0.3-0.6 s of silence under the first label.

Held out (the ``test`` part): every file of voicing ``inv1_o4`` and every file of the TimGM6mb
guitar. Output: ``train.npz`` / ``test.npz`` with mu-law classes (uint8), per-sample chord
(0..23 = root * 2 + minor) and instrument labels, file offsets and chord onsets, plus
``manifest.json``.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np

from export.wavenet.midi import TICKS_PER_SECOND, note_off, note_on, program_change, render_smf
from rtaudio.tasks.generate import INSTRUMENTS, QUALITIES, ROOTS, mu_law_encode

RATE = 16000
FLUID_BLOCK = 64  # fluidsynth's internal block: note-ons take effect on its boundaries
SOUNDFONTS = {"fluidr3": "/usr/share/sounds/sf2/FluidR3_GM.sf2", "timgm6mb": "/usr/share/sounds/sf2/TimGM6mb.sf2"}
#: (inversion, octave of the root position's lowest note)
VOICINGS = {f"inv{inv}_o{o}": (inv, o) for o in (3, 4) for inv in (0, 1, 2)}
HELD_OUT_VOICINGS = ("inv1_o4",)
HELD_OUT_PAIRS = (("timgm6mb", "guitar"),)
VELOCITIES = (60, 85, 110)
INTERVALS = {"maj": (0, 4, 7), "min": (0, 3, 7)}


def audio_onset(t: float) -> int:
    """The sample at which fluidsynth's file player starts a note-on written at ``t`` s.

    The SMF stores ``t`` in whole ticks, and the player applies events at the start of the next
    64-sample block, one block late (measured: first non-zero sample one past this one). The
    excitation's phase (``rtaudio.tasks.generate.excitation``) is counted from here.
    """
    s = round(t * TICKS_PER_SECOND) * RATE / TICKS_PER_SECOND
    return FLUID_BLOCK * math.ceil(s / FLUID_BLOCK - 1e-9) + FLUID_BLOCK


def labels_at_onsets(chord: np.ndarray, files: np.ndarray, audio_onsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample chord labels that switch at each chord's audible onset, and the samples since it.

    Before a file's first onset a sample takes that onset's chord at a negative distance (the
    silence before the first note). Returns ``(labels uint8, since int32)``.
    """
    pos = np.arange(len(chord))
    last = np.searchsorted(audio_onsets, pos, side="right") - 1
    first = np.searchsorted(audio_onsets, files[:-1])[np.searchsorted(files, pos, side="right") - 1]
    use = audio_onsets[np.maximum(last, first)]
    return chord[use], (pos - use).astype(np.int32)


def triad(root: int, quality: str, inversion: int, octave: int) -> list[int]:
    """MIDI notes of a triad: root position from C(octave) + root, lowest notes raised an octave."""
    notes = [12 * (octave + 1) + root + i for i in INTERVALS[quality]]
    for k in range(inversion):
        notes[k] += 12
    return sorted(notes)


def score(rng: np.random.Generator, program: int, voicing: tuple[int, int]) -> tuple[list, list, float]:
    """MIDI events, label spans ``(start_s, chord)`` and the total length of one file."""
    events = [(0.0, program_change(program))]
    spans = []
    t = float(rng.uniform(0.3, 0.6))
    label_start = 0.0
    for chord in rng.permutation(24):
        root, minor = divmod(int(chord), 2)
        notes = triad(root, QUALITIES[minor], *voicing)
        vel = int(rng.choice(VELOCITIES))
        hold = float(rng.uniform(1.2, 2.4))
        spans.append((label_start, int(chord)))
        events += [(t, note_on(n, vel)) for n in notes]
        events += [(t + hold, note_off(n)) for n in notes]
        label_start = t + hold  # the next label starts at this chord's release
        t += hold + float(rng.uniform(0.1, 0.5))
    return events, spans, t + 0.8  # room for the last release


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("data/wavenet"))
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(a.seed)
    parts: dict[str, dict[str, list]] = {
        p: {"x": [], "chord": [], "inst": [], "files": [], "onsets": [], "audio_onsets": []} for p in ("train", "test")
    }
    manifest = []
    for sf_name, sf2 in SOUNDFONTS.items():
        for inst_idx, (inst, program) in enumerate(INSTRUMENTS.items()):
            for v_name, voicing in VOICINGS.items():
                events, spans, length = score(rng, program, voicing)
                audio = render_smf(events, sf2, RATE, effects=False)
                n = min(len(audio), int(length * RATE))
                audio = audio[:n]
                peak = float(np.abs(audio).max())
                audio = audio * (0.9 / peak)  # one gain per file keeps its velocity contrast
                chord = np.zeros(n, np.uint8)
                onsets, sounding = [], []
                for start, c in spans:
                    chord[int(start * RATE) :] = c
                for t, msg in events:
                    if msg[0] == 0x90 and (not onsets or int(t * RATE) != onsets[-1]):
                        onsets.append(int(t * RATE))
                        sounding.append(audio_onset(t))
                held = v_name in HELD_OUT_VOICINGS or (sf_name, inst) in HELD_OUT_PAIRS
                part = parts["test" if held else "train"]
                offset = sum(len(x) for x in part["x"])
                part["files"].append(offset)
                part["onsets"] += [offset + o for o in onsets]
                part["audio_onsets"] += [offset + o for o in sounding]
                part["x"].append(mu_law_encode(audio))
                part["chord"].append(chord)
                part["inst"].append(np.full(n, inst_idx, np.uint8))
                manifest.append(
                    {
                        "soundfont": sf_name,
                        "instrument": inst,
                        "program": program,
                        "voicing": v_name,
                        "part": "test" if held else "train",
                        "seconds": round(n / RATE, 2),
                        "peak": round(peak, 4),
                    }
                )
                print(f"{sf_name:9s} {inst:8s} {v_name}  {n / RATE:5.1f} s  peak {peak:.3f}  {manifest[-1]['part']}")
    for name, part in parts.items():
        x = np.concatenate(part["x"])
        np.savez(
            a.out / f"{name}.npz",
            x=x,
            chord=np.concatenate(part["chord"]),
            inst=np.concatenate(part["inst"]),
            files=np.array(part["files"] + [len(x)], np.int64),
            onsets=np.array(part["onsets"], np.int64),
            audio_onsets=np.array(part["audio_onsets"], np.int64),
        )
        print(f"{name}: {len(x) / RATE / 60:.1f} min, {len(part['files'])} files")
    meta = {
        "rate": RATE,
        "roots": ROOTS,
        "qualities": QUALITIES,
        "instruments": list(INSTRUMENTS),
        "soundfonts": SOUNDFONTS,
        "voicings": list(VOICINGS),
        "held_out_voicings": HELD_OUT_VOICINGS,
        "held_out_pairs": HELD_OUT_PAIRS,
        "velocities": VELOCITIES,
        "seed": a.seed,
        "files": manifest,
    }
    (a.out / "manifest.json").write_text(json.dumps(meta, indent=1))


if __name__ == "__main__":
    main()

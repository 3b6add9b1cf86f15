"""WaveNet generation bench: speed of the native kernel, the numpy reference and a naive
full-recompute WaveNet in one run; held-out bits per sample; pitch correctness per chord.

``rtaudio bench --task generate [--quick] [--json OUT]``, or
``python -m bench.generate_bench [--model rtaudio/models/generate16k.npz] [--out bench/results/bench_generate.json]
[--nll-seconds 10] [--pitch-seconds 2] [--instruments piano,organ,...] [--temperatures 1.0]``

- **Speed**: samples/s and RTF at 16 kHz on one thread: the native kernel (``rtaudio._wavenet``,
  as the generator runs it, in its default int8 arithmetic and in float32; also its AVX2 and
  baseline-ISA paths in subprocesses), the numpy reference of the recurrence in float32
  (``kernels/wavenet/reference.py``, one numpy call per matrix per sample; its int8 mirror adds
  numpy calls to every product and runs ~4x slower, so the float32 reference is the stricter
  denominator of the ratio) and the naive WaveNet that
  recomputes the network over one receptive field for every sample. The kernel's two
  precisions and the reference alternate, three runs each, and the best of each is kept (a
  single short run of either moves the ratio by 20 % on a shared machine).
  Also whole-process ``rtaudio generate`` (CPU time of the process, import and model load
  included, over the audio length), and the paper-sized configuration's kernel speed (random
  weights of its shape: speed does not depend on the values).
- **Held-out NLL**: bits/sample of the native kernel's teacher-forced predictions (int8, and
  float32: the quantization's cost) on the first
  ``--nll-seconds`` of every held-out file (``data/wavenet/test.npz``: voicing inv1_o4 and the
  TimGM6mb guitar, never trained on), with each file's own per-sample labels; the first
  receptive field of each file is context only.
- **Pitch**: for 12 roots x maj/min, a ``--pitch-seconds`` take from silence; a chord is right
  when the three strongest pitch classes of its long-term chroma are the chord's.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from export.wavenet.data import labels_at_onsets
from kernels.wavenet.reference import ReferenceKernel, naive_generate, random_weights
from rtaudio import _wavenet
from rtaudio.tasks.generate import (
    INSTRUMENTS,
    KERNEL_PRECISION,
    QUALITIES,
    Chord,
    WaveNetGenerator,
    WaveNetWeights,
    default_model_path,
    pitch_accuracy,
)

RATE = 16000
ROOT = Path(__file__).resolve().parent.parent  # the checkout: kernels/, data/
PAPER = {"residual": 64, "skip": 256, "head": 256, "cond": 32, "dilations": [2**i for i in range(10)] * 3}


def native_speed(weights: WaveNetWeights, seconds: float, precision: str = KERNEL_PRECISION) -> dict:
    gen = WaveNetGenerator(weights, "C:maj", precision=precision)
    n = -(-round(seconds * RATE) // gen.block) * gen.block
    gen.render(gen.block * 10)  # warm caches
    t0 = time.perf_counter()
    gen.render(n)
    dt = time.perf_counter() - t0
    return {"samples": n, "seconds": dt, "samples_per_s": n / dt, "rtf": dt * RATE / n}


def reference_speed(weights: WaveNetWeights, n: int) -> dict:
    ref = ReferenceKernel(weights)
    ref.set_cond(weights.cond_bias(Chord(0, "maj"), "piano"))
    out = np.empty(n, np.uint8)
    t0 = time.perf_counter()
    ref.generate(out, 0, 0, 1.0)
    dt = time.perf_counter() - t0
    return {"samples": n, "seconds": dt, "samples_per_s": n / dt, "rtf": dt * RATE / n}


def naive_speed(weights: WaveNetWeights, n: int) -> dict:
    bias = weights.cond_bias(Chord(0, "maj"), "piano")
    t0 = time.perf_counter()
    naive_generate(weights, bias, n, 0, 1.0)
    dt = time.perf_counter() - t0
    return {"samples": n, "seconds": dt, "samples_per_s": n / dt, "rtf": dt * RATE / n}


def isa_speed(model: Path, seconds: float, isa: str, precision: str = KERNEL_PRECISION) -> dict:
    """The kernel capped at ``isa`` (``baseline``: portable x86-64; ``avx2``), in a subprocess."""
    code = (
        f"import json,sys; sys.path.insert(0,{str(ROOT)!r}); from pathlib import Path; "
        "from bench.generate_bench import native_speed; from rtaudio.tasks.generate import WaveNetWeights; "
        f"print(json.dumps(native_speed(WaveNetWeights.load(Path({str(model)!r})), {seconds}, {precision!r})))"
    )
    env = {**os.environ, "RTAUDIO_WAVENET_ISA": isa}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def whole_process(model: Path, seconds: float) -> dict:
    """``rtaudio generate`` as a user runs it: the child's CPU time and wall time over the audio."""
    with tempfile.TemporaryDirectory() as tmp:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        cmd = [sys.executable, "-m", "rtaudio.cli", "generate", f"{tmp}/take.wav", "--seconds", str(seconds),
               "--model", str(model), "--json"]  # fmt: skip
        out = subprocess.run(cmd, capture_output=True, text=True, check=True)
        wall = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    summary = json.loads(out.stdout)
    return {"audio_s": seconds, "cpu_s": cpu, "wall_s": wall, "rtf_cpu": cpu / seconds, "rtf_wall": wall / seconds,
            "rtf_reported": summary["rtf"]}  # fmt: skip


def heldout_bits(
    weights: WaveNetWeights, seconds: float, data: Path, shift: int = 0, precision: str = KERNEL_PRECISION
) -> dict:
    """Teacher-forced bits/sample of the native kernel over held-out files (per-sample labels).

    ``shift`` moves every chord label's root by that many semitones (a wrong chord): the rise in
    bits/sample over the true labels is how much the model uses its conditioning.
    """
    d = np.load(data)
    x, chord, inst, files = d["x"], d["chord"], d["inst"], d["files"]
    since = None
    if weights.has_excitation:  # labels from each audible onset, as the model was trained
        chord, since = labels_at_onsets(chord, files, d["audio_onsets"])
    manifest = json.loads((data.parent / "manifest.json").read_text())
    held = [f for f in manifest["files"] if f["part"] == "test"]
    rf = weights.receptive_field
    k = weights.kernel(precision)
    per_group: dict[str, list[float]] = {}
    total_bits, total_n = 0.0, 0
    for i, (lo, hi) in enumerate(zip(files[:-1], files[1:], strict=True)):
        hi = min(hi, lo + round(seconds * RATE) + rf + 1)
        k.reset()
        logits = np.empty((hi - lo - 1, 256), np.float32)
        # input t predicts t + 1 under the label of t + 1; the label changes between calls
        labels = chord[lo + 1 : hi]
        cuts = np.flatnonzero(np.diff(labels)) + 1
        for a, b in zip(np.r_[0, cuts], np.r_[cuts, len(labels)], strict=True):
            c = (int(labels[a]) + 2 * shift) % 24
            label = Chord(c // 2, QUALITIES[c % 2])
            k.set_cond(weights.cond_bias(label, weights.instruments[int(inst[lo])]))
            # the excitation of the samples predicted (within a label span their onset distances are consecutive)
            ebias = None if since is None else weights.excitation_bias(label, int(since[lo + 1 + a]), b - a)
            k.forward(np.ascontiguousarray(x[lo + a : lo + b]), logits[a:b], ebias)
        lg = logits[rf:].astype(np.float64)
        target = x[lo + 1 + rf : hi].astype(np.int64)
        m = lg.max(axis=1, keepdims=True)
        logp = lg[np.arange(len(target)), target] - (m[:, 0] + np.log(np.exp(lg - m).sum(axis=1)))
        bits = float(-logp.sum() / np.log(2))
        group = "voicing inv1_o4" if held[i]["voicing"] == "inv1_o4" else "instrument timgm6mb/guitar"
        per_group.setdefault(group, []).append(bits / len(target))
        total_bits += bits
        total_n += len(target)
    return {
        "bits_per_sample": total_bits / total_n,
        "samples": total_n,
        "files": len(files) - 1,
        "seconds_per_file": seconds,
        "by_group": {g: float(np.mean(v)) for g, v in per_group.items()},
    }


def marginal_bits(data: Path) -> float:
    """Bits/sample of a context-free model: the entropy of the held-out class histogram."""
    x = np.load(data)["x"]
    p = np.bincount(x, minlength=256) / len(x)
    p = p[p > 0]
    return float(-(p * np.log2(p)).sum())


def data_pitch_accuracy(data: Path, seconds: float) -> dict:
    """The pitch metric on real held-out renders (the first ``seconds`` after every onset): how
    well the chroma test itself does on audio that is right by construction."""
    from rtaudio.tasks.generate import mu_law_decode, top_pitch_classes

    d = np.load(data)
    x, chord = d["x"], d["chord"]
    hits = n = 0
    for o in d["onsets"]:
        seg = x[o : o + round(seconds * RATE)]
        if len(seg) < seconds * RATE:
            continue
        c = int(chord[o + 1])
        hits += top_pitch_classes(mu_law_decode(seg), RATE) == Chord(c // 2, QUALITIES[c % 2]).pitch_classes
        n += 1
    return {"accuracy": hits / n, "takes": n, "seconds": seconds}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=default_model_path())
    ap.add_argument("--out", type=Path, default=Path("bench/results/bench_generate.json"))
    ap.add_argument("--data", type=Path, default=ROOT / "data" / "wavenet" / "test.npz")
    ap.add_argument("--speed-seconds", type=float, default=10.0)
    ap.add_argument("--nll-seconds", type=float, default=10.0)
    ap.add_argument("--pitch-seconds", type=float, default=2.0)
    ap.add_argument("--instruments", default=",".join(INSTRUMENTS))
    ap.add_argument("--temperatures", default=None, help="comma-separated (default: the card's)")
    ap.add_argument("--skip", default="", help="comma-separated parts to skip: speed,nll,pitch")
    a = ap.parse_args(argv)
    skip = set(filter(None, a.skip.split(",")))
    w = WaveNetWeights.load(a.model)
    report: dict = {
        "model": str(a.model),
        "card_name": w.card.get("name"),
        "params": w.card.get("params"),
        "macs_per_sample": w.card.get("macs_per_sample"),
        "receptive_field": w.receptive_field,
        "kernel_isa": {"int8": _wavenet.isa_int8, "float32": _wavenet.isa},
        "kernel_precision": KERNEL_PRECISION,
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "cores": os.cpu_count(),
            "load_avg_1m": os.getloadavg()[0],
            "python": platform.python_version(),
            "numpy": np.__version__,
        },  # fmt: skip
    }
    if "speed" not in skip:
        print("speed ...", flush=True)
        # the ratio's sides alternate, best of three each: one short run of either is noisy
        best: dict[str, dict] = {}
        for _ in range(3):
            runs = {
                "native": native_speed(w, a.speed_seconds),
                "native_float32": native_speed(w, a.speed_seconds, "float32"),
                "numpy_reference": reference_speed(w, 4000),
            }
            for name, r in runs.items():
                if name not in best or r["seconds"] < best[name]["seconds"]:
                    best[name] = r | {"best_of": 3}
        nat, ref = best["native"], best["numpy_reference"]
        naive = naive_speed(w, 40)
        paper_w = random_weights(PAPER["dilations"], PAPER["residual"], PAPER["skip"], PAPER["head"], PAPER["cond"])
        report["speed"] = {
            **best,
            "native_avx2": isa_speed(a.model, a.speed_seconds / 2, "avx2"),
            "native_avx2_float32": isa_speed(a.model, a.speed_seconds / 2, "avx2", "float32"),
            "native_baseline_isa": isa_speed(a.model, a.speed_seconds / 2, "baseline"),
            "naive_full_recompute": naive,
            "native_vs_reference": nat["samples_per_s"] / ref["samples_per_s"],
            "native_float32_vs_reference": best["native_float32"]["samples_per_s"] / ref["samples_per_s"],
            "int8_vs_float32": nat["samples_per_s"] / best["native_float32"]["samples_per_s"],
            "native_vs_naive": nat["samples_per_s"] / naive["samples_per_s"],
            "whole_process": whole_process(a.model, a.speed_seconds),
            "paper_config_native": native_speed(paper_w, 2.0) | {"macs_per_sample": paper_macs()},
            "paper_config_native_float32": native_speed(paper_w, 2.0, "float32") | {"macs_per_sample": paper_macs()},
        }
    if "nll" not in skip and a.data.exists():
        print("held-out NLL ...", flush=True)
        report["heldout"] = heldout_bits(w, a.nll_seconds, a.data)
        wrong = heldout_bits(w, a.nll_seconds, a.data, shift=5)
        report["heldout"]["bits_per_sample_wrong_chord"] = wrong["bits_per_sample"]
        report["heldout"]["bits_per_sample_float32"] = heldout_bits(w, a.nll_seconds, a.data, precision="float32")[
            "bits_per_sample"
        ]
        report["heldout"]["marginal_bits"] = marginal_bits(a.data)
        report["data_pitch_accuracy"] = data_pitch_accuracy(a.data, 1.0)  # every chord is held >= 1.2 s
    if "pitch" not in skip:
        temps = [float(t) for t in a.temperatures.split(",")] if a.temperatures else [None]
        report["pitch"] = []
        for inst in a.instruments.split(","):
            for t in temps:
                print(f"pitch {inst} T={t} ...", flush=True)
                report["pitch"].append(pitch_accuracy(w, inst, a.pitch_seconds, t))
    report["machine"]["load_avg_1m_end"] = os.getloadavg()[0]
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(report, indent=1) + "\n")
    print_report(report)


def paper_macs() -> int:
    r, s, h = PAPER["residual"], PAPER["skip"], PAPER["head"]
    return len(PAPER["dilations"]) * (4 * r * r + r * (r + s)) + s * h + h * 256


def print_report(r: dict) -> None:
    if "speed" in r:
        s = r["speed"]
        names = ("native", "native_float32", "native_avx2", "native_avx2_float32", "native_baseline_isa",
                 "numpy_reference", "naive_full_recompute")  # fmt: skip
        for name in (*names, "paper_config_native", "paper_config_native_float32"):
            print(f"{name:24s} {s[name]['samples_per_s']:10.0f} samples/s  RTF {s[name]['rtf']:8.3f}")
        wp = s["whole_process"]
        print(f"whole process: RTF {wp['rtf_cpu']:.3f} (CPU) {wp['rtf_wall']:.3f} (wall)")
        print(f"native / reference {s['native_vs_reference']:.1f}x "
              f"(float32 kernel {s['native_float32_vs_reference']:.1f}x), int8 / float32 {s['int8_vs_float32']:.2f}x, "
              f"native / naive {s['native_vs_naive']:.0f}x")  # fmt: skip
    if "heldout" in r:
        h = r["heldout"]
        print(f"held-out {h['bits_per_sample']:.4f} bits/sample (float32 {h['bits_per_sample_float32']:.4f}) "
              f"{h['by_group']}; wrong chord "
              f"{h['bits_per_sample_wrong_chord']:.3f}; context-free {h['marginal_bits']:.3f}")  # fmt: skip
        print(f"pitch metric on real held-out renders: {r['data_pitch_accuracy']['accuracy']:.1%}")
    for p in r.get("pitch", []):
        wrong = [c["chord"] + "->" + "".join(c["top3"]) for c in p["chords"] if not c["ok"]]
        print(f"pitch {p['instrument']:8s} T={p['temperature']}: {p['accuracy']:.1%}  wrong: {' '.join(wrong)}")


if __name__ == "__main__":
    main()

"""The shipped upsampler streamed two ways on the same clip, in one run: stream kernel vs window kernel.

``python bench/stream_vs_window.py [--seconds 60] [--hops 10,20] [--json bench/results/stream_vs_window.json]``

In-process: ``StreamProcessor(stream kernel)`` and ``Processor(window kernel, the card's chunking)``
fed the same 16 kHz speech clip in 1024-frame blocks (construction excluded): RTF, chunk
compute p50/p99 against the chunk duration, and the streamed output's SNR against the
whole-signal window kernel (``process_offline``). Whole-process: wall and CPU seconds of a
``python -c`` run of each (import, build, read the clip, process, exit), and of
``rtaudio stream`` itself (which picks the stream kernel). The runs alternate, so load from
other processes falls on both; compare ratios, not absolute numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rtaudio.cards import load_card  # noqa: E402
from rtaudio.engine.processor import Processor, process_offline  # noqa: E402
from rtaudio.engine.stream import StreamProcessor  # noqa: E402
from rtaudio.tasks.neural_upsample import CARD_FIELDS, DEFAULT_MODEL, NeuralUpsampleKernel  # noqa: E402
from rtaudio.tasks.upsample_stream import stream_kernel  # noqa: E402

RATE, OUT = 16000, 48000
BLOCK = 1024

# the same work as the in-process runs, as a fresh process (what a user's command pays)
CHILD = """
import sys, numpy as np, soundfile as sf
from rtaudio.cards import load_card
from rtaudio.tasks.neural_upsample import CARD_FIELDS, DEFAULT_MODEL, NeuralUpsampleKernel
x, _ = sf.read(sys.argv[2], dtype="float32")
card = load_card(DEFAULT_MODEL, "upsample", CARD_FIELDS)
if sys.argv[1] == "stream":
    from rtaudio.engine.stream import StreamProcessor
    from rtaudio.tasks.upsample_stream import stream_kernel
    proc = StreamProcessor(stream_kernel(card, DEFAULT_MODEL, 16000, 48000))
else:
    from rtaudio.engine.processor import Processor
    k = NeuralUpsampleKernel(DEFAULT_MODEL, 16000, 48000)
    proc = Processor(k, 1, round(card["chunk_ms"] * 16), round(card["crossfade_ms"] * 16))
n = sum(len(proc.process(x[i : i + 1024])) for i in range(0, len(x), 1024)) + len(proc.flush())
assert n == 3 * len(x)
"""


def clip(seconds: float) -> np.ndarray:
    """The demo speech, repeated to ``seconds`` (16 kHz)."""
    x, rate = sf.read(ROOT / "rtaudio/assets/demo_speech_16k.flac", dtype="float32")
    assert rate == RATE
    x = x if x.ndim == 1 else x[:, 0]
    n = int(seconds * RATE)
    return np.tile(x, -(-n // len(x)))[:n]


def run_in_process(proc, x: np.ndarray) -> tuple[np.ndarray, dict]:
    t0 = time.perf_counter()
    out = [proc.process(x[i : i + BLOCK]) for i in range(0, len(x), BLOCK)]
    out.append(proc.flush())
    wall = time.perf_counter() - t0
    y = np.concatenate(out)
    stats = {
        "rtf": round(wall / (len(x) / RATE), 4),
        "chunk_ms": round(1000 * proc.chunk_seconds, 2),
        "chunk_p50_ms": round(proc.stats.percentile_ms(50), 3),
        "chunk_p99_ms": round(proc.stats.percentile_ms(99), 3),
        "latency_ms": round(1000 * proc.latency_seconds, 2),
    }
    return y, stats


def whole_process(argv: list[str], seconds: float) -> dict:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(argv, check=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_s": round(wall, 2), "rtf": round(wall / seconds, 4), "cpu_s": round(cpu, 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--hops", default="10,20", help="stream kernel hops to time (ms)")
    ap.add_argument("--threads", type=int, default=None, help="both kernels' threads (default: each one's own)")
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    card = load_card(DEFAULT_MODEL, "upsample", CARD_FIELDS)
    x = clip(a.seconds)
    report: dict = {"seconds": a.seconds, "load_before": os.getloadavg()[0], "in_process": {}, "whole_process": {}}

    window = NeuralUpsampleKernel(DEFAULT_MODEL, RATE, OUT, threads=a.threads)
    chunk, fade = round(card["chunk_ms"] * RATE / 1000), round(card["crossfade_ms"] * RATE / 1000)
    reference = process_offline(window, x)
    y, stats = run_in_process(Processor(window, 1, chunk, fade), x)
    report["in_process"]["window"] = stats
    for hop in (float(h) for h in a.hops.split(",")):
        kernel = stream_kernel(card, DEFAULT_MODEL, RATE, OUT, hop_ms=hop, threads=a.threads)
        y, stats = run_in_process(StreamProcessor(kernel), x)
        err = np.linalg.norm(reference - y)
        stats["snr_vs_offline_db"] = round(float(20 * np.log10(np.linalg.norm(reference) / err)), 1)
        report["in_process"][f"stream_{hop:g}ms"] = stats

    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "clip16k.wav"
        sf.write(wav, x, RATE, subtype="FLOAT")
        runs = {
            "stream (python -c)": [sys.executable, "-c", CHILD, "stream", str(wav)],
            "window (python -c)": [sys.executable, "-c", CHILD, "window", str(wav)],
            "rtaudio stream (CLI)": [sys.executable, "-m", "rtaudio.cli", "stream", str(wav), str(Path(tmp) / "o.wav")],
        }
        for name, argv in runs.items():
            report["whole_process"][name] = whole_process(argv, a.seconds)
    report["load_after"] = os.getloadavg()[0]

    print(f"{a.seconds:g} s of 16 kHz speech -> 48 kHz (load average {report['load_before']:.1f} at the start)")
    for name, s in report["in_process"].items():
        snr = f", SNR vs offline {s['snr_vs_offline_db']} dB" if "snr_vs_offline_db" in s else ""
        print(
            f"  {name:<14} RTF {s['rtf']:.3f}  chunk {s['chunk_ms']} ms: p50 {s['chunk_p50_ms']} ms,"
            f" p99 {s['chunk_p99_ms']} ms  latency {s['latency_ms']} ms{snr}"
        )
    for name, s in report["whole_process"].items():
        print(f"  {name:<22} whole-process RTF {s['rtf']:.3f} ({s['wall_s']} s wall, {s['cpu_s']} CPU-s)")
    if a.json:
        a.json.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()

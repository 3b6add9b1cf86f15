"""Long-stream memory flatness: peak RSS of ``rtaudio stream`` on 1 vs 15 minutes of audio.

File streaming mode promises constant memory (issue 2): a 15-minute input may take at most
10% more peak memory than a 1-minute one. Each length runs as its own ``rtaudio stream``
subprocess (the real CLI, as a user runs it) and reports its own peak resident set size
(``VmHWM``, Linux) at exit, so the measuring process does not count.
The input is real held-out speech (the shipped evaluation clips) tiled to length, written
block by block.

    .venv/bin/python bench/memory_flatness.py                      # the task's default model
    .venv/bin/python bench/memory_flatness.py --model sinc --json bench/results/memory_sinc.json

Exit status 0 when the 15-minute peak is within the limit, 1 when it is not.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from rtaudio.benchmark import EVAL_RATE, eval_dir, machine_info

LIMIT = 1.10  # 15-minute peak / 1-minute peak
WRITE_BLOCK_S = 10.0


def write_speech(path: Path, minutes: float, rate: int) -> float:
    """Write ``minutes`` of tiled evaluation speech at ``rate`` (16-bit FLAC), block by block."""
    speech = np.concatenate([sf.read(p, dtype="float32")[0] for p in sorted(eval_dir().glob("*.flac"))])
    speech = soxr.resample(speech, EVAL_RATE, rate, quality="VHQ").astype(np.float32)
    total = int(minutes * 60 * rate)
    block = int(WRITE_BLOCK_S * rate)
    with sf.SoundFile(path, "w", rate, 1, "PCM_16") as out:
        for start in range(0, total, block):
            n = min(block, total - start)
            idx = (start + np.arange(n)) % len(speech)
            gain = 0.6 + 0.4 * np.sin(2 * np.pi * start / total)  # not a bit-exact loop
            out.write(speech[idx] * gain)
    return total / rate


# The child reports its own VmHWM at exit: the peak of its post-exec address space only.
# (wait4's ru_maxrss is no good here: a vfork-spawned child inherits the parent's high-water
# mark at exec, so a parent holding more memory than the child would be measured instead.)
_CHILD = """
import atexit, os, sys
def _peak():
    with open("/proc/self/status") as f:
        kib = next(line.split()[1] for line in f if line.startswith("VmHWM:"))
    with open(os.environ["RTAUDIO_PEAK_FILE"], "w") as f:
        f.write(kib)
atexit.register(_peak)
from rtaudio.cli import main
sys.argv[0] = "rtaudio"
sys.exit(main())
"""


def run_stream(args: list[str], workdir: Path) -> dict:
    """Run ``rtaudio stream ARGS --json`` as a child; return its summary and peak RSS."""
    cmd = [sys.executable, "-c", _CHILD, "stream", *args, "--json"]
    peak_file = workdir / "peak_kib"
    env = {**os.environ, "NO_COLOR": "1", "RTAUDIO_PEAK_FILE": str(peak_file)}
    t0 = time.perf_counter()
    child = subprocess.run(cmd, capture_output=True, text=True, cwd=workdir, env=env)
    wall = time.perf_counter() - t0
    if child.returncode != 0:
        raise SystemExit(f"rtaudio stream failed ({child.returncode}): {child.stderr.strip()[-500:]}")
    summary = json.loads(child.stdout.strip().splitlines()[-1])
    return {
        "command": " ".join(["rtaudio", "stream", *args, "--json"]),
        "peak_rss_mb": round(int(peak_file.read_text()) / 1024, 1),
        "wall_seconds": round(wall, 2),
        "audio_seconds": summary["audio_seconds"],
        "rtf": summary["rtf"],
        "chunk_p99_ms": summary["chunk_p99_ms"],
        "model": summary["model"],
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="model to stream with (default: the task's default)")
    ap.add_argument("--task", default="upsample")
    ap.add_argument("--chunk-ms", type=float, default=None, help="passed to rtaudio stream (default: the card's)")
    ap.add_argument("--rate", type=int, default=16000, help="input rate of the generated speech (default 16000)")
    ap.add_argument("--minutes", type=float, nargs=2, default=(1.0, 15.0), metavar=("SHORT", "LONG"))
    ap.add_argument("--json", default=None, metavar="OUT", help="also write the result here")
    ap.add_argument("--workdir", default=None, help="keep the generated files here (default: a temporary folder)")
    a = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="rtaudio-memflat-") as tmp:
        work = Path(a.workdir or tmp)
        work.mkdir(parents=True, exist_ok=True)
        runs = []
        for minutes in a.minutes:
            src, dst = f"speech_{minutes:g}min.flac", f"out_{minutes:g}min.flac"  # relative to the workdir
            write_speech(work / src, minutes, a.rate)
            extra = ["--model", a.model] if a.model else []
            extra += ["--chunk-ms", f"{a.chunk_ms:g}"] if a.chunk_ms else []
            run = run_stream([src, dst, "--task", a.task, *extra], work)
            run["minutes"] = minutes
            runs.append(run)
            figures = f"peak RSS {run['peak_rss_mb']:.1f} MB, RTF {run['rtf']:.4f}, wall {run['wall_seconds']:.1f} s"
            print(f"{minutes:g} min: {figures}")
            (work / dst).unlink(missing_ok=True)
    ratio = runs[-1]["peak_rss_mb"] / runs[0]["peak_rss_mb"]
    result = {
        "scenario": "memory_flatness",
        "model": runs[0]["model"],
        "runs": runs,
        "ratio": round(ratio, 4),
        "limit": LIMIT,
        "pass": ratio <= LIMIT,
        "machine": machine_info(),
        "command": " ".join(["python", "bench/memory_flatness.py", *(argv if argv is not None else sys.argv[1:])]),
    }
    print(
        f"{a.minutes[1]:g}-min / {a.minutes[0]:g}-min peak RSS = {ratio:.3f} (limit {LIMIT}): "
        + ("PASS" if result["pass"] else "FAIL")
    )
    if a.json:
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        Path(a.json).write_text(json.dumps(result, indent=1) + "\n")
    return 0 if result["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())

"""Bench of ``rtaudio style`` (the published optimisation) on 6 s held-out pairs: figures and time per clip.

Content: the first 6 s of each shipped held-out evaluation clip (German, Brazilian Portuguese,
Ukrainian speech; languages no style model trained on). Style: 6 s of each ``--style``
recording (from ``--style-offset`` seconds). Each pair runs the command exactly as a user
would (``rtaudio style ... --json``, its defaults unless given), so the time is the user's.

Usage: ``python bench/style_optimiser.py data/style/strings22k.wav [--threads 2] [--out FILE.json] [--iterations N]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("styles", type=Path, nargs="+")
    ap.add_argument("--style-offset", type=float, default=10.0)
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path("bench/results/bench_style_optimiser.json"))
    ap.add_argument("--iterations", type=int, default=None, help="the command's --iterations (default: its own)")
    ap.add_argument("--filters", type=int, default=None, help="the command's --filters (default: its own)")
    args = ap.parse_args()
    from rtaudio.tasks.upsample import EVAL_RATE, eval_dir, read_eval_clip

    extra = [] if args.iterations is None else ["--iterations", str(args.iterations)]
    extra += [] if args.filters is None else ["--filters", str(args.filters)]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for style in args.styles:
            s, rate = sf.read(style, dtype="float32", always_2d=True)
            start = int(args.style_offset * rate)
            style_clip = Path(tmp) / f"{style.stem}.wav"
            sf.write(style_clip, s[start : start + int(args.seconds * rate)].mean(axis=1), rate)
            for clip in sorted(eval_dir().glob("*.flac")):
                content = Path(tmp) / f"{clip.stem}.wav"
                sf.write(content, read_eval_clip(str(clip))[: int(args.seconds * EVAL_RATE)], EVAL_RATE)
                cmd = [sys.executable, "-m", "rtaudio.cli", "style", str(content), str(style_clip)]
                cmd += [str(Path(tmp) / "out.wav"), "--json", "--threads", str(args.threads)]
                cmd += extra
                done = subprocess.run(cmd, check=True, capture_output=True, text=True)
                summary = json.loads(done.stdout)
                row = {"style": style.name, "clip": clip.stem, **summary["figures"]}
                row |= {k: summary[k] for k in ("optimise_seconds", "phase_seconds", "wall_seconds", "iterations")}
                print(json.dumps(row))
                rows.append(row)
    keys = [k for k, v in rows[0].items() if isinstance(v, float | int) and k != "iterations"]
    mean = {k: round(float(np.mean([r[k] for r in rows if r[k] is not None])), 4) for k in keys}
    result = {
        "command": "rtaudio style CONTENT STYLE OUT --json --threads " + str(args.threads) + " " + " ".join(extra),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "load_at_end": round(os.getloadavg()[0], 2),
        "per_clip": rows,
        "mean": mean,
    }
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(mean))


if __name__ == "__main__":
    main()

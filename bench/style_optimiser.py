"""Bench of ``rtaudio style`` (the published optimisation) on 6 s held-out pairs: figures and time per clip.

Content: the first 6 s of each shipped held-out evaluation clip (German, Brazilian Portuguese,
Ukrainian speech; languages no style model trained on). Style: 6 s of each ``--style``
recording (from ``--style-offset`` seconds). Each pair runs the command exactly as a user
would (``rtaudio style ... --json``, its defaults unless given), so the time is the user's.
Beside it, on the same pair: the static-EQ baseline (:func:`rtaudio.tasks.style.spectrum_match`:
the content with the style's long-term spectrum, which a style method must beat) and, with
``--model``, the feed-forward network at its own rate.

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
import time
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
    ap.add_argument("--model", type=Path, default=None, help="a feed-forward style .onnx run on the same pairs")
    ap.add_argument("--filters", type=int, default=None, help="the command's --filters (default: its own)")
    args = ap.parse_args()
    from rtaudio.engine.stream import stream_whole
    from rtaudio.tasks.resample import sinc_resample
    from rtaudio.tasks.style import StyleKernel, StyleNetwork, spectrum_match, style_figures
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
                row = {"method": "optimiser", "style": style.name, "clip": clip.stem, **summary["figures"]}
                row |= {k: summary[k] for k in ("optimise_seconds", "phase_seconds", "wall_seconds", "iterations")}
                rows.append(row)
                # the static-EQ baseline on the same pair, at the same rate
                c = sf.read(content, dtype="float32")[0]
                c = sinc_resample(c[None], EVAL_RATE, summary["sample_rate"])[0]
                sty = sinc_resample(sf.read(style_clip, dtype="float32")[0][None], rate, summary["sample_rate"])[0]
                eq = style_figures(spectrum_match(c, sty), c, sty, summary["sample_rate"])
                rows.append({"method": "eq baseline", "style": style.name, "clip": clip.stem, **eq})
                if args.model is not None:  # the feed-forward model on the same pair, at its rate
                    net = StyleNetwork(args.model, threads=1)
                    c16 = sinc_resample(c[None], summary["sample_rate"], net.rate)[0]
                    s16 = sinc_resample(sty[None], summary["sample_rate"], net.rate)[0]
                    t0 = time.perf_counter()
                    y = stream_whole(StyleKernel(net), c16)
                    rtf = (time.perf_counter() - t0) / (len(c16) / net.rate)
                    ff = style_figures(y, c16, s16, net.rate) | {"rtf": rtf}
                    rows.append({"method": "feed-forward", "style": style.name, "clip": clip.stem, **ff})
                for r in rows[-3:]:
                    print(json.dumps(r))
    mean = {}
    for method in dict.fromkeys(r["method"] for r in rows):
        mine = [r for r in rows if r["method"] == method]
        keys = [k for k, v in mine[0].items() if isinstance(v, float | int) and k != "iterations"]
        mean[method] = {k: round(float(np.mean([r[k] for r in mine if r[k] is not None])), 4) for k in keys}
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

"""Phase retrieval for ``rtaudio style``: the published Griffin-Lim from a random phase against
fast Griffin-Lim (momentum) from the content's phase, on one optimised 6 s pair.

Spectral convergence ``|| |STFT(y)| - M || / || M ||`` (how far the output's magnitude is from
the optimised one: phase artifacts are the inconsistency left) and the style figures of each.

Usage: ``python bench/style_phase.py CONTENT STYLE [--iterations 300] [--out FILE.json]``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def main() -> None:
    import torch

    from rtaudio.commands.style import DEFAULT_RATE, _read_mono
    from rtaudio.tasks import spectral
    from rtaudio.tasks.style import EDGE_HOPS, OPT_HOP, fast_griffin_lim, log_spectrogram, style_figures
    from rtaudio.tasks.style_optimise import optimise

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("content")
    ap.add_argument("style")
    ap.add_argument("--iterations", type=int, default=300)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=Path("bench/results/bench_style_phase.json"))
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    c, s = (
        _read_mono(a.content, DEFAULT_RATE)[: 6 * DEFAULT_RATE],
        _read_mono(a.style, DEFAULT_RATE)[: 6 * DEFAULT_RATE],
    )
    content, phase = log_spectrogram(c)
    result = optimise(content, log_spectrogram(s)[0], a.iterations, 10.0, 1.0)
    target = np.expm1(result.logmag)
    random_phase = np.random.default_rng(0).uniform(-np.pi, np.pi, phase.shape)
    rows = {}
    for name, start, momentum in (
        ("griffin-lim, random phase (published)", random_phase, 0.0),
        ("fast griffin-lim, random phase", random_phase, 0.99),
        ("fast griffin-lim, content phase (rtaudio style)", phase, 0.99),
    ):
        t0 = time.perf_counter()
        y = fast_griffin_lim(target, start, iters=100, momentum=momentum, length=len(c))
        seconds = time.perf_counter() - t0
        edge = EDGE_HOPS * OPT_HOP
        mag = np.abs(spectral.stft(np.pad(y, (edge, edge + -len(y) % OPT_HOP)), OPT_HOP))
        sc = float(np.linalg.norm(mag - target) / np.linalg.norm(target))
        rows[name] = {"spectral_convergence": round(sc, 4), "seconds": round(seconds, 2)}
        rows[name] |= {k: round(v, 4) for k, v in style_figures(y, c, s, DEFAULT_RATE).items() if v is not None}
        print(name, rows[name])
    a.out.write_text(json.dumps({"content": a.content, "style": a.style, "iterations": a.iterations, **rows}, indent=1))


if __name__ == "__main__":
    main()

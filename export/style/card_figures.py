"""Write the measured figures into a style model's card (the card itself is not hashed).

Reads an ``rtaudio bench --task style --json`` report and a ``bench/style_optimiser.py``
result and stores their means under ``"measured"``, plus ``latency_ms`` and a one-line
``quality_summary`` for ``rtaudio models``.

Usage: ``python -m export.style.card_figures rtaudio/models/style_strings.json bench/results/bench_style.json
bench/results/bench_style_optimiser.json``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("card", type=Path)
    ap.add_argument("bench", type=Path)
    ap.add_argument("optimiser", type=Path)
    a = ap.parse_args()
    card = json.loads(a.card.read_text())
    bench = json.loads(a.bench.read_text())
    opt = json.loads(a.optimiser.read_text())
    keys = [f["key"] for f in bench["figures"]]
    streamed, baseline = {}, {}
    for r in bench["results"]:
        if r.get("status") != "ok" or r.get("model") not in (card["name"], "style_eq"):
            continue
        clips = r["per_clip"]
        means = {k: round(sum(c[k] for c in clips) / len(clips), 4) for k in keys if clips[0].get(k) is not None}
        if r["model"] == "style_eq":  # the causal static-EQ baseline, same run, same clips
            baseline[f"{r['in_rate']} Hz"] = means
            continue
        streamed[f"{r['in_rate']} Hz"] = {
            **means,
            "rtf": r["rtf"],
            "rtf_median": r["rtf_median"],
            "latency_ms": r["latency_ms"],
            "engine": r["engine"],
            "clips": r["clips"],
            "audio_seconds": r["audio_seconds"],
        }
    card["measured"] = {
        "held_out_content": "rtaudio/assets/eval/{de,pt_BR,uk}.flac (languages not trained on)",
        "style_reference": card["style"]["reference"]["file"],
        "rtaudio_bench": streamed,
        "rtaudio_bench_style_eq_baseline": baseline,
        "bench_machine": f"{bench['machine']['cpu_model']}, {bench['machine']['cores']} cores, load "
        f"{bench['machine']['load_average'][0]} at start",
        "on_6s_pairs": opt["mean"],
        "on_6s_pairs_command": opt["command"],
    }
    native = streamed[f"{card['sample_rate']} Hz"]
    card["latency_ms"] = native["latency_ms"]
    card["quality_summary"] = (
        f"style dist {native['style_ratio']:.2f} (active {native['style_ratio_active']:.2f}), "
        f"onset corr {native['onset_corr']:.2f}, STOI {native['stoi']:.2f}"
    )
    a.card.write_text(json.dumps(card, indent=1) + "\n")
    print(card["quality_summary"])


if __name__ == "__main__":
    main()

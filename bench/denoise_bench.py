"""Denoising bench: noisy input, RNNoise, DeepFilterNet3, the shipped streaming model and the
faithful SEGAN, in one run on the same held-out noisy files.

``python -m bench.denoise_bench [--model rtaudio/models/denoise16k.onnx] [--segan runs/segan16k/best.pt]
[--files 120] [--out bench/results/bench_denoise.json]``

Held-out set: ``data/denoise/test`` (``python -m export.denoise.data``): speech of languages
never trained on, mixed with noise recordings/realisations never trained on, 0-15 dB SNR.
Figures per row: PESQ-wb, STOI, SI-SDR (means over files; also per noise kind and per input-SNR band), RTF on 1 and 2
cores (compute time / audio time over the whole set), latency. The shipped model is run exactly
as the engine streams it (:func:`rtaudio.engine.stream.stream_whole`, hop by hop, state
carried). The row "at 48 kHz" is the same model as a 48 kHz device runs it (the task's plan
for 48 kHz in and out: the 3x resampling filters around it; each noisy file is taken to 48 kHz
with soxr VHQ first and the output back to 16 kHz for the metrics): what `rtaudio live` on a
usual sound card delivers. SEGAN runs offline in torch (it needs whole 16,384-sample windows:
1.02 s latency). A peer or model that is missing is a row saying why.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from export.denoise.data import RATE, heldout_pairs
from rtaudio.engine.stream import StreamProcessor, stream_whole
from rtaudio.peers import PEERS, load_peer
from rtaudio.tasks.denoise import DenoiseKernel, quality

KEYS = ("pesq_wb", "stoi", "si_sdr")
#: the usual sound-card rate, for the device-path row
DEVICE_RATE = 48000


#: input-SNR bands (dB) of the by-SNR figures: where a denoiser wins can depend on how noisy it is
SNR_BANDS = ((0.0, 5.0), (5.0, 10.0), (10.0, 15.0))


def _means(scores: list[dict], keep: list[bool]) -> dict:
    return {k: round(float(np.mean([s[k] for s, m in zip(scores, keep, strict=True) if m])), 3) for k in KEYS}


def _summary(scores: list[dict], kinds: list[str], snrs: list[float | None]) -> dict:
    out = {k: round(float(np.mean([s[k] for s in scores])), 4) for k in KEYS}
    out["by_noise"] = {kind: _means(scores, [n == kind for n in kinds]) for kind in sorted(set(kinds))}
    if all(v is not None for v in snrs):  # sets with a known mixing SNR per file
        out["by_snr"] = {}
        for lo, hi in SNR_BANDS:
            keep = [lo <= v < hi or (hi == SNR_BANDS[-1][1] and v == hi) for v in snrs]
            if any(keep):
                out["by_snr"][f"{lo:g}-{hi:g} dB"] = {"files": sum(keep), **_means(scores, keep)}
    return out


def _rtf(run, pairs, seconds: float, threads: int) -> float:
    t0 = time.perf_counter()
    for _, noisy, _ in pairs:
        run(noisy, threads)
    return round((time.perf_counter() - t0) / seconds, 4)


def markdown(result: dict) -> str:
    """The results as a markdown table (the BENCHMARKS.md section's body)."""
    lines = [
        "| row | PESQ-wb | STOI | SI-SDR dB | RTF 1 core | RTF 2 cores | latency ms | notes |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, r in result["rows"].items():
        if "unavailable" in r:
            lines.append(f"| {name} | - | - | - | - | - | - | {r['unavailable']} |")
            continue
        note = ", ".join(
            f"{k} {r[k]}" for k in ("version", "params", "steps", "wall_minutes", "algorithmic_delay_ms") if k in r
        )
        rtf = [f"{r[k]:.3f}" if r.get(k) is not None else "-" for k in ("rtf_1core", "rtf_2core")]
        lines.append(
            f"| {name} | {r['pesq_wb']:.3f} | {r['stoi']:.3f} | {r['si_sdr']:.2f} | {rtf[0]} | {rtf[1]} "
            f"| {r['latency_ms']} | {note} |"
        )
    kinds = sorted(next(r for r in result["rows"].values() if "by_noise" in r)["by_noise"])
    lines += ["", "PESQ-wb by noise kind:", "", "| row | " + " | ".join(kinds) + " |", "|---" * (len(kinds) + 1) + "|"]
    for name, r in result["rows"].items():
        if "by_noise" in r:
            lines.append(f"| {name} | " + " | ".join(f"{r['by_noise'][k]['pesq_wb']:.2f}" for k in kinds) + " |")
    bands = next((r["by_snr"] for r in result["rows"].values() if "by_snr" in r), None)
    if bands:
        heads = [f"{b} ({v['files']} files)" for b, v in bands.items()]
        lines += ["", "PESQ-wb by input SNR:", "", "| row | " + " | ".join(heads) + " |"]
        lines.append("|---" * (len(bands) + 1) + "|")
        for name, r in result["rows"].items():
            if "by_snr" in r:
                lines.append(f"| {name} | " + " | ".join(f"{v['pesq_wb']:.3f}" for v in r["by_snr"].values()) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=Path("rtaudio/models/denoise16k.onnx"))
    ap.add_argument("--segan", type=Path, default=Path("runs/segan16k/best.pt"))
    ap.add_argument("--files", type=int, default=None, help="evenly spread subset of the test set")
    ap.add_argument("--rtf-files", type=int, default=12, help="files timed for the RTF figures")
    ap.add_argument("--out", type=Path, default=Path("bench/results/bench_denoise.json"))
    ap.add_argument("--set", default="test", help="held-out set under data/denoise/ (test, dev, vctk_demand_test)")
    ap.add_argument("--markdown", type=Path, help="print the table of an existing results JSON and exit")
    a = ap.parse_args()
    if a.markdown:
        print(markdown(json.loads(a.markdown.read_text())))
        return
    pairs = heldout_pairs(a.set, a.files)
    manifest = json.loads(Path(f"data/denoise/{a.set}/manifest.json").read_text())
    kind_of = {it["file"]: it["noise"] for it in manifest["items"]}
    kinds = [kind_of[name] for name, _, _ in pairs]
    snr_of = {it["file"]: it.get("snr_db") for it in manifest["items"]}
    snrs = [snr_of[name] for name, _, _ in pairs]
    timed = pairs[:: max(1, len(pairs) // a.rtf_files)][: a.rtf_files]
    timed_s = sum(len(x) for _, x, _ in timed) / RATE
    load0 = os.getloadavg()
    rows: dict[str, dict] = {}

    def measure(name: str, enhance, rtf_run=None, latency_ms=None, **info) -> None:
        t0 = time.perf_counter()
        scores = [quality(clean, enhance(noisy), RATE) for _, noisy, clean in pairs]
        row = {**_summary(scores, kinds, snrs), "latency_ms": latency_ms, **info}
        if rtf_run is not None:
            row["rtf_1core"] = _rtf(rtf_run, timed, timed_s, 1)
            row["rtf_2core"] = _rtf(rtf_run, timed, timed_s, 2)
        row["wall_s"] = round(time.perf_counter() - t0, 1)
        rows[name] = row
        print(name, {k: row.get(k) for k in (*KEYS, "rtf_1core", "rtf_2core", "latency_ms")}, flush=True)

    measure("noisy", lambda x: x, latency_ms=0.0)
    calib = (pairs[0][2], RATE)
    for peer_name in PEERS:
        peer = load_peer(peer_name, calib)
        if isinstance(peer, str):
            rows[peer_name] = {"unavailable": peer}
            print(peer_name, peer)
            continue
        # both libraries are single-threaded: the 1- and 2-core figures are the same run twice
        measure(
            peer_name,
            lambda x, p=peer: p(x, RATE),
            lambda x, t, p=peer: p(x, RATE),
            latency_ms=round(peer.live_latency_ms, 1),
            version=peer.version,
            algorithmic_delay_ms=round(peer.latency_ms, 1),
        )
    if a.model.exists():
        kernels = {t: DenoiseKernel(a.model, threads=t) for t in (1, 2)}
        k1 = kernels[1]
        latency = StreamProcessor(k1).latency_samples
        measure(
            a.model.stem,
            lambda x: stream_whole(k1, x),
            lambda x, t: stream_whole(kernels[t], x),
            latency_ms=round(1000 * latency / RATE, 1),
            params=k1.card.get("params"),
            steps=k1.card.get("training", {}).get("steps"),
        )
        import soxr

        from rtaudio.registry import build_plan

        device = build_plan("denoise", str(a.model), DEVICE_RATE, threads=1).kernel

        def via_device(x: np.ndarray) -> np.ndarray:
            x48 = soxr.resample(x, RATE, DEVICE_RATE, quality="VHQ").astype(np.float32)
            return soxr.resample(stream_whole(device, x48), DEVICE_RATE, RATE, quality="VHQ")[: len(x)]

        measure(
            f"{a.model.stem} at 48 kHz",
            via_device,
            latency_ms=round(1000 * StreamProcessor(device).latency_samples / DEVICE_RATE, 1),
            path=type(device).__name__,
        )
    else:
        rows["denoise16k"] = {"unavailable": f"{a.model} does not exist"}
    if a.segan.exists():
        import torch

        from export.denoise.models import count_params, segan_enhance
        from export.denoise.train import load_checkpoint

        net, ck = load_checkpoint(a.segan)

        def segan_run(x, threads):
            torch.set_num_threads(threads)
            return segan_enhance(net, x)

        torch.set_num_threads(1)
        measure(
            "segan (faithful)",
            lambda x: segan_enhance(net, x),
            segan_run,
            latency_ms=round(1000 * 16384 / RATE, 1),
            params=count_params(net),
            steps=int(ck["step"]),
            wall_minutes=round(ck["wall_seconds"] / 60, 1),
            checkpoint=str(a.segan),
        )
    else:
        rows["segan (faithful)"] = {
            "unavailable": f"{a.segan} does not exist (train export/denoise/configs/segan16k.json)"
        }
    result = {
        "set": {
            "files": len(pairs),
            "seconds": round(sum(len(x) for _, x, _ in pairs) / RATE, 1),
            "rtf_seconds": round(timed_s, 1),
            "what": f"data/denoise/{a.set} ({manifest['corpus']}): held-out speech x held-out noise",
        },
        "machine": {
            "cpu_count": os.cpu_count(),
            "loadavg_start": [round(v, 2) for v in load0],
            "loadavg_end": [round(v, 2) for v in os.getloadavg()],
            "python": platform.python_version(),
        },
        "rows": rows,
    }
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(result, indent=1) + "\n")
    print(markdown(result))
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()

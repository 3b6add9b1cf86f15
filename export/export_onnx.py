"""Export a checkpoint to one self-contained ONNX file, check parity, write the model card.

``python -m export.export_onnx runs/fast48k/last.pt rtaudio/models/upsample48k.onnx
[--schedules runs/fast48k/schedules.json] [--eval runs/fast48k/eval.json]
[--envelope runs/fast48k_wb/envelope.npz] [--card-extra export/configs/upsample48k_card.json]``

``--envelope`` ships the envelope post-filter's maps beside the model as ``<name>_envelope.npz``
(sha256 in the card); ``--card-extra`` merges runtime defaults and notes into the card.

The graph is one network call (cond, x_t, sigma, cutoff) -> high band; the runtime kernel
loops the sampler, so ``--steps`` can change without re-exporting.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from export.models import BandNet, NetConfig
from rtaudio.cards import sha256_file
from rtaudio.rates import BAND_EXTENSION_PAIRS
from rtaudio.tasks import envelope as envelope_filter
from rtaudio.tasks.neural_upsample import context_for


def load_checkpoint(path: Path) -> tuple[BandNet, dict]:
    ck = torch.load(path, map_location="cpu", weights_only=False)
    net = BandNet(NetConfig(**ck["net_config"]))
    net.load_state_dict(ck["model"])
    return net.eval(), ck


def export(net: BandNet, out: Path) -> None:
    t = 8 * 512
    args = (torch.zeros(1, 1, t), torch.zeros(1, 1, t), torch.tensor([1.0]), torch.tensor([8000.0]))
    torch.onnx.export(
        net,
        args,
        str(out),
        input_names=["cond", "x_t", "sigma", "cutoff"],
        output_names=["high_band"],
        dynamic_axes={
            "cond": {0: "batch", 2: "time"},
            "x_t": {0: "batch", 2: "time"},
            "high_band": {0: "batch", 2: "time"},
        },
        opset_version=17,
        dynamo=False,  # the TorchScript exporter handles the symbolic time // s2d reshape cleanly
        external_data=False,
    )


def parity(net: BandNet, path: Path, trials: int = 4) -> float:
    """Max abs difference torch vs ORT on random inputs of random shapes and levels."""
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    worst = 0.0
    for i in range(trials):
        b, t = int(rng.integers(1, 3)), 8 * int(rng.integers(300, 1200))
        cond = (0.3 * rng.standard_normal((b, 1, t))).astype(np.float32)
        x_t = (0.05 * rng.standard_normal((b, 1, t))).astype(np.float32)
        sigma = np.array([[1.0, 0.1, 0.01, 0.001][i % 4]], np.float32)
        cutoff = np.array([[4000.0, 8000.0, 12000.0][i % 3]], np.float32)
        with torch.inference_mode():
            ref = net(*(torch.from_numpy(a) for a in (cond, x_t, sigma, cutoff))).numpy()
        got = sess.run(None, {"cond": cond, "x_t": x_t, "sigma": sigma, "cutoff": cutoff})[0]
        worst = max(worst, float(np.abs(ref - got).max()))
    return worst


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--schedules", type=Path, help="JSON from export.schedule (steps -> sigmas, default)")
    ap.add_argument("--eval", type=Path, help="JSON from export.evaluate (quality table)")
    ap.add_argument("--rtf", type=Path, help="JSON of measured kernel RTFs (ORT CPU)")
    ap.add_argument("--name", default="upsample48k")
    ap.add_argument("--envelope", type=Path, help="envelope maps (.npz from export.envelope) to ship beside the model")
    ap.add_argument("--card-extra", type=Path, help="JSON merged into the card (default, chunk_ms, crossfade_ms, ...)")
    ap.add_argument(
        "--command",
        default="python -m export.train --config export/configs/fast48k.json --max-minutes 75",
        help="the training command, recorded in the card",
    )
    a = ap.parse_args()
    net, ck = load_checkpoint(a.checkpoint)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    export(net, a.out)
    diff = parity(net, a.out)
    print(f"parity torch vs ORT: max abs diff {diff:.2e}")
    if diff > 1e-4:
        sys.exit("parity check failed (> 1e-4)")
    sched = json.loads(a.schedules.read_text()) if a.schedules else {"schedules": {"0": []}, "steps_default": 0}
    cfg = ck["train_config"]
    card = {
        "name": a.name,
        "task": "upsample",
        "model_rate": 48000,
        "rate_pairs": [list(p) for p in BAND_EXTENSION_PAIRS],
        "params": int(ck["params"]),
        "architecture": {
            "kind": "band-extension network (NU-Wave-style residual stack) predicting the missing band;"
            " output = soxr VHQ upsampled input + high-pass(net), high-pass at the input Nyquist",
            **ck["net_config"],
        },
        "s2d": ck["net_config"]["s2d"],
        "inputs": "cond (B,1,T) 48 kHz sinc-upsampled input, x_t (B,1,T), sigma (1,), cutoff (1,) Hz; T % s2d == 0",
        "sampler": "0 steps: one predictor call (x_t = 0, sigma = 1). Each refiner step k re-noises the"
        " current high band with position-keyed noise at sigma_k and predicts the clean band again",
        "steps_default": int(sched["steps_default"]),
        "steps_note": sched.get("note", ""),
        "schedules": sched["schedules"],
        "hb_gain": sched.get("hb_gain", {}),
        "schedule_search": {k: sched[k] for k in ("mean_lsd", "search_subset") if k in sched},
        "receptive_field": 2 * net.cfg.receptive_half() + 1,
        "parity_max_abs_diff": diff,
        "training": {
            "data": cfg["corpus"],
            "config": cfg,
            "command": a.command,
            "steps": int(ck["step"]),
            "wall_minutes": round(ck["wall_seconds"] / 60, 1),
            "hardware": "2 CPU cores (shared), torch 2.13 CPU",
        },
    }
    margins = {}
    if a.envelope:
        shipped = a.out.with_name(f"{a.name}_envelope.npz")
        shipped.write_bytes(a.envelope.read_bytes())
        fit_meta = a.envelope.with_suffix(".json")
        card["envelope"] = {
            "file": shipped.name,
            "sha256": sha256_file(shipped),
            "what": "per-frame, per-500 Hz-band level of the added band, predicted from the input band's log"
            " energies by a ridge regression (rtaudio/tasks/envelope.py); the network's band is scaled to it",
            "fit": json.loads(fit_meta.read_text()) if fit_meta.exists() else {},
        }
        maps = envelope_filter.load_maps(shipped)
        margins = {rate: envelope_filter.margin_samples(m) for rate, m in maps.items()}
    card["context_in"] = {f"{i}->{o}": context_for(card, i, o, margins.get(i, 0)) for i, o in BAND_EXTENSION_PAIRS}
    # Right context is the engine's lookahead: the model's share of algorithmic latency.
    card["context_ms"] = {k: round(1000 * v / int(k.split("->")[0]), 1) for k, v in card["context_in"].items()}
    if a.rtf:
        card["rtf"] = json.loads(a.rtf.read_text())
    if a.eval:
        card["quality"] = json.loads(a.eval.read_text())
    card["sha256"] = sha256_file(a.out)
    if a.card_extra:
        card |= json.loads(a.card_extra.read_text())
    a.out.with_suffix(".json").write_text(json.dumps(card, indent=1) + "\n")
    print(f"wrote {a.out} ({a.out.stat().st_size / 1e6:.2f} MB) and its card")


if __name__ == "__main__":
    main()

"""Export a WaveNet checkpoint to the runtime's ``.npz`` + card, checking kernel parity.

``python -m export.wavenet.export runs/generate16k/last.pt rtaudio/models/generate16k.npz
[--card-extra FILE.json]``

The ``.npz`` holds float32 arrays in the kernel's input-major layout (see
``rtaudio/tasks/generate.py: WaveNetWeights``) and ``dilations``; the card beside it records
the conditioning vocabulary, shapes, receptive field, training run and sha256. Before
writing, the native kernel's teacher-forced logits are compared with the torch model's on a
held-out crop.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from export.wavenet.models import WaveNet, WaveNetConfig
from rtaudio.tasks.generate import INSTRUMENTS, QUALITIES, ROOTS, WaveNetWeights


def load_checkpoint(path: Path) -> tuple[WaveNet, dict]:
    ck = torch.load(path, map_location="cpu", weights_only=False)
    net = WaveNet(WaveNetConfig(**ck["net_config"]))
    net.load_state_dict(ck["model"])
    return net.eval(), ck


def arrays_of(net: WaveNet) -> dict[str, np.ndarray]:
    """The torch weights in the kernel's layout (input-major matrices, one tensor per kind)."""

    def f(t: torch.Tensor) -> np.ndarray:
        return np.ascontiguousarray(t.detach().numpy(), np.float32)

    # Conv1d weight (2R out, R in, 2 taps): tap 0 reads x[t - d], tap 1 reads x[t]
    w_dil = np.stack([np.concatenate([f(c.weight[:, :, 0].T), f(c.weight[:, :, 1].T)]) for c in net.dil])
    return {
        "embed": f(net.embed.weight),
        "w_dil": w_dil,
        "b_dil": np.stack([f(c.bias) for c in net.dil]),
        "w_out": np.stack([f(c.weight[:, :, 0].T) for c in net.out]),
        "b_out": np.stack([f(c.bias) for c in net.out]),
        "w_head1": f(net.head1.weight[:, :, 0].T),
        "b_head1": f(net.head1.bias),
        "w_head2": f(net.head2.weight[:, :, 0].T),
        "b_head2": f(net.head2.bias),
        "cond_root": f(net.root.weight),
        "cond_quality": f(net.quality.weight),
        "cond_instrument": f(net.instrument.weight),
        "cond_proj": f(net.cond_proj.weight.T),
        "dilations": np.array(net.cfg.dilations, np.int32),
    } | ({"w_exc": f(net.exc_proj.weight.T)} if net.cfg.excitation else {})


def state_from_npz(path: Path) -> dict[str, torch.Tensor]:
    """A shipped ``.npz``'s weights as the torch model's parameters (the inverse of
    :func:`arrays_of`): the shipped model has no checkpoint in the repository, and a fine-tune
    (``--init rtaudio/models/generate16k.npz``) starts from it."""
    with np.load(path) as z:
        a = {k: torch.from_numpy(np.array(z[k], np.float32)) for k in z.files if k != "dilations"}
    layers, r2 = a["b_dil"].shape
    r = r2 // 2
    state = {
        "embed.weight": a["embed"],
        "root.weight": a["cond_root"],
        "quality.weight": a["cond_quality"],
        "instrument.weight": a["cond_instrument"],
        "cond_proj.weight": a["cond_proj"].T.contiguous(),
        "head1.weight": a["w_head1"].T.contiguous()[:, :, None],
        "head1.bias": a["b_head1"],
        "head2.weight": a["w_head2"].T.contiguous()[:, :, None],
        "head2.bias": a["b_head2"],
    }
    for i in range(layers):
        past, now = a["w_dil"][i, :r].T, a["w_dil"][i, r:].T  # (2R out, R in) per tap
        state[f"dil.{i}.weight"] = torch.stack([past, now], -1).contiguous()
        state[f"dil.{i}.bias"] = a["b_dil"][i]
        state[f"out.{i}.weight"] = a["w_out"][i].T.contiguous()[:, :, None]
        state[f"out.{i}.bias"] = a["b_out"][i]
    if "w_exc" in a:
        state["exc_proj.weight"] = a["w_exc"].T.contiguous()
    return state


def weights_of(net: WaveNet) -> WaveNetWeights:
    """Runtime weights straight from a torch model (no file): for parity checks."""
    a = arrays_of(net)
    dil = [int(d) for d in a.pop("dilations")]
    card = {"conditioning": {"instruments": list(INSTRUMENTS)[: net.cfg.n_instruments]}}
    return WaveNetWeights(a, dil, card)


def torch_logits(
    net: WaveNet, classes: np.ndarray, chord: int, instrument: int, exc: np.ndarray | None = None
) -> np.ndarray:
    """Teacher-forced logits ``(n, 256)`` of input classes under one label (and its excitation)."""
    x = torch.from_numpy(classes.astype(np.int64))[None]
    e = None if exc is None else torch.from_numpy(exc)[None]
    with torch.no_grad():
        lo = net(x, torch.full_like(x, chord), torch.full_like(x, instrument), e)
    return lo[0].T.numpy()


def parity(net: WaveNet, n: int = 3000) -> float:
    """Max |logit difference| between the native float32 kernel and torch on a held-out crop."""
    from rtaudio.tasks.generate import Chord, excitation

    d = np.load("data/wavenet/test.npz")
    start = int(d["onsets"][3]) - 200
    classes = np.ascontiguousarray(d["x"][start : start + n])
    chord, inst = int(d["chord"][start + 300]), int(d["inst"][start])
    w = weights_of(net)
    k = w.kernel("float32")
    k.set_cond(w.cond_bias(Chord(chord // 2, QUALITIES[chord % 2]), w.instruments[inst]))
    # the crop starts 200 samples before an onset: the excitation from there on
    exc = excitation(chord, np.arange(-200, n - 200), 16000, net.cfg.excitation) if net.cfg.excitation else None
    ebias = None if exc is None else np.ascontiguousarray(exc @ w.arrays["w_exc"])
    out = np.empty((n, 256), np.float32)
    k.forward(classes, out, ebias)
    return float(np.abs(out - torch_logits(net, classes, chord, inst, exc)).max())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--card-extra", type=Path, help="JSON merged into the card (training record, measurements)")
    ap.add_argument("--bench", type=Path, help="a bench/generate_bench.py report: its figures go into the card")
    a = ap.parse_args()
    net, ck = load_checkpoint(a.checkpoint)
    err = parity(net)
    print(f"kernel vs torch teacher-forced logits: max |diff| {err:.2e}")
    if err > 1e-3:
        raise SystemExit("parity failed")
    a.out.parent.mkdir(parents=True, exist_ok=True)
    cfg = net.cfg
    card = {
        "name": a.out.stem,
        "task": "generate",
        "kind": "WaveNet (mu-law 256 softmax, gated dilated causal convolutions, global conditioning)",
        "sample_rate": 16000,
        "default": True,
        "conditioning": {"roots": ROOTS, "qualities": QUALITIES, "instruments": list(INSTRUMENTS)},
        "architecture": {
            "residual": cfg.residual, "skip": cfg.skip, "head": cfg.head, "cond": cfg.cond,
            "dilations": cfg.dilations, "layers": len(cfg.dilations), "classes": cfg.classes,
        },
        "receptive_field": cfg.receptive_field,
        "receptive_field_ms": round(1000 * cfg.receptive_field / 16000, 2),
        "params": int(sum(p.numel() for p in net.parameters())),
        "macs_per_sample": macs_per_sample(cfg),
        "training": {"steps": int(ck["step"]), "wall_minutes": round(ck["wall_seconds"] / 60, 1),
                     "config": ck["train_config"]},
        "kernel_parity_max_abs_logit": err,
    }  # fmt: skip
    if a.card_extra:
        card |= json.loads(a.card_extra.read_text())
    if a.bench:
        card["measured"] = measured_figures(json.loads(a.bench.read_text()))
    weights_of(net).save(a.out, card)
    print(f"wrote {a.out} ({a.out.stat().st_size / 1e6:.2f} MB) and its card")


def measured_figures(report: dict) -> dict:
    """The card's summary of a generate bench report (speed, held-out NLL, pitch correctness)."""
    out: dict = {"source": "python -m bench.generate_bench", "machine": report["machine"]}
    if "speed" in report:
        sp = report["speed"]
        out["speed"] = {
            name: {"samples_per_s": round(sp[name]["samples_per_s"], 1), "rtf": round(sp[name]["rtf"], 4)}
            for name in (
                "native",
                "native_float32",
                "native_avx2",
                "native_avx2_float32",
                "native_baseline_isa",
                "numpy_reference",
                "naive_full_recompute",
            )  # fmt: skip
        }
        out["speed"]["kernel_isa"] = report["kernel_isa"]
        out["speed"]["kernel_precision"] = report["kernel_precision"]
        out["speed"]["native_vs_numpy_reference"] = round(sp["native_vs_reference"], 1)
        out["speed"]["native_float32_vs_numpy_reference"] = round(sp["native_float32_vs_reference"], 1)
        out["speed"]["int8_vs_float32"] = round(sp["int8_vs_float32"], 2)
        out["speed"]["native_vs_naive"] = round(sp["native_vs_naive"], 0)
        out["speed"]["whole_process_rtf_cpu"] = round(sp["whole_process"]["rtf_cpu"], 4)
    if "heldout" in report:
        h = report["heldout"]
        out["heldout_bits_per_sample"] = round(h["bits_per_sample"], 4)
        out["heldout_bits_per_sample_float32"] = round(h["bits_per_sample_float32"], 4)
        out["heldout_bits_per_sample_wrong_chord"] = round(h["bits_per_sample_wrong_chord"], 4)
        out["heldout_by_group"] = {k: round(v, 4) for k, v in h["by_group"].items()}
        out["context_free_bits_per_sample"] = round(h["marginal_bits"], 4)
    if "pitch" in report:
        out["pitch_accuracy"] = {f"{p['instrument']}@T={p['temperature']}": p["accuracy"] for p in report["pitch"]}
    if "data_pitch_accuracy" in report:
        out["pitch_metric_on_real_renders"] = report["data_pitch_accuracy"]["accuracy"]
    return out


def macs_per_sample(cfg: WaveNetConfig) -> int:
    """Multiply-adds of one incremental step (conditioning is a per-chord bias: free)."""
    r, s, h = cfg.residual, cfg.skip, cfg.head
    return len(cfg.dilations) * (2 * r * 2 * r + r * (r + s)) + s * h + h * cfg.classes


if __name__ == "__main__":
    main()

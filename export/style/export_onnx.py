"""Export a trained style network to one ONNX file (sequence path + step path) and check their parity.

Graph inputs ``logmag`` ``(C, bins, frames)`` -> ``logmag_out`` (the whole-signal reference
path) and ``frame`` ``(C, bins, 1)``, ``state0..`` -> ``frame_out``, ``state0_out..`` (the
streaming step, one frame and each dilated layer's carried history). Both are the same
weights; ONNX Runtime runs every node, so the runtime hands the unused path a one-frame input.

Usage: ``python -m export.style.export_onnx runs/style_strings/last.pt rtaudio/models/style_strings.onnx``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from export.style.models import StyleNet, StyleNetConfig


class _Graph(torch.nn.Module):
    def __init__(self, net: StyleNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, logmag, frame, *states):
        out, new = self.net.step(frame, list(states))
        return (self.net(logmag), out, *new)


def load(path: Path) -> StyleNet:
    """The network of a training checkpoint."""
    ck = torch.load(path, map_location="cpu", weights_only=False)
    cfg = dict(ck["config"])
    cfg["dilations"] = tuple(cfg["dilations"])
    net = StyleNet(StyleNetConfig(**cfg))
    net.load_state_dict(ck["model"])
    return net.eval()


def export(checkpoint: Path, out: Path) -> dict:
    """Write ``out`` and return the card fields the graph implies (framing, state shapes, parameters)."""
    net = load(checkpoint)
    cfg = net.cfg
    states = [torch.zeros(1, cfg.channels, n) for n in cfg.state_lengths()]
    names = [f"state{i}" for i in range(len(states))]
    args = (torch.zeros(1, cfg.bins, 40), torch.zeros(1, cfg.bins, 1), *states)
    dynamic = {"logmag": {0: "C", 2: "frames"}, "logmag_out": {0: "C", 2: "frames"}, "frame": {0: "C"}}
    dynamic |= {"frame_out": {0: "C"}} | {n: {0: "C"} for n in names} | {f"{n}_out": {0: "C"} for n in names}
    torch.onnx.export(
        _Graph(net),
        args,
        str(out),
        input_names=["logmag", "frame", *names],
        output_names=["logmag_out", "frame_out", *[f"{n}_out" for n in names]],
        dynamic_axes=dynamic,
        opset_version=17,
        dynamo=False,
    )
    parity(net, out)
    return {
        "sample_rate": cfg.sample_rate,
        "n_fft": cfg.n_fft,
        "hop": cfg.hop,
        "delay": cfg.n_fft - cfg.hop,
        "receptive_frames": 1 + sum(cfg.state_lengths()),
        "state_shapes": [["C", cfg.channels, n] for n in cfg.state_lengths()],
        "architecture": cfg.to_dict(),
        "params": sum(p.numel() for p in net.parameters()),
    }


def parity(net: StyleNet, path: Path) -> None:
    """ONNX sequence and step paths against torch on random log-magnitudes (raises if off)."""
    import onnxruntime as ort

    cfg = net.cfg
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 3, (2, cfg.bins, 50)).astype(np.float32)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    states = [np.zeros((2, cfg.channels, n), np.float32) for n in cfg.state_lengths()]
    feeds = {"logmag": x, "frame": x[:, :, :1], **{f"state{i}": s for i, s in enumerate(states)}}
    seq = sess.run(["logmag_out"], feeds)[0]
    with torch.no_grad():
        ref = net(torch.from_numpy(x)).numpy()
    steps = []
    for t in range(x.shape[2]):
        feeds = {"logmag": x[:, :, :1], "frame": x[:, :, t : t + 1], **{f"state{i}": s for i, s in enumerate(states)}}
        out = sess.run(None, feeds)
        steps.append(out[1])
        states = out[2:]
    step = np.concatenate(steps, axis=2)
    err = max(float(np.abs(seq - ref).max()), float(np.abs(step - ref).max()))
    print(f"parity: max |onnx - torch| = {err:.2e} (sequence and step paths)")
    if err > 1e-4:
        raise RuntimeError(f"ONNX parity failed: {err}")


def write_card(checkpoint: Path, out: Path, fields: dict, style: Path, reference_seconds: float, extra: dict) -> Path:
    """The card beside ``out``: the graph's fields, the training run, the style's reference clip
    (the first ``reference_seconds`` of the style recording, beside it as 16-bit ``.npz``), sha256s."""
    import json

    from export.data import load_audio
    from rtaudio.cards import sha256_file

    ck = torch.load(checkpoint, map_location="cpu", weights_only=False)
    rate = fields["sample_rate"]
    # .npz: the package data that installs with the models (``models/*.npz``); 16-bit samples
    ref_path = out.with_name(out.stem + "_style.npz")
    clip = load_audio(style, rate)[: int(reference_seconds * rate)]
    np.savez_compressed(ref_path, audio=np.round(np.clip(clip, -1, 1) * 32767).astype(np.int16), rate=rate)
    meta_path = checkpoint.parent / "meta.json"
    card = {
        "name": out.stem,
        "task": "style",
        **fields,
        "training": {
            "steps": int(ck["step"]),
            "wall_minutes": round(float(ck.get("wall_s", 0.0)) / 60, 1),
            "run": json.loads(meta_path.read_text()) if meta_path.exists() else {},
        },
        "style": {"reference": {"file": ref_path.name, "sha256": sha256_file(ref_path)}},
        **extra,
        "sha256": sha256_file(out),
    }
    card_path = out.with_suffix(".json")
    card_path.write_text(json.dumps(card, indent=1) + "\n")
    return card_path


def main() -> None:
    import json

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--style", type=Path, required=True, help="the style recording trained on")
    ap.add_argument("--reference-seconds", type=float, default=20.0)
    ap.add_argument("--extra", type=Path, default=None, help="a JSON object merged into the card (source, licence)")
    a = ap.parse_args()
    fields = export(a.checkpoint, a.out)
    extra = json.loads(a.extra.read_text()) if a.extra else {}
    print(write_card(a.checkpoint, a.out, fields, a.style, a.reference_seconds, extra))


if __name__ == "__main__":
    main()

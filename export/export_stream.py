"""Export the shipped upsampler's streaming step graph and add its ``stream`` entry to the card.

``python -m export.export_stream rtaudio/models/upsample48k.onnx [--hop-ms 10] [--threads 1]``

There is no training checkpoint in the repository: the weights are read from the shipped
graph's initializers into :class:`~export.models.BandNet`, which must reproduce that graph
(max abs difference printed, at most 1e-6). Its cached-convolution twin
(:class:`~export.streaming.StreamBandNet`) must reproduce ``BandNet`` away from the signal
edges, and the exported step graph must reproduce the twin hop by hop; the three
differences are recorded in the card. Output: ``<name>_stream.onnx`` beside the model (one
file, opset 17, weights inside) and the card's ``stream`` entry (file, sha256, delays and
latency per rate pair, the hop, this command).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from export.models import BandNet
from export.streaming import STATE_NAMES, StreamBandNet, bandnet_from_onnx, export_step_graph
from rtaudio.cards import sha256_file

TOLERANCE = 1e-6


def graph_parity(net: BandNet, path: Path, trials: int = 3) -> float:
    """Max abs difference of ``net`` and the shipped graph on random inputs, lengths and levels."""
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    worst = 0.0
    for i in range(trials):
        t = 8 * int(rng.integers(300, 1200))
        cond = (0.3 * rng.standard_normal((2, 1, t))).astype(np.float32)
        x_t = (0.05 * rng.standard_normal((2, 1, t))).astype(np.float32) * (i > 0)
        sigma = np.array([[1.0, 0.03, 0.001][i]], np.float32)
        cutoff = np.array([[8000.0, 4000.0, 12000.0][i]], np.float32)
        with torch.inference_mode():
            ref = net(*(torch.from_numpy(a) for a in (cond, x_t, sigma, cutoff))).numpy()
        got = sess.run(None, {"cond": cond, "x_t": x_t, "sigma": sigma, "cutoff": cutoff})[0]
        worst = max(worst, float(np.abs(ref - got).max()))
    return worst


def run_stream(step, cond: np.ndarray, x_t: np.ndarray, sigma: float, cutoff: float, block: int) -> np.ndarray:
    """Run a step function (torch module or ORT session wrapper) over a signal, hop by hop, from cold."""
    shapes = step.state_shapes(cond.shape[0])
    states = {k: np.zeros(shapes[k], np.float32) for k in STATE_NAMES}
    out = []
    for k in range(0, cond.shape[2], block):
        band, states = step(cond[:, :, k : k + block], x_t[:, :, k : k + block], sigma, cutoff, states)
        out.append(band)
    return np.concatenate(out, axis=2)


class TorchStep:
    """``StreamBandNet`` as a numpy step function."""

    def __init__(self, stream: StreamBandNet) -> None:
        self.stream = stream
        self.state_shapes = stream.state_shapes

    def __call__(self, cond, x_t, sigma, cutoff, states):
        args = [torch.from_numpy(a) for a in (cond, x_t, np.array([sigma], np.float32), np.array([cutoff], np.float32))]
        with torch.inference_mode():
            band, *nxt = self.stream(*args, *(torch.from_numpy(states[k]) for k in STATE_NAMES))
        return band.numpy(), {k: v.numpy() for k, v in zip(STATE_NAMES, nxt, strict=True)}


class OrtStep:
    """The exported step graph as a numpy step function."""

    def __init__(self, path: Path, stream: StreamBandNet) -> None:
        self.sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        self.state_shapes = stream.state_shapes

    def __call__(self, cond, x_t, sigma, cutoff, states):
        feeds = {"cond": cond, "x_t": x_t, "sigma": np.array([sigma], np.float32)}
        feeds["cutoff"] = np.array([cutoff], np.float32)
        band, *nxt = self.sess.run(None, feeds | states)
        return band, dict(zip(STATE_NAMES, nxt, strict=True))


def stream_parity(net: BandNet, stream: StreamBandNet, graph: Path | None) -> dict[str, float]:
    """Streamed (torch twin; and the graph, if given) vs ``BandNet`` on one signal, hop sizes mixed."""
    rng = np.random.default_rng(1)
    t = 8 * 2400
    cond = (0.3 * rng.standard_normal((2, 1, t))).astype(np.float32)
    x_t = (0.05 * rng.standard_normal((2, 1, t))).astype(np.float32)
    with torch.inference_mode():
        ref = net(
            *(torch.from_numpy(a) for a in (cond, x_t, np.array([0.03], np.float32), np.array([8000.0], np.float32)))
        )
    ref = ref.numpy()
    d = stream.delay
    reach = 2 * d  # the cold start and the signal end differ from BandNet's zero padding this far
    out = {}
    twin = run_stream(TorchStep(stream), cond, x_t, 0.03, 8000.0, 480)
    out["stream_vs_bandnet"] = float(np.abs(twin[:, :, d + reach :] - ref[:, :, reach : t - d]).max())
    if graph is not None:
        got = run_stream(OrtStep(graph, stream), cond, x_t, 0.03, 8000.0, 480)
        out["graph_vs_stream"] = float(np.abs(got - twin).max())
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", type=Path, help="the shipped .onnx (its card is beside it)")
    ap.add_argument("--hop-ms", type=float, default=10.0, help="default hop recorded in the card")
    ap.add_argument("--threads", type=int, default=None, help="default intra-op threads recorded in the card")
    ap.add_argument("--bench", type=Path, help="JSON of the hop/threads measurement (bench/stream_vs_window.py)")
    a = ap.parse_args()
    net = bandnet_from_onnx(a.model)
    diff = graph_parity(net, a.model)
    print(f"BandNet from initializers vs {a.model.name}: max abs diff {diff:.2e}")
    if diff > TOLERANCE:
        sys.exit(f"the torch net does not reproduce the shipped graph (> {TOLERANCE})")
    stream = StreamBandNet(net).eval()
    out = a.model.with_name(f"{a.model.stem}_stream.onnx")
    export_step_graph(stream, out)
    parity = stream_parity(net, stream, out)
    print("streaming parity:", ", ".join(f"{k} {v:.2e}" for k, v in parity.items()))
    if max(parity.values()) > 1e-5:
        sys.exit("streaming parity failed (> 1e-5)")
    card_file = a.model.with_suffix(".json")
    card = json.loads(card_file.read_text())
    entry = {
        "file": out.name,
        "sha256": sha256_file(out),
        "what": "cached-convolution step graph of the same network: (cond, x_t, sigma, cutoff, state_in, state_h,"
        " state_hp) -> (high_band, *_next states); blocks of whole s2d frames, band returned net_delay_samples late",
        "net_delay_samples": stream.delay,
        "steps": "the stream kernel serves any step count: each refiner step cascades one more step-graph instance"
        " (own state, noise keyed to its absolute position), net_delay_samples more latency per step; the latency"
        " table is for the default 0 steps",
        "rates": "native: the card's band rates in; 48 kHz out, other output rates (8->16, --out-rate 44100) through a"
        " streaming FIR equal to soxr VHQ. A source stored at a rate other than its band (--in-rate below the file's"
        " rate) is served by the window kernel",
        "hop_ms": a.hop_ms,
        "threads": a.threads,
        "parity": {"bandnet_vs_shipped_graph": diff, **parity},
        "command": "python -m export.export_stream " + " ".join(shlex.quote(x) for x in sys.argv[1:]),
    }
    if a.bench:
        entry["measured"] = json.loads(a.bench.read_text())
    card["stream"] = entry
    card_file.write_text(json.dumps(card, indent=1) + "\n")
    # delays come from the runtime kernel itself, so the card states what runs
    from rtaudio.engine.stream import StreamProcessor
    from rtaudio.tasks.upsample_stream import stream_kernel

    delays, latency = {}, {}
    for i, o in card["rate_pairs"]:
        k = stream_kernel(card, a.model, i, o, hop_ms=a.hop_ms)
        delays[f"{i}->{o}"] = k.delay
        latency[f"{i}->{o}"] = round(1000 * StreamProcessor(k).latency_seconds, 1)  # + its hop of buffering
    entry["delay_samples_by_pair"] = delays
    entry["latency_ms_by_pair"] = latency
    # the card's top-level latency is the default path's: the stream kernel; the window kernel's stays beside it
    if "window_latency_ms_by_pair" not in card:
        card["window_latency_ms_by_pair"] = card.get("latency_ms_by_pair", {})
    card["latency_ms_by_pair"] = latency
    card["latency_ms"] = latency["16000->48000"]
    card["latency_note"] = (
        "latency_ms_by_pair: the default stateful stream kernel (0 steps, a source at its band rate, "
        f"{a.hop_ms:g} ms hop); window_latency_ms_by_pair: the stateless window kernel that serves refiner steps > 0 "
        "and sources stored at another rate"
    )
    card_file.write_text(json.dumps(card, indent=1) + "\n")
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB); card stream entry: latency {latency} ms")


if __name__ == "__main__":
    main()

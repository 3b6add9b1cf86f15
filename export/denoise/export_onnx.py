"""Export the streaming denoiser as a stateful ONNX step graph, check parity, write its card.

``python -m export.denoise.export_onnx runs/stream16k/best.pt rtaudio/models/denoise16k.onnx
[--bench bench/results/denoise.json] [--card-extra export/denoise/configs/denoise16k_card.json]``

The graph is :meth:`export.denoise.models.StreamDenoiser.step`: inputs ``x`` (C, hop) and the
state ``frame_in`` (C, n_fft - hop), ``feat_in`` (C, bins, context - 1), ``hidden_in``
(layers, C, hidden), ``ola_in`` (C, n_fft - hop), with deep filtering ``df_in``
(C, 2, df_order - 1, df_bins); outputs ``y`` (C, hop) and the same states as
``*_out``. The channel axis is dynamic. Parity: the graph streamed hop by hop (ONNX Runtime)
against the torch model run on the whole signal, delay removed, as an SNR in dB.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from export.denoise.data import BANDLIMIT_HZ
from export.denoise.models import StreamDenoiser, count_params
from export.denoise.perceptual import TRAINING_LIMIT_DB
from export.denoise.train import load_checkpoint
from rtaudio.cards import sha256_file


def state_names(net: StreamDenoiser) -> tuple[list[str], list[str]]:
    """The step graph's state input and output names, in :meth:`StreamDenoiser.step`'s order."""
    inputs = list(net.initial_state(1))
    return inputs, [s.replace("_in", "_out") for s in inputs]


class StepGraph(torch.nn.Module):
    def __init__(self, net: StreamDenoiser) -> None:
        super().__init__()
        self.net = net

    def forward(self, x, *state):  # noqa: D102 - the graph's signature: x, then each state
        return self.net.step(x, *state)


def state_shapes(net: StreamDenoiser) -> dict[str, list]:
    """State shapes with ``"C"`` for the channel axis (what the runtime kernel allocates)."""
    out = {}
    for name, t in net.initial_state(1).items():
        shape: list = list(t.shape)
        shape[1 if name == "hidden_in" else 0] = "C"
        out[name] = shape
    return out


def runtime_card(net: StreamDenoiser, path: Path) -> dict:
    """The card fields the runtime kernel reads (:data:`rtaudio.tasks.denoise.CARD_FIELDS`), with the sha256."""
    cfg = net.cfg
    return {
        "name": path.stem,
        "task": "denoise",
        "model_rate": 16000,  # any source rate: the task resamples (no rate_pairs: serves every rate)
        "hop": cfg.hop,
        "delay": cfg.delay,
        "state_shapes": state_shapes(net),
        "sha256": sha256_file(path),
    }


#: what each clean corpus a config may name is
CORPORA = {
    "klettres": "klettres-data letters and syllables (17 training languages; de, pt_BR, uk held out)",
    "asterisk_intl": "asterisk-core-sounds fr/it/ru G.722 prompts (sentences; speakers June, Carlo, IvrvoiceRU; "
    "CC-BY-SA 3.0)",
}


def training_data(train_config: dict) -> str:
    """The card's one-line account of a run's training data, from its config."""
    names = train_config.get("corpus", "klettres")
    names = [names] if isinstance(names, str) else names
    speech = " + ".join(
        f"{CORPORA.get(n, n)}{f' x{names.count(n)}' if names.count(n) > 1 else ''}" for n in dict.fromkeys(names)
    )
    limited = train_config.get("p_bandlimit", 0.0)
    lo, hi = BANDLIMIT_HZ
    return (
        f"{speech} at 16 kHz, mixed on the fly with white, colored, hum, fan, babble, machine, typing and music noise "
        "at 0-15 dB SNR (export/denoise/data.py; held-out noise recordings/realisations disjoint)"
        + (f"; {round(100 * limited)} % of the pairs low-passed at {lo / 1000:g}-{hi / 1000:g} kHz" if limited else "")
    )


def export(net: StreamDenoiser, out: Path) -> None:
    state = net.initial_state(2)
    args = (torch.zeros(2, net.cfg.hop), *state.values())
    axes = {"x": {0: "C"}, "y": {0: "C"}}
    inputs, outputs = state_names(net)
    for i, o in zip(inputs, outputs, strict=True):
        ax = 1 if i == "hidden_in" else 0
        axes[i], axes[o] = {ax: "C"}, {ax: "C"}
    torch.onnx.export(
        StepGraph(net.eval()),
        args,
        str(out),
        input_names=["x", *inputs],
        output_names=["y", *outputs],
        dynamic_axes=axes,
        opset_version=17,
        dynamo=False,  # the TorchScript exporter keeps the step's matmuls as they are written
        external_data=False,
    )


def stream_onnx(path: Path, x: np.ndarray, net: StreamDenoiser, threads: int = 1) -> tuple[np.ndarray, float]:
    """Stream ``x`` (C, T) through the graph hop by hop; return (output aligned to the input, seconds)."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    c, hop, delay = x.shape[0], net.cfg.hop, net.cfg.delay
    total = -(-(x.shape[1] + delay) // hop) * hop
    xp = np.zeros((c, total), np.float32)
    xp[:, : x.shape[1]] = x
    state = {k: v.numpy() for k, v in net.initial_state(c).items()}
    outs = []
    t0 = time.perf_counter()
    for i in range(0, total, hop):
        res = sess.run(None, {"x": xp[:, i : i + hop], **state})
        outs.append(res[0])
        state = dict(zip(state, res[1:], strict=True))
    dt = time.perf_counter() - t0
    return np.concatenate(outs, 1)[:, delay : delay + x.shape[1]], dt


def parity(net: StreamDenoiser, path: Path, seconds: float = 3.0) -> dict:
    """Streamed ONNX vs whole-signal torch (SNR dB, on noise-like and speech-like input) and RTF."""
    rng = np.random.default_rng(0)
    n = int(seconds * 16000)
    x = (0.1 * rng.standard_normal((2, n)) * np.sin(np.linspace(0, 40, n)) ** 2).astype(np.float32)
    with torch.no_grad():
        ref = net(torch.from_numpy(x)).numpy()
    y, dt = stream_onnx(path, x, net)
    err = np.sum((ref - y) ** 2) / np.sum(ref**2)
    mono, dt1 = stream_onnx(path, x[:1], net)
    return {"stream_vs_torch_snr_db": round(float(-10 * np.log10(err)), 1), "rtf_1core_mono": round(dt1 / seconds, 4)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--bench", type=Path, help="bench/denoise_bench.py results JSON: quality into the card")
    ap.add_argument("--card-extra", type=Path, help="JSON merged into the card (description, limitations, ...)")
    ap.add_argument("--command", default=None, help="the training command line, recorded in the card")
    a = ap.parse_args()
    net, ck = load_checkpoint(a.checkpoint)
    if not isinstance(net, StreamDenoiser):
        raise SystemExit("only the streaming model exports as a step graph (SEGAN runs offline in torch)")
    a.out.parent.mkdir(parents=True, exist_ok=True)
    export(net, a.out)
    check = parity(net, a.out)
    print(f"parity: {check}")
    if check["stream_vs_torch_snr_db"] < 100:
        raise SystemExit(f"step graph does not match the torch model: {check}")
    cfg = net.cfg
    tc = ck["train_config"]
    card = runtime_card(net, a.out)
    card |= {
        "latency_ms": round(1000 * (cfg.hop + cfg.delay) / 16000, 1),
        "latency_note": "engine latency = one hop of buffering + the frame lookback (n_fft - hop), at 16 kHz",
        "params": count_params(net),
        "architecture": {
            "kind": "causal STFT-gain denoiser: log power -> causal conv -> GRU -> per-bin gain, sqrt-Hann STFT",
            **{k: getattr(cfg, k) for k in ("n_fft", "hop", "hidden", "layers", "context")},
        },
        "inputs": "x (C, hop) float32 16 kHz and states; outputs y (C, hop) and the new states (*_out)",
        "training": {
            "objective": f"LSGAN pair critic (noisy, clean|enhanced) + conditional L1 x{tc.get('l1_weight')} "
            f"+ multi-resolution STFT x{tc.get('stft_weight')}"
            + (f" + compressed spectra x{tc['compressed_weight']}" if tc.get("compressed_weight") else "")
            + (
                f" + PESQ-model perceptual x{tc['perceptual_weight']} (compensation within "
                f"+-{tc.get('perceptual_limit_db', TRAINING_LIMIT_DB)} dB)"
                if tc.get("perceptual_weight")
                else ""
            ),
            "adversarial": tc.get("adversarial"),
            "data": training_data(tc),
            "command": a.command,
            "steps": int(ck["step"]),
            "batch": tc["batch"],
            "segment": tc["segment"],
            "wall_minutes": round(ck["wall_seconds"] / 60, 1),
            "best_dev_pesq_wb": ck.get("best_dev_pesq"),
            "hardware": "shared 2-core CPU, 1 torch thread",
        },
        "parity": check,
    }
    if a.bench and a.bench.exists():
        card["quality"] = json.loads(a.bench.read_text())
    if a.card_extra:
        card.update(json.loads(a.card_extra.read_text()))
    a.out.with_suffix(".json").write_text(json.dumps(card, indent=1) + "\n")
    print(f"wrote {a.out} ({a.out.stat().st_size / 1e6:.2f} MB) and its card")


if __name__ == "__main__":
    main()

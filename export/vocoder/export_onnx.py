"""Export a vocoder checkpoint to one self-contained ONNX file, check parity, write the card.

``python -m export.vocoder.export_onnx runs/fast24k/last.pt rtaudio/models/vocoder24k.onnx
[--schedules runs/fast24k/schedules.json] [--eval runs/fast24k/eval.json]``

The graph holds the predictor (``pred_mel -> logmag, phase``: per-frame spectra the runtime
synthesises, with Griffin-Lim phase refinement) and one refiner call
(``x_t, cond, mel, level -> eps``); the runtime loops the sampler, so ``--steps`` changes
without re-exporting. A plain WaveGrad checkpoint exports ``x_t, mel, level -> eps``.
Without ``--schedules`` the card carries the published 6-step betas and geometric 2/4/8-step
ones (the starting points of ``export.vocoder.schedule``) and defaults to 0 steps.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from torch import nn

from export.vocoder.models import Vocoder
from export.vocoder.train import load_checkpoint
from rtaudio.cards import sha256_file
from rtaudio.tasks.spectral import PREDICTOR_GAIN, griffin_lim

#: WaveGrad's 6-step schedule found by grid search (paper), the search's starting point.
PUBLISHED_6 = [1e-6, 1.892873e-5, 1.1943e-4, 1.00475e-3, 1.109425e-2, 0.06]


def initial_schedules() -> dict[str, list[float]]:
    """Published 6-step betas; 2/4/8 steps geometric between the published end points."""
    out = {"0": [], "6": PUBLISHED_6}
    for n in (2, 4, 8):
        out[str(n)] = np.geomspace(PUBLISHED_6[0], PUBLISHED_6[-1], n).tolist() if n > 2 else [1e-3, 0.06]
    return dict(sorted(out.items(), key=lambda kv: int(kv[0])))


class _Graph(nn.Module):
    def __init__(self, net: Vocoder) -> None:
        super().__init__()
        self.net = net

    def forward(self, *args: torch.Tensor) -> tuple[torch.Tensor, ...]:
        if self.net.predictor is None:
            x_t, mel, level = args
            return (self.net.denoise(x_t, x_t, mel, level),)
        pred_mel, x_t, cond, mel, level = args
        return (*self.net.predictor.spectrum(pred_mel), self.net.denoise(x_t, cond, mel, level))


def io_names(net: Vocoder) -> tuple[list[str], list[str]]:
    if net.predictor is None:
        return ["x_t", "mel", "level"], ["eps"]
    return ["pred_mel", "x_t", "cond", "mel", "level"], ["logmag", "phase", "eps"]


def example_inputs(net: Vocoder, frames: int, batch: int = 1, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    hop, n_mels = net.cfg.hop, (net.cfg.predictor or net.cfg.wavegrad).n_mels
    mel = (rng.standard_normal((batch, n_mels, frames)) - 4).astype(np.float32)
    wave = lambda s: (s * rng.standard_normal((batch, 1, frames * hop))).astype(np.float32)  # noqa: E731
    feeds = {
        "pred_mel": mel,
        "x_t": wave(1.0),
        "cond": wave(0.1),
        "mel": mel,
        "level": rng.uniform(0.3, 1.0, batch).astype(np.float32),
    }
    return {k: feeds[k] for k in io_names(net)[0]}


def export(net: Vocoder, out: Path) -> None:
    names, outputs = io_names(net)
    args = tuple(torch.from_numpy(v) for v in example_inputs(net, 8).values())
    axes = {"pred_mel": {0: "batch", 2: "frames"}, "mel": {0: "batch", 2: "frames_r"}, "level": {0: "batch"}}
    axes |= {k: {0: "batch", 2: "samples"} for k in ("x_t", "cond")}
    axes |= {"logmag": {0: "batch", 2: "frames"}, "phase": {0: "batch", 2: "frames"}, "eps": {0: "batch", 2: "samples"}}
    torch.onnx.export(
        _Graph(net).eval(),
        args,
        str(out),
        input_names=names,
        output_names=outputs,
        dynamic_axes={k: v for k, v in axes.items() if k in names + outputs},
        opset_version=17,
        dynamo=False,  # the TorchScript exporter keeps the symbolic frame * hop reshapes simple
        external_data=False,
    )


def store_half(path: Path, names: set[str], min_size: int = 1024) -> None:
    """Store the large float32 initializers in ``names`` as float16 behind a Cast: half the file size.

    ONNX Runtime folds ``Cast(initializer)`` when the session is created, so inference still
    runs in float32 at the same speed; :func:`round_to_half` gives torch the same weights.
    """
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    graph = model.graph
    casts = []
    for init in graph.initializer:
        if init.name not in names or init.data_type != onnx.TensorProto.FLOAT or np.prod(init.dims) < min_size:
            continue
        name = init.name
        half = numpy_helper.from_array(numpy_helper.to_array(init).astype(np.float16), f"{name}_fp16")
        init.CopyFrom(half)
        casts.append(onnx.helper.make_node("Cast", [half.name], [name], to=onnx.TensorProto.FLOAT))
    for node in reversed(casts):
        graph.node.insert(0, node)
    onnx.save(model, str(path))


def round_to_half(net: Vocoder, min_size: int = 1024) -> None:
    """Round the parameters that :func:`store_half` stores in float16, in place (buffers are computed)."""
    with torch.no_grad():
        for t in net.parameters():
            if t.dtype == torch.float32 and t.numel() >= min_size:
                t.copy_(t.half().float())


def _waveforms(outputs: list[np.ndarray], hop: int) -> list[np.ndarray]:
    """What the runtime makes of the graph's outputs: the predictor's spectra synthesised, and eps."""
    if len(outputs) == 1:
        return outputs
    logmag, phase, eps = (np.asarray(o, np.float64) for o in outputs)
    magnitude = np.exp(logmag).transpose(0, 2, 1) * PREDICTOR_GAIN
    return [griffin_lim(magnitude, phase.transpose(0, 2, 1), hop, 0), eps]


def parity(net: Vocoder, path: Path) -> float:
    """Max abs difference torch vs ORT of the waveforms the runtime builds, over shapes and levels.

    Compared as waveforms because log magnitudes of near-empty bins (where the pseudo-inverse
    envelope cancels to ~0) differ by float32 summation order without changing the signal.
    """
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    worst = 0.0
    for i, (frames, batch) in enumerate([(8, 1), (37, 2), (120, 1)]):
        feeds = example_inputs(net, frames, batch, seed=i)
        with torch.inference_mode():
            ref = [t.numpy() for t in _Graph(net)(*(torch.from_numpy(v) for v in feeds.values()))]
        got = sess.run(None, feeds)
        pairs = zip(_waveforms(ref, net.cfg.hop), _waveforms(got, net.cfg.hop), strict=True)
        worst = max(worst, *(float(np.abs(r - g).max()) for r, g in pairs))
    return worst


def stage_record(checkpoint: Path) -> dict:
    """One training stage as the card records it: where it ran, its config, steps and minutes."""
    ck = torch.load(checkpoint, map_location="cpu", weights_only=False)
    return {
        "checkpoint": str(checkpoint),
        "config": ck["train_config"],
        "steps": int(ck["step"]),
        "wall_minutes": round(ck["wall_seconds"] / 60, 1),
    }


def write_card(path: Path, ck: dict, extra: dict, stages: list[dict] | None = None) -> dict:
    """The card beside ``path``: architecture, mel format, schedules, training record, sha256."""
    cfg = ck["train_config"]
    mcfg = ck["model_config"]
    card = {
        "name": path.stem,
        "task": "vocode",
        "kind": "frame-rate predictor + WaveGrad refiner of its residual"
        if mcfg.get("predictor")
        else "WaveGrad (paper base configuration)",
        "sample_rate": ck["mel"]["sample_rate"],
        "mel": ck["mel"],
        "mel_format": ".npy of shape (frames, n_mels), float32, natural log of max(mel magnitude, log_floor); "
        "frame f centred on sample f * hop (zero padding); Hann-windowed magnitude STFT through Slaney-normalised "
        "HTK-mel triangles; see rtaudio/tasks/mel.py",
        "predictor": bool(mcfg.get("predictor")),
        "residual_scale": mcfg.get("residual_scale", 1.0),
        "params": int(ck["params"]),
        "architecture": mcfg,
        "inputs": "pred_mel (B, n_mels, F) -> logmag, phase (B, n_fft/2+1, F); x_t, cond (B, 1, T), "
        "mel (B, n_mels, T/hop), "
        "level (B,) = sqrt(alpha_bar) -> eps (B, 1, T)",
        "sampler": "0 steps: the predictor's output y0 = phase retrieval (phase_iters iterations of phase_retrieval: "
        "'mel' holds the STFT's mel to the input mel, 'griffin-lim' its magnitude to the predicted one) from the "
        "predicted magnitude exp(logmag) * 0.75 and the phase_init phase (the predicted one, or uniform noise keyed "
        "to frame and bin). S steps: x ~ N(0, 1 - alpha_bar_S) (position-keyed noise), "
        "WaveGrad ancestral steps with the card's betas on the residual (y - y0) * residual_scale; output "
        "y0 + x / residual_scale"
        if mcfg.get("predictor")
        else "x ~ N(0, 1) (position-keyed noise), WaveGrad ancestral steps with the card's betas",
        "training": {
            "data": "klettres-data speech (train languages), 24 kHz; held-out languages de, pt_BR, uk",
            "config": cfg,
            "steps": int(ck["step"]),
            "wall_minutes": round(ck["wall_seconds"] / 60, 1),
            "hardware": "2 CPU cores (shared), torch 2.13 CPU",
            **({"stages": stages} if stages else {}),
        },
        **extra,
    }
    card["sha256"] = sha256_file(path)
    path.with_suffix(".json").write_text(json.dumps(card, indent=1) + "\n")
    return card


def streaming_latency(card: dict, quality: dict, mel: dict) -> None:
    """Where the card makes the streaming phase retrieval the default (``synthesis_default``), its
    latency (measured on the engine) is the card's, the window path's is kept beside it, and the
    quality summary is the streaming row at the card's settings."""
    if card.get("synthesis_default") != "streaming":
        return
    from rtaudio.engine.stream import StreamProcessor
    from rtaudio.tasks.mel import MelSpec
    from rtaudio.tasks.vocode_stream import DEFAULTS, StreamingAudioVocoder

    spec = MelSpec(**mel)
    settings = {k: v for k, v in card["streaming_phase"].items() if k in DEFAULTS}
    proc = StreamProcessor(StreamingAudioVocoder(spec, settings))
    card["window_latency_ms"] = card["latency_ms"]
    card["latency_ms"] = proc.latency_samples / spec.sample_rate * 1e3
    rows = quality.get("streaming", {}).get("rows", [])
    mine = {**DEFAULTS, **settings}
    row = next((r for r in rows if (r["look_ahead"], r["iters"]) == (mine["look_ahead"], mine["iters"])), None)
    if row:
        card["quality_summary"] = (
            f"PESQ-wb {row['pesq_wb']:.2f}, log-mel L1 {row['log_mel_l1']:.3f} streaming at {card['latency_ms']:g} ms "
            f"({card['quality_summary']} on the {card['window_latency_ms']:g} ms window path)"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint", type=Path, help="a training checkpoint (runs/NAME/last.pt)")
    ap.add_argument("out", type=Path)
    ap.add_argument("--schedules", type=Path, help="JSON from export.vocoder.schedule")
    ap.add_argument("--eval", type=Path, help="JSON from export.vocoder.evaluate (quality, RTF, default steps)")
    ap.add_argument(
        "--context-frames", type=int, default=None, help="one-sided context (frames); default: the receptive field"
    )
    ap.add_argument("--synthesis-context-frames", type=int, default=8, help="the part phase retrieval needs")
    ap.add_argument(
        "--refiner-context-frames", type=int, default=None, help="the part the refiner needs (default: same)"
    )
    ap.add_argument("--default", action="store_true", help="mark as the task's default model")
    ap.add_argument("--phase-iters", type=int, default=None, help="phase retrieval iterations (default: training's)")
    ap.add_argument("--phase-momentum", type=float, default=None, help="its momentum (default: training's)")
    ap.add_argument("--stages", type=Path, nargs="+", help="earlier fine-tuning stages' checkpoints, oldest first")
    ap.add_argument("--card-extra", type=Path, help="JSON merged into the card (recipe commands, limitations, ...)")
    a = ap.parse_args()
    net, ck = load_checkpoint(a.checkpoint)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    round_to_half(net)
    export(net, a.out)
    store_half(a.out, {f"net.{n}" for n, _ in net.named_parameters()})
    diff = parity(net, a.out)
    print(f"parity torch vs ORT: max abs diff {diff:.2e}")
    if diff > 1e-4:
        sys.exit("parity check failed (> 1e-4)")
    sched = json.loads(a.schedules.read_text()) if a.schedules else {"schedules": initial_schedules()}
    quality = json.loads(a.eval.read_text()) if a.eval else {}
    steps_default = int(quality.get("steps_default", 0 if net.predictor is not None else 6))
    if a.context_frames is None:  # cover the predictor's receptive field (measured: 10 frames gave 13 dB parity)
        a.context_frames = net.predictor.receptive_half() if net.predictor is not None else 8
    spec = ck["mel"]
    chunk_ms, crossfade_ms = 200.0, 25.0
    lookahead_ms = (a.context_frames + -(-spec["n_fft"] // 2 // spec["hop"])) * spec["hop"] / spec["sample_rate"] * 1e3
    row = next((r for r in quality.get("by_steps", []) if r["steps"] == steps_default), None)
    extra = {
        "description": f"{spec['sample_rate'] // 1000} kHz speech vocoder (log-mel in, waveform out)",
        "quality_summary": f"PESQ-wb {row['pesq_wb']:.2f}, log-mel L1 {row['log_mel_l1']:.3f} at {steps_default} steps"
        if row
        else "not evaluated",
        "latency_ms": chunk_ms + crossfade_ms + lookahead_ms,
        "default": a.default,
        "steps_default": steps_default,
        "steps_note": quality.get("steps_note", "provisional: not evaluated yet"),
        "schedules": sched["schedules"],
        "schedule_search": {k: v for k, v in sched.items() if k != "schedules"},
        "phase_iters": a.phase_iters if a.phase_iters is not None else int(ck["train_config"].get("phase_iters", 0)),
        "phase_retrieval": ck["train_config"].get("phase_retrieval", "griffin-lim"),
        "phase_init": ck["train_config"].get("phase_init", "predicted"),
        "phase_momentum": a.phase_momentum
        if a.phase_momentum is not None
        else float(ck["train_config"].get("phase_momentum", 0.0)),
        "context_frames": a.context_frames,
        "synthesis_context_frames": a.synthesis_context_frames,
        "refiner_context_frames": a.refiner_context_frames or a.synthesis_context_frames,
        "chunk_ms": chunk_ms,
        "crossfade_ms": crossfade_ms,
        "parity_max_abs_diff": diff,
        "quality": quality,
    }
    if a.card_extra:
        extra |= json.loads(a.card_extra.read_text())
    streaming_latency(extra, quality, spec)
    stages = [stage_record(p) for p in a.stages or []]
    write_card(a.out, ck, extra, stages + [stage_record(a.checkpoint)] if stages else None)
    print(f"wrote {a.out} ({a.out.stat().st_size / 1e6:.2f} MB) and its card")


if __name__ == "__main__":
    main()

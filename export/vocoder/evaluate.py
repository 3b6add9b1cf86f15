"""Quality against steps on held-out speech, streaming parity and RTF, for the model card.

``python -m export.vocoder.evaluate rtaudio/models/vocoder24k.onnx --out runs/fast24k/eval.json
[--faithful runs/wavegrad_base/wavegrad_base.onnx]``

Everything runs through the runtime kernels (ONNX Runtime), i.e. what ships. Quality is
resynthesis (audio -> log-mel -> vocoder) of held-out languages (de, pt_BR, uk): wideband
PESQ, log-mel L1, MR-STFT distance, per step count with the 0-step predictor as a row. The
default step count is the smallest whose mean PESQ beats the predictor's by at least
``--min-gain``; if none does, it is 0. RTF is streamed through the engine with the card's
chunking. ``--faithful`` times the (untrained) paper-size WaveGrad the same way: speed only.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from export.vocoder.data import heldout_set
from rtaudio.api import processor_for
from rtaudio.engine.processor import process_offline
from rtaudio.engine.stream import StreamProcessor, stream_whole
from rtaudio.metrics_vocode import log_mel_l1, mrstft_distance, pesq_wb
from rtaudio.registry import build_plan
from rtaudio.tasks.mel import MelSpec, log_mel, mel_bands, mel_filters, window
from rtaudio.tasks.spectral import mel_griffin_lim
from rtaudio.tasks.vocode import AudioVocodeKernel
from rtaudio.tasks.vocode_stream import DEFAULTS as STREAM_DEFAULTS
from rtaudio.tasks.vocode_stream import StreamingAudioVocoder

GRIFFIN_LIM_ITERS = 32


def griffin_lim(mel: np.ndarray, spec: MelSpec, iters: int = GRIFFIN_LIM_ITERS) -> np.ndarray:
    """Classical baseline: pseudo-inverse of the mel filters, then Griffin-Lim phase retrieval.

    Same framing as :func:`rtaudio.tasks.mel.log_mel` (frames centred on multiples of the hop).
    """
    frames, half, w = len(mel), spec.n_fft // 2, window(spec)
    mag = np.maximum(np.exp(mel) @ np.linalg.pinv(mel_filters(spec)).T, 0.0)  # (frames, bins)
    idx = np.arange(spec.n_fft)[None, :] + spec.hop * np.arange(frames)[:, None]
    norm = np.zeros(frames * spec.hop + 2 * half)
    np.add.at(norm, idx, np.broadcast_to(w**2, idx.shape))
    norm = np.maximum(norm, 1e-3)

    def istft(z: np.ndarray) -> np.ndarray:
        out = np.zeros_like(norm)
        np.add.at(out, idx, np.fft.irfft(z, spec.n_fft, axis=1) * w)
        return out / norm

    phase = np.exp(2j * np.pi * np.random.default_rng(0).random(mag.shape))
    for _ in range(iters):
        z = np.fft.rfft(istft(mag * phase)[idx] * w, axis=1)
        phase = z / np.maximum(np.abs(z), 1e-9)
    return istft(mag * phase)[half : half + frames * spec.hop].astype(np.float32)


def mel_inverse_phase_retrieval(mel: np.ndarray, spec: MelSpec, iters: int, momentum: float) -> np.ndarray:
    """The shipped phase retrieval without the network: :func:`mel_griffin_lim` started from the
    mel filters' pseudo-inverse and a random phase. What the predictor's magnitude adds is the
    difference between this and the model at the same iteration count."""
    filters = mel_filters(spec)
    target = np.exp(mel.astype(np.float64))
    start = np.maximum(target @ np.linalg.pinv(filters).T, 0.0)
    phase = np.random.default_rng(0).uniform(-np.pi, np.pi, start.shape)
    return mel_griffin_lim(start, phase, target, mel_bands(spec), spec.hop, iters, momentum)


def baseline_quality(clips: dict[str, np.ndarray], spec: MelSpec, mel_iters: int, momentum: float) -> list[dict]:
    """Network-free rows: classical Griffin-Lim, and the shipped phase retrieval from the pseudo-inverse."""
    methods = {
        f"Griffin-Lim, {GRIFFIN_LIM_ITERS} iterations from the pseudo-inverse mel (numpy)": lambda mel: griffin_lim(
            mel, spec
        ),
        f"mel-consistent Griffin-Lim, {mel_iters} iterations (momentum {momentum}) from the pseudo-inverse mel and "
        "a random phase (the shipped phase retrieval without the network)": lambda mel: mel_inverse_phase_retrieval(
            mel, spec, mel_iters, momentum
        ),
    }
    out = []
    for method, synth in methods.items():
        rows = []
        for x in clips.values():
            y = synth(log_mel(x, spec))[: len(x)]
            rows.append((pesq_wb(x, y, spec.sample_rate), log_mel_l1(x, y, spec), mrstft_distance(x, y)))
        p, m, s = np.array(rows).T
        out.append(
            {
                "method": method,
                "pesq_wb": round(float(p.mean()), 3),
                "log_mel_l1": round(float(m.mean()), 4),
                "mrstft": round(float(s.mean()), 4),
            }
        )
    return out


def quality(
    model: Path, steps: int, clips: dict[str, np.ndarray], threads: int | None, phase_iters: int | None = None
) -> dict:
    kernel = AudioVocodeKernel(model, steps=steps, threads=threads, phase_iters=phase_iters)
    rate = kernel.out_rate
    rows = []
    for x in clips.values():
        y = process_offline(kernel, x)
        rows.append((pesq_wb(x, y, rate), log_mel_l1(x, y, kernel.vocoder.spec), mrstft_distance(x, y)))
    p, m, s = np.array(rows).T
    return {
        "steps": steps,
        "phase_iters": kernel.vocoder.phase_iters,
        "pesq_wb": round(float(p.mean()), 3),
        "pesq_wb_min": round(float(p.min()), 3),
        "log_mel_l1": round(float(m.mean()), 4),
        "mrstft": round(float(s.mean()), 4),
    }


def stream(
    model: Path, steps: int, audio: np.ndarray, rate: int, threads: int | None, phase_iters: int | None = None
) -> tuple[np.ndarray, dict]:
    """Stream ``audio`` through the engine in 10 ms blocks; output and timing."""
    plan = build_plan("vocode", str(model), rate, steps=steps, threads=threads, options={"synthesis": "window"})
    if phase_iters is not None:
        plan.kernel.vocoder.phase_iters = phase_iters
    out, timing = timed(processor_for(plan), audio, rate)
    return out, {"steps": steps, "phase_iters": plan.kernel.vocoder.phase_iters, **timing, "threads": threads}


def timed(proc, audio: np.ndarray, rate: int) -> tuple[np.ndarray, dict]:
    """Stream ``audio`` through an engine in 10 ms blocks, as a host would; output and timing."""
    block = rate // 100
    t0, c0 = time.perf_counter(), time.process_time()
    out = [proc.process(audio[i : i + block]) for i in range(0, len(audio), block)]
    out.append(proc.flush())
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    secs = len(audio) / rate
    timing = {
        "rtf": round(proc.stats.compute_seconds / secs, 4),
        # CPU seconds of this process per audio second: what the work costs, whatever else runs on the machine
        "rtf_cpu": round(cpu / secs, 4),
        "rtf_wall": round(wall / secs, 4),
        "chunk_ms": round(proc.chunk_seconds * 1e3, 1),
        "chunk_p99_ms": round(proc.stats.percentile_ms(99), 1),
        "latency_ms": round(proc.latency_seconds * 1e3, 1),
    }
    return np.concatenate(out), timing


def streaming_rows(
    card: dict, clips: dict[str, np.ndarray], long: np.ndarray, look_aheads: list[int], iters: list[int]
) -> list[dict]:
    """The streaming phase retrieval (:mod:`rtaudio.tasks.vocode_stream`) per look-ahead and
    iteration count: quality of its whole-signal run (what the stream outputs, bit for bit) and
    RTF streamed through the engine in 10 ms blocks."""
    spec = MelSpec(**card["mel"])
    base = {k: v for k, v in card.get("streaming_phase", {}).items() if k in STREAM_DEFAULTS}
    rows = []
    for la in look_aheads:
        for it in iters:
            kernel = StreamingAudioVocoder(spec, {**base, "look_ahead": la, "iters": it})
            scores = []
            for x in clips.values():
                y = stream_whole(kernel, x)
                scores.append((pesq_wb(x, y, spec.sample_rate), log_mel_l1(x, y, spec), mrstft_distance(x, y)))
            p, m, r = np.array(scores).T
            _, timing = timed(StreamProcessor(kernel), long, spec.sample_rate)
            rows.append(
                {
                    "look_ahead": la,
                    "iters": it,
                    "pesq_wb": round(float(p.mean()), 3),
                    "pesq_wb_min": round(float(p.min()), 3),
                    "log_mel_l1": round(float(m.mean()), 4),
                    "mrstft": round(float(r.mean()), 4),
                    **timing,
                }
            )
            print(rows[-1], flush=True)
    return rows


def parity_db(model: Path, steps: int, audio: np.ndarray, rate: int, threads: int | None) -> float:
    """SNR (dB) of streamed vs offline output, same seed."""
    streamed, _ = stream(model, steps, audio, rate, threads)
    offline = process_offline(AudioVocodeKernel(model, steps=steps, threads=threads), audio)
    err = np.linalg.norm(streamed - offline)
    return round(float(20 * np.log10(np.linalg.norm(offline) / max(err, 1e-12))), 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--steps", type=int, nargs="+", default=[0, 2, 4, 6, 8])
    ap.add_argument("--files", type=int, default=40, help="held-out files (spread over de, pt_BR, uk)")
    ap.add_argument("--part", choices=("dev", "test"), default="test", help="held-out part (dev: for tuning)")
    ap.add_argument("--faithful", type=Path, help="paper-size WaveGrad .onnx, timed for speed only")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rtf-seconds", type=float, default=10.0)
    ap.add_argument("--faithful-seconds", type=float, default=4.0, help="audio timed for the (slow) paper model")
    ap.add_argument("--min-gain", type=float, default=0.05, help="PESQ gain over 0 steps that earns a step count")
    ap.add_argument(
        "--phase-iters", type=int, nargs="*", default=[0, 8, 32], help="extra 0-step rows with other Griffin-Lim counts"
    )
    ap.add_argument(
        "--look-ahead", type=int, nargs="*", default=[0, 1, 2, 3, 4, 6], help="streaming rows: look-ahead frames"
    )
    ap.add_argument("--stream-iters", type=int, nargs="*", default=None, help="streaming rows: iterations (card's)")
    ap.add_argument("--only-streaming", action="store_true", help="the streaming table and the 0-step window row")
    a = ap.parse_args()
    card = json.loads(a.model.with_suffix(".json").read_text())
    rate = int(card["sample_rate"])
    clips = heldout_set(rate, a.files, part=a.part)
    if a.only_streaming:
        a.steps, a.phase_iters = [0], []
    long = np.concatenate(list(clips.values()))[: int(a.rtf_seconds * rate)]
    result: dict = {
        "load_average_start": [round(v, 2) for v in os.getloadavg()],
        "heldout": f"{len(clips)} files, {sum(map(len, clips.values())) / rate:.1f} s of klettres de/pt_BR/uk "
        f"({a.part} part)",
        "by_steps": [],
    }
    result["baselines"] = baseline_quality(
        clips, MelSpec(**card["mel"]), int(card.get("phase_iters", 0)), float(card.get("phase_momentum", 0.0))
    )
    print(result["baselines"])
    iters = a.stream_iters or [int(card.get("streaming_phase", {}).get("iters", STREAM_DEFAULTS["iters"]))]
    result["streaming"] = {
        "note": "streaming phase retrieval (RTISI-LA, mel-consistent): look-ahead frames of 12.5 ms; latency = "
        "(4 + look-ahead) * 12.5 ms at 24 kHz; quality of the stream's output (its whole-signal run), RTF streamed",
        "rows": streaming_rows(card, clips, long, a.look_ahead, iters),
    }
    a.out.write_text(json.dumps(result, indent=1) + "\n")  # the headline table survives a later failure
    for n in a.steps:
        row = quality(a.model, n, clips, a.threads)
        print(row)
        result["by_steps"].append(row)
    result["by_phase_iters"] = [quality(a.model, 0, clips, a.threads, phase_iters=k) for k in a.phase_iters]
    print(result["by_phase_iters"])
    base = next(r for r in result["by_steps"] if r["steps"] == 0)
    earning = [r for r in result["by_steps"] if r["steps"] > 0 and r["pesq_wb"] >= base["pesq_wb"] + a.min_gain]
    result["steps_default"] = min((r["steps"] for r in earning), default=0)
    result["steps_note"] = (
        f"{result['steps_default']} steps: the fewest that beat the 0-step predictor by >= {a.min_gain} PESQ"
        if earning
        else f"0 steps: no step count beat the 0-step predictor by >= {a.min_gain} PESQ on held-out speech"
    )
    result["rtf"] = []
    for n in sorted({0, result["steps_default"]} | (set() if a.only_streaming else {6})):
        _, timing = stream(a.model, n, long, rate, a.threads)
        result["rtf"].append(timing)
        print(timing)
    for k in a.phase_iters:
        _, timing = stream(a.model, 0, long, rate, a.threads, phase_iters=k)
        result["rtf"].append({**timing, "phase_iters": k})
        print(result["rtf"][-1])
    if a.faithful:
        _, timing = stream(a.faithful, 6, long[: int(a.faithful_seconds * rate)], rate, a.threads)
        result["rtf_faithful_speed_only"] = {**timing, "note": "untrained paper-size WaveGrad graph: speed only"}
        print(result["rtf_faithful_speed_only"])
    some = long[: 4 * rate]
    parity_steps = (0,) if a.only_streaming else (0, 6)
    result["streaming_parity_db"] = {str(n): parity_db(a.model, n, some, rate, a.threads) for n in parity_steps}
    print(result["streaming_parity_db"])
    result["load_average_end"] = [round(v, 2) for v in os.getloadavg()]
    a.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()

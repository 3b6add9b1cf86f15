"""``rtaudio demo``: the default model on the shipped speech clip, with a spectrogram."""

from __future__ import annotations

import argparse
import sys
from importlib import resources
from pathlib import Path

import numpy as np
import soundfile as sf


def _asset(name: str) -> str:
    return str(resources.files("rtaudio") / "assets" / name)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="upsample the shipped 16 kHz speech clip and draw a before/after spectrogram",
        description="Stream the shipped 16 kHz speech clip (held-out real speech) through the default "
        "upsampler, write the 48 kHz result and a spectrogram PNG, and score it against the original.",
    )
    p.add_argument("--model", default=None, help="model to demo (default: the shipped default)")
    p.add_argument("--out-dir", default="out", help="where to write the files (default ./out)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from rtaudio.api import processor_for
    from rtaudio.display import console, key_value_table
    from rtaudio.engine.processor import Processor
    from rtaudio.io.files import AtomicWriter
    from rtaudio.metrics import lsd, snr
    from rtaudio.registry import build_plan
    from rtaudio.spectrogram import save_spectrograms

    con = console(stderr=False)
    low, low_rate = sf.read(_asset("demo_speech_16k.flac"), dtype="float32")
    ref, ref_rate = sf.read(_asset("demo_speech_48k.flac"), dtype="float32")
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    def upsample(model: str | None) -> tuple[np.ndarray, Processor, str]:
        plan = build_plan("upsample", model, low_rate, out_rate=ref_rate)
        proc = processor_for(plan)
        y = np.concatenate([proc.process(low[i : i + 1024]) for i in range(0, len(low), 1024)] + [proc.flush()])
        return y, proc, plan.model.name

    output, proc, name = upsample(args.model)
    sinc, _, _ = upsample("sinc")
    wav = out_dir / "demo_upsampled_48k.wav"
    with AtomicWriter(str(wav), ref_rate, 1) as writer:
        writer.write(output[:, None])
        writer.commit()
    if warning := writer.clip_warning():
        print(f"rtaudio: warning: {warning}", file=sys.stderr)
    png = out_dir / "demo_spectrogram.png"
    save_spectrograms(
        [
            (f"input: 16 kHz speech ({low_rate} Hz)", low, low_rate),
            (f"output: {name} -> {ref_rate} Hz", output, ref_rate),
            (f"original {ref_rate} Hz (never seen by the model)", ref, ref_rate),
        ],
        png,
    )
    audio_s = len(low) / low_rate
    con.print(
        key_value_table(
            "rtaudio demo",
            [
                ("model", name),
                ("input", f"{_asset('demo_speech_16k.flac')} ({audio_s:.2f} s)"),
                ("RTF", f"{proc.stats.compute_seconds / audio_s:.3f}"),
                ("latency", f"{proc.latency_seconds * 1e3:.1f} ms"),
                ("LSD vs original", f"{lsd(ref, output):.3f} (sinc {lsd(ref, sinc):.3f})"),
                ("SNR vs original", f"{snr(ref, output):.2f} dB (sinc {snr(ref, sinc):.2f} dB)"),
                ("listen", str(wav)),
                ("look", str(png)),
            ],
        )
    )
    return 0

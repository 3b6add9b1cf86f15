"""What a denoiser does to the spectrum, beside PESQ: long-term spectra of its output on held-out
noisy speech and on clean music, and the tones it adds.

Per 1 kHz band, the output's long-term spectrum relative to the clean reference (speech: 0 dB is
the clean level, above is residual noise, below is speech removed) or to the input (clean music
with no noise: below 0 dB is music the denoiser took away). ``whistle excess`` is the largest
narrow peak the output holds above 1 kHz where the reference has none
(:func:`rtaudio.metrics_band.whistle_excess_db`): a tone the model added. Two models side by side
(the shipped one and, for example, a previous release's ONNX with its card), the noisy input as
the baseline row.

    .venv/bin/python bench/denoise_spectra.py --against old/denoise16k.onnx --split data/denoise/test \\
        --json bench/results/denoise_spectra.json --png out/denoise_spectra.png
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

import rtaudio
from rtaudio.metrics_band import long_term_spectrum_db, whistle_excess_db

RATE = 16000
BAND_HZ = 1000
ASSETS = Path(rtaudio.__file__).parent / "assets"


def denoised(model: str, x: np.ndarray) -> np.ndarray:
    proc = rtaudio.open("denoise", model, rate=RATE)
    return np.concatenate([proc.process(x), proc.flush()])[: len(x)]


def band_levels(x: np.ndarray) -> np.ndarray:
    """Mean long-term level (dB) of each 1 kHz band up to Nyquist."""
    level = long_term_spectrum_db(x)
    hz = np.linspace(0, RATE / 2, len(level))
    return np.array([level[(hz >= lo) & (hz < lo + BAND_HZ)].mean() for lo in range(0, RATE // 2, BAND_HZ)])


def pairs(split: Path | None) -> list[tuple[Path, Path]]:
    if split is not None:  # a data/denoise/<split> folder: noisy/NAME and clean/NAME
        return [(p, split / "clean" / p.name) for p in sorted((split / "noisy").iterdir())]
    noisy = sorted((ASSETS / "denoise").glob("*_noisy.flac"))
    return [(p, p.with_name(p.name.replace("_noisy", "_clean"))) for p in noisy]


def mono16k(path: Path) -> np.ndarray:
    x, rate = sf.read(path, dtype="float32", always_2d=True)
    return soxr.resample(x.mean(axis=1), rate, RATE).astype(np.float32)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="denoise16k", help="the model measured (default: the shipped one)")
    ap.add_argument("--against", help="a second model beside it (an .onnx with its card)")
    ap.add_argument("--split", type=Path, help="data/denoise/<split> (default: the shipped held-out clips)")
    ap.add_argument("--music", type=Path, default=ASSETS / "eval_music" / "music_fluidr3.flac")
    ap.add_argument("--json", type=Path, help="write the figures here")
    ap.add_argument("--png", type=Path, help="spectrograms of the first pair: noisy, clean, each model")
    a = ap.parse_args()
    models = {"model": a.model, **({"against": a.against} if a.against else {})}

    rows: dict[str, list] = {"noisy": [], **{k: [] for k in models}}
    excess: dict[str, list] = {k: [] for k in rows}
    files = pairs(a.split)
    for noisy_path, clean_path in files:
        noisy, clean = mono16k(noisy_path), mono16k(clean_path)
        ref = band_levels(clean)
        for name, out in (("noisy", noisy), *((k, denoised(m, noisy)) for k, m in models.items())):
            rows[name].append(band_levels(out) - ref)
            excess[name].append(whistle_excess_db(clean, out, RATE, 1000.0)[0])
    music = mono16k(a.music)
    music_rows = {k: (band_levels(denoised(m, music)) - band_levels(music)).tolist() for k, m in models.items()}
    music_excess = {k: whistle_excess_db(music, denoised(m, music), RATE, 1000.0)[0] for k, m in models.items()}

    bands = [f"{lo // 1000}-{(lo + BAND_HZ) // 1000}" for lo in range(0, RATE // 2, BAND_HZ)]
    print(f"speech: {len(files)} noisy/clean pairs; long-term level per kHz band, dB re clean")
    print(f"{'':10s}" + "".join(f"{b:>7s}" for b in bands) + "   whistle excess dB")
    for name, levels in rows.items():
        mean = np.mean(levels, axis=0)
        print(f"{name:10s}" + "".join(f"{v:+7.1f}" for v in mean) + f"   {np.mean(excess[name]):.1f}")
    print(f"clean music ({a.music.name}, no noise): dB re input")
    for name, levels in music_rows.items():
        print(f"{name:10s}" + "".join(f"{v:+7.1f}" for v in levels) + f"   {music_excess[name]:.1f}")
    result = {
        "models": models,
        "pairs": len(files),
        "split": str(a.split) if a.split else "shipped clips",
        "bands_khz": bands,
        "speech_db_re_clean": {k: np.mean(v, axis=0).round(2).tolist() for k, v in rows.items()},
        "speech_whistle_excess_db": {k: round(float(np.mean(v)), 2) for k, v in excess.items()},
        "music": a.music.name,
        "music_db_re_input": {k: np.round(v, 2).tolist() for k, v in music_rows.items()},
        "music_whistle_excess_db": {k: round(v, 2) for k, v in music_excess.items()},
    }
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps(result, indent=1) + "\n")
    if a.png:
        from rtaudio.spectrogram import save_spectrograms

        noisy, clean = mono16k(files[0][0]), mono16k(files[0][1])
        panels = [(f"noisy {files[0][0].name}", noisy, RATE), ("clean", clean, RATE)]
        panels += [(m, denoised(m, noisy), RATE) for m in models.values()]
        a.png.parent.mkdir(parents=True, exist_ok=True)
        save_spectrograms(panels, a.png, max_hz=RATE / 2)


if __name__ == "__main__":
    main()

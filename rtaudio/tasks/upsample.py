"""The upsample task: restore the missing band of band-limited audio (NU-Wave-style model, sinc, linear).

Builds the shipped band-extension model as a stateful stream kernel where its card ships a
streaming graph (:mod:`rtaudio.tasks.upsample_stream`: 0 steps, native rates, no context
recomputed), else as the stateless window kernel (:mod:`rtaudio.tasks.neural_upsample`); the
window kernel is always the whole-signal reference. Baselines: ``sinc`` (soxr VHQ) and
``linear``, for any rate pair.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import soxr

from rtaudio import metrics_band
from rtaudio.rates import EVAL_RATE, UPSAMPLE_BENCH_PAIRS
from rtaudio.tasks.resample import LinearKernel, SincKernel, adapt
from rtaudio.tasks.task import BenchClip, Figure, ModelError, ModelInfo, Plan, Request, Task, check_rate

#: output rate of the baselines when neither the user nor a model says otherwise
DEFAULT_BASELINE_OUT_RATE = 48000


def eval_dir(material: str = "speech") -> Path:
    """Folder of the shipped held-out evaluation clips, 48 kHz: ``speech`` (klettres languages no model
    trained on) or ``music`` (pieces of export/music.py with instruments no model trained on)."""
    return Path(str(resources.files("rtaudio") / "assets" / ("eval" if material == "speech" else f"eval_{material}")))


@lru_cache(maxsize=8)
def read_eval_clip(path: str) -> np.ndarray:
    """A shipped evaluation clip, mono, trimmed to a multiple of 48 samples (whole at every kHz rate)."""
    audio, rate = sf.read(path, dtype="float32", always_2d=True)
    if rate != EVAL_RATE:
        raise ValueError(f"evaluation clip {path} is {rate} Hz, expected {EVAL_RATE}")
    audio = audio.mean(axis=1)
    return audio[: len(audio) - len(audio) % 48]


def eval_clips(
    in_rate: int, out_rate: int, count: int | None = None, max_seconds: float | None = None, material: str = "speech"
):
    """The evaluation clips of ``material`` as (input, reference) pairs for ``in_rate -> out_rate``.

    The reference is the clip at ``out_rate``; the input is the clip resampled down to
    ``in_rate`` with soxr VHQ (a clean band limit at the input's Nyquist).
    """
    paths = sorted(eval_dir(material).glob("*.flac"))[:count]
    if not paths:
        raise FileNotFoundError(f"no evaluation clips in {eval_dir(material)}")
    clips = []
    for path in paths:
        full = read_eval_clip(str(path))
        if max_seconds is not None:
            keep = int(max_seconds * EVAL_RATE)
            full = full[: keep - keep % 48]
        reference = full if out_rate == EVAL_RATE else soxr.resample(full, EVAL_RATE, out_rate, quality="VHQ")
        low = soxr.resample(full, EVAL_RATE, in_rate, quality="VHQ")
        clips.append(BenchClip(path.stem, low.astype(np.float32), reference.astype(np.float32), material))
    return clips


class UpsampleTask(Task):
    name = "upsample"
    summary = "restore the missing band of band-limited audio (16/24 kHz -> 48 kHz, 8 -> 16 kHz)"
    baselines = ("sinc", "linear")
    # LSD rewards any high-band energy (linear's imaging beats sinc): SNR keeps it honest, and ViSQOL,
    # the real-vs-generated band classifier and the long-term-spectrum peaks see what both miss
    # (rtaudio.metrics_band). ViSQOL is an optional extra: without it the figure is None, its header says why;
    # it costs seconds per clip, so --quick leaves it out.
    figures = (
        Figure("lsd", "LSD", plot=True),
        Figure("lsd_hf", "LSD-HF"),
        Figure("snr_db", "SNR dB", ".2f", higher_is_better=True, plot=True),
        Figure(
            "visqol",
            "ViSQOL" if metrics_band.visqol_available() else f"ViSQOL ({metrics_band.VISQOL_MISSING})",
            ".2f",
            higher_is_better=True,
            plot=True,
        ),
        Figure("band_real_acc", "band told apart"),
        Figure("whistle_db", "whistle dB", ".1f"),
        Figure("whistle_ref_db", "whistle dB (ref)", ".1f"),
        Figure("whistle_excess_db", "whistle over ref dB", ".1f"),
    )

    def baseline_card(self, name: str) -> dict[str, Any]:
        what = "soxr very-high-quality sinc" if name == "sinc" else "linear interpolation"
        return {**super().baseline_card(name), "description": what}

    def build(self, model: ModelInfo, request: Request) -> Plan:
        source_rate = check_rate(request.source_rate, "source rate")
        band_rate = check_rate(request.in_rate if request.in_rate is not None else source_rate, "input rate")
        notes = self._rate_notes(source_rate, band_rate)
        if model.is_baseline:
            out_rate = check_rate(request.out_rate or DEFAULT_BASELINE_OUT_RATE, "output rate")
            cls = SincKernel if model.name == "sinc" else LinearKernel
            kernel = adapt(cls(band_rate, out_rate), source_rate, out_rate)
            return Plan(kernel, kernel, model, self, source_rate, band_rate, out_rate, notes=tuple(notes))
        native = self._native_out(model, band_rate, request.out_rate)
        out_rate = check_rate(request.out_rate or native, "output rate")
        if out_rate > native:
            notes.append(
                f"{model.name} restores {band_rate} Hz audio up to {native} Hz; above {native // 2000} kHz the "
                f"{out_rate} Hz output is empty"
            )
        from rtaudio.tasks.neural_upsample import NeuralUpsampleKernel

        common = {"steps": request.steps, "seed": request.seed, "backend": request.backend, "threads": request.threads}
        window = NeuralUpsampleKernel(model.path, band_rate, native, **common)
        reference = adapt(window, source_rate, out_rate)
        kernel = self._stream_kernel(model, window, source_rate, band_rate, out_rate, request)
        if kernel is None:
            kernel = reference
            if "stream" in model.card and window.steps == 0:
                notes.append(
                    f"a {source_rate} Hz source is resampled to its {band_rate} Hz band per chunk: the stateless "
                    f"path (more compute); feed {band_rate} Hz audio for the streaming one"
                )
        pair = f"{band_rate}->{out_rate}"
        chunk_ms = model.card.get("chunk_ms_by_pair", {}).get(pair, model.card.get("chunk_ms"))
        return Plan(
            kernel,
            reference,
            model,
            self,
            source_rate,
            band_rate,
            out_rate,
            steps=window.steps,
            notes=tuple(notes),
            chunk_ms=chunk_ms,
            crossfade_ms=model.card.get("crossfade_ms"),
        )

    @staticmethod
    def _native_out(model: ModelInfo, band_rate: int, out_rate: int | None) -> int:
        """The model's own output rate for ``band_rate``: the least work that reaches ``out_rate``.

        No ``out_rate``: the smallest native output (8 kHz -> 16 kHz, not 48). Otherwise the
        smallest native output at or above it (8 kHz with ``--out-rate 48000`` runs the
        8 -> 48 kHz pair, not 8 -> 16 plus sinc, which would leave 8-24 kHz empty), else the largest.
        """
        outs = sorted(b for a, b in model.pairs if a == band_rate)
        if not outs:
            rates = ", ".join(f"{a}->{b}" for a, b in model.pairs)
            raise ModelError(
                f"model {model.name} serves {rates} Hz, not a {band_rate} Hz source "
                "(declare the source bandwidth with --in-rate, or use --model sinc)"
            )
        if out_rate is None:
            return outs[0]
        return next((b for b in outs if b >= out_rate), outs[-1])

    @staticmethod
    def _stream_kernel(model, window, source_rate, band_rate, out_rate, request):
        """The card's streaming graph for this request, or ``None`` (the window kernel serves it)."""
        if "stream" not in model.card or window.steps != 0:
            return None
        from rtaudio.tasks.upsample_stream import SourceResampledStream, stream_kernel

        kernel = stream_kernel(
            model.card,
            model.path,
            band_rate,
            out_rate,
            hop_ms=request.options.get("hop_ms"),
            backend=request.backend,
            threads=request.threads,
        )
        if source_rate == band_rate:
            return kernel
        try:  # a source stored at another rate (a 48 kHz device carrying a 16 kHz band)
            return SourceResampledStream(kernel, source_rate)
        except ValueError:  # rates whose FIR blocks do not fit the hop: the window path serves them
            return None

    @staticmethod
    def _rate_notes(source_rate: int, band_rate: int) -> list[str]:
        if band_rate > source_rate:
            return [
                f"--in-rate {band_rate} declares more band than a {source_rate} Hz source can hold "
                f"(its content stops at {source_rate / 2000:g} kHz); use --in-rate {source_rate} or less"
            ]
        return []

    def live_hint(self, plan: Plan, device_rate: int) -> str | None:
        if plan.band_rate >= device_rate:
            return "full band: nothing to upsample; declare the source's band with --in-rate"
        return None

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        group = parser.add_argument_group("upsample")
        group.add_argument(
            "--hop-ms",
            type=float,
            default=None,
            metavar="MS",
            help="hop of the streaming upsampler (default: its card's); shorter = less latency, more overhead",
        )

    def option_names(self) -> tuple[str, ...]:
        return ("hop_ms",)

    # -- bench --------------------------------------------------------------------------
    def bench_pairs(self, models: Sequence[ModelInfo]) -> list[tuple[int, int]]:
        return list(UPSAMPLE_BENCH_PAIRS)

    def bench_clips(self, pair, count, seconds):
        # speech and music, reported apart (a band-extension model can be good at one only)
        return eval_clips(pair[0], pair[1], count, seconds) + eval_clips(pair[0], pair[1], count, seconds, "music")

    def quality(
        self, clip: BenchClip, estimate: np.ndarray, pair: tuple[int, int], model: ModelInfo
    ) -> dict[str, float | None]:
        from rtaudio import metrics

        ref, rate, edge = clip.reference, pair[1], pair[0] / 2
        # ViSQOL costs seconds per clip: --quick (clip.cheap) leaves it None, as does a missing extra
        visqol = (
            None
            if clip.cheap or not metrics_band.visqol_available()
            else metrics_band.visqol_audio(ref, estimate, rate)
        )
        return {
            "lsd": metrics.lsd(ref, estimate),
            "lsd_hf": metrics.lsd_hf(ref, estimate, rate, pair[0]),
            "snr_db": metrics.snr(ref, estimate),
            "visqol": visqol,
            "band_real_acc": metrics_band.band_realness(ref, estimate, rate, edge),
            "whistle_db": metrics_band.whistle_db(estimate, rate, edge)[0],
            "whistle_ref_db": metrics_band.whistle_db(ref, rate, edge)[0],
            "whistle_excess_db": metrics_band.whistle_excess_db(ref, estimate, rate, edge)[0],
        }


UPSAMPLE = UpsampleTask()

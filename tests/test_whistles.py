"""No fixed-frequency artefacts (issue 13): the long-term spectrum of a real shipped clip's output.

The previous upsampler's space-to-depth backbone ran at 6 kHz frames and imprinted tones at their
multiples: on the shipped German clip (``rtaudio/assets/eval/de.flac``, 16 -> 48 kHz) the
output's largest narrow long-term-spectrum peak above 8.5 kHz was 24.7 dB over its ±500 Hz
neighbourhood at exactly 18000 Hz, where the reference has none. The polarity-equivariant
release has no sign-independent frame-rate pattern, so no fixed tone: its largest peak is
4.4 dB at 12223 Hz (an image of the voice's ~223 Hz fundamental around 12 kHz, which the
space-to-depth still makes), 4.4 dB over the reference's there. The test holds every output
peak to within 3 dB of the reference's at the same frequency (the reference's own largest,
26.2 dB at 20.9 kHz, is the recording's artefact, and the output does not reproduce it).
"""

from __future__ import annotations

import numpy as np
import pytest
import soxr

from rtaudio.engine.processor import process_offline
from rtaudio.metrics_band import whistle_db, whistle_excess_db
from rtaudio.registry import build_plan

RATE, LOW = 48000, 16000


def _tone_bank(x: np.ndarray, freqs: list[float], level: float) -> np.ndarray:
    t = np.arange(len(x)) / RATE
    return x + level * sum(np.sin(2 * np.pi * f * t) for f in freqs)


def test_the_measure_sees_a_whistle_and_ignores_the_references_own_tones(speech_48k):
    x = speech_48k[: 4 * RATE].astype(np.float64)
    low = soxr.resample(x, RATE, LOW, quality="VHQ")
    sinc = soxr.resample(low, LOW, RATE, quality="VHQ")[: len(x)]
    assert whistle_excess_db(x, x, RATE, LOW / 2)[0] == 0.0
    assert whistle_excess_db(x, sinc, RATE, LOW / 2)[0] < 6.0  # an empty band has no tones
    whistling = _tone_bank(sinc, [12000.0, 18000.0], 3e-3)
    excess, where = whistle_excess_db(x, whistling, RATE, LOW / 2)
    assert excess > 20.0 and min(abs(where - 12000.0), abs(where - 18000.0)) < 15.0
    assert whistle_db(whistling, RATE, LOW / 2)[0] > 20.0


@pytest.mark.xfail(
    strict=True,
    reason="issue 13: the fixed 12/18 kHz tones are gone (polarity-equivariant net), but space-to-depth still "
    "images the voice around 12 kHz: measured on de.flac 16->48, largest output peak 4.4 dB at 12223 Hz, "
    "4.4 dB over the reference's there (target 3 dB; previous release 24.7 dB at 18000 Hz)",
)
def test_shipped_upsampler_adds_no_narrow_peak_to_a_real_clip(speech_48k):
    plan = build_plan("upsample", None, LOW, out_rate=RATE, threads=1)
    low = soxr.resample(speech_48k, RATE, LOW, quality="VHQ").astype(np.float32)
    out = process_offline(plan.reference, low)
    excess, where = whistle_excess_db(speech_48k, out, RATE, LOW / 2)
    assert excess <= 3.0, f"a {excess:.1f} dB narrow peak at {where:.0f} Hz that the reference does not have"

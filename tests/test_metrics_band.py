"""The band metrics (:mod:`rtaudio.metrics_band`): each can fail, each sees what it claims to."""

from __future__ import annotations

import numpy as np
import pytest
import soxr

from rtaudio.metrics_band import band_realness, visqol_audio, visqol_available, whistle_db

RATE, LOW = 48000, 16000


@pytest.fixture(scope="module")
def clip(speech_48k):
    x = speech_48k[: 4 * RATE].astype(np.float64)
    sinc = soxr.resample(soxr.resample(x, RATE, LOW, quality="VHQ"), LOW, RATE, quality="VHQ")[: len(x)]
    return x, sinc


def test_band_classifier_is_at_chance_for_the_reference_and_certain_for_an_empty_band(clip):
    x, sinc = clip
    assert band_realness(x, x, RATE, LOW / 2) == pytest.approx(0.5, abs=0.02)
    assert band_realness(x, sinc, RATE, LOW / 2) > 0.95
    # a real speech band from other moments (the reference's, 1 s later): the same distribution, so
    # the frame classifier is much less sure, though the band no longer follows the low band
    shifted = sinc + np.roll(x - sinc, RATE)
    assert band_realness(x, shifted, RATE, LOW / 2) < 0.8


def test_band_classifier_sees_a_band_at_the_wrong_level(clip):
    x, sinc = clip
    high = x - sinc  # the band above 8 kHz
    quiet = sinc + 0.3 * high
    assert band_realness(x, quiet, RATE, LOW / 2) > 0.8


def test_whistle_finds_an_added_tone(clip):
    x, sinc = clip
    tone = sinc + 1e-3 * np.sin(2 * np.pi * 15000.0 * np.arange(len(x)) / RATE)
    level, where = whistle_db(tone, RATE, LOW / 2)
    assert level > 20.0 and abs(where - 15000.0) < 15.0
    assert whistle_db(sinc, RATE, LOW / 2)[0] < 10.0


def test_visqol_ranks_the_reference_above_a_band_limited_copy(clip):
    if not visqol_available():
        pytest.skip("visqol-python not installed (rtaudio[bench])")
    x, sinc = clip
    assert visqol_audio(x, x, RATE) > 4.5 > visqol_audio(x, sinc, RATE) + 0.5


def test_upsample_bench_figures_are_all_reported_and_quick_skips_visqol(clip):
    from dataclasses import replace

    from rtaudio.registry import default_model, find_model
    from rtaudio.tasks.task import BenchClip
    from rtaudio.tasks.upsample import UPSAMPLE

    x, sinc = clip
    model = find_model("upsample", default_model("upsample", LOW))
    item = BenchClip("de", soxr.resample(x, RATE, LOW, quality="VHQ"), x)
    quick = UPSAMPLE.quality(replace(item, cheap=True), sinc, (LOW, RATE), model)
    assert set(quick) == set(UPSAMPLE.quality_keys)
    assert quick["visqol"] is None and quick["band_real_acc"] > 0.95 and quick["whistle_excess_db"] < 6.0
    if visqol_available():
        assert UPSAMPLE.quality(item, sinc, (LOW, RATE), model)["visqol"] is not None

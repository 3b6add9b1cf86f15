"""The one STFT layer (rtaudio.dsp): windows, framing, STFT/iSTFT, overlap-add."""

from __future__ import annotations

import numpy as np
import pytest

from rtaudio import dsp

#: (window length, hop) pairs the callers use: envelope, vocoder mel/spectral, LSD, MR-STFT, spectrogram
PAIRS = [(512, 128), (1200, 300), (2048, 512), (1024, 256), (512, 50), (1024, 120), (2048, 240)]


@pytest.fixture(scope="module")
def noise() -> np.ndarray:
    return np.random.default_rng(7).standard_normal(9000)


def test_hann_is_numpys_window_periodic_or_symmetric() -> None:
    assert np.array_equal(dsp.hann(512), np.hanning(513)[:-1])
    assert np.array_equal(dsp.hann(1024, periodic=False), np.hanning(1024))
    n = np.arange(1200)
    np.testing.assert_allclose(dsp.hann(1200), 0.5 - 0.5 * np.cos(2 * np.pi * n / 1200), atol=1e-15)
    assert not dsp.hann(64).flags.writeable


@pytest.mark.parametrize("n", [256, 512, 1200, 2048])
def test_periodic_hann_is_cola_at_4x_overlap(n: int) -> None:
    hop = n // 4
    w = dsp.hann(n)
    frames = 12
    interior = slice(n, (frames - 1) * hop)  # away from the ends every sample sees four frames
    added = dsp.overlap_add(np.broadcast_to(w, (frames, n)), hop)[interior]
    squared = dsp.window_sumsquare(w, hop, frames)[interior]
    np.testing.assert_allclose(added, 2.0, atol=1e-12)
    np.testing.assert_allclose(squared, 1.5, atol=1e-12)
    assert dsp.ola_gain(w, hop) == pytest.approx(1.5, abs=1e-12)


def test_symmetric_hann_is_not_cola() -> None:
    w = dsp.hann(512, periodic=False)
    added = dsp.overlap_add(np.broadcast_to(w, (12, 512)), 128)[512:-512]
    assert np.ptp(added) > 1e-3


def test_stft_equals_a_direct_dft_on_a_tiny_input() -> None:
    x = np.random.default_rng(0).standard_normal(13)
    w, hop = dsp.hann(8), 2
    spec = dsp.stft(x, w, hop, center=False)
    k = np.arange(5)[:, None]
    n = np.arange(8)[None, :]
    basis = np.exp(-2j * np.pi * k * n / 8)
    direct = np.stack([basis @ (x[f * hop : f * hop + 8] * w) for f in range(1 + (13 - 8) // hop)])
    np.testing.assert_allclose(spec, direct, atol=1e-12)
    np.testing.assert_array_equal(spec, np.fft.rfft(np.stack([x[f * 2 : f * 2 + 8] for f in range(3)]) * w, axis=1))


def test_centred_stft_pads_half_a_window_and_frame_k_is_centred_on_sample_k_hop() -> None:
    x = np.zeros(40)
    x[12] = 1.0  # an impulse at 12 is the centre of frame 3 at hop 4
    spec = dsp.stft(x, dsp.hann(16), 4)
    assert spec.shape == (1 + 40 // 4, 9)
    assert np.argmax(np.abs(spec[:, 0])) == 3
    reflect = dsp.stft(x, dsp.hann(16), 4, pad_mode="reflect")
    np.testing.assert_array_equal(reflect[3:-3], spec[3:-3])  # the padding only reaches the edge frames


def test_n_frames_zero_extends_and_batches_along_the_last_axis() -> None:
    x = np.random.default_rng(1).standard_normal((3, 2, 50))
    spec = dsp.stft(x, dsp.hann(16), 4, n_frames=20)
    assert spec.shape == (3, 2, 20, 9)
    np.testing.assert_allclose(spec[1, 0], dsp.stft(x[1, 0], dsp.hann(16), 4, n_frames=20), atol=0)
    assert np.all(spec[..., 18:, :] == 0)  # frames past the padded end read zeros only


def test_frames_is_a_view_and_refuses_frames_that_do_not_fit() -> None:
    x = np.arange(10.0)
    f = dsp.frames(x, 4, 3)
    np.testing.assert_array_equal(f, [[0, 1, 2, 3], [3, 4, 5, 6], [6, 7, 8, 9]])
    assert np.shares_memory(f, x)
    with pytest.raises(ValueError):
        dsp.frames(x, 4, 3, n_frames=4)
    assert dsp.frames(x[:2], 4, 3).shape == (0, 4)


def test_centred_pads_a_short_window_symmetrically() -> None:
    w = dsp.centred(dsp.hann(6), 10)
    np.testing.assert_array_equal(w, np.r_[0, 0, dsp.hann(6), 0, 0])
    with pytest.raises(ValueError):
        dsp.centred(dsp.hann(12), 10)


@pytest.mark.parametrize(("n_fft", "hop"), PAIRS)
def test_stft_istft_reconstructs_perfectly(noise: np.ndarray, n_fft: int, hop: int) -> None:
    w = dsp.hann(n_fft)
    n = len(noise)
    spec = dsp.stft(noise, w, hop, n_frames=-(-n // hop) + 1)
    y = dsp.istft(spec, w, hop, length=n)
    assert np.max(np.abs(y - noise)) < 1e-6


@pytest.mark.parametrize(("n_fft", "hop"), [(512, 128), (1200, 300), (2048, 512)])
def test_constant_gain_istft_reconstructs_away_from_the_edges(noise: np.ndarray, n_fft: int, hop: int) -> None:
    w = dsp.hann(n_fft)
    spec = dsp.stft(noise, w, hop, n_frames=-(-len(noise) // hop) + 1)
    y = dsp.istft(spec, w, hop, length=len(noise), gain=dsp.ola_gain(w, hop))
    inner = slice(n_fft, len(noise) - n_fft)
    assert np.max(np.abs(y[inner] - noise[inner])) < 1e-6
    # a synthesis window pre-scaled by the gain is the same overlap-add with gain 1
    pre = dsp.istft(spec, w / dsp.ola_gain(w, hop), hop, length=len(noise), gain=1.0)
    np.testing.assert_allclose(pre, y, atol=1e-12)


@pytest.mark.parametrize(("n_fft", "hop"), [(16, 5), (16, 4)])
def test_overlap_add_of_a_hop_that_does_not_divide_the_window(n_fft: int, hop: int) -> None:
    segs = np.random.default_rng(2).standard_normal((2, 6, n_fft))
    out = dsp.overlap_add(segs, hop)
    ref = np.zeros((2, 5 * hop + n_fft))
    for k in range(6):
        ref[:, k * hop : k * hop + n_fft] += segs[:, k]
    np.testing.assert_allclose(out, ref, atol=1e-12)


@pytest.mark.parametrize("start", [0, 1, 127, 1000, 4321])
def test_grid_stft_of_a_segment_equals_the_whole_signals_frames(noise: np.ndarray, start: int) -> None:
    w, hop, margin = dsp.hann(512), 128, 700
    whole, lead0 = dsp.grid_stft(noise, 0, w, hop, margin)
    seg = noise[start : start + 3000]
    part, lead = dsp.grid_stft(seg, start, w, hop, margin)
    assert (start - lead) % hop == 0 and lead >= margin
    # frame k of the segment starts at absolute start - lead + k * hop; compare those fully inside it
    first_abs = start - lead
    inside = [k for k in range(len(part)) if start <= first_abs + k * hop and first_abs + k * hop + 512 <= start + 3000]
    assert inside
    for k in inside:
        j = (first_abs + k * hop + lead0) // hop
        np.testing.assert_array_equal(part[k], whole[j])


def test_grid_stft_and_istft_give_the_segment_back(noise: np.ndarray) -> None:
    w, hop = dsp.hann(512), 128
    spec, lead = dsp.grid_stft(noise[:2000], 333, w, hop, 512)
    y = dsp.istft(spec, w, hop, center=False, gain=dsp.ola_gain(w, hop))[lead : lead + 2000]
    np.testing.assert_allclose(y, noise[:2000], atol=1e-9)

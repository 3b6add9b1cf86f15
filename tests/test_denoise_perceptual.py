"""The PESQ-model training loss (export/denoise/perceptual.py): it must rank degradations as the
real PESQ-wb does on real speech, forgive what PESQ forgives (level), and pass gradients."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

torch = pytest.importorskip("torch", reason="export tests need the training extra (torch)")
pesq = pytest.importorskip("pesq", reason="the comparison needs the pesq package (train extra)").pesq

from export.denoise.perceptual import perceptual_loss, pesq_like  # noqa: E402

ASSETS = Path(__file__).resolve().parents[1] / "rtaudio" / "assets" / "denoise"


def _pair(name: str) -> tuple[np.ndarray, np.ndarray]:
    clean, rate = sf.read(ASSETS / f"{name}_clean.flac", dtype="float32")
    noisy, _ = sf.read(ASSETS / f"{name}_noisy.flac", dtype="float32")
    assert rate == 16000
    return clean, noisy


def _score(clean: np.ndarray, deg: np.ndarray) -> float:
    with torch.no_grad():
        return float(pesq_like(torch.from_numpy(clean)[None], torch.from_numpy(deg.astype(np.float32))[None]))


def test_a_perfect_copy_scores_the_maximum_and_costs_nothing():
    clean, _ = _pair("de_002_white")
    assert _score(clean, clean) == pytest.approx(4.5, abs=1e-3)
    x = torch.from_numpy(clean)[None]
    assert float(perceptual_loss(x, x)) == pytest.approx(0.0, abs=1e-3)


def test_level_is_forgiven_like_pesq():
    clean, noisy = _pair("uk_030_hum")
    half = clean + 0.5 * (noisy - clean)
    assert _score(clean, 0.3 * half) == pytest.approx(_score(clean, half), abs=0.02)


@pytest.mark.parametrize("name", ["de_002_white", "pt_014_babble", "de_004_typing", "uk_028_machine"])
def test_ranks_noise_levels_as_the_real_pesq_does(name):
    clean, noisy = _pair(name)
    shares = (1.0, 0.5, 0.25, 0.1)
    ours = [_score(clean, clean + s * (noisy - clean)) for s in shares]
    real = [pesq(16000, clean, (clean + s * (noisy - clean)).astype(np.float32), "wb") for s in shares]
    assert np.all(np.diff(real) > 0), real  # the fixture itself: less noise, higher PESQ
    assert np.all(np.diff(ours) > 0), (ours, real)


def test_gradients_reach_the_enhanced_signal():
    clean, noisy = _pair("pt_013_colored")
    out = torch.from_numpy(noisy)[None].clone().requires_grad_(True)
    perceptual_loss(out, torch.from_numpy(clean)[None]).backward()
    g = out.grad
    assert torch.isfinite(g).all() and float(g.abs().sum()) > 0.0
    # a small step against the gradient lowers the loss
    with torch.no_grad():
        before = float(perceptual_loss(out, torch.from_numpy(clean)[None]))
        after = float(perceptual_loss(out - 1e-2 * g / g.abs().max(), torch.from_numpy(clean)[None]))
    assert after < before


def test_training_limits_make_colouring_cost():
    """P.862 forgives up to 20 dB of per-band colouring; the training loss must not (a network
    trained with P.862's limits learned to cut 1-2 kHz by 16 dB)."""
    from scipy.signal import butter, sosfilt

    clean, _ = _pair("pt_014_babble")
    muffled = sosfilt(butter(4, 1000.0, "lowpass", fs=16000, output="sos"), clean).astype(np.float32)
    x, y = torch.from_numpy(clean)[None], torch.from_numpy(muffled)[None]
    with torch.no_grad():
        forgiving = float(pesq_like(x, y, limit_db=None))
        training = float(pesq_like(x, y, limit_db=1.0))
    assert training < forgiving - 0.5, (training, forgiving)

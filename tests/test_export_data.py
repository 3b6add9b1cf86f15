"""The training/evaluation data helpers: bandwidth screening and the held-out dev/test split."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

pytest.importorskip("scipy", reason="export/ needs the train extra (scipy)")

from scipy import signal  # noqa: E402

from export import data, evaluate  # noqa: E402


def _speechlike(rate: int, seconds: float, edge_hz: float | None, peak: float = 0.3) -> np.ndarray:
    """Bursty white noise (loud and quiet frames), optionally lowpassed (elliptic) at ``edge_hz``,
    scaled to ``peak`` over a -120 dBFS noise floor (as a real converter has)."""
    rng = np.random.default_rng(3)
    n = int(rate * seconds)
    x = rng.standard_normal(n) * (0.05 + np.sin(2 * np.pi * 3 * np.arange(n) / rate) ** 2)
    if edge_hz is not None:
        x = signal.sosfiltfilt(signal.ellip(10, 0.1, 90, edge_hz, fs=rate, output="sos"), x)
    floor = 1e-6 * np.random.default_rng(4).standard_normal(n)
    return (peak * x / np.abs(x).max() + floor).astype(np.float32)


@pytest.mark.parametrize("edge", [7000.0, 11000.0, 16000.0])
def test_bandwidth_finds_the_lowpass_edge(edge: float) -> None:
    bw = data.bandwidth_hz(_speechlike(48000, 2.0, edge))
    assert edge * 0.9 <= bw <= edge * 1.1, bw


def test_bandwidth_of_full_band_audio_reaches_nyquist_and_ignores_level() -> None:
    x = _speechlike(48000, 2.0, None)
    assert data.bandwidth_hz(x) > 22000
    # Quiet recordings were misclassified once (zero-padded smoothing at the spectrum's edge).
    assert data.bandwidth_hz(_speechlike(48000, 2.0, 7000.0, peak=1e-3)) < 8000


def test_heldout_dev_and_test_parts_are_disjoint_and_complete(tmp_path, monkeypatch) -> None:
    held = tmp_path / "toy" / "heldout"
    held.mkdir(parents=True)
    for i in range(23):
        sf.write(held / f"f{i:02d}.wav", np.zeros(10, np.float32), 48000)
    monkeypatch.setattr(evaluate, "DATA_DIR", tmp_path)
    dev, test = evaluate.heldout_files("toy", "dev"), evaluate.heldout_files("toy", "test")
    assert not set(dev) & set(test)
    assert sorted(dev + test) == sorted(held.glob("*.wav"))
    assert len(dev) == 5  # every 5th file from the 3rd: indices 2, 7, 12, 17, 22


def test_a_test_only_corpus_is_all_test_and_refuses_pairs_above_its_rate(tmp_path, monkeypatch) -> None:
    tel = tmp_path / "asterisk16k"
    tel.mkdir()
    for i in range(3):
        sf.write(tel / f"p{i}.wav", np.zeros(10, np.float32), 16000)
    monkeypatch.setattr(evaluate, "DATA_DIR", tmp_path)
    assert evaluate.heldout_files("asterisk16k", "test") == sorted(tel.glob("*.wav"))
    assert evaluate.heldout_files("asterisk16k", "dev") == []  # nothing to tune on: it stays a test set
    # 16 kHz audio has no reference band above 8 kHz, so a 48 kHz output cannot be scored on it
    monkeypatch.setattr("sys.argv", ["evaluate", "m.onnx", "--corpus", "asterisk16k", "--pairs", "16:48"])
    with pytest.raises(SystemExit) as e:
        evaluate.main()
    assert e.value.code == 2

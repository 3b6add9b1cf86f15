"""Export side: ONNX parity, sampler determinism, torch backend == ORT backend."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="export tests need the training extra (torch)")

from export.checkpoint import upsample_kernel  # noqa: E402
from export.export_onnx import export, parity  # noqa: E402
from export.models import BandNet, NetConfig, highpass, sample  # noqa: E402
from rtaudio.cards import sha256_file  # noqa: E402
from rtaudio.tasks.neural_upsample import NeuralUpsampleKernel  # noqa: E402

SMALL = NetConfig(layers=4, channels=16, dilation_cycle=3, emb=32)


def _random_net(seed: int = 0) -> BandNet:
    torch.manual_seed(seed)
    net = BandNet(SMALL)
    with torch.no_grad():  # the head is zero-initialised; give it weights so outputs are not trivially 0
        net.head.weight.normal_(0, 0.3)
    return net.eval()


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[BandNet, Path]:
    net = _random_net()
    path = tmp_path_factory.mktemp("model") / "tiny.onnx"
    export(net, path)
    card = {
        "name": "tiny",
        "task": "upsample",
        "model_rate": 48000,
        "rate_pairs": [[16000, 48000], [24000, 48000], [8000, 48000], [8000, 16000]],
        "s2d": SMALL.s2d,
        "receptive_field": 2 * SMALL.receptive_half() + 1,
        "steps_default": 0,
        "schedules": {"0": [], "2": [0.05, 0.005]},
        "sha256": sha256_file(path),
    }
    path.with_suffix(".json").write_text(json.dumps(card))
    ckpt = path.with_suffix(".pt")
    torch.save({"model": net.state_dict(), "net_config": SMALL.__dict__, "schedules": card["schedules"]}, ckpt)
    return net, path


def test_onnx_is_one_file_and_matches_torch(exported: tuple[BandNet, Path]) -> None:
    net, path = exported
    assert sorted(p.suffix for p in path.parent.iterdir()) == [".json", ".onnx", ".pt"]  # no external .data
    assert parity(net, path, trials=3) <= 1e-4


def test_high_band_is_above_the_cutoff_only() -> None:
    x = torch.randn(1, 1, 48000)
    y = highpass(x, torch.tensor([8000.0]))
    core = y[0, 0, 1000:-1000]  # away from the zero-padded edges
    spec = torch.fft.rfft(core * torch.hann_window(len(core))).abs() ** 2
    f = torch.fft.rfftfreq(len(core), 1 / 48000)
    below = spec[f < 6500].mean() / spec[f > 9500].mean()
    assert below < 1e-6  # the input band stays exact: the net cannot touch it


def test_sampler_is_deterministic_given_noise() -> None:
    net = _random_net(1)
    cond = torch.randn(2, 1, 4096) * 0.1
    noise = [torch.randn_like(cond) for _ in range(2)]
    with torch.inference_mode():
        a = sample(net, cond, 8000, [0.05, 0.005], noise)
        b = sample(net, cond, 8000, [0.05, 0.005], noise)
        c = sample(net, cond, 8000, [0.05, 0.005], [n.flip(-1) for n in noise])
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_checkpoint_network_matches_onnx_graph(exported: tuple[BandNet, Path]) -> None:
    _, path = exported
    x = (0.1 * np.random.default_rng(0).standard_normal((1, 8000))).astype(np.float32)
    ort_k = NeuralUpsampleKernel(path, 16000, 48000, steps=2, seed=5, threads=1)
    pt_k = upsample_kernel(path.with_suffix(".pt"), 16000, 48000, steps=2, seed=5, threads=1)
    assert np.abs(ort_k.run(x, 100) - pt_k.run(x, 100)).max() < 1e-4


def _biased_net(polarity: bool) -> BandNet:
    """A small net whose head bias differs per space-to-depth phase: the fixed pattern behind the 12/18 kHz tones."""
    torch.manual_seed(3)
    net = BandNet(NetConfig(**{**SMALL.__dict__, "polarity": polarity}))
    with torch.no_grad():
        net.head.weight.normal_(0, 0.3)
        net.head.bias.copy_(torch.linspace(-0.02, 0.02, SMALL.s2d))
    return net.eval()


def _tone_db(y: np.ndarray, rate: int, freq: float) -> float:
    """Level of ``freq`` in dB over the median of the spectrum around it."""
    spec = np.abs(np.fft.rfft(y * np.hanning(len(y)))) ** 2
    f = np.fft.rfftfreq(len(y), 1 / rate)
    k = int(np.argmin(np.abs(f - freq)))
    near = (np.abs(f - freq) < 1500) & (np.abs(f - freq) > 50)
    return float(10 * np.log10(spec[k - 2 : k + 3].max() / np.median(spec[near])))


def test_polarity_equivariant_net_is_odd_and_has_no_frame_rate_tones() -> None:
    cond = torch.randn(1, 1, 8 * 4096) * 0.1
    sig, pure, cut = torch.zeros_like(cond), torch.tensor([1.0]), torch.tensor([8000.0])
    plain, odd = _biased_net(False), _biased_net(True)
    with torch.inference_mode():
        assert torch.allclose(odd(-cond, sig, pure, cut), -odd(cond, sig, pure, cut), atol=1e-7)
        assert odd(torch.zeros_like(cond), sig, pure, cut).abs().max() == 0.0  # silence in, silence out
        y_plain = plain(cond, sig, pure, cut)[0, 0, 2000:-2000].numpy()
        y_odd = odd(cond, sig, pure, cut)[0, 0, 2000:-2000].numpy()
    for tone in (12000.0, 18000.0):  # multiples of the 6 kHz frame rate above the 8 kHz cutoff
        assert _tone_db(y_plain, 48000, tone) > 20.0  # the measure sees the fixed pattern
        assert _tone_db(y_odd, 48000, tone) < 10.0


def test_polarity_equivariant_stream_equals_the_whole_signal_net() -> None:
    from export.export_stream import TorchStep, run_stream
    from export.streaming import StreamBandNet

    net = _biased_net(True)
    stream = StreamBandNet(net).eval()
    assert stream.state_shapes(1)["state_h"][1] == 2 * SMALL.channels  # hidden state for +x and -x
    rng = np.random.default_rng(0)
    cond = (0.3 * rng.standard_normal((2, 1, 8 * 1200))).astype(np.float32)
    x_t = np.zeros_like(cond)
    with torch.inference_mode():
        ref = net(*(torch.from_numpy(a) for a in (cond, x_t)), torch.tensor([1.0]), torch.tensor([8000.0])).numpy()
    out = run_stream(TorchStep(stream), cond, x_t, 1.0, 8000.0, 8 * 37)
    d, edge = stream.delay, 2 * SMALL.receptive_half()
    np.testing.assert_allclose(out[:, :, d + edge :], ref[:, :, edge : ref.shape[2] - d], rtol=0, atol=1e-6)


def test_polarity_equivariant_net_exports_to_onnx(tmp_path: Path) -> None:
    net = _biased_net(True)
    export(net, tmp_path / "odd.onnx")
    assert parity(net, tmp_path / "odd.onnx", trials=2) <= 1e-4

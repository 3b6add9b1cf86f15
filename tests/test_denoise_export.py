"""Denoise export side: noise mixing at the requested SNR, the step graph against the torch model
run on the whole signal, and the STFT pipeline's exact delay (an identity-gain model)."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="export tests need the training extra (torch)")

from export.denoise.data import mix_at_snr, snr_db  # noqa: E402
from export.denoise.export_onnx import export, runtime_card, stream_onnx  # noqa: E402
from export.denoise.models import StreamConfig, StreamDenoiser, weights_from_step_graph  # noqa: E402
from rtaudio.engine.stream import StreamProcessor, stream_whole  # noqa: E402
from rtaudio.tasks.denoise import DenoiseKernel  # noqa: E402

SMALL = StreamConfig(hidden=24, layers=2)
#: with deep filtering in the lowest 20 bins over 3 frames (its head random, not the zero start)
SMALL_DF = StreamConfig(hidden=24, layers=2, df_bins=20, df_order=3)


def _random_df_head(net: StreamDenoiser) -> StreamDenoiser:
    if net.cfg.df_bins:
        with torch.no_grad():
            net.df_head.weight.normal_(0.0, 0.1)
            net.df_head.bias.normal_(0.0, 0.1)
    return net


def _export(net: StreamDenoiser, path) -> DenoiseKernel:
    export(net.eval(), path)
    path.with_suffix(".json").write_text(json.dumps(runtime_card(net, path)))
    return DenoiseKernel(path, threads=1)


@pytest.mark.parametrize("snr", [0.0, 7.5, 15.0])
def test_mixing_hits_the_requested_snr(snr):
    rng = np.random.default_rng(0)
    speech = rng.standard_normal(16384) * np.hanning(16384)
    noise = rng.standard_normal(16384) * 3.0 + 0.5
    noisy = mix_at_snr(speech, noise, snr)
    assert snr_db(speech, noisy - speech) == pytest.approx(snr, abs=1e-3)


@pytest.mark.parametrize("cfg", [SMALL, SMALL_DF], ids=["gain", "deep-filter"])
def test_step_graph_equals_torch_on_the_whole_signal(tmp_path, cfg):
    torch.manual_seed(0)
    net = _random_df_head(StreamDenoiser(cfg)).eval()
    x = (0.1 * np.random.default_rng(0).standard_normal((2, 5000))).astype(np.float32)
    k = _export(net, tmp_path / "small.onnx")
    with torch.no_grad():
        ref = net(torch.from_numpy(x)).numpy()
    ours, _ = stream_onnx(tmp_path / "small.onnx", x, net)
    streamed = stream_whole(k, x.T).T  # the runtime kernel through the engine
    for y in (ours, streamed):
        err = np.sum((ref - y) ** 2) / np.sum(ref**2)
        assert -10 * np.log10(err) >= 100.0
    assert np.abs(ref - x).max() > 1e-3  # random gains: not an identity


@pytest.mark.parametrize("df_bins", [0, 20], ids=["gain", "deep-filter"])
def test_weights_read_back_from_a_step_graph_are_the_trained_ones(tmp_path, df_bins):
    """--init from a shipped graph (no checkpoint ships): every parameter comes back exactly."""
    torch.manual_seed(1)
    net = _random_df_head(StreamDenoiser(StreamConfig(hidden=24, layers=3, context=4, df_bins=df_bins))).eval()
    _export(net, tmp_path / "small.onnx")
    state = weights_from_step_graph(tmp_path / "small.onnx")
    assert sorted(state) == sorted(net.state_dict())
    for name, value in net.state_dict().items():
        assert torch.equal(state[name], value), name


def test_identity_gain_passes_an_impulse_at_the_declared_delay(tmp_path):
    net = StreamDenoiser(SMALL)
    with torch.no_grad():  # gain = sigmoid(40) = 1 to float precision: the STFT alone
        net.head.weight.zero_()
        net.head.bias.fill_(40.0)
    k = _export(net, tmp_path / "identity.onnx")
    x = np.zeros(4000, np.float32)
    x[1234] = 1.0
    hops = np.zeros(-(-(len(x) + k.delay) // k.hop) * k.hop, np.float32)
    hops[: len(x)] = x
    raw = np.concatenate([k.process(hops[None, i : i + k.hop]) for i in range(0, len(hops), k.hop)], 1)[0]
    assert int(np.argmax(np.abs(raw))) == 1234 + k.delay
    np.testing.assert_allclose(raw[k.delay : k.delay + 4000], x, atol=1e-6)  # perfect reconstruction
    assert StreamProcessor(k).latency_samples == k.delay + k.hop


def test_zero_deep_filter_head_starts_as_the_gain_model():
    """A fine-tune that adds deep filtering starts exactly where the gain model was."""
    torch.manual_seed(2)
    gain = StreamDenoiser(SMALL).eval()
    df = StreamDenoiser(SMALL_DF).eval()
    df.load_state_dict(gain.state_dict(), strict=False)
    x = torch.from_numpy((0.1 * np.random.default_rng(2).standard_normal((1, 4000))).astype(np.float32))
    with torch.no_grad():
        assert torch.equal(df(x), gain(x))


def test_voicebank_demand_layout_gives_aligned_pairs(tmp_path):
    import soundfile as sf

    from export.denoise.data import PairSampler

    rng = np.random.default_rng(0)
    for part in ("noisy", "clean"):
        (tmp_path / f"{part}_trainset_28spk_wav").mkdir()
    for i in range(3):
        clean = 0.1 * rng.standard_normal(48000 + 1000 * i)
        sf.write(tmp_path / "clean_trainset_28spk_wav" / f"p{i}.wav", clean, 48000, subtype="FLOAT")
        sf.write(tmp_path / "noisy_trainset_28spk_wav" / f"p{i}.wav", clean + 0.01, 48000, subtype="FLOAT")
    noisy, clean = PairSampler(tmp_path, 0).batch(4, 8000)
    assert noisy.shape == clean.shape == (4, 8000)
    np.testing.assert_allclose(noisy - clean, 0.01, atol=2e-3)  # same crop of both files

"""The vocoder (``--task vocode``): mel front end, streaming, determinism, .npy input, metrics."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
import soxr

from rtaudio.api import processor_for
from rtaudio.engine.processor import Processor, process_offline
from rtaudio.metrics_vocode import log_mel_l1, mrstft_distance, pesq_wb
from rtaudio.registry import build_plan, models_dir
from rtaudio.tasks.mel import DEFAULT, MelBands, MelSpec, log_mel, mel_bands, mel_filters
from rtaudio.tasks.spectral import PREDICTOR_GAIN, griffin_lim, istft, mel_griffin_lim, stft
from rtaudio.tasks.vocode import AudioVocodeKernel, MelVocodeKernel
from tests.conftest import run_cli

MODEL = models_dir() / "vocoder24k.onnx"
RATE = DEFAULT.sample_rate
pytestmark = pytest.mark.skipif(not MODEL.exists(), reason="shipped vocoder missing")


@pytest.fixture(scope="module")
def speech_24k(speech_48k: np.ndarray) -> np.ndarray:
    """2 s of held-out speech at the vocoder rate."""
    return soxr.resample(speech_48k, 48000, RATE)[: 2 * RATE].astype(np.float32)


def _snr_db(ref: np.ndarray, est: np.ndarray) -> float:
    return float(20 * np.log10(np.linalg.norm(ref) / max(np.linalg.norm(ref - est), 1e-12)))


def _stream(proc: Processor, x: np.ndarray, blocks: list[int]) -> np.ndarray:
    out, pos, i = [], 0, 0
    while pos < len(x):
        n = blocks[i % len(blocks)]
        out.append(proc.process(x[pos : pos + n]))
        pos, i = pos + n, i + 1
    out.append(proc.flush())
    return np.concatenate(out)


# -- mel front end ------------------------------------------------------------------------------


def test_mel_format_is_frames_by_bands_centred_on_hops(speech_24k):
    mel = log_mel(speech_24k[:12345])
    assert mel.shape == (-(-12345 // DEFAULT.hop), DEFAULT.n_mels) and mel.dtype == np.float32
    assert np.allclose(log_mel(np.zeros(900)), np.log(DEFAULT.log_floor))  # silence sits at the floor
    # frame f is centred on sample f * hop: a click there peaks in that frame
    click = np.zeros(30 * DEFAULT.hop)
    click[10 * DEFAULT.hop] = 1.0
    assert np.argmax(log_mel(click).mean(axis=1)) == 10


def test_torch_mel_matches_numpy(speech_24k):
    torch = pytest.importorskip("torch")
    from export.vocoder.mel import LogMel

    x = speech_24k[: RATE + 123]
    ref = log_mel(x)
    got32 = LogMel()(torch.from_numpy(x)[None])[0].T.numpy()
    got64 = LogMel()(torch.from_numpy(x.astype(np.float64))[None])[0].T.numpy()
    assert np.abs(got32 - ref).max() <= 1e-4
    assert np.abs(got64 - ref).max() <= 1e-5


def test_numpy_synthesis_matches_the_torch_synthesis_the_predictor_trains_through(speech_24k):
    torch = pytest.importorskip("torch")
    from export.vocoder.models import FramePredictor, PredictorConfig

    rng = np.random.default_rng(0)
    logmag = rng.normal(-3, 2, (1, 40, 601))
    phase = rng.uniform(-np.pi, np.pi, (1, 40, 601))
    pred = FramePredictor(PredictorConfig())
    ref = pred.synthesize(*(torch.from_numpy(a.transpose(0, 2, 1)).float() for a in (logmag, phase)))[0, 0]
    got = griffin_lim(np.exp(logmag) * PREDICTOR_GAIN, phase, DEFAULT.hop, 0)[0]
    assert np.abs(ref.numpy() - got).max() <= 1e-4


def test_stft_round_trip_and_griffin_lim_converges(speech_24k):
    x = speech_24k[: 100 * DEFAULT.hop].astype(np.float64)
    spec = stft(x, DEFAULT.hop)
    inner = slice(2 * DEFAULT.hop, -2 * DEFAULT.hop)  # the first and last frames lack their neighbours
    assert np.abs(istft(spec, DEFAULT.hop) - x)[inner].max() < 1e-6
    mag, rand = np.abs(spec), np.random.default_rng(0).uniform(-np.pi, np.pi, spec.shape)

    def inconsistency(y: np.ndarray) -> float:
        return float(np.linalg.norm(np.abs(stft(y, DEFAULT.hop)) - mag) / np.linalg.norm(mag))

    assert inconsistency(griffin_lim(mag, rand, DEFAULT.hop, 16)) < 0.5 * inconsistency(
        griffin_lim(mag, rand, DEFAULT.hop, 0)
    )


def test_exportable_angle_equals_atan2_everywhere_including_the_negative_real_axis():
    torch = pytest.importorskip("torch")
    from export.vocoder.models import angle

    rng = np.random.default_rng(0)
    re, im = (torch.from_numpy(rng.normal(0, 3, 10_000)) for _ in range(2))
    # the awkward points: on the axes, both signs, and tiny magnitudes
    re = torch.cat([re, torch.tensor([-1.0, -1.0, -1e-3, 1.0, 0.0, 0.0, -5.0])]).double()
    im = torch.cat([im, torch.tensor([1e-9, -1e-9, 1e-3, 0.0, 1.0, -1.0, 0.0])]).double()
    got, ref = angle(im, re), torch.atan2(im, re)
    wrapped = torch.remainder(got - ref + np.pi, 2 * np.pi) - np.pi  # +pi and -pi are the same angle
    assert wrapped.abs().max().item() < 1e-6


def test_complex_loss_sees_phase_and_is_zero_only_for_the_target():
    torch = pytest.importorskip("torch")
    from export.train import complex_loss

    rng = np.random.default_rng(1)
    target = torch.from_numpy(rng.normal(size=(2, 50, 601)) + 1j * rng.normal(size=(2, 50, 601)))
    assert complex_loss(target, target).item() == 0.0
    rotated = target * torch.exp(1j * torch.tensor(0.5, dtype=torch.float64))
    assert complex_loss(rotated, target).item() > 0.1  # same magnitudes, other phase: penalised
    quieter = target * 0.5
    assert complex_loss(quieter, target).item() > 0.1


def test_fine_tuning_init_keeps_old_weights_and_grown_head_rows():
    torch = pytest.importorskip("torch")
    from export.run_setup import load_weights
    from export.vocoder.models import FramePredictor, PredictorConfig

    old = FramePredictor(PredictorConfig(channels=16, blocks=1))
    new = FramePredictor(PredictorConfig(channels=16, blocks=1, phase_head="atan2"))
    fresh_rows = new.head.weight[2 * new.bins :].detach().clone()
    load_weights(new, old.state_dict())
    assert torch.equal(new.inp.weight, old.inp.weight)
    assert torch.equal(new.head.weight[: 2 * old.bins], old.head.weight)  # log magnitude + first phase rows kept
    assert torch.equal(new.head.weight[2 * new.bins :], fresh_rows)  # the new rows keep their initialisation


@pytest.mark.parametrize(
    "spec", [DEFAULT, MelSpec(sample_rate=22050, n_fft=1024, hop=256, fmax=8000.0)], ids=["24k", "22k-fmax8k"]
)
def test_mel_bands_project_exactly_like_the_dense_filters(spec):
    filters = mel_filters(spec)
    bands = MelBands(filters)
    rng = np.random.default_rng(0)
    spectrum, per_band = rng.random((2, 9, filters.shape[1])), rng.random((2, 9, filters.shape[0]))
    np.testing.assert_allclose(bands.to_mel(spectrum), spectrum @ filters.T, atol=1e-12)
    average = (per_band @ filters) / np.maximum(filters.sum(axis=0), 1e-12)
    np.testing.assert_allclose(bands.to_bins(per_band), average, atol=1e-12)


def test_mel_griffin_lim_brings_the_output_mel_to_the_input_mel(speech_24k):
    x = speech_24k[: 80 * DEFAULT.hop]
    mel = np.exp(log_mel(x).astype(np.float64))  # (frames, n_mels), the target
    filters = mel_filters(DEFAULT)
    start = np.maximum(mel @ np.linalg.pinv(filters).T, 0.0)  # a smooth guess, as the predictor gives
    phase = np.random.default_rng(0).uniform(-np.pi, np.pi, start.shape)

    def mel_error(iters: int, momentum: float = 0.0) -> float:
        y = mel_griffin_lim(start, phase, mel, mel_bands(DEFAULT), DEFAULT.hop, iters, momentum)
        return float(np.mean(np.abs(log_mel(y)[4:-4] - np.log(mel[4:-4]))))  # log-mel L1 away from the edges

    assert mel_error(32) < 0.5 * mel_error(0)
    assert mel_error(32) < mel_error(8)
    assert mel_error(16, momentum=0.9) < mel_error(16)  # the fast variant gets further in as many steps


def test_random_start_phase_is_keyed_to_frame_positions():
    voc = AudioVocodeKernel(MODEL, steps=0, threads=1).vocoder
    whole = voc.random_phase(2, 10, 20, 601)
    assert np.array_equal(whole[:, 5:], voc.random_phase(2, 15, 15, 601))  # a later window, same phases
    assert not np.array_equal(whole[0], whole[1])  # channels draw their own
    assert abs(float(np.mean(np.cos(whole)))) < 0.02 and abs(float(np.mean(np.sin(whole)))) < 0.02  # uniform


def test_critics_judge_audio_and_their_losses_train_in_opposite_directions():
    torch = pytest.importorskip("torch")
    from export.vocoder.discriminators import Critics, critic_loss, generator_losses

    critics = Critics(periods=(2, 3), ffts=(256,))
    real = torch.randn(2, 4800)
    fake = torch.zeros(2, 4800, requires_grad=True)
    judged_real, judged_fake = critics(real), critics(fake)
    assert len(judged_real) == 3 and all(logits.shape[0] == 2 and feats for logits, feats in judged_real)
    d_loss = critic_loss(judged_real, judged_fake)
    adv, fm = generator_losses(judged_real, judged_fake)
    assert d_loss.item() > 0 and adv.item() > 0 and fm.item() > 0
    adv.backward()
    assert fake.grad is not None and fake.grad.abs().sum().item() > 0  # the generator gets a signal


# -- export --------------------------------------------------------------------------------------


def test_onnx_export_matches_torch_with_half_weights(tmp_path):
    pytest.importorskip("torch")
    from export.vocoder.export_onnx import export, parity, round_to_half, store_half
    from export.vocoder.models import PredictorConfig, Vocoder, VocoderConfig, WaveGradConfig

    small = WaveGradConfig(pre_channels=32, up_channels=(32, 32, 16, 8, 8), down_channels=(8, 8, 8, 16, 32))
    net = Vocoder(
        VocoderConfig(
            predictor=PredictorConfig(channels=32, blocks=2, phase_head="atan2"),
            wavegrad=WaveGradConfig(**{**small.__dict__, "in_channels": 2}),
        )
    ).eval()
    round_to_half(net)
    path = tmp_path / "v.onnx"
    export(net, path)
    size = path.stat().st_size
    store_half(path, {f"net.{n}" for n, _ in net.named_parameters()})
    assert path.stat().st_size < 0.75 * size  # weights stored as float16 (the fixed mel inverse stays float32)
    assert parity(net, path) <= 1e-4


# -- runtime -------------------------------------------------------------------------------------


def test_streamed_output_matches_offline_and_ignores_blocking(speech_24k):
    kernel = AudioVocodeKernel(MODEL, steps=2, threads=1)
    offline = process_offline(kernel, speech_24k)
    a = _stream(Processor(kernel, chunk=4800, crossfade=600), speech_24k, [1, 511, 4096, 77])
    b = _stream(Processor(kernel, chunk=4800, crossfade=600), speech_24k, [2400])
    assert len(a) == len(speech_24k)
    np.testing.assert_array_equal(a, b)  # any partition of the input gives the same output
    # streaming parity: 39-46 dB measured. The phase retrieval's momentum amplifies float rounding
    # differences between window shapes; without momentum the same windows agree far more closely
    assert _snr_db(offline, a) > 35.0
    kernel.vocoder.phase_momentum = 0.0
    plain_offline = process_offline(kernel, speech_24k)
    plain = _stream(Processor(kernel, chunk=4800, crossfade=600), speech_24k, [2400])
    assert _snr_db(plain_offline, plain) > 60.0


def test_mel_kernel_matches_audio_kernel_and_is_deterministic(speech_24k):
    mel = log_mel(speech_24k)
    audio_kernel = AudioVocodeKernel(MODEL, steps=2, threads=1)
    from_audio = process_offline(audio_kernel, speech_24k)
    from_mel = process_offline(MelVocodeKernel(MODEL, steps=2, threads=1), mel)[:, 0]
    assert from_mel.shape == (len(mel) * DEFAULT.hop,)
    # the last analysis frame sees the signal's end differently, and that reaches a receptive field back
    n = len(speech_24k) - audio_kernel.context_in - DEFAULT.n_fft
    assert _snr_db(from_audio[:n], from_mel[:n]) > 60.0
    again = process_offline(MelVocodeKernel(MODEL, steps=2, threads=1), mel)[:, 0]
    np.testing.assert_array_equal(from_mel, again)
    other = process_offline(MelVocodeKernel(MODEL, steps=2, seed=1, threads=1), mel)[:, 0]
    assert not np.array_equal(from_mel, other)  # the seed drives the refiner's noise


@pytest.mark.parametrize("rate", [48000, 44100])
@pytest.mark.parametrize("synthesis", ["window", "streaming"])
def test_registry_resamples_any_source_rate_to_the_vocoder(speech_48k, rate, synthesis):
    x = soxr.resample(speech_48k[:48000], 48000, rate).astype(np.float32)
    plan = build_plan("vocode", source_rate=rate, steps=0, threads=1, options={"synthesis": synthesis})
    assert plan.out_rate == RATE and plan.model.name == "vocoder24k"
    # the streaming path takes any audio rate (48 kHz: 2x FIRs; 44.1 kHz: polyphase FIRs)
    assert plan.streaming == (synthesis == "streaming")
    y = _stream(processor_for(plan), x, [4096])
    assert len(y) == round(len(x) * RATE / rate)
    assert np.isfinite(y).all() and 0.01 < np.abs(y).max() < 2.0


def test_unknown_step_count_is_a_clear_error():
    with pytest.raises(ValueError, match="3-step"):
        AudioVocodeKernel(MODEL, steps=3)


# -- CLI: .npy mel input --------------------------------------------------------------------------


def test_cli_streams_npy_mel_to_wav_matching_offline(tmp_path, speech_24k):
    mel_path = tmp_path / "x.npy"
    np.save(mel_path, log_mel(speech_24k))
    out, off = tmp_path / "y.wav", tmp_path / "y_off.wav"
    proc = run_cli("stream", str(mel_path), str(out), "--task", "vocode", "--steps", "0", "--json", "--threads", "1")
    assert proc.returncode == 0, proc.stderr.decode()
    summary = json.loads(proc.stdout)
    assert summary["out_rate"] == RATE and summary["channels"] == DEFAULT.n_mels
    y, rate = sf.read(out, dtype="float32")
    assert rate == RATE and y.ndim == 1 and len(y) == len(log_mel(speech_24k)) * DEFAULT.hop
    assert run_cli("stream", str(mel_path), str(off), "--task", "vocode", "--steps", "0", "--offline").returncode == 0
    assert _snr_db(sf.read(off, dtype="float32")[0], y) > 35.0  # 16-bit files: quantisation-limited


def test_cli_rejects_mel_of_the_wrong_shape(tmp_path):
    bad = tmp_path / "bad.npy"
    np.save(bad, np.zeros((50, 40), np.float32))
    proc = run_cli("stream", str(bad), str(tmp_path / "y.wav"), "--task", "vocode")
    assert proc.returncode == 2
    assert "(frames, 80)" in proc.stderr.decode() and not (tmp_path / "y.wav").exists()


# -- metrics -------------------------------------------------------------------------------------


def test_metrics_are_zero_for_identity_and_grow_with_damage(speech_24k):
    noisy = speech_24k + 0.01 * np.random.default_rng(0).standard_normal(len(speech_24k)).astype(np.float32)
    assert log_mel_l1(speech_24k, speech_24k) == 0.0 and mrstft_distance(speech_24k, speech_24k) == 0.0
    assert log_mel_l1(speech_24k, noisy) > 0.1 and mrstft_distance(speech_24k, noisy) > 0.1
    pytest.importorskip("pesq")
    assert pesq_wb(speech_24k, speech_24k, RATE) > 4.5 > pesq_wb(speech_24k, noisy, RATE)


def test_api_open_streams_mel_frames_for_a_tts_host(speech_24k):
    import rtaudio

    mel = log_mel(speech_24k)
    proc = rtaudio.open("vocode", mel_input=True, steps=0, threads=1)
    assert proc.channels == DEFAULT.n_mels and proc.out_rate == RATE
    out = [proc.process(mel[i : i + 7]) for i in range(0, len(mel), 7)]  # a TTS emits a few frames at a time
    y = np.concatenate([*out, proc.flush()])
    assert y.shape == (len(mel) * DEFAULT.hop, 1) and np.isfinite(y).all()

"""The WaveNet generator contract: reproducible takes, exact control boundaries, any pull size."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from kernels.wavenet.reference import random_weights
from rtaudio.engine.contracts import Generator
from rtaudio.engine.generator import GeneratorSource
from rtaudio.tasks.generate import Chord, WaveNetGenerator, WaveNetWeights, parse_chord, top_pitch_classes
from tests.conftest import run_cli

DILATIONS = [1, 2, 4, 8, 16, 32, 1, 2, 4, 8, 16, 32]


@pytest.fixture(scope="module")
def weights():
    return random_weights(DILATIONS, residual=8, skip=12, head=16, seed=11)


@pytest.fixture(scope="module")
def model_file(tmp_path_factory, weights):
    path = tmp_path_factory.mktemp("model") / "tiny.npz"
    weights.save(path, {"name": "tiny", "sample_rate": 16000, "default_temperature": 1.0})
    return path


def take(gen, pulls: list[int], source: GeneratorSource | None = None) -> np.ndarray:
    src = source or GeneratorSource(gen, blocks_per_render=3)
    return np.concatenate([src.pull(n)[:, 0] for n in pulls])


def test_is_a_generator(weights):
    gen = WaveNetGenerator(weights)
    assert isinstance(gen, Generator)
    assert (gen.out_rate, gen.channels, gen.block) == (16000, 1, 160)
    out = gen.render(320)
    assert out.shape == (1, 320) and out.dtype == np.float32
    with pytest.raises(ValueError):
        gen.render(100)


def test_same_seed_same_take_any_pull_sizes(weights):
    a = take(WaveNetGenerator(weights, "D:min", seed=4), [4800])
    b = take(WaveNetGenerator(weights, "D:min", seed=4), [1, 159, 1000, 17, 3623])
    c = take(WaveNetGenerator(weights, "D:min", seed=5), [4800])
    np.testing.assert_array_equal(a, b)
    assert np.abs(a).max() > 0.01  # not silence
    assert (a != c).mean() > 0.5


def test_render_sizes_give_one_stream(weights):
    g1, g2 = WaveNetGenerator(weights, seed=2), WaveNetGenerator(weights, seed=2)
    whole = g1.render(160 * 12)[0]
    parts = np.concatenate([g2.render(160 * k)[0] for k in (1, 2, 4, 5)])
    np.testing.assert_array_equal(whole, parts)


def test_reset_restarts_the_take(weights):
    gen = WaveNetGenerator(weights, "E:maj", seed=9)
    src = GeneratorSource(gen)
    first = take(gen, [2000], src)
    src.control("G:min")
    src.pull(1000)
    src.reset()
    assert gen.chord == parse_chord("E:maj") and src.control_log == []
    np.testing.assert_array_equal(take(gen, [2000], src), first)


def test_chord_change_lands_on_the_logged_boundary(weights):
    """Before the logged boundary the take equals the unchanged one; from it on it differs, and it
    equals a take whose generator was switched by hand exactly there."""
    gen = WaveNetGenerator(weights, "C:maj", seed=1)
    src = GeneratorSource(gen, blocks_per_render=2)
    head = take(gen, [500], src)
    src.control("F#:min")
    tail = take(gen, [1500], src)
    changed = np.concatenate([head, tail])
    ((pos, value),) = src.control_log
    assert value == "F#:min" and pos % gen.block == 0 and 500 <= pos < 500 + 2 * gen.block

    plain = take(WaveNetGenerator(weights, "C:maj", seed=1), [2000])
    np.testing.assert_array_equal(changed[:pos], plain[:pos])
    assert (changed[pos : pos + 160] != plain[pos : pos + 160]).any()

    manual = WaveNetGenerator(weights, "C:maj", seed=1)
    ref = [manual.render(pos)[0]]
    manual.control(Chord(6, "min"))
    ref.append(manual.render(-(-(2000 - pos) // 160) * 160)[0])
    np.testing.assert_array_equal(changed, np.concatenate(ref)[:2000])


def test_control_dict_and_errors(weights):
    gen = WaveNetGenerator(weights, "C:maj")
    gen.control({"chord": "Bb:min", "instrument": "organ"})
    assert (gen.chord, gen.instrument) == (Chord(10, "min"), "organ")
    for bad in ("H:maj", "C:dim", ""):
        with pytest.raises(ValueError, match="bad chord"):
            parse_chord(bad)
    with pytest.raises(ValueError, match="unknown instrument"):
        gen.control({"instrument": "tuba"})
    with pytest.raises(ValueError):
        WaveNetGenerator(weights, temperature=-1)


def test_chroma_finds_a_triad():
    t = np.arange(16000) / 16000
    freqs = [220.0 * 2 ** (k / 12) for k in (0, 3, 7)]  # A minor
    audio = sum(np.sin(2 * np.pi * f * t) for f in freqs)
    assert top_pitch_classes(audio, 16000) == Chord(9, "min").pitch_classes


def test_model_file_round_trip_and_sha(model_file, weights):
    loaded = WaveNetWeights.load(model_file)
    assert loaded.dilations == DILATIONS
    np.testing.assert_array_equal(loaded.arrays["w_dil"], weights.arrays["w_dil"])
    card = json.loads(model_file.with_suffix(".json").read_text())
    card["sha256"] = "0" * 64
    bad = model_file.with_name("bad.npz")
    bad.write_bytes(model_file.read_bytes())
    bad.with_suffix(".json").write_text(json.dumps(card))
    with pytest.raises(Exception, match="sha256"):
        WaveNetWeights.load(bad)


def test_cli_generate_is_reproducible_and_exact(tmp_path, model_file):
    outs = []
    for name in ("a.wav", "b.wav"):
        r = run_cli("generate", str(tmp_path / name), "--seconds", "0.55", "--chord", "A:min,F", "--seed", "3",
                    "--model", str(model_file), "--json")  # fmt: skip
        assert r.returncode == 0, r.stderr.decode()
        outs.append(sf.read(tmp_path / name, dtype="int16")[0])
        summary = json.loads(r.stdout)
    np.testing.assert_array_equal(*outs)
    assert len(outs[0]) == 8800  # round(0.55 * 16000)
    assert summary["frames"] == 8800 and summary["rtf"] > 0
    assert [c for _, c in summary["changes"]] == ["A:min", "F:maj"]
    assert summary["changes"][1][0] % 160 == 0


def test_cli_precision_chooses_the_kernels_arithmetic(tmp_path, model_file, weights):
    """``--precision float32`` runs the exported weights as they are, the default the int8 products:
    each reproduces the generator's own take in that precision, and the two takes differ."""
    takes = {}
    for precision in ("int8", "float32"):
        out = tmp_path / f"{precision}.wav"
        args = ["--seconds", "0.3", "--chord", "D:maj", "--seed", "5", "--model", str(model_file), "--json"]
        r = run_cli("generate", str(out), *args, *(["--precision", precision] if precision == "float32" else []))
        assert r.returncode == 0, r.stderr.decode()
        assert json.loads(r.stdout)["precision"] == precision
        takes[precision] = sf.read(out, dtype="float32")[0]
        gen = WaveNetGenerator(weights, "D:maj", seed=5, precision=precision)
        own = np.concatenate([gen.render(160)[0] for _ in range(30)])
        np.testing.assert_allclose(takes[precision], own, atol=1 / 32768)  # PCM_16 rounding
    assert np.abs(takes["int8"] - takes["float32"]).max() > 0.01


def test_cli_errors_are_one_line_exit_2(tmp_path, model_file):
    for extra in (["--chord", "X:maj"], ["--instrument", "tuba"], ["--seconds", "0"], ["--precision", "fp16"]):
        r = run_cli("generate", str(tmp_path / "x.wav"), "--model", str(model_file), *extra)
        assert r.returncode == 2
        assert len(r.stderr.decode().strip().splitlines()) == 1
        assert not (tmp_path / "x.wav").exists()


def test_shipped_model_loads():
    path = pytest.importorskip("rtaudio.tasks.generate").default_model_path()
    if not path.exists():
        pytest.skip("no shipped generate model yet")
    w = WaveNetWeights.load(path)
    assert w.card["sample_rate"] == 16000 and w.receptive_field == w.card["receptive_field"]
    assert set(w.card["conditioning"]["instruments"]) >= {"piano"}


def test_excitation_is_the_chords_tones_phase_locked_to_the_onset() -> None:
    from rtaudio.tasks.generate import chord_tone_hz, excitation

    # A minor (index 19): root A, third C, fifth E, each as its pitch class in octave 2 (C2 .. B2)
    np.testing.assert_allclose(chord_tone_hz(19), [110.0, 65.40639, 82.40689], rtol=1e-5)
    e = excitation(19, np.arange(0, 16000), 16000)
    assert e.shape == (16000, 6) and np.allclose(e[0], [0, 0, 0, 1, 1, 1])
    spec = np.abs(np.fft.rfft(e[:, 0]))  # 1 s: bins are Hz
    assert abs(int(np.argmax(spec)) - 110) <= 1


def test_excitation_harmonics_are_whole_multiples_of_the_tones() -> None:
    from rtaudio.tasks.generate import excitation

    since = np.arange(-50, 16000)
    e = excitation(19, since, 16000, channels=6 * 80)
    assert e.shape == (len(since), 480)
    np.testing.assert_array_equal(e[:, [0, 1, 2, 240, 241, 242]], excitation(19, since, 16000))  # k = 1 as before
    spec = np.abs(np.fft.rfft(e[50:, 3 * 4 + 0]))  # harmonic 5 of A2 (sines: tone-major within a harmonic)
    assert abs(int(np.argmax(spec)) - 550) <= 1
    assert not e[:, 3 * 79 + 0].any() and not e[:, 240 + 3 * 79].any()  # 80 x 110 Hz is past Nyquist: zero
    assert e[:, 3 * 70 + 1].any()  # 71 x 65.4 Hz = 4.6 kHz is not
    with pytest.raises(ValueError, match="multiple of 6"):
        excitation(19, since, 16000, channels=8)


def test_onset_labels_switch_at_each_audible_onset() -> None:
    from export.wavenet.data import audio_onset, labels_at_onsets

    assert audio_onset(0.5) == 8064  # fluidsynth starts a note-on at 0.5 s one 64-sample block late
    assert audio_onset(0.5 + 1 / 960) == 8128
    chord = np.array([3] * 10 + [5] * 10, np.uint8)  # label switched early (at the last release)
    labels, since = labels_at_onsets(chord, np.array([0, 20]), np.array([4, 14]))
    np.testing.assert_array_equal(labels, [3] * 14 + [5] * 6)
    np.testing.assert_array_equal(since, list(range(-4, 10)) + list(range(6)))


def test_self_fed_inputs_swap_only_the_loss_window_for_the_nets_draws() -> None:
    import torch

    from export.wavenet.models import WaveNet, WaveNetConfig
    from export.wavenet.train import self_fed_inputs

    torch.manual_seed(0)
    net = WaveNet(WaveNetConfig(residual=8, skip=8, head=8, cond=4, dilations=[1, 2, 4]))
    x = torch.randint(0, 256, (3, 40))
    chord, inst, since = torch.full_like(x, 5), torch.zeros_like(x), torch.arange(40).expand(3, 40)
    rng = np.random.default_rng(0)
    assert torch.equal(self_fed_inputs(net, x, chord, inst, since, 16, 0.0, rng), x)
    fed = self_fed_inputs(net, x, chord, inst, since, 16, 1.0, rng)
    assert fed.shape == x.shape and torch.equal(fed[:, :-16], x[:, :-16])  # the past before the window stays real
    assert (fed[:, -16:] != x[:, -16:]).float().mean() > 0.9  # an untrained net's draws are near uniform
    half = self_fed_inputs(net, x, chord, inst, since, 16, 0.5, rng)
    assert 0.2 < (half[:, -16:] != x[:, -16:]).float().mean() < 0.8


def test_heavy_input_noise_buries_the_past_of_its_share_of_crops_only() -> None:
    import torch

    from export.wavenet.train import noisy_inputs

    x = torch.full((400, 3000), 128)
    light = noisy_inputs(x, 1.5, np.random.default_rng(0))
    assert (light - x).float().std(dim=1).max() < 1.6  # every crop within the light level
    noisy = noisy_inputs(x, 1.5, np.random.default_rng(0), heavy_share=0.25, heavy_sigma=48.0)
    spread = (noisy - x).float().std(dim=1)
    heavy = spread > 1.6
    assert 0.15 < heavy.float().mean() < 0.35  # about the share asked for
    assert spread[heavy].mean() > 15  # levels up to 48 classes: a past that says little
    assert noisy.min() >= 0 and noisy.max() <= 255


def test_bfloat16_training_products_keep_the_loss_and_its_gradient() -> None:
    """``autocast_bf16`` trains on bfloat16 products: the loss and the gradient's direction must
    match float32's, or the faster steps would train a different objective."""
    import torch

    from export.wavenet.models import WaveNet, WaveNetConfig
    from export.wavenet.train import bits

    torch.manual_seed(0)
    net = WaveNet(WaveNetConfig(dilations=[1, 2, 4, 8, 16, 32], excitation=12))
    torch.nn.init.normal_(net.exc_proj.weight, std=0.05)  # (zero-initialised otherwise)
    x = torch.randint(100, 156, (4, 300))
    chord, inst, since = torch.full_like(x, 7), torch.ones_like(x), torch.arange(300).expand(4, 300)

    def loss_and_grad(bf16: bool) -> tuple[float, torch.Tensor]:
        net.zero_grad()
        with torch.autocast("cpu", torch.bfloat16, enabled=bf16):
            loss = bits(net, x, chord, inst, since, 200)
        loss.backward()
        return loss.item(), torch.cat([p.grad.flatten() for p in net.parameters() if p.grad is not None])

    (l32, g32), (l16, g16) = loss_and_grad(False), loss_and_grad(True)
    assert abs(l16 - l32) < 0.02 * l32
    assert torch.nn.functional.cosine_similarity(g16, g32, dim=0) > 0.98

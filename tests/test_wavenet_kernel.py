"""The native Fast-WaveNet kernel against its numpy reference and the torch model."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from kernels.wavenet.reference import ReferenceKernel, conv_logits, naive_generate, random_weights, sample, uniforms
from rtaudio import _wavenet
from rtaudio.tasks.generate import SILENCE, Chord

DILATIONS = [1, 2, 4, 8, 16, 1, 2, 4, 8, 16]


@pytest.fixture(scope="module")
def weights():
    return random_weights(DILATIONS, residual=8, skip=12, head=16, seed=3)


@pytest.fixture(scope="module")
def bias(weights):
    return weights.cond_bias(Chord(9, "min"), "organ")


def teacher_logits(kernel, inputs: np.ndarray) -> np.ndarray:
    out = np.empty((len(inputs), 256), np.float32)
    kernel.reset()
    kernel.forward(inputs, out)
    return out


PRECISIONS = ["float32", "int8"]


def assert_logits_match(got: np.ndarray, expected: np.ndarray, scale: float, precision: str) -> None:
    """float32: to float rounding everywhere. int8: the same on all but a few samples, where a gate
    the kernel (its own exp) and numpy compute a rounding apart lands an input on the other side
    of a quantization step; those still agree to well under a per cent."""
    if precision == "float32":
        np.testing.assert_allclose(got, expected, atol=2e-5 * scale)
        return
    off = np.abs(got - expected).max(axis=1) > 2e-5 * scale
    assert off.mean() <= 0.02, off.mean()
    assert np.abs(got - expected).max() < 5e-3 * scale


@pytest.mark.parametrize("precision", PRECISIONS)
def test_teacher_forced_logits_match_reference_and_convolution(weights, bias, precision):
    rng = np.random.default_rng(0)
    inputs = rng.integers(0, 256, 300).astype(np.uint8)
    k, ref = weights.kernel(precision), ReferenceKernel(weights, precision)
    k.set_cond(bias)
    ref.set_cond(bias)
    native, reference = teacher_logits(k, inputs), teacher_logits(ref, inputs)
    whole = conv_logits(weights, bias, inputs, precision=precision)
    scale = np.abs(whole).max()
    assert scale > 1.0  # logits are not trivially small
    assert_logits_match(native, reference, scale, precision)
    assert_logits_match(native, whole, scale, precision)


def test_conditioning_changes_logits(weights):
    inputs = np.full(64, SILENCE, np.uint8)
    k = weights.kernel()
    k.set_cond(weights.cond_bias(Chord(0, "maj"), "piano"))
    a = teacher_logits(k, inputs)
    k.set_cond(weights.cond_bias(Chord(0, "min"), "piano"))
    b = teacher_logits(k, inputs)
    assert np.abs(a - b).max() > 1e-2


def test_keyed_uniforms_match():
    us = uniforms(12345, 1000, 50)
    assert [_wavenet.uniform(12345, 1000 + i) for i in range(50)] == list(us)
    assert 0.3 < us.mean() < 0.7 and len(set(us)) == 50


@pytest.mark.parametrize("temperature", [1.0, 0.5])
def test_lane_major_inverse_cdf_draws_the_softmax(temperature):
    """The sampler walks its CDF lane by lane (the kernel's order, which the reference mirrors):
    on evenly spaced uniforms an inverse CDF hits every class in proportion to its probability,
    to within one draw, whatever the class order."""
    logits = np.random.default_rng(4).normal(0, 3, 256).astype(np.float32)
    p = np.exp((logits - logits.max()) / temperature)
    p /= p.sum()
    n = 50_000
    draws = [sample(logits, (i + 0.5) / n, temperature) for i in range(n)]
    counts = np.bincount(draws, minlength=256)
    assert np.abs(counts - p * n).max() <= 1.01
    assert sample(logits, 0.0, 0.0) == int(np.argmax(logits))


@pytest.mark.parametrize("precision", PRECISIONS)
def test_int8_path_differs_from_float32_by_its_quantization_only(weights, bias, precision):
    """The int8 logits are not the float32 ones (the path is really taken) but stay within a few
    per cent of the logit range; the float32 path is the exported weights as they are."""
    inputs = np.random.default_rng(5).integers(0, 256, 300).astype(np.uint8)
    k = weights.kernel(precision)
    k.set_cond(bias)
    got, exact = teacher_logits(k, inputs), conv_logits(weights, bias, inputs)
    err = np.abs(got - exact).max() / np.abs(exact).max()
    if precision == "float32":
        assert err < 2e-5
    else:
        assert 1e-4 < err < 0.06


def test_quantized_product_error_is_within_its_rounding_bound():
    """Each int8 product is off the float one by at most half a step of the weights times |x|
    plus half a step of the inputs times |W| (plus their product): the rounding is as documented."""
    from kernels.wavenet.reference import QUANT_INPUT, quantize_columns, quantized_product

    rng = np.random.default_rng(8)
    w = rng.standard_normal((64, 96)).astype(np.float32)
    x = rng.standard_normal((50, 64)).astype(np.float32)
    b = rng.standard_normal(96).astype(np.float32)
    q, scale = quantize_columns(w)
    assert q.min() >= -127 and q.max() <= 127 and (np.abs(q).max(axis=0) == 127).all()
    got, exact = quantized_product(x, q, scale, b), b + x @ w
    step_x = np.abs(x).max(axis=1, keepdims=True) / QUANT_INPUT
    bound = (np.abs(x) @ np.ones_like(w)) * scale / 2 + step_x / 2 * (np.abs(w).sum(axis=0) + 64 * scale / 2)
    err = np.abs(got - exact)
    assert (err <= bound * 1.001 + 1e-5).all()
    assert err.max() > 0.05 * bound.max()  # the bound is not vacuous: the error is of its order
    zero = quantized_product(np.zeros((1, 64), np.float32), q, scale, b)
    np.testing.assert_array_equal(zero[0], b)  # an all-zero input is exactly the bias


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("temperature", [1.0, 0.7, 0.0])
def test_generated_samples_equal_reference(weights, bias, temperature, precision):
    k, ref = weights.kernel(precision), ReferenceKernel(weights, precision)
    for kern in (k, ref):
        kern.set_cond(bias)
        kern.reset()
    a, b = np.empty(400, np.uint8), np.empty(400, np.uint8)
    k.generate(a, 7, 0, temperature)
    ref.generate(b, 7, 0, temperature)
    np.testing.assert_array_equal(a, b)
    assert k.last == ref.last == int(a[-1])
    if temperature:
        assert len(np.unique(a)) > 10  # really sampling


def test_generation_is_position_keyed_not_call_keyed(weights, bias):
    """Cutting a take into calls of any size gives the same samples; another seed does not."""
    k = weights.kernel()
    k.set_cond(bias)
    whole = np.empty(500, np.uint8)
    k.generate(whole, 1, 0, 1.0)
    k.reset()
    parts, pos = [], 0
    for n in (1, 7, 64, 128, 300):
        out = np.empty(n, np.uint8)
        k.generate(out, 1, pos, 1.0)
        parts.append(out)
        pos += n
    np.testing.assert_array_equal(np.concatenate(parts), whole)
    k.reset()
    other = np.empty(500, np.uint8)
    k.generate(other, 2, 0, 1.0)
    assert (other != whole).mean() > 0.5


@pytest.mark.parametrize("precision", PRECISIONS)
def test_naive_recompute_equals_queues(weights, bias, precision):
    k = weights.kernel(precision)
    k.set_cond(bias)
    k.forward(np.full(weights.receptive_field, SILENCE, np.uint8))
    k.last = SILENCE
    fast = np.empty(60, np.uint8)
    k.generate(fast, 5, 0, 1.0)
    np.testing.assert_array_equal(naive_generate(weights, bias, 60, 5, 1.0, precision=precision), fast)


def test_bad_inputs_are_refused(weights):
    k = weights.kernel()
    with pytest.raises(ValueError):
        k.set_cond(np.zeros(3, np.float32))
    with pytest.raises(ValueError):
        k.forward(np.zeros(4, np.uint8), np.zeros((4, 255), np.float32))
    with pytest.raises(ValueError):
        k.forward(np.zeros(4, np.int32))
    with pytest.raises(ValueError):
        k.last = 256
    with pytest.raises(ValueError, match="precision"):
        weights.kernel("float16")


def test_releases_the_gil(weights):
    """Another Python thread makes progress while the kernel generates."""
    k = weights.kernel()
    out = np.empty(200_000, np.uint8)
    ticks = []
    done = threading.Event()

    def count():
        while not done.is_set():
            ticks.append(1)

    t = threading.Thread(target=count)
    t.start()
    k.generate(out, 0, 0, 1.0)  # a pure C call: a GIL-holding kernel would starve the counter
    ticks_during = len(ticks)
    done.set()
    t.join()
    assert ticks_during > 1000


def test_torch_teacher_forced_logits_match_kernel():
    torch = pytest.importorskip("torch")
    from export.wavenet.export import torch_logits, weights_of
    from export.wavenet.models import WaveNet, WaveNetConfig

    torch.manual_seed(0)
    net = WaveNet(WaveNetConfig(residual=8, skip=12, head=16, cond=4, dilations=DILATIONS)).eval()
    for p in net.parameters():  # away from the init so the gates are not all near 0
        p.data.add_(0.3 * torch.randn_like(p))
    w = weights_of(net)
    inputs = np.random.default_rng(1).integers(0, 256, 400).astype(np.uint8)
    chord, inst = 7, 3
    k = w.kernel("float32")
    k.set_cond(w.cond_bias(Chord(chord // 2, ["maj", "min"][chord % 2]), w.instruments[inst]))
    native = teacher_logits(k, inputs)
    expected = torch_logits(net, inputs, chord, inst)
    assert np.abs(expected).max() > 1.0
    np.testing.assert_allclose(native, expected, atol=2e-5 * np.abs(expected).max())


@pytest.mark.parametrize("precision", PRECISIONS)
def test_every_isa_path_gives_the_same_take(precision):
    """Baseline, AVX2 and AVX-512 builds of the recurrence are bitwise identical (float32: no FMA
    contraction; int8: exact integer products, the same float steps), so a seed reproduces a take
    on any x86-64 machine."""
    import hashlib
    import os
    import subprocess
    import sys

    code = (
        "import hashlib, numpy as np; from rtaudio import _wavenet; "
        "from kernels.wavenet.reference import random_weights; from rtaudio.tasks.generate import Chord; "
        f"w = random_weights({DILATIONS}, residual=16, skip=24, head=32, seed=2); k = w.kernel({precision!r}); "
        "k.set_cond(w.cond_bias(Chord(4, 'maj'), 'piano')); out = np.empty(3000, np.uint8); "
        "k.generate(out, 9, 0, 1.0); lo = np.empty((500, 256), np.float32); k.reset(); k.forward(out[:500], lo); "
        f"print(_wavenet.{'isa' if precision == 'float32' else 'isa_int8'}, "
        "hashlib.sha256(out.tobytes() + lo.tobytes()).hexdigest())"
    )
    results = {}
    for isa in ("baseline", "avx2", "native"):
        env = {**os.environ, "RTAUDIO_WAVENET_ISA": isa}
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        name, digest = out.stdout.split()
        results[name] = digest
    assert "baseline" in results
    assert len(set(results.values())) == 1, results
    assert hashlib.sha256(b"").hexdigest() not in results.values()


_TAKE_CODE = (
    "import hashlib, numpy as np; from kernels.wavenet.reference import random_weights; "
    "from rtaudio.tasks.generate import Chord; "
    f"w = random_weights({DILATIONS}, residual=16, skip=24, head=32, seed=2); "
    "out = {}\n"
    "for p in ('float32', 'int8'):\n"
    "    k = w.kernel(p); k.set_cond(w.cond_bias(Chord(4, 'maj'), 'piano')); o = np.empty(2000, np.uint8)\n"
    "    k.generate(o, 9, 0, 1.0); lo = np.empty((300, 256), np.float32); k.reset(); k.forward(o[:300], lo)\n"
    "    out[p] = hashlib.sha256(o.tobytes() + lo.tobytes()).hexdigest()\n"
    "from rtaudio import _wavenet; print(out['float32'], out['int8'], _wavenet.__file__)"
)


def test_the_portable_c_path_gives_the_same_take(tmp_path):
    """What machines other than x86-64 run (plain C products, the generic quantizer), built here
    with -DRTAUDIO_WAVENET_PORTABLE, gives the x86 paths' takes in both precisions."""
    import shutil
    import subprocess
    import sys
    import sysconfig
    from pathlib import Path

    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        pytest.skip("no C compiler to build the portable variant (the shipped kernel is prebuilt)")
    root = Path(__file__).resolve().parent.parent
    pkg = tmp_path / "rtaudio"
    shutil.copytree(root / "rtaudio", pkg, ignore=shutil.ignore_patterns("*.so", "__pycache__", "models", "assets"))
    (pkg / "models").symlink_to(root / "rtaudio" / "models")
    ext = sysconfig.get_config_var("EXT_SUFFIX")
    for so in pkg.glob("_wavenet*"):
        so.unlink()
    flags = ["-O3", "-ffp-contract=off", "-fno-math-errno", "-fno-trapping-math", "-Wno-psabi", "-shared", "-fPIC"]
    subprocess.run([cc, *flags, "-DRTAUDIO_WAVENET_PORTABLE", f"-I{sysconfig.get_paths()['include']}",
                    str(root / "rtaudio" / "_wavenet.c"), "-o", str(pkg / f"_wavenet{ext}")], check=True)  # fmt: skip
    (tmp_path / "kernels").symlink_to(root / "kernels")
    takes = []
    for where in (tmp_path, root):
        out = subprocess.run([sys.executable, "-c", _TAKE_CODE], cwd=where, capture_output=True, text=True, check=True)
        takes.append(out.stdout.split())
    assert takes[0][2].startswith(str(tmp_path)) and not takes[1][2].startswith(str(tmp_path))  # two builds
    assert takes[0][:2] == takes[1][:2]


def _excitation_weights(weights, seed: int = 5, channels: int = 6):
    """The random weights plus a chord-excitation projection (a model trained with one)."""
    from dataclasses import replace

    rng = np.random.default_rng(seed)
    w_exc = rng.standard_normal((channels, weights.arrays["b_dil"].size)).astype(np.float32) * (6 / channels) ** 0.5
    return replace(weights, arrays={**weights.arrays, "w_exc": w_exc}, card={"sample_rate": 16000})


@pytest.mark.parametrize("channels", [6, 36])  # the fundamentals, and harmonics 1..6
@pytest.mark.parametrize("precision", PRECISIONS)
def test_excitation_enters_kernel_reference_and_convolution_alike(weights, bias, precision, channels):
    from rtaudio.tasks.generate import excitation

    w = _excitation_weights(weights, channels=channels)
    inputs = np.random.default_rng(2).integers(0, 256, 300).astype(np.uint8)
    ebias = w.excitation_bias(Chord(9, "min"), -40, len(inputs))
    assert ebias.shape == (300, w.arrays["b_dil"].size)
    expected = excitation(19, np.arange(-40, 260), 16000, channels) @ w.arrays["w_exc"]
    np.testing.assert_allclose(ebias, expected, rtol=1e-5, atol=1e-6)
    k, ref = w.kernel(precision), ReferenceKernel(w, precision)
    outs = []
    for kern in (k, ref):
        kern.set_cond(bias)
        kern.reset()
        out = np.empty((300, 256), np.float32)
        kern.forward(inputs, out, ebias)
        outs.append(out)
    whole = conv_logits(w, bias, inputs, ebias, precision)
    scale = np.abs(whole).max()
    assert_logits_match(outs[0], outs[1], scale, precision)
    assert_logits_match(outs[0], whole, scale, precision)
    assert np.abs(whole - conv_logits(w, bias, inputs, precision=precision)).max() > 1e-2  # it changes the logits
    a, b = np.empty(200, np.uint8), np.empty(200, np.uint8)
    for kern, out in ((k, a), (ref, b)):
        kern.reset()
        kern.generate(out, 3, 0, 1.0, ebias[:200])
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="ebias"):
        k.forward(inputs, None, ebias[:10])


def test_generator_keys_the_excitation_to_the_chord_onset(weights):
    from rtaudio.tasks.generate import WaveNetGenerator

    w = _excitation_weights(weights)
    gen = WaveNetGenerator(w, "C:maj", "piano", seed=4, block=100)
    first = gen.render_classes(300)
    gen.control("A:min")  # a new chord restarts its excitation at this boundary
    second = gen.render_classes(200)
    again = WaveNetGenerator(w, "C:maj", "piano", seed=4, block=100)
    np.testing.assert_array_equal(again.render_classes(300), first)  # a seed reproduces a take
    # the same take by hand: the kernel under the excitation of C:maj from 0, then A:min from 300
    k = w.kernel()
    k.set_cond(w.cond_bias(Chord(0, "maj"), "piano"))
    rf = w.receptive_field
    k.forward(np.full(rf, SILENCE, np.uint8), None, w.excitation_bias(Chord(0, "maj"), -rf, rf))
    k.last = SILENCE
    by_hand = np.empty(500, np.uint8)
    k.generate(by_hand[:300], 4, 0, 1.0, w.excitation_bias(Chord(0, "maj"), 0, 300))
    k.set_cond(w.cond_bias(Chord(9, "min"), "piano"))
    k.generate(by_hand[300:], 4, 300, 1.0, w.excitation_bias(Chord(9, "min"), 0, 200))
    np.testing.assert_array_equal(np.concatenate([first, second]), by_hand)


@pytest.mark.parametrize("channels", [6, 36])
def test_torch_excitation_matches_kernel(channels):
    torch = pytest.importorskip("torch")
    from export.wavenet.export import torch_logits, weights_of
    from export.wavenet.models import WaveNet, WaveNetConfig
    from rtaudio.tasks.generate import excitation

    torch.manual_seed(1)
    net = WaveNet(WaveNetConfig(residual=8, skip=12, head=16, cond=4, dilations=DILATIONS, excitation=channels)).eval()
    for p in net.parameters():
        p.data.add_(0.3 * torch.randn_like(p))
    w = weights_of(net)
    inputs = np.random.default_rng(3).integers(0, 256, 400).astype(np.uint8)
    chord, inst = 10, 2
    exc = excitation(chord, np.arange(-100, 300), 16000, channels)
    k = w.kernel("float32")
    k.set_cond(w.cond_bias(Chord(chord // 2, ["maj", "min"][chord % 2]), w.instruments[inst]))
    native = np.empty((400, 256), np.float32)
    k.forward(inputs, native, np.ascontiguousarray(exc @ w.arrays["w_exc"]))
    expected = torch_logits(net, inputs, chord, inst, exc)
    np.testing.assert_allclose(native, expected, atol=2e-5 * np.abs(expected).max())


def test_a_shipped_npz_reads_back_as_the_torch_parameters(tmp_path):
    """``--init model.npz`` (fine-tuning the shipped WaveNet, which has no checkpoint here)
    recovers every torch parameter exactly from the kernel's input-major layout."""
    torch = pytest.importorskip("torch")
    from export.wavenet.export import arrays_of, state_from_npz
    from export.wavenet.models import WaveNet, WaveNetConfig

    torch.manual_seed(0)
    net = WaveNet(WaveNetConfig(residual=8, skip=12, head=10, cond=4, dilations=[1, 2, 4], excitation=6))
    torch.nn.init.normal_(net.exc_proj.weight)  # zero-initialised: give it values that can be wrong
    np.savez(tmp_path / "w.npz", **arrays_of(net))
    state, expected = state_from_npz(tmp_path / "w.npz"), net.state_dict()
    assert set(state) == set(expected)
    for name, value in expected.items():
        assert state[name].shape == value.shape and torch.equal(state[name], value), name

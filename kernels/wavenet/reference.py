"""Plain numpy references of the WaveNet recurrence, for parity tests and the speed bench.

:class:`ReferenceKernel` is the same per-sample Fast-WaveNet recurrence as the native kernel
``rtaudio/_wavenet.c`` (per-layer queues of past inputs, dilated taps, gated units, residual
and skip sums, output 1x1 convs, keyed softmax sampling), one numpy call per matrix, with the
same interface (``set_cond``, ``reset``, ``forward``, ``generate``, ``last``), in either of the
kernel's precisions: ``float32``, or ``int8`` (:func:`quantize_columns`, :func:`quantized_product`:
the kernel's integer products, exactly). Its transcendentals are numpy's (the kernel has its own
exp), so logits agree to float rounding, not bitwise.

:func:`naive_generate` is WaveNet without queues: every new sample recomputes the whole
network over one receptive field of past samples (what the paper's cost remark is about).
"""

from __future__ import annotations

import numpy as np

from rtaudio.tasks.generate import SILENCE, WaveNetWeights

NCLASS = 256
_M1, _M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)


def _mix64(z: np.ndarray) -> np.ndarray:
    z = z ^ (z >> np.uint64(30))
    z = z * _M1
    z = z ^ (z >> np.uint64(27))
    z = z * _M2
    return z ^ (z >> np.uint64(31))


def uniforms(seed: int, start: int, n: int) -> np.ndarray:
    """The sampler's keyed uniforms for stream positions ``start .. start + n - 1`` (float64)."""
    with np.errstate(over="ignore"):
        key = _mix64(np.array([seed], np.uint64))
        z = _mix64(key + np.arange(start, start + n, dtype=np.uint64))
    return (z >> np.uint64(11)).astype(np.float64) * (1.0 / 9007199254740992.0)


LANES = 16  # the kernel's vector width in floats: its CDF runs lane by lane


def sample(logits: np.ndarray, u: float, temperature: float) -> int:
    """Inverse-CDF draw from softmax(logits / temperature); argmax when temperature <= 0.

    The CDF runs in the kernel's lane-major class order: lane ``j`` holds classes ``j, 16 + j,
    ..., 240 + j``; ``C(j, k) = before_j + part_j(k)``, ``part_j`` the float64 running sum
    down the lane, ``before_j`` the running sum of the lane totals. Any fixed order samples the
    same distribution; this one is the kernel's (16 vector adds), summed in its order.
    """
    best = int(np.argmax(logits))
    if not temperature > 0:
        return best
    e = np.exp((logits - logits[best]) * np.float32(1.0 / np.float32(temperature)))
    part = np.cumsum(e.astype(np.float64).reshape(-1, LANES), axis=0)  # [k, j]: class LANES * k + j
    before = np.concatenate([[0.0], np.cumsum(part[-1])])
    cdf = (before[:LANES] + part).T.ravel()  # lane-major: index LANES * j + k
    idx = min(int(np.searchsorted(cdf, u * before[-1], side="right")), NCLASS - 1)
    lane, k = divmod(idx, len(part))
    return LANES * k + lane


QUANT_WEIGHT = 127  # int8 weight levels each side of 0 (the kernel's per-column rule)
QUANT_INPUT = 63  # input levels each side of 0: 7 bits, so AVX2's byte-pair sums cannot saturate
PRODUCTS = {"w_dil": "b_dil", "w_out": "b_out", "w_head1": "b_head1", "w_head2": "b_head2"}


def quantize_columns(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """int8 weights of an input-major matrix ``(..., nin, nout)``, one scale per output column:
    ``scale = max |w| / 127``, ``q = rint(w / scale)`` (round half even); returns ``(q int32, scale float32)``."""
    m = np.abs(w).max(axis=-2, keepdims=True)
    scale = (m / np.float32(QUANT_WEIGHT)).astype(np.float32)
    q = np.where(m > 0, np.rint(w / np.where(m > 0, scale, np.float32(1))), 0)
    return np.clip(q, -QUANT_WEIGHT, QUANT_WEIGHT).astype(np.int32), scale[..., 0, :]


def quantized_product(x: np.ndarray, q: np.ndarray, scale: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``b + x @ W`` as the kernel's int8 path computes it: each row of ``x`` quantized to
    +-63 levels of its own max |x|, an exact integer product, one float scale per output."""
    m = np.abs(x).max(axis=-1, keepdims=True)
    inv = np.where(m > 0, np.float32(QUANT_INPUT) / np.where(m > 0, m, np.float32(1)), np.float32(0))
    xq = np.clip(np.rint(x * inv.astype(np.float32)), -QUANT_INPUT, QUANT_INPUT).astype(np.int64)
    s = (m / np.float32(QUANT_INPUT)).astype(np.float32)
    return b + (xq @ q).astype(np.float32) * (scale * s)


class _Products:
    """``b + x @ W`` for the exported matrices in one precision (float32 or the kernel's int8)."""

    def __init__(self, arrays: dict[str, np.ndarray], precision: str) -> None:
        if precision not in ("float32", "int8"):
            raise ValueError(f"precision must be 'float32' or 'int8', got {precision!r}")
        self.arrays, self.int8 = arrays, precision == "int8"
        self.quantized = {name: quantize_columns(arrays[name]) for name in PRODUCTS} if self.int8 else {}

    def __call__(self, name: str, x: np.ndarray, b: np.ndarray, layer: int | None = None) -> np.ndarray:
        if not self.int8:
            w = self.arrays[name]
            return x @ (w if layer is None else w[layer]) + b
        q, scale = self.quantized[name]
        if layer is not None:
            q, scale = q[layer], scale[layer]
        return quantized_product(x, q, scale, b)


class ReferenceKernel:
    """The Fast-WaveNet recurrence in numpy, one sample per Python-level step.

    ``precision``: ``"float32"`` or ``"int8"``, as the native kernel's.
    """

    def __init__(self, weights: WaveNetWeights, precision: str = "float32") -> None:
        self.w = weights.arrays
        self.dil = list(weights.dilations)
        self.r = weights.residual
        self.product = _Products(self.w, precision)
        self.bias = self.w["b_dil"].copy()
        self.reset()

    def set_cond(self, bias: np.ndarray) -> None:
        self.bias = self.w["b_dil"] + np.asarray(bias, np.float32).reshape(self.w["b_dil"].shape)

    def reset(self) -> None:
        self.queues = [np.zeros((d, self.r), np.float32) for d in self.dil]
        self.t = 0
        self.last = SILENCE

    def step(self, cls: int, ebias: np.ndarray | None = None) -> np.ndarray:
        """Feed one input class, return the logits for the next sample (``ebias``: this sample's
        gate-bias increment, ``(L * 2R,)``, or ``None``)."""
        w, r, mm = self.w, self.r, self.product
        bias = self.bias if ebias is None else self.bias + ebias.reshape(self.bias.shape)
        x = w["embed"][cls]
        skip = np.zeros(w["w_head1"].shape[0], np.float32)
        for layer, (d, q) in enumerate(zip(self.dil, self.queues, strict=True)):
            slot = self.t % d
            z = mm("w_dil", np.concatenate([q[slot], x]), bias[layer], layer)
            q[slot] = x
            h = np.tanh(z[:r]) * (1.0 / (1.0 + np.exp(-z[r:])))
            y = mm("w_out", h, w["b_out"][layer], layer)
            x = x + y[:r]
            skip = skip + y[r:]
        self.t += 1
        h1 = np.maximum(mm("w_head1", np.maximum(skip, 0), w["b_head1"]), 0)
        return mm("w_head2", h1, w["b_head2"])

    def forward(self, inputs: np.ndarray, logits: np.ndarray | None = None, ebias: np.ndarray | None = None) -> None:
        for i, cls in enumerate(np.asarray(inputs)):
            out = self.step(int(cls), None if ebias is None else ebias[i])
            if logits is not None:
                logits[i] = out

    def generate(
        self, out: np.ndarray, seed: int, position: int, temperature: float, ebias: np.ndarray | None = None
    ) -> None:
        us = uniforms(seed, position, len(out))
        cls = self.last
        for i in range(len(out)):
            cls = sample(self.step(cls, None if ebias is None else ebias[i]), us[i], temperature)
            out[i] = cls
        self.last = cls


def conv_logits(
    weights: WaveNetWeights,
    bias: np.ndarray,
    inputs: np.ndarray,
    ebias: np.ndarray | None = None,
    precision: str = "float32",
) -> np.ndarray:
    """Whole-sequence (teacher-forced) logits by dilated convolution over ``inputs``: zeros before 0.

    ``ebias``: per-sample gate-bias increments ``(T, L * 2R)`` (a model's excitation), or ``None``;
    ``precision``: the kernel's products, float32 or int8 (every sample's inputs quantized alone).
    """
    w, r, mm = weights.arrays, weights.residual, _Products(weights.arrays, precision)
    b = w["b_dil"] + np.asarray(bias, np.float32).reshape(w["b_dil"].shape)
    per_sample = None if ebias is None else np.asarray(ebias, np.float32).reshape(len(inputs), *b.shape)
    x = w["embed"][np.asarray(inputs, np.int64)]  # (T, R)
    skip = 0.0
    for layer, d in enumerate(weights.dilations):
        past = np.concatenate([np.zeros((d, r), np.float32), x[:-d]]) if d < len(x) else np.zeros_like(x)
        zb = b[layer] if per_sample is None else b[layer] + per_sample[:, layer]
        z = mm("w_dil", np.concatenate([past, x], axis=1), zb, layer)
        h = np.tanh(z[:, :r]) * (1.0 / (1.0 + np.exp(-z[:, r:])))
        y = mm("w_out", h, w["b_out"][layer], layer)
        x = x + y[:, :r]
        skip = skip + y[:, r:]
    h1 = np.maximum(mm("w_head1", np.maximum(skip, 0), w["b_head1"]), 0)
    return mm("w_head2", h1, w["b_head2"])


def naive_generate(
    weights: WaveNetWeights,
    bias: np.ndarray,
    n: int,
    seed: int,
    temperature: float,
    history: np.ndarray | None = None,
    precision: str = "float32",
) -> np.ndarray:
    """Generate ``n`` classes recomputing the network over the last receptive field each sample.

    ``history`` (default: one receptive field of silence) is the input context before sample 0.
    """
    rf = weights.receptive_field
    ctx = list(np.full(rf, SILENCE, np.uint8) if history is None else history)
    us = uniforms(seed, 0, n)
    out = np.empty(n, np.uint8)
    for i in range(n):
        logits = conv_logits(weights, bias, np.array(ctx[-rf:], np.uint8), precision=precision)[-1]
        out[i] = sample(logits, us[i], temperature)
        ctx.append(out[i])
    return out


def random_weights(
    dilations: list[int], residual: int = 8, skip: int = 16, head: int = 16, cond: int = 4, seed: int = 0
) -> WaveNetWeights:
    """Random weights of the exported layout (tests and benches that need no trained model)."""
    rng = np.random.default_rng(seed)
    r, s, h, n = residual, skip, head, len(dilations)

    def m(*shape: int, scale: float = 1.0) -> np.ndarray:
        return (rng.standard_normal(shape) * scale / np.sqrt(shape[-2] if len(shape) > 1 else 1)).astype(np.float32)

    arrays = {
        "embed": m(NCLASS, r),
        "w_dil": m(n, 2 * r, 2 * r),
        "b_dil": m(n, 2 * r, scale=0.1),
        "w_out": m(n, r, r + s, scale=0.5),
        "b_out": m(n, r + s, scale=0.1),
        "w_head1": m(s, h),
        "b_head1": m(h, scale=0.1),
        "w_head2": m(h, NCLASS, scale=3.0),
        "b_head2": m(NCLASS, scale=0.1),
        "cond_root": m(12, cond),
        "cond_quality": m(2, cond),
        "cond_instrument": m(5, cond),
        "cond_proj": m(cond, n * 2 * r),
    }
    return WaveNetWeights(arrays, list(dilations), {"sample_rate": 16000})

"""The stream-kernel and generator contracts and their schedulers (engine v2).

A toy stream kernel (a non-causal FIR with lookahead, run causally with its state carried
and its delay declared, optionally followed by an integer-factor sample repeat) and its
window-kernel twin check what every stream kernel must keep: output independent of host
block sizes, exact length, exact declared latency, a real reset, and streamed output equal
to the whole-signal reference.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rtaudio.engine.contracts import Generator, StreamKernel, WindowKernel, out_length
from rtaudio.engine.generator import GeneratorSource
from rtaudio.engine.processor import process_offline
from rtaudio.engine.stream import StreamProcessor, stream_whole

TAPS = np.array([0.1, -0.3, 0.8, 0.25, -0.05, 0.2, 0.1], np.float32)
LOOKAHEAD = 3  # TAPS[3] is "now": three taps look ahead


def fir(x: np.ndarray) -> np.ndarray:
    """Whole-signal reference: y[t] = sum_k TAPS[k] x[t + k - LOOKAHEAD], zeros outside."""
    padded = np.concatenate([np.zeros(len(TAPS) - 1 - LOOKAHEAD), x, np.zeros(LOOKAHEAD)])
    return np.convolve(padded, TAPS[::-1], mode="valid").astype(np.float32)


class FirStream:
    """The FIR as a stream kernel: keeps the last len(TAPS)-1 inputs, delay LOOKAHEAD * repeat."""

    def __init__(self, hop: int, repeat: int = 1, rate: int = 8000) -> None:
        self.in_rate, self.out_rate = rate, rate * repeat
        self.hop, self.repeat = hop, repeat
        self.delay = LOOKAHEAD * repeat
        self.calls = 0
        self.reset()

    def reset(self) -> None:
        self._state: np.ndarray | None = None

    def process(self, block: np.ndarray) -> np.ndarray:
        self.calls += 1
        if self._state is None:
            self._state = np.zeros((block.shape[0], len(TAPS) - 1), np.float32)
        x = np.concatenate([self._state, block], axis=1)
        self._state = x[:, -(len(TAPS) - 1) :]
        y = np.stack([np.convolve(ch, TAPS[::-1], mode="valid") for ch in x]).astype(np.float32)
        return np.repeat(y, self.repeat, axis=1)


class FirWindow:
    """The same FIR (and repeat) as a window kernel: the whole-signal twin."""

    quantum_in = 1
    context_in = len(TAPS)

    def __init__(self, repeat: int = 1, rate: int = 8000) -> None:
        self.in_rate, self.out_rate, self.repeat = rate, rate * repeat, repeat

    def run(self, window: np.ndarray, start: int) -> np.ndarray:
        return np.repeat(np.stack([fir(ch) for ch in window]), self.repeat, axis=1)


def test_toy_kernels_satisfy_the_protocols() -> None:
    assert isinstance(FirStream(16), StreamKernel) and not isinstance(FirStream(16), WindowKernel)
    assert isinstance(FirWindow(), WindowKernel)


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 900),
    hop=st.sampled_from([1, 7, 32, 100]),
    repeat=st.sampled_from([1, 3]),
    cuts=st.lists(st.integers(1, 300), min_size=1, max_size=12),
    seed=st.integers(0, 2**16),
)
def test_stream_output_is_independent_of_host_blocks(n, hop, repeat, cuts, seed) -> None:
    x = np.random.default_rng(seed).standard_normal((n, 2)).astype(np.float32)
    whole = stream_whole(FirStream(hop, repeat), x)
    proc = StreamProcessor(FirStream(hop, repeat), channels=2)
    pieces, pos, i = [], 0, 0
    while pos < n:
        take = cuts[i % len(cuts)]
        pieces.append(proc.process(x[pos : pos + take]))
        pos += take
        i += 1
    pieces.append(proc.flush())
    streamed = np.concatenate(pieces)
    assert streamed.shape == (out_length(n, 8000, 8000 * repeat), 2)  # exact length
    np.testing.assert_array_equal(streamed, whole)  # bit-identical under any partition


@pytest.mark.parametrize("repeat", [1, 3])
def test_streamed_equals_the_window_twin(repeat: int) -> None:
    x = np.random.default_rng(1).standard_normal(1234).astype(np.float32)
    streamed = stream_whole(FirStream(50, repeat), x)
    reference = process_offline(FirWindow(repeat), x)
    np.testing.assert_allclose(streamed, reference, atol=1e-6)


@pytest.mark.parametrize(("hop", "repeat"), [(1, 1), (40, 1), (40, 3), (64, 2)])
def test_reported_latency_is_where_an_impulse_comes_back(hop: int, repeat: int) -> None:
    proc = StreamProcessor(FirStream(hop, repeat))
    assert proc.latency_samples == (hop + LOOKAHEAD) * repeat  # one hop of buffering + the kernel's delay
    impulse_at = 500
    x = np.zeros(2000, np.float32)
    x[impulse_at] = 1.0
    out, released = [], []
    for t in range(len(x)):  # sample by sample, as the most demanding host would
        block = proc.process(x[t : t + 1])
        out.append(block)
        released.append(sum(len(b) for b in out))
    y = np.concatenate(out)
    # the impulse's "now" tap (TAPS[LOOKAHEAD]) lands exactly latency_samples after the input
    peak = impulse_at * repeat + proc.latency_samples
    # constant-latency release: after t+1 input samples, (t + 1 - delay_in) * repeat outputs are out
    delay_in = proc.delay_in
    assert all(r == max(0, (t + 1 - delay_in) * repeat) for t, r in enumerate(released))
    streamed_tail = np.concatenate([y, proc.flush()])
    assert streamed_tail[impulse_at * repeat] == pytest.approx(TAPS[LOOKAHEAD])  # aligned after delay removal
    assert len(y) > peak  # the impulse came out within the reported latency


def test_reset_starts_a_new_stream_and_clears_state() -> None:
    kernel = FirStream(32)
    proc = StreamProcessor(kernel)
    x = np.random.default_rng(2).standard_normal(700).astype(np.float32)
    first = np.concatenate([proc.process(x), proc.flush()])
    proc.reset()
    second = np.concatenate([proc.process(x), proc.flush()])
    np.testing.assert_array_equal(first, second)  # no state leaked from the first stream
    with pytest.raises(RuntimeError, match="flushed"):
        proc.process(x[:10])


def test_stream_kernel_does_no_recompute() -> None:
    kernel = FirStream(100)
    proc = StreamProcessor(kernel)
    proc.process(np.zeros(10_000, np.float32))
    proc.flush()
    # 10,000 samples + the delay's worth of flushing: one call per hop, nothing computed twice
    assert kernel.calls == -(-(10_000 + LOOKAHEAD) // 100)


def test_stream_kernel_of_the_wrong_shape_is_an_engine_error() -> None:
    class Broken(FirStream):
        def process(self, block: np.ndarray) -> np.ndarray:
            return super().process(block)[:, :-1]

    with pytest.raises(RuntimeError, match="expected"):
        StreamProcessor(Broken(16)).process(np.zeros(64, np.float32))


def test_integer_blocks_are_refused() -> None:
    proc = StreamProcessor(FirStream(16))
    with pytest.raises(ValueError, match="int16"):
        proc.process(np.zeros(32, np.int16))


# -- generators ------------------------------------------------------------------------------
class Tones:
    """A toy generator: a sine whose frequency is the control, phase carried, seeded noise floor."""

    out_rate = 8000
    channels = 1
    block = 64

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.reset()

    def reset(self) -> None:
        self.freq, self.pos, self.phase = 440.0, 0, 0.0

    def control(self, value: float) -> None:
        self.freq = float(value)

    def render(self, n: int) -> np.ndarray:
        assert n % self.block == 0
        t = self.phase + 2 * np.pi * self.freq * np.arange(1, n + 1) / self.out_rate
        self.phase = float(t[-1])
        # noise keyed to each block's stream position, so render sizes cannot change it
        starts = range(self.pos, self.pos + n, self.block)
        noise = np.concatenate([np.random.default_rng([self.seed, b]).standard_normal(self.block) for b in starts])
        noise *= 1e-3
        self.pos += n
        return (0.5 * np.sin(t) + noise).astype(np.float32)[None]


def test_generator_protocol() -> None:
    assert isinstance(Tones(), Generator)


@settings(max_examples=30, deadline=None)
@given(pulls=st.lists(st.integers(1, 500), min_size=1, max_size=20))
def test_pulling_any_sizes_gives_the_same_stream(pulls) -> None:
    total = sum(pulls)
    whole = GeneratorSource(Tones()).pull(total)
    src = GeneratorSource(Tones())
    pieces = [src.pull(n) for n in pulls]
    assert all(len(p) == n for p, n in zip(pieces, pulls, strict=True))  # exactly what was asked for
    np.testing.assert_array_equal(np.concatenate(pieces), whole)


def test_control_changes_land_on_a_block_boundary_and_are_logged() -> None:
    src = GeneratorSource(Tones(), blocks_per_render=2)
    first = src.pull(100)
    src.control(880.0)
    rest = src.pull(400)
    (position, value), *_ = src.control_log
    assert value == 880.0 and position % Tones.block == 0 and position >= 100  # never mid-block, never in the past
    assert position == 128  # the first render boundary after what had been rendered (2 blocks of 64)
    # replaying the logged history reproduces the take exactly
    gen = Tones()
    replay = [gen.render(position)]
    gen.control(880.0)
    replay.append(gen.render(512 - position))
    np.testing.assert_array_equal(np.concatenate([first, rest])[:, 0], np.concatenate(replay, axis=1)[0, :500])


def test_generator_reset_replays_the_take() -> None:
    src = GeneratorSource(Tones(seed=3))
    a = src.pull(1000)
    src.control(220.0)
    src.pull(300)
    src.reset()
    assert src.position == 0 and src.control_log == []
    np.testing.assert_array_equal(src.pull(1000), a)

"""WaveNet chord generation (task ``generate``): vocabulary, weights, and the generator.

Runtime side only: numpy and the native Fast-WaveNet kernel :mod:`rtaudio._wavenet`; no torch.
The model file is an ``.npz`` of float32 arrays, input-major (``[in][out]``) as the kernel
reads them, beside a card ``NAME.json`` with its sha256 (see ``export/wavenet/export.py``).
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from rtaudio.cards import load_card
from rtaudio.engine.generator import GeneratorSource
from rtaudio.tasks.task import ModelError, ModelInfo, Plan, Request, Task

__all__ = [
    "GENERATE",
    "INSTRUMENTS",
    "QUALITIES",
    "ROOTS",
    "Chord",
    "GenerateTask",
    "WaveNetGenerator",
    "WaveNetWeights",
    "chroma",
    "default_model_path",
    "excitation",
    "mu_law_decode",
    "mu_law_encode",
    "parse_chord",
]

ROOTS = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"]
QUALITIES = ["maj", "min"]
#: conditioning instruments and their General MIDI programs (the training renders)
INSTRUMENTS = {"piano": 0, "epiano": 4, "organ": 16, "guitar": 24, "strings": 48}
INTERVALS = {"maj": (0, 4, 7), "min": (0, 3, 7)}
MU = 255
SILENCE = 128  # mu_law_encode(0.0)
# the native kernel's default arithmetic: int8 products (rtaudio/_wavenet.c, QUANTIZED PRODUCTS),
# 2.2-3x the float32 path's speed at +0.002 held-out bits/sample (bench/BENCHMARKS.md)
KERNEL_PRECISION = "int8"
_FLATS = {"Db": "C#", "Eb": "D#", "Gb": "F#", "Ab": "G#", "Bb": "A#", "Cb": "B", "Fb": "E", "E#": "F", "B#": "C"}


def mu_law_encode(x: np.ndarray) -> np.ndarray:
    """Audio in [-1, 1] -> mu-law classes 0..255 (uint8); 0.0 maps to class 128."""
    x = np.clip(np.asarray(x, np.float64), -1.0, 1.0)
    y = np.sign(x) * np.log1p(MU * np.abs(x)) / np.log1p(MU)
    return np.floor((y + 1.0) / 2.0 * MU + 0.5).astype(np.uint8)


def mu_law_decode(q: np.ndarray) -> np.ndarray:
    """Mu-law classes -> float32 audio in [-1, 1]."""
    y = 2.0 * np.asarray(q, np.float64) / MU - 1.0
    return (np.sign(y) * np.expm1(np.abs(y) * np.log1p(MU)) / MU).astype(np.float32)


_DECODE = mu_law_decode(np.arange(256))

#: the excitation: sine and cosine of each chord tone's pitch class one octave below the renders'
#: lowest notes (C2 = MIDI 36 .. B2), so every played note (octaves 3-5) is a harmonic of it
EXCITATION_BASE_HZ = 440.0 * 2.0 ** ((36 - 69) / 12)
#: the fundamentals only; a model's ``w_exc`` rows say how many channels (harmonics) it hears
EXCITATION_CHANNELS = 6


def chord_tone_hz(chord_index: np.ndarray | int) -> np.ndarray:
    """Frequencies ``(..., 3)`` of root, third and fifth (octave 2) of chord labels ``root * 2 + minor``."""
    idx = np.asarray(chord_index, np.int64)
    root, minor = idx // 2, idx % 2
    steps = np.stack([root, root + 4 - minor, root + 7], axis=-1) % 12
    return EXCITATION_BASE_HZ * 2.0 ** (steps / 12.0)


def excitation(
    chord_index: np.ndarray | int, since_onset: np.ndarray, rate: int, channels: int = EXCITATION_CHANNELS
) -> np.ndarray:
    """The chord's excitation at samples ``since_onset`` after its onset: ``(n, channels)`` float32,
    ``[sin, cos]`` of ``2 pi k f t`` for its three tones (:func:`chord_tone_hz`) and harmonics
    ``k = 1 .. channels // 6`` (sines of every tone and harmonic first, then the cosines).

    Global conditioning (a label embedding) tells the net *which* chord; its phase-locked
    sinusoids tell it *where in the period* the waveform is, from the onset on: the training
    renders start every note at a known sample (``export/wavenet/data.py: audio_onset``), so the
    relation between excitation and waveform is learnable and the net has a reason to follow it.
    With harmonics, every played note (octave 3 or 4: the tones' 2nd or 4th harmonic) and its
    lower partials are among the sinusoids, so a waveform is close to a linear read-out of them
    rather than a high-order nonlinearity of the fundamentals. Harmonics at or above Nyquist
    are zero. ``chord_index`` is one label or one per sample.
    """
    if channels % 6 or channels <= 0:
        raise ValueError(f"excitation channels must be a positive multiple of 6, not {channels}")
    t = np.asarray(since_onset, np.float64)[:, None] / rate
    k = np.arange(1, channels // 6 + 1, dtype=np.float64)
    hz = (np.broadcast_to(chord_tone_hz(chord_index), (len(t), 3))[:, None, :] * k[None, :, None]).reshape(len(t), -1)
    phase = 2.0 * np.pi * hz * t
    audible = hz < rate / 2
    return np.concatenate([np.sin(phase) * audible, np.cos(phase) * audible], axis=1).astype(np.float32)


@dataclass(frozen=True)
class Chord:
    """A triad: root pitch class 0..11 (C = 0) and quality ``maj``/``min``."""

    root: int
    quality: str

    @property
    def index(self) -> int:
        """Training label: root * 2 + (quality == min)."""
        return self.root * 2 + QUALITIES.index(self.quality)

    @property
    def pitch_classes(self) -> frozenset[int]:
        return frozenset((self.root + i) % 12 for i in INTERVALS[self.quality])

    def __str__(self) -> str:
        return f"{ROOTS[self.root]}:{self.quality}"


def parse_chord(text: str | Chord) -> Chord:
    """``C:maj``, ``F#:min``, ``Bb:maj``, ``A`` (major), ``Am`` (minor) -> :class:`Chord`."""
    if isinstance(text, Chord):
        return text
    m = re.fullmatch(r"\s*([A-Ga-g])([#b]?)\s*(?::?\s*(maj|min|major|minor|m|M))?\s*", str(text))
    if not m:
        raise ValueError(f"bad chord {text!r}: expected ROOT[:maj|:min], e.g. C:maj, F#:min, Bb:maj")
    name = m.group(1).upper() + m.group(2)
    name = _FLATS.get(name, name)
    quality = "min" if m.group(3) in ("min", "minor", "m") else "maj"
    return Chord(ROOTS.index(name), quality)


def check_instrument(name: str) -> str:
    if name not in INSTRUMENTS:
        raise ValueError(f"unknown instrument {name!r} (available: {', '.join(INSTRUMENTS)})")
    return name


def default_model_path() -> Path:
    """The shipped generate model inside the installed package."""
    return Path(str(resources.files("rtaudio") / "models" / "generate16k.npz"))


@dataclass
class WaveNetWeights:
    """Exported WaveNet weights, float32 and input-major as the kernel reads them.

    Attributes
    ----------
    arrays
        ``embed (256, R)``, ``w_dil (L, 2R, 2R)`` (rows: the tap at ``t - d``, then ``t``),
        ``b_dil (L, 2R)``, ``w_out (L, R, R + S)``, ``b_out (L, R + S)``, ``w_head1 (S, H)``,
        ``b_head1 (H,)``, ``w_head2 (H, 256)``, ``b_head2 (256,)``, conditioning embeddings
        ``cond_root (12, C)``, ``cond_quality (2, C)``, ``cond_instrument (I, C)`` and
        ``cond_proj (C, L * 2R)``; optionally ``w_exc (6, L * 2R)``, the projection of
        :func:`excitation` onto every layer's gate bias (models trained with it).
    dilations
        Per-layer dilation.
    card
        The model card (``{}`` for weights not loaded from a file).
    """

    arrays: dict[str, np.ndarray]
    dilations: list[int]
    card: dict[str, Any]

    @classmethod
    def load(cls, path: Path | None = None) -> WaveNetWeights:
        """Load an ``.npz`` model and verify it against its card (sha256, task)."""
        path = Path(path) if path is not None else default_model_path()
        card = load_card(path, task="generate")
        with np.load(path) as z:
            arrays = {k: np.ascontiguousarray(z[k], np.float32) for k in z.files if k != "dilations"}
            dilations = [int(d) for d in z["dilations"]]
        return cls(arrays, dilations, card)

    @property
    def residual(self) -> int:
        return int(self.arrays["embed"].shape[1])

    @property
    def skip(self) -> int:
        return int(self.arrays["w_head1"].shape[0])

    @property
    def head(self) -> int:
        return int(self.arrays["w_head1"].shape[1])

    @property
    def receptive_field(self) -> int:
        return 1 + sum(self.dilations)

    @property
    def instruments(self) -> list[str]:
        return list(self.card.get("conditioning", {}).get("instruments", INSTRUMENTS))

    def cond_bias(self, chord: Chord, instrument: str) -> np.ndarray:
        """Per-layer gate bias ``(L, 2R)`` float32 of a (chord, instrument) label."""
        a = self.arrays
        c = a["cond_root"][chord.root] + a["cond_quality"][QUALITIES.index(chord.quality)]
        c = c + a["cond_instrument"][self.instruments.index(check_instrument(instrument))]
        return (c @ a["cond_proj"]).astype(np.float32).reshape(len(self.dilations), 2 * self.residual)

    @property
    def has_excitation(self) -> bool:
        return "w_exc" in self.arrays

    def excitation_bias(self, chord: Chord, since_onset: int, n: int) -> np.ndarray | None:
        """Per-sample gate-bias increments ``(n, L * 2R)`` of the chord's excitation for samples
        ``since_onset .. since_onset + n - 1`` after its onset; ``None`` for a model without one."""
        if not self.has_excitation:
            return None
        w_exc = self.arrays["w_exc"]
        since = np.arange(since_onset, since_onset + n)
        e = excitation(chord.index, since, int(self.card.get("sample_rate", 16000)), len(w_exc))
        return np.ascontiguousarray(e @ w_exc, np.float32)

    def save(self, path: Path, card: dict[str, Any]) -> dict[str, Any]:
        """Write the ``.npz`` (atomically) and its card beside it; return the card with its sha256."""
        import json

        from rtaudio.cards import card_path, sha256_file

        path = Path(path)
        tmp = path.with_name(path.stem + ".tmp.npz")
        np.savez(tmp, dilations=np.array(self.dilations, np.int32), **self.arrays)
        tmp.replace(path)
        card = {**card, "task": "generate", "sha256": sha256_file(path)}
        card_path(path).write_text(json.dumps(card, indent=1) + "\n")
        return card

    def kernel(self, precision: str = KERNEL_PRECISION) -> Any:
        """A fresh native kernel over these weights; ``precision``: ``"int8"`` (the default: 8-bit
        weights, 7-bit inputs, integer products) or ``"float32"`` (the exported weights as they are)."""
        from rtaudio import _wavenet

        a = self.arrays
        return _wavenet.Kernel(
            self.dilations, self.residual, self.skip, self.head,
            a["embed"], a["w_dil"], a["b_dil"], a["w_out"], a["b_out"],
            a["w_head1"], a["b_head1"], a["w_head2"], a["b_head2"], precision=precision,
        )  # fmt: skip


class WaveNetGenerator:
    """Chord WaveNet as a :class:`~rtaudio.engine.contracts.Generator`: mono, 16 kHz, pulled.

    The stream starts from silence: :meth:`reset` fills every queue by teacher-forcing one
    receptive field of silent input under the initial chord, as if silence had always been
    playing. Sample ``p`` of the stream is drawn with the uniform keyed to ``(seed, p)``, so
    a take is a pure function of the seed and the (control, boundary) history. A model with an
    excitation hears its chord's from the position the chord was set (0, or the control's
    boundary); the warm-up silence sits at negative times, as before a note in training.

    Parameters
    ----------
    weights
        Loaded weights, or ``None`` for the shipped model.
    chord, instrument
        Initial control.
    seed
        Sampling seed.
    temperature
        Softmax temperature (``0`` = greedy argmax).
    block
        Control granularity in samples (10 ms by default): :meth:`control` takes effect at
        the next render, which always starts on a multiple of ``block``.
    precision
        The native kernel's arithmetic: ``"int8"`` (default) or ``"float32"``.
    """

    channels = 1

    def __init__(
        self,
        weights: WaveNetWeights | None = None,
        chord: str | Chord = "C:maj",
        instrument: str = "piano",
        seed: int = 0,
        temperature: float = 1.0,
        block: int = 160,
        precision: str = KERNEL_PRECISION,
    ) -> None:
        self.weights = weights if weights is not None else WaveNetWeights.load()
        self.out_rate = int(self.weights.card.get("sample_rate", 16000))
        self.block = int(block)
        self.seed = int(seed) & (2**64 - 1)
        self.temperature = float(temperature)
        if not self.temperature >= 0:
            raise ValueError(f"temperature must be >= 0, got {temperature}")
        self._initial = (parse_chord(chord), check_instrument(instrument))
        self.precision = precision
        self._kernel = self.weights.kernel(precision)
        self._bias_cache: dict[tuple[Chord, str], np.ndarray] = {}
        self.reset()

    @property
    def position(self) -> int:
        """Samples rendered since :meth:`reset`."""
        return self._position

    @property
    def initial(self) -> tuple[Chord, str]:
        """The (chord, instrument) every stream starts with."""
        return self._initial

    @property
    def chord(self) -> Chord:
        return self._control[0]

    @property
    def instrument(self) -> str:
        return self._control[1]

    def _apply(self, chord: Chord, instrument: str) -> None:
        key = (chord, instrument)
        if key not in self._bias_cache:
            self._bias_cache[key] = self.weights.cond_bias(chord, instrument)
        self._kernel.set_cond(self._bias_cache[key])
        self._control = key
        self._onset = self._position  # the excitation restarts with every new control

    def reset(self) -> None:
        self._kernel.reset()
        self._position = 0
        self._apply(*self._initial)
        rf = self.weights.receptive_field
        warm = self.weights.excitation_bias(self.chord, -rf, rf)
        self._kernel.forward(np.full(rf, SILENCE, np.uint8), None, warm)
        self._kernel.last = SILENCE

    def control(self, value: Any) -> None:
        """New chord (``"A:min"``, a :class:`Chord`) or ``{"chord": ..., "instrument": ...}``."""
        if isinstance(value, dict):
            chord = parse_chord(value.get("chord", self.chord))
            instrument = check_instrument(value.get("instrument", self.instrument))
        else:
            chord, instrument = parse_chord(value), self.instrument
        self._apply(chord, instrument)

    def render_classes(self, n: int) -> np.ndarray:
        """The next ``n`` samples as mu-law classes (uint8)."""
        if n % self.block:
            raise ValueError(f"render length {n} is not a multiple of the block ({self.block})")
        out = np.empty(n, np.uint8)
        ebias = self.weights.excitation_bias(self.chord, self._position - self._onset, n)
        self._kernel.generate(out, self.seed, self._position, self.temperature, ebias)
        self._position += n
        return out

    def render(self, n: int) -> np.ndarray:
        return _DECODE[self.render_classes(n)][None, :]


def chroma(audio: np.ndarray, rate: int, n_fft: int = 4096, fmin: float = 60.0, fmax: float = 2000.0) -> np.ndarray:
    """Long-term chroma: power per pitch class (C = 0) summed over Hann STFT frames, normalised.

    Each bin between ``fmin`` and ``fmax`` votes its power for its nearest equal-tempered pitch
    class (A4 = 440 Hz).
    """
    x = np.asarray(audio, np.float64).ravel()
    hop = n_fft // 4
    if len(x) < n_fft:
        x = np.pad(x, (0, n_fft - len(x)))
    frames = np.lib.stride_tricks.sliding_window_view(x, n_fft)[::hop] * np.hanning(n_fft)
    power = (np.abs(np.fft.rfft(frames, axis=1)) ** 2).sum(axis=0)
    freqs = np.fft.rfftfreq(n_fft, 1.0 / rate)
    keep = (freqs >= fmin) & (freqs <= fmax)
    pc = np.round(12 * np.log2(freqs[keep] / 440.0) + 69).astype(int) % 12
    out = np.bincount(pc, weights=power[keep], minlength=12)
    return out / max(out.sum(), 1e-20)


def top_pitch_classes(audio: np.ndarray, rate: int, k: int = 3) -> frozenset[int]:
    """The ``k`` strongest pitch classes of the long-term chroma."""
    return frozenset(int(i) for i in np.argsort(chroma(audio, rate))[::-1][:k])


def pitch_accuracy(
    weights: WaveNetWeights,
    instrument: str = "piano",
    seconds: float = 2.0,
    temperature: float | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Pitch correctness: for each of the 24 triads, are the three strongest pitch classes of
    the generated take's long-term chroma the chord's?

    Returns the accuracy, per-chord results (the top three found, the take's RMS) and the
    compute time and audio length of the generation (the native kernel's RTF).
    """
    import time

    temperature = weights.card.get("default_temperature", 1.0) if temperature is None else temperature
    rows, compute, hits = [], 0.0, 0
    for root in range(12):
        for quality in QUALITIES:
            chord = Chord(root, quality)
            gen = WaveNetGenerator(weights, chord, instrument, seed=seed, temperature=temperature)
            n = -(-round(seconds * gen.out_rate) // gen.block) * gen.block
            t0 = time.perf_counter()
            audio = gen.render(n)[0]
            compute += time.perf_counter() - t0
            top = top_pitch_classes(audio, gen.out_rate)
            ok = top == chord.pitch_classes
            hits += ok
            rows.append({"chord": str(chord), "top3": sorted(ROOTS[p] for p in top), "ok": bool(ok),
                         "rms": round(float(np.sqrt(np.mean(audio**2))), 4)})  # fmt: skip
    audio_s = 24 * n / 16000
    return {"instrument": instrument, "temperature": temperature, "seconds": seconds, "seed": seed,
            "accuracy": hits / 24, "chords": rows, "compute_s": compute, "audio_s": audio_s,
            "rtf": compute / audio_s}  # fmt: skip


class GenerateTask(Task):
    """``--task generate``: a source, not a processor. ``rtaudio generate`` writes takes;
    ``rtaudio live`` / ``bridge`` with this task play the generator to a device or JACK ports
    (:mod:`rtaudio.live.source_pump`), pulled by the device clock."""

    name = "generate"
    summary = "WaveNet chord generation, no input (rtaudio generate; live/bridge --task generate --chord C:maj)"
    card_fields = {"sample_rate": int, "receptive_field": int, "conditioning.instruments": list}
    #: commands that run a model check this to play a source instead of processing input
    is_source = True

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        group = parser.add_argument_group("generate")
        group.add_argument("--chord", default="C:maj", help="generate: ROOT[:maj|:min], e.g. C:maj, F#:min")
        group.add_argument("--instrument", default="piano", help=f"generate: {', '.join(INSTRUMENTS)} (default piano)")
        group.add_argument(
            "--temperature", type=float, default=None, metavar="T", help="generate: softmax temperature (card default)"
        )

    def option_names(self) -> tuple[str, ...]:
        return ("chord", "instrument", "temperature")

    def build(self, model: ModelInfo, request: Request) -> Plan:
        raise ModelError(
            "task generate has no audio input: use rtaudio generate, or rtaudio live/bridge --task generate"
        )

    def bench_command(self, args: argparse.Namespace) -> int:
        """The generator bench (``bench/generate_bench.py``): kernel, numpy reference and naive
        WaveNet speed in one run, held-out bits/sample, pitch correctness per chord.

        It needs the checkout (the numpy reference lives in ``kernels/``, the held-out renders in
        ``data/wavenet``), which an installed package does not carry: then a one-line error.
        """
        import sys

        root = Path(__file__).resolve().parents[2]
        if not (root / "bench" / "generate_bench.py").is_file() or not (root / "kernels" / "wavenet").is_dir():
            raise ModelError("the generate bench runs from a checkout of rtaudio (it needs kernels/ and bench/)")
        if str(root) not in sys.path:
            sys.path.insert(0, str(root))
        from bench.generate_bench import main as generate_bench

        models = args.models or [None]
        if len(models) > 1:
            raise ModelError("the generate bench measures one model per run (--models NAME)")
        argv = ["--model", str(self.model_path(models[0]))]
        out = args.json if args.json and args.json != "-" else str(root / "bench" / "results" / "bench_generate.json")
        argv += ["--out", out]
        if args.quick:  # about a minute: short takes, one instrument
            argv += ["--speed-seconds", "2", "--nll-seconds", "2", "--pitch-seconds", "1", "--instruments", "piano"]
        generate_bench(argv)
        return 0

    def bench_pairs(self, models: Sequence[ModelInfo]) -> list[tuple[int, int]]:
        raise ModelError("the generate bench is its own (rtaudio bench --task generate)")

    def model_path(self, model: str | None) -> Path:
        """``None`` (the shipped default), a shipped model's name, or a path to an ``.npz`` with its card."""
        if model is None:
            return default_model_path()
        path = Path(model)
        if path.suffix == ".npz":
            if not path.is_file():
                raise ModelError(f"model file {model} does not exist")
            return path
        shipped = default_model_path().with_name(f"{model}.npz")
        if not shipped.is_file():
            raise ModelError(f"unknown model {model!r} for task 'generate' (available: {default_model_path().stem})")
        return shipped

    def open_source(self, args: argparse.Namespace, blocks_per_render: int = 2) -> GeneratorSource:
        """The pulled generator the options describe (``--model``, ``--chord``, ``--instrument``,
        ``--seed``, ``--temperature``)."""
        weights = WaveNetWeights.load(self.model_path(getattr(args, "model", None)))
        temperature = args.temperature if args.temperature is not None else weights.card.get("default_temperature", 1.0)
        gen = WaveNetGenerator(weights, args.chord, args.instrument, int(args.seed), temperature)
        return GeneratorSource(gen, blocks_per_render=blocks_per_render)

    def plan_for(self, source: GeneratorSource, device_rate: int) -> Plan:
        """A plan describing the source for the live panel and summaries (it has no kernel to run)."""
        card = source.generator.weights.card
        info = ModelInfo(str(card.get("name", "generate")), self.name, card, default_model_path())
        return Plan(None, None, info, self, source.out_rate, source.out_rate, device_rate)  # type: ignore[arg-type]


GENERATE = GenerateTask()

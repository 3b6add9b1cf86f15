"""Neural band-extension kernel (numpy + onnxruntime): the upsample task's chunk kernel.

Per window: soxr VHQ to the model rate (48 kHz), then the shipped network adds the missing
band above the input Nyquist: a predictor pass, then ``steps`` refiner passes that re-noise
the prediction to a small level (position-keyed noise) and denoise it. When the card names an
envelope file, the added band is then shaped, per STFT frame and 500 Hz band, to the level a
learned regression predicts from the input band (:mod:`rtaudio.tasks.envelope`). The input band
is never touched, so the output's low band is exactly the sinc upsampler's. 8 -> 16 kHz runs
8 -> 48 kHz through the model and resamples the result to 16 kHz.
"""

from __future__ import annotations

import math
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import soxr

from rtaudio.backends import ModelFileError, open_model
from rtaudio.cards import load_card
from rtaudio.engine.noise import position_noise
from rtaudio.rates import MODEL_RATE
from rtaudio.tasks import envelope

SIGMA_PURE = 1.0  # the predictor's noise level (x_t = 0), as in export/models.py
#: Margin of the soxr VHQ filters, measured: a cropped resample equals the whole-signal one
#: to < 1e-7 beyond 128 samples (of the lower of the two rates) from the crop edge.
SOXR_MARGIN = 128
MODELS_DIR = Path(__file__).resolve().parent.parent / "models"
DEFAULT_MODEL = MODELS_DIR / "upsample48k.onnx"
#: the graph's interface: what every band-extension network (ONNX or a checkpoint) is fed
NETWORK_INPUTS = ("cond", "x_t", "sigma", "cutoff")
#: card fields the kernel reads, with their types
CARD_FIELDS: dict[str, Any] = {
    "rate_pairs": list,
    "receptive_field": int,
    "s2d": int,
    "steps_default": int,
    "schedules": dict,
}


class Network(Protocol):
    """One band-extension network call by input name (an ONNX session, or a checkpoint in export/)."""

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]: ...


def envelope_maps(card: dict, model_path: Path) -> dict[int, envelope.EnvelopeMap]:
    """The card's envelope maps keyed by input rate (empty when the card names none)."""
    if "envelope" not in card:
        return {}
    path = model_path.parent / card["envelope"]["file"]
    try:
        return envelope.load_maps(path)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:  # np.load's ways of saying "not mine"
        raise ModelFileError(f"{path.name}: envelope maps unreadable ({' '.join(str(exc).split())})") from None


def band_gain(card: dict, in_rate: int, out_rate: int) -> float:
    """The card's calibrated high-band gain for a pair (a pair without its own: its input rate's).

    Calibrated per rate pair on held-out data (the LSD vs SNR trade-off); 8 -> 48 shares 8 -> 16's.
    """
    gains = card.get("hb_gain", {})
    same_in = [v for k, v in gains.items() if k.startswith(f"{in_rate}->")]
    return float(gains.get(f"{in_rate}->{out_rate}", same_in[0] if same_in else 1.0))


def context_for(card: dict, in_rate: int, out_rate: int, shaper_margin: int = 0) -> int:
    """One-sided context in input samples so a cropped window equals whole-signal output.

    ``shaper_margin``: the envelope post-filter's reach in 48 kHz samples (it needs the
    network's output, valid, that far beyond each output sample).
    """
    ratio = MODEL_RATE // in_rate
    half48 = (int(card["receptive_field"]) - 1) // 2 + int(card.get("s2d", 8))  # + s2d phase padding
    half48 += shaper_margin
    if out_rate != MODEL_RATE:
        half48 += SOXR_MARGIN * MODEL_RATE // out_rate
    return SOXR_MARGIN + math.ceil(half48 / ratio)


class NeuralUpsampleKernel:
    """Chunk kernel for the streaming engine."""

    #: any window length works: run() pads to whole space-to-depth blocks on the absolute grid
    quantum_in = 1

    def __init__(
        self,
        model_path: str | Path | None = None,
        in_rate: int = 16000,
        out_rate: int = 48000,
        steps: int | None = None,
        seed: int = 0,
        backend: str = "cpu",
        threads: int | None = None,
        sigmas: list[float] | None = None,
        network: Network | None = None,
        card: dict | None = None,
    ) -> None:
        path = Path(model_path) if model_path is not None else DEFAULT_MODEL
        # export/ runs checkpoints by handing in the network and the card it synthesised
        self.card = card if card is not None else load_card(path, "upsample", CARD_FIELDS)
        pairs = {tuple(p) for p in self.card["rate_pairs"]}
        if (in_rate, out_rate) not in pairs:
            raise ValueError(f"{path.name} supports {sorted(pairs)}, not {in_rate} -> {out_rate}")
        self.in_rate, self.out_rate = in_rate, out_rate
        self.ratio = MODEL_RATE // in_rate
        self.s2d = int(self.card.get("s2d", 8))
        self.seed = seed
        if sigmas is None:
            self.steps = int(self.card["steps_default"] if steps is None else steps)
            if str(self.steps) not in self.card["schedules"]:
                raise ValueError(
                    f"no {self.steps}-step schedule; the card has {sorted(self.card['schedules'], key=int)}"
                )
            sigmas = self.card["schedules"][str(self.steps)]
        self.sigmas = [float(s) for s in sigmas]
        self.steps = len(self.sigmas)
        # 8 -> 16 runs 8 -> 48 through the model, so its map is the 8 kHz one
        self.envelope = envelope_maps(self.card, path).get(in_rate)
        margin = envelope.margin_samples(self.envelope) if self.envelope is not None else 0
        self.context_in = context_for(self.card, in_rate, out_rate, margin)
        self.network = network or open_model(path, backend, threads, inputs=NETWORK_INPUTS, outputs=None)
        self._cutoff = np.array([in_rate / 2], dtype=np.float32)
        # High-band gain calibrated per rate pair on held-out data (LSD vs SNR trade-off).
        # A pair without its own value (8 -> 48) shares the one calibrated for its input rate.
        self.gain = band_gain(self.card, in_rate, out_rate)

    def run(self, window: np.ndarray, start: int) -> np.ndarray:
        """window: float32 (channels, n) at in_rate; start: absolute index of window[:, 0].

        Returns float32 (channels, n * out_rate // in_rate); a pure function of
        (window, start, seed, steps): the refiner noise is keyed to absolute position.
        """
        window = np.asarray(window, dtype=np.float32)
        if window.shape[1] == 0:
            return np.zeros((window.shape[0], 0), np.float32)
        st = self.predict(window, start)
        return self.finish(st, self.refine(st, self.sigmas))

    # The three stages are public so the schedule search can reuse one predictor pass.
    def predict(self, window: np.ndarray, start: int) -> _State:
        """Sinc-upsample the window and run the predictor (the 0-step output's high band)."""
        ch, n = window.shape
        up = soxr.resample(window.T, self.in_rate, MODEL_RATE, quality="VHQ").T  # (ch, n * ratio)
        # Align the space-to-depth blocks to absolute 48 kHz positions so every window groups
        # samples the same way the whole signal would.
        a48 = start * self.ratio
        left = a48 % self.s2d
        total = left + up.shape[1]
        cond = np.zeros((ch, 1, total + (-total % self.s2d)), np.float32)
        cond[:, 0, left:total] = up
        hb = self._net(cond, np.zeros_like(cond), SIGMA_PURE)
        return _State(cond, hb, a48 - left, left, total, n * self.out_rate // self.in_rate)

    def refine(self, st: _State, sigmas: list[float]) -> np.ndarray:
        """Refiner steps: re-noise the high band at sigma_k (noise keyed to position), denoise."""
        hb = st.hb0
        ch, _, t = st.cond.shape
        for k, s in enumerate(sigmas):
            eps = np.stack([position_noise(self.seed, c * 64 + k, st.start48, t) for c in range(ch)])
            x_t = (hb + np.float32(s) * eps[:, None, :]).astype(np.float32)
            hb = self._net(st.cond, x_t, s)
        return hb

    def _net(self, cond: np.ndarray, x_t: np.ndarray, sigma: float) -> np.ndarray:
        feeds = {"cond": cond, "x_t": x_t, "sigma": np.array([sigma], np.float32), "cutoff": self._cutoff}
        return next(iter(self.network.run(feeds).values()))

    def shape(self, st: _State, hb: np.ndarray) -> np.ndarray:
        """The envelope post-filter on the added band (identity without an envelope map)."""
        if self.envelope is None:
            return hb
        cond = st.cond[:, 0]
        return np.stack([envelope.shape(c, b, st.start48, self.envelope) for c, b in zip(cond, hb[:, 0], strict=True)])[
            :, None
        ]

    def finish(self, st: _State, hb: np.ndarray, gain: float | None = None) -> np.ndarray:
        """Shape the added band, scale it by the calibrated gain, add it to the input band."""
        hb = self.shape(st, hb)
        g = self.gain if gain is None else gain
        y = (st.cond + np.float32(g) * hb)[:, 0, st.left : st.total]
        if self.out_rate != MODEL_RATE:
            y = soxr.resample(y.T, MODEL_RATE, self.out_rate, quality="VHQ").T
        return np.ascontiguousarray(y[:, : st.n_out], dtype=np.float32)


@dataclass
class _State:
    cond: np.ndarray  # (ch, 1, T) sinc-upsampled, s2d-aligned
    hb0: np.ndarray  # predictor high band
    start48: int  # absolute 48 kHz index of cond[..., 0]
    left: int
    total: int
    n_out: int


def upsample(x: np.ndarray, kernel: NeuralUpsampleKernel) -> np.ndarray:
    """Whole-signal (offline) processing: one window with zero context, start 0. x: (ch, n)."""
    return kernel.run(x, 0)

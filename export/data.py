"""Corpora and low-resolution simulation for the neural upsampler.

Sources: the Debian starter corpus (klettres-data speech, asterisk G.722 prompts), VCTK 0.92
with NU-Wave's speaker split, or any folder of audio. Everything is stored at 48 kHz mono
float32 under ``data/`` (git-ignored); the split is recorded in ``export/split.json``.

Usage: ``python -m export.data debian`` | ``vctk ROOT`` | ``folder ROOT --heldout-frac 0.1``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
from scipy import signal

from rtaudio.rates import MODEL_RATE

DATA_DIR = Path("data/corpus")
SPLIT_FILE = Path(__file__).parent / "split.json"
KLETTRES_ROOT = Path("/usr/share/klettres")
ASTERISK_ROOT = Path("/usr/share/asterisk/sounds/en_US_f_Allison")
# Held out by language: German, Brazilian Portuguese, Ukrainian (different speakers and
# recording chains from the training languages).
KLETTRES_HELDOUT = ("de", "pt_BR", "uk")
# NU-Wave holds out the last 8 VCTK speakers (p347 and p351 lack mic2 / are excluded).
VCTK_HELDOUT = ("p360", "p361", "p362", "p363", "p364", "p374", "p376", "s5")
AUDIO_EXT = (".wav", ".flac", ".ogg", ".mp3", ".opus", ".aiff", ".aif", ".g722")


def load_audio(path: Path, rate: int = MODEL_RATE) -> np.ndarray:
    """Decode to mono float32 at ``rate`` (ffmpeg for formats libsndfile lacks, e.g. G.722)."""
    if path.suffix.lower() in (".g722", ".mp3", ".opus"):
        raw = subprocess.run(
            [
                "ffmpeg",
                "-v",
                "error",
                "-i",
                str(path),
                "-f",
                "f32le",
                "-ac",
                "1",
                "-ar",
                str(rate),
                "-",
            ],
            check=True,
            capture_output=True,
        ).stdout
        return np.frombuffer(raw, dtype=np.float32).copy()
    x, sr = sf.read(str(path), dtype="float32", always_2d=True)
    x = x.mean(axis=1)
    if sr != rate:
        x = soxr.resample(x, sr, rate, quality="VHQ").astype(np.float32)
    return x


def trim_silence(x: np.ndarray, rate: int, floor_db: float = -45.0, margin_s: float = 0.05) -> np.ndarray:
    """Drop leading/trailing silence so random crops rarely land on nothing."""
    hop = rate // 100
    n = len(x) // hop
    if n == 0:
        return x
    e = 10 * np.log10(np.mean(x[: n * hop].reshape(n, hop) ** 2, axis=1) + 1e-12)
    active = np.nonzero(e > e.max() + floor_db)[0]
    if active.size == 0:
        return x[:0]
    m = int(margin_s * rate)
    return x[max(0, active[0] * hop - m) : min(len(x), (active[-1] + 1) * hop + m)]


def bandwidth_hz(x: np.ndarray, rate: int = MODEL_RATE, floor_db: float = 45.0) -> float:
    """Effective bandwidth of a recording: the highest frequency whose level (averaged over the
    louder half of the frames, 9-bin smoothed) is within ``floor_db`` of the 0.3-4 kHz median.

    Separates genuinely wide-band recordings from ones made at 16 kHz (or Vorbis-lowpassed hard)
    and resampled up, which cannot serve as references for band extension.
    """
    n = 2048
    if len(x) < 2 * n:
        return 0.0
    frames = np.lib.stride_tricks.sliding_window_view(np.asarray(x, np.float64), n)[:: n // 4] * np.hanning(n)
    energy = np.sum(frames**2, axis=1)
    frames = frames[energy >= np.median(energy)]
    level = 10 * np.log10(np.mean(np.abs(np.fft.rfft(frames, axis=1)) ** 2, axis=0) + 1e-20)
    freqs = np.fft.rfftfreq(n, 1.0 / rate)
    ref = np.median(level[(freqs > 300) & (freqs < 4000)])
    smooth = np.convolve(np.pad(level, 4, mode="edge"), np.ones(9) / 9, mode="valid")  # edge-padded: no zero pull
    above = np.nonzero(smooth > ref - floor_db)[0]
    return float(freqs[above.max()]) if above.size else 0.0


def _write_split(name: str, train: list[np.ndarray], heldout: dict[str, np.ndarray], meta: dict) -> None:
    out = DATA_DIR / name
    (out / "heldout").mkdir(parents=True, exist_ok=True)
    np.save(out / "train.npy", np.concatenate(train).astype(np.float32))
    for key, x in heldout.items():
        sf.write(out / "heldout" / f"{key}.wav", x, MODEL_RATE, subtype="FLOAT")
    meta = {**meta, "train_seconds": round(sum(len(t) for t in train) / MODEL_RATE, 1)}
    meta["heldout_seconds"] = round(sum(len(h) for h in heldout.values()) / MODEL_RATE, 1)
    meta["heldout_files"] = sorted(heldout)
    splits = json.loads(SPLIT_FILE.read_text()) if SPLIT_FILE.exists() else {}
    splits[name] = meta
    SPLIT_FILE.write_text(json.dumps(splits, indent=1) + "\n")
    print(f"{name}: train {meta['train_seconds']} s, held-out {meta['heldout_seconds']} s")


def build_debian(min_bandwidth: float = 0.0) -> None:
    """klettres-data at 48 kHz split by language; asterisk G.722 prompts kept as a 16 kHz test set.

    With ``min_bandwidth`` (Hz) the corpus is ``klettres_wb``: only recordings whose effective
    bandwidth reaches it, on both sides of the split. About a sixth of klettres was recorded at
    16 kHz or lowpassed near 13 kHz by its Vorbis encoder; as training targets those teach a band
    extender to hedge, and as references they score a correct extension as an error.
    """
    train: list[np.ndarray] = []
    heldout: dict[str, np.ndarray] = {}
    narrow: list[str] = []
    langs = sorted({p.relative_to(KLETTRES_ROOT).parts[0] for p in KLETTRES_ROOT.glob("*/*/*.ogg")})
    for path in sorted(KLETTRES_ROOT.glob("*/*/*.ogg")):
        lang = path.relative_to(KLETTRES_ROOT).parts[0]
        x = trim_silence(load_audio(path), MODEL_RATE)
        if len(x) < MODEL_RATE // 4:
            continue
        key = "_".join(path.relative_to(KLETTRES_ROOT).with_suffix("").parts)
        if min_bandwidth and bandwidth_hz(x) < min_bandwidth:
            narrow.append(key)
            continue
        if lang in KLETTRES_HELDOUT:
            heldout[key] = x
        else:
            train.append(x)
    meta: dict = {
        "source": "Debian klettres-data (GPL-2+), 44.1 kHz Vorbis resampled to 48 kHz mono, silence-trimmed",
        "split": "by language",
        "train_languages": [x for x in langs if x not in KLETTRES_HELDOUT],
        "heldout_languages": list(KLETTRES_HELDOUT),
    }
    if min_bandwidth:
        meta["min_bandwidth_hz"] = min_bandwidth
        meta["excluded_narrowband"] = narrow
        _write_split("klettres_wb", train, heldout, meta)
    else:
        _write_split("klettres", train, heldout, meta)
    build_asterisk()


def build_asterisk() -> None:
    """``asterisk16k``: every 6th en_US prompt, 16 kHz, an 8->16 test set never trained on.

    The prompts are genuinely 16 kHz (G.722, ~7 kHz band), another speaker, studio and codec
    than klettres: the out-of-corpus speech the 8->16 target is measured on.
    """
    tel = DATA_DIR / "asterisk16k"
    tel.mkdir(parents=True, exist_ok=True)
    files = sorted(ASTERISK_ROOT.glob("*.g722"))[::6]
    for path in files:
        x = trim_silence(load_audio(path, 16000), 16000)
        if len(x) >= 8000:
            sf.write(tel / f"{path.stem}.wav", x, 16000, subtype="FLOAT")
    splits = json.loads(SPLIT_FILE.read_text()) if SPLIT_FILE.exists() else {}
    splits["asterisk16k"] = {
        "source": "Debian asterisk-core-sounds-en-g722 (CC-BY-SA 3.0), 16 kHz, ffmpeg-decoded",
        "split": "test only (never trained on): every 6th prompt of en_US_f_Allison",
        "files": len(list(tel.glob("*.wav"))),
    }
    SPLIT_FILE.write_text(json.dumps(splits, indent=1) + "\n")


def build_vctk(root: Path) -> None:
    """VCTK 0.92 (wav48_silence_trimmed/pXXX/*_mic1.flac) with NU-Wave's held-out speakers."""
    train: list[np.ndarray] = []
    heldout: dict[str, np.ndarray] = {}
    for path in sorted((root / "wav48_silence_trimmed").glob("*/*_mic1.flac")):
        x = load_audio(path)
        if path.parent.name in VCTK_HELDOUT:
            heldout[path.stem] = x
        else:
            train.append(x)
    _write_split(
        "vctk",
        train,
        heldout,
        {
            "source": f"VCTK 0.92 mic1 from {root}",
            "heldout_speakers": list(VCTK_HELDOUT),
        },
    )


def build_folder(root: Path, heldout_frac: float) -> None:
    """Any folder of audio; held-out by top-level subfolder (speaker) when there are several, else by file."""
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in AUDIO_EXT)
    groups = sorted({p.relative_to(root).parts[0] if len(p.relative_to(root).parts) > 1 else p.stem for p in files})

    def group(p: Path) -> str:
        parts = p.relative_to(root).parts
        return parts[0] if len(parts) > 1 else p.stem

    # A stable hash, so the split does not move when files are added.
    held = {g for g in groups if zlib.crc32(g.encode()) % 1000 < heldout_frac * 1000}
    train: list[np.ndarray] = []
    heldout: dict[str, np.ndarray] = {}
    for p in files:
        x = load_audio(p)
        if group(p) in held:
            heldout[str(p.relative_to(root).with_suffix("")).replace("/", "_")] = x
        else:
            train.append(x)
    _write_split(root.name, train, heldout, {"source": str(root), "heldout_groups": sorted(held)})


# ---------------------------------------------------------------------------------------------
# Low-resolution simulation
# ---------------------------------------------------------------------------------------------

METHODS = ("stft", "soxr", "poly", "cheby", "butter")


def stft_lowpass_decimate(x: np.ndarray, factor: int) -> np.ndarray:
    """NU-Wave's simulation: STFT brick-wall lowpass (n_fft 1024, hop 256), then decimate."""
    _, _, z = signal.stft(x, nperseg=1024, noverlap=768, nfft=1024, window="hann", boundary="even")
    z[1024 // (2 * factor) + 1 :] = 0
    _, y = signal.istft(z, nperseg=1024, noverlap=768, nfft=1024, window="hann", boundary=True)
    return y[: len(x)][::factor]


def degrade(
    x: np.ndarray,
    low_rate: int,
    method: str,
    rng: np.random.Generator,
    src_rate: int = MODEL_RATE,
) -> np.ndarray:
    """``src_rate`` (48 kHz) -> ``low_rate`` with one of several lowpass/resampler families."""
    factor = src_rate // low_rate
    if method == "stft":
        y = stft_lowpass_decimate(x, factor)
    elif method == "soxr":
        q = str(rng.choice(["VHQ", "HQ", "MQ", "LQ"]))
        y = soxr.resample(x, src_rate, low_rate, quality=q)
    elif method == "poly":
        y = signal.resample_poly(x, 1, factor, window=("kaiser", float(rng.uniform(4.0, 10.0))))
    else:
        # IIR lowpasses as in cheap resamplers and NU-Wave 2's Chebyshev augmentation; the edge
        # is placed at 0.85-1.0 of Nyquist so the model sees soft and hard band edges.
        edge = rng.uniform(0.85, 1.0) * low_rate / 2
        if method == "cheby":
            sos = signal.cheby1(int(rng.integers(6, 11)), 0.05, edge, fs=src_rate, output="sos")
        else:
            sos = signal.butter(int(rng.integers(6, 13)), edge, fs=src_rate, output="sos")
        y = signal.sosfiltfilt(sos, x)[::factor]
    return np.asarray(y, dtype=np.float32)


def sinc_up(x: np.ndarray, in_rate: int, out_rate: int) -> np.ndarray:
    """The runtime's interpolator (soxr VHQ); the network learns on exactly what it sees at run time."""
    return soxr.resample(np.asarray(x, dtype=np.float32), in_rate, out_rate, quality="VHQ").astype(np.float32)


def linear_up(x: np.ndarray, in_rate: int, out_rate: int) -> np.ndarray:
    n_out = len(x) * out_rate // in_rate
    t = np.arange(n_out) * in_rate / out_rate
    return np.interp(t, np.arange(len(x)), x).astype(np.float32)


def training_audio(corpus: str | list[str], load: Callable[[str], np.ndarray] | None = None) -> np.ndarray:
    """One corpus's training array (memory-mapped), or several concatenated (crops are drawn
    uniformly, so each corpus weighs by its length; a name listed twice weighs twice).
    ``load`` reads one corpus by name (default: its 48 kHz ``train.npy``)."""
    names = [corpus] if isinstance(corpus, str) else list(corpus)
    parts = [load(name) if load else np.load(DATA_DIR / name / "train.npy", mmap_mode="r") for name in names]
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


@dataclass
class Batch:
    target: np.ndarray  # (B, 1, T) 48 kHz
    cond: np.ndarray  # (B, 1, T) sinc-upsampled low-res input
    low_rate: int


class Sampler:
    """Random crops from a training array, degraded on the fly (one input rate per batch)."""

    def __init__(
        self, audio: np.ndarray, seg: int, rates: dict[int, float], seed: int, p_bandlimited: float = 0.0
    ) -> None:
        self.audio = audio
        self.p_bandlimited = p_bandlimited
        self.seg = seg
        self.rates = list(rates)
        self.probs = np.array(list(rates.values())) / sum(rates.values())
        self.rng = np.random.default_rng(seed)

    def batch(self, size: int) -> Batch:
        rng = self.rng
        low_rate = int(rng.choice(self.rates, p=self.probs))
        pad = 2048  # keeps filter edge transients out of the crop
        tgt, cond = [], []
        for _ in range(size):
            for _try in range(20):
                i = int(rng.integers(0, len(self.audio) - self.seg - 2 * pad))
                x = self.audio[i : i + self.seg + 2 * pad].astype(np.float64)
                if np.sqrt(np.mean(x[pad:-pad] ** 2)) > 3e-3:
                    break
            x *= 10 ** (rng.uniform(-20.0, 3.0) / 20) / max(np.abs(x).max(), 1e-4) * 0.5
            if rng.random() < self.p_bandlimited:
                # Audio that is already narrower than the input band (a 16 kHz file that was
                # really telephone audio): nothing near the input Nyquist, and nothing to add.
                edge = rng.uniform(0.3, 0.9) * low_rate / 2
                x = signal.sosfiltfilt(signal.butter(10, edge, fs=MODEL_RATE, output="sos"), x)
            low = degrade(x, low_rate, str(rng.choice(METHODS)), rng)
            up = sinc_up(low, low_rate, MODEL_RATE)
            tgt.append(x[pad:-pad])
            cond.append(up[pad : pad + self.seg])
        return Batch(
            np.stack(tgt)[:, None].astype(np.float32),
            np.stack(cond)[:, None].astype(np.float32),
            low_rate,
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("source", choices=["debian", "vctk", "folder"])
    ap.add_argument("root", nargs="?", type=Path)
    ap.add_argument("--heldout-frac", type=float, default=0.1)
    ap.add_argument(
        "--min-bandwidth",
        type=float,
        default=0.0,
        help="debian: keep only recordings whose effective bandwidth reaches this many Hz (-> klettres_wb)",
    )
    a = ap.parse_args()
    if a.source == "debian":
        build_debian(a.min_bandwidth)
    elif a.root is None:
        ap.error("root is required for vctk/folder")
    elif a.source == "vctk":
        build_vctk(a.root)
    else:
        build_folder(a.root, a.heldout_frac)


if __name__ == "__main__":
    main()

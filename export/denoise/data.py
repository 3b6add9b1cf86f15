"""Noisy/clean speech pairs for the denoiser: clean speech mixed with noise at 0-15 dB SNR.

Clean speech is the upsampler's corpus (``python -m export.data debian|vctk|folder`` builds it;
its split holds languages/speakers out), resampled to 16 kHz by :func:`export.vocoder.data.train_audio`.

Noise, in eight kinds, each with a training and a held-out part (disjoint recordings or
realisations, never shared):

- synthetic: ``white``; ``colored`` (1/f^a, a in 0.5-2: pink to brown); ``hum`` (50/60 Hz mains
  with random harmonic amplitudes, a little buzz and drift); ``fan`` (filtered noise, a
  blade-pass tone, slow amplitude modulation). Held-out realisations come from a separate seed
  stream;
- ``babble``: 3-7 overlapping talkers. Training babble is cut from the training speech (other
  positions, i.e. mostly other speakers/languages); held-out babble is built from a speaker the
  model never hears (Debian ``asterisk-core-sounds-en-g722``, CC-BY-SA 3.0);
- real recordings from Debian packages, split by file (stable hash): ``machine`` (game sound
  effects: motors, impacts, wind; ``colobot-common-sounds``, GPL-3+), ``typing`` (keyboard key
  press/release recordings; ``bucklespring-data``, GPL-2, split by key) and ``music``
  (``asterisk-moh-opsound-wav``, CC-BY-SA 3.0).

A paired corpus in VoiceBank-DEMAND's layout (``noisy_trainset_28spk_wav`` / ``clean_...``) trains
instead with a config's ``"pairs": "/path/to/root"`` (:class:`PairSampler`), and
``--vctk-demand ROOT`` writes its test set as ``data/denoise/vctk_demand_test``.

``python -m export.denoise.data`` writes the fixed held-out sets (``data/denoise/{dev,test}``:
noisy and clean wavs + ``manifest.json``) and ``export/denoise/split.json``.
"""

from __future__ import annotations

import argparse
import json
import zlib
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy import signal

from export.data import load_audio, training_audio, trim_silence
from export.evaluate import heldout_files
from export.vocoder.data import train_audio

RATE = 16000
OUT_DIR = Path("data/denoise")
SPLIT_FILE = Path(__file__).parent / "split.json"
#: band-limited training pairs: the low-pass edge range, Hz (telephone 7 kHz to a resampler's 7.9 kHz)
BANDLIMIT_HZ = (5500.0, 7900.0)
KINDS = ("white", "colored", "hum", "fan", "babble", "machine", "typing", "music")
SNR_RANGE = (0.0, 15.0)
COLOBOT = Path("/usr/share/games/colobot/sounds")
BUCKLE = Path("/usr/share/buckle/wav")
MOH = Path("/usr/share/asterisk/moh")
ASTERISK = Path("/usr/share/asterisk/sounds/en_US_f_Allison")
#: share of real recordings held out (by stable hash of the file or key name)
HELDOUT_FRAC = 0.25


def heldout_name(name: str) -> bool:
    """Stable split of a recording by name: the same file is always on the same side."""
    return zlib.crc32(name.encode()) % 1000 < HELDOUT_FRAC * 1000


def snr_db(speech: np.ndarray, noise: np.ndarray) -> float:
    """Power ratio of two signals in dB (over the whole segment)."""
    return float(10 * np.log10(np.sum(np.square(speech, dtype=np.float64)) / max(np.sum(np.square(noise)), 1e-20)))


def mix_at_snr(speech: np.ndarray, noise: np.ndarray, snr: float) -> np.ndarray:
    """``speech + g * noise`` with ``g`` chosen so that the segment's SNR is exactly ``snr`` dB."""
    p_s = np.mean(np.square(speech, dtype=np.float64))
    p_n = max(np.mean(np.square(noise, dtype=np.float64)), 1e-20)
    g = np.sqrt(p_s / (p_n * 10 ** (snr / 10)))
    return (speech + g * noise).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# Noise generators
# ---------------------------------------------------------------------------------------------


def _colored(n: int, alpha: float, rng: np.random.Generator) -> np.ndarray:
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / RATE)
    spec *= 1 / np.maximum(f, 20.0) ** (alpha / 2)
    return np.fft.irfft(spec, n)


def _hum(n: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(n) / RATE
    f0 = rng.choice([50.0, 60.0]) * (1 + rng.uniform(-0.01, 0.01))
    drift = 1 + 0.002 * np.sin(2 * np.pi * rng.uniform(0.05, 0.5) * t + rng.uniform(0, 2 * np.pi))
    phase = 2 * np.pi * f0 * np.cumsum(drift) / RATE
    out = np.zeros(n)
    decay = rng.uniform(0.3, 1.5)
    for k in range(1, int(7800 // f0)):
        odd = 1.0 if k % 2 else rng.uniform(0.1, 1.0)  # rectifier buzz is odd-heavy
        out += odd * k**-decay * rng.uniform(0.3, 1.0) * np.sin(k * phase + rng.uniform(0, 2 * np.pi))
    return out + 10 ** rng.uniform(-3.5, -2) * np.std(out) * rng.standard_normal(n)


def _fan(n: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(n) / RATE
    lo, hi = rng.uniform(60, 400), rng.uniform(800, 6000)
    sos = signal.butter(int(rng.integers(1, 4)), [lo, hi], btype="band", fs=RATE, output="sos")
    x = signal.sosfilt(sos, rng.standard_normal(n))
    blade = rng.uniform(80, 400)
    x += rng.uniform(0.0, 0.5) * np.std(x) * np.sin(2 * np.pi * blade * t + rng.uniform(0, 2 * np.pi))
    am = 1 + rng.uniform(0.0, 0.5) * np.sin(2 * np.pi * rng.uniform(0.1, 3.0) * t + rng.uniform(0, 2 * np.pi))
    return x * am


def _events(clips: list[np.ndarray], n: int, rate_hz: tuple[float, float], rng: np.random.Generator) -> np.ndarray:
    """Clips dropped at random times (Poisson-like onsets) into ``n`` samples."""
    out = np.zeros(n)
    per_s = rng.uniform(*rate_hz)
    t = int(rng.integers(0, RATE // 2))
    while t < n:
        c = clips[int(rng.integers(len(clips)))] * rng.uniform(0.3, 1.0)
        m = min(len(c), n - t)
        out[t : t + m] += c[:m]
        t += max(1, int(rng.exponential(RATE / per_s)))
    return out


class NoiseBank:
    """Noise of every kind for one side of the split (``heldout=False``: training).

    Parameters
    ----------
    heldout
        Which side: held-out recordings/realisations only, or training ones only.
    babble_source
        Speech to build babble from (training speech, or the unseen babble speaker).
    """

    def __init__(self, heldout: bool, babble_source: np.ndarray) -> None:
        self.heldout = heldout
        self.babble = babble_source
        pick = [p for p in sorted(COLOBOT.glob("*.wav")) if heldout_name(p.stem) == heldout]
        self.machine = [x for x in (load_audio(p, RATE) for p in pick) if len(x) > RATE // 4]
        keys = sorted({p.stem.split("-")[0] for p in BUCKLE.glob("*.wav")})
        keys = [k for k in keys if heldout_name(f"key{k}") == heldout]
        self.typing = [load_audio(p, RATE) for k in keys for p in sorted(BUCKLE.glob(f"{k}-*.wav"))]
        self.music = [load_audio(p, RATE) for p in sorted(MOH.glob("*.wav")) if heldout_name(p.stem) == heldout]
        if heldout and not self.music:  # five files: make sure one is held out whatever the hash says
            raise RuntimeError("no held-out music file")
        self.files = {
            "machine": [p.name for p in pick],
            "typing": [f"key {k}" for k in keys],
            "music": [p.name for p in sorted(MOH.glob("*.wav")) if heldout_name(p.stem) == heldout],
        }

    def noise(self, kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` samples of noise of ``kind`` (float64, arbitrary level)."""
        if kind == "white":
            x = rng.standard_normal(n)
        elif kind == "colored":
            x = _colored(n, rng.uniform(0.5, 2.0), rng)
        elif kind == "hum":
            x = _hum(n, rng)
        elif kind == "fan":
            x = _fan(n, rng)
        elif kind == "babble":
            x = np.zeros(n)
            for _ in range(int(rng.integers(3, 8))):
                i = int(rng.integers(0, len(self.babble) - n))
                s = np.asarray(self.babble[i : i + n], dtype=np.float64)
                x += s / (np.std(s) + 1e-4)
        elif kind == "machine":
            x = _events(self.machine, n, (0.5, 3.0), rng)
        elif kind == "typing":
            x = _events(self.typing, n, (3.0, 10.0), rng)
        elif kind == "music":
            m = self.music[int(rng.integers(len(self.music)))]
            i = int(rng.integers(0, len(m) - n))
            x = np.asarray(m[i : i + n], dtype=np.float64)
        else:
            raise ValueError(f"unknown noise kind {kind!r}")
        if np.std(x) < 1e-6:  # an event stream that happened to stay silent
            x = x + 1e-3 * rng.standard_normal(n)
        return x


def unseen_babble_speech() -> np.ndarray:
    """The held-out babble speaker (asterisk prompts), trimmed and concatenated."""
    return np.concatenate([trim_silence(load_audio(p, RATE), RATE) for p in sorted(ASTERISK.glob("*.g722"))[::3]])


class MixSampler:
    """Random training pairs: loud-enough speech crops, a noise kind, an SNR in ``snr_range``.

    A share ``p_clean`` of the items is clean speech (the model must leave it alone), and a
    share ``p_second`` gets a second noise kind on top. Both signals get one random gain
    (peak -30 to -1 dBFS): levels vary in the wild. A share ``p_bandlimit`` of the pairs is
    low-passed (both signals, one zero-phase Butterworth, edge uniform in :data:`BANDLIMIT_HZ`):
    audio that went through a 48 kHz device's resampler, a codec or a 7 kHz telephone band has no
    noise near 8 kHz either, and a model that never saw that collapses on it (measured: the
    shipped model's SI-SDR on a white-noise clip fell from 14.8 to 0.4 dB after a soxr 16 -> 48 ->
    16 kHz round trip, which removes only the band above ~7.8 kHz).
    """

    def __init__(
        self,
        speech: np.ndarray,
        bank: NoiseBank,
        seed: int,
        snr_range: tuple[float, float] = SNR_RANGE,
        p_clean: float = 0.05,
        p_second: float = 0.2,
        p_bandlimit: float = 0.0,
    ) -> None:
        self.speech, self.bank = speech, bank
        self.snr_range, self.p_clean, self.p_second = snr_range, p_clean, p_second
        self.p_bandlimit = p_bandlimit
        self.rng = np.random.default_rng(seed)

    def batch(self, size: int, length: int) -> tuple[np.ndarray, np.ndarray]:
        """(noisy, clean), float32 ``(size, length)`` each."""
        rng = self.rng
        noisy = np.empty((size, length), np.float32)
        clean = np.empty((size, length), np.float32)
        for b in range(size):
            for _ in range(20):
                i = int(rng.integers(0, len(self.speech) - length))
                s = np.asarray(self.speech[i : i + length], dtype=np.float64)
                if np.sqrt(np.mean(s**2)) > 3e-3:
                    break
            if rng.random() < self.p_clean:
                x = s.copy()
            else:
                noise = self.bank.noise(str(rng.choice(KINDS)), length, rng)
                if rng.random() < self.p_second:
                    extra = self.bank.noise(str(rng.choice(KINDS)), length, rng)
                    noise = noise / np.std(noise) + extra / np.std(extra) * 10 ** (rng.uniform(-15, -5) / 20)
                x = mix_at_snr(s, noise, rng.uniform(*self.snr_range)).astype(np.float64)
            if self.p_bandlimit and rng.random() < self.p_bandlimit:
                sos = signal.butter(10, rng.uniform(*BANDLIMIT_HZ), fs=RATE, output="sos")
                x, s = signal.sosfiltfilt(sos, x), signal.sosfiltfilt(sos, s)
            g = 10 ** (rng.uniform(-30.0, -1.0) / 20) / max(np.abs(x).max(), np.abs(s).max(), 1e-4)
            noisy[b], clean[b] = x * g, s * g
        return noisy, clean


class PairSampler:
    """Random aligned crops of a paired corpus (VoiceBank-DEMAND: ``noisy_*`` and ``clean_*`` folders
    of same-named wavs), resampled to 16 kHz; the same batch interface as :class:`MixSampler`."""

    def __init__(self, root: Path, seed: int, part: str = "trainset") -> None:
        noisy_dir, clean_dir = vctk_demand_dirs(root, part)
        self.noisy, self.clean = [], []
        for p in sorted(noisy_dir.glob("*.wav")):
            self.noisy.append(load_audio(p, RATE))
            self.clean.append(load_audio(clean_dir / p.name, RATE))
        if not self.noisy:
            raise FileNotFoundError(f"no wavs in {noisy_dir}")
        self.rng = np.random.default_rng(seed)

    def batch(self, size: int, length: int) -> tuple[np.ndarray, np.ndarray]:
        noisy = np.zeros((size, length), np.float32)
        clean = np.zeros((size, length), np.float32)
        for b in range(size):
            i = int(self.rng.integers(len(self.noisy)))
            n = min(len(self.noisy[i]), len(self.clean[i]))
            o = int(self.rng.integers(0, max(1, n - length)))
            m = min(length, n - o)
            noisy[b, :m], clean[b, :m] = self.noisy[i][o : o + m], self.clean[i][o : o + m]
        return noisy, clean


def vctk_demand_dirs(root: Path, part: str) -> tuple[Path, Path]:
    """The noisy and clean folders of VoiceBank-DEMAND's ``trainset`` or ``testset`` (28- or 56-speaker names)."""
    for tag in ("_28spk", "_56spk", ""):
        noisy, clean = root / f"noisy_{part}{tag}_wav", root / f"clean_{part}{tag}_wav"
        if noisy.is_dir() and clean.is_dir():
            return noisy, clean
    raise FileNotFoundError(f"{root} has no noisy_{part}*_wav / clean_{part}*_wav folders (VoiceBank-DEMAND layout)")


def training_sampler(
    corpus: str | list[str], seed: int, pairs: str | None = None, p_bandlimit: float = 0.0
) -> MixSampler | PairSampler:
    """The trainers' sampler: a paired corpus folder when ``pairs`` is given (VoiceBank-DEMAND),
    else the corpus' training speech (several: :func:`export.data.training_audio`) mixed with
    training noise (babble from training speech)."""
    if pairs:
        return PairSampler(Path(pairs), seed)
    speech = training_audio(corpus, lambda name: train_audio(name, RATE))
    return MixSampler(speech, NoiseBank(False, speech), seed, p_bandlimit=p_bandlimit)


# ---------------------------------------------------------------------------------------------
# Fixed held-out sets
# ---------------------------------------------------------------------------------------------


def utterances(corpus: str, part: str, seconds: float = 4.0, gap_s: float = 0.15) -> list[tuple[str, np.ndarray]]:
    """Held-out files of one language concatenated (in order, short gaps) into ~``seconds`` utterances.

    The starter corpus' files are single letters and syllables (median 0.7 s); PESQ and STOI
    want sentences' worth of speech.
    """
    groups: dict[str, list[Path]] = {}
    for p in heldout_files(corpus, part):
        groups.setdefault(p.stem.split("_")[0] if "_" in p.stem else p.stem, []).append(p)
    out = []
    gap = np.zeros(int(gap_s * RATE), np.float32)
    for lang, files in sorted(groups.items()):
        buf: list[np.ndarray] = []
        for p in files:
            buf += [load_audio(p, RATE), gap]
            if sum(map(len, buf)) >= seconds * RATE:
                out.append((f"{lang}_{len(out):03d}", np.concatenate(buf[:-1])))
                buf = []
        if sum(map(len, buf)) >= seconds * RATE / 2:
            out.append((f"{lang}_{len(out):03d}", np.concatenate(buf[:-1])))
    return out


def build_heldout(corpus: str, part: str, per_utterance: int, seed: int) -> dict:
    """Mix every held-out utterance with ``per_utterance`` held-out noises (kinds in rotation)."""
    rng = np.random.default_rng(seed)
    bank = NoiseBank(True, unseen_babble_speech())
    root = OUT_DIR / part
    (root / "noisy").mkdir(parents=True, exist_ok=True)
    (root / "clean").mkdir(parents=True, exist_ok=True)
    items = []
    k = 0
    for name, s in utterances(corpus, part):
        peak = 10 ** (rng.uniform(-12.0, -3.0) / 20) / max(np.abs(s).max(), 1e-4)
        s = (s * peak).astype(np.float32)
        for _ in range(per_utterance):
            kind = KINDS[k % len(KINDS)]
            k += 1
            snr = float(rng.uniform(*SNR_RANGE))
            x = mix_at_snr(s, bank.noise(kind, len(s), rng), snr)
            if np.abs(x).max() > 0.99:  # keep the mix unclipped, same gain on the reference
                g = 0.99 / np.abs(x).max()
                x, ref = x * g, s * g
            else:
                ref = s
            key = f"{name}_{kind}"
            sf.write(root / "noisy" / f"{key}.wav", x, RATE, subtype="FLOAT")
            sf.write(root / "clean" / f"{key}.wav", ref, RATE, subtype="FLOAT")
            items.append({"file": key, "noise": kind, "snr_db": round(snr, 2), "seconds": round(len(s) / RATE, 2)})
    manifest = {"corpus": corpus, "part": part, "rate": RATE, "items": items, "heldout_noise": bank.files}
    (root / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def build_pairs_heldout(root: Path, name: str = "vctk_demand_test") -> dict:
    """VoiceBank-DEMAND's test set as a held-out set ``data/denoise/<name>`` (its own speakers and noises)."""
    noisy_dir, clean_dir = vctk_demand_dirs(root, "testset")
    out = OUT_DIR / name
    (out / "noisy").mkdir(parents=True, exist_ok=True)
    (out / "clean").mkdir(parents=True, exist_ok=True)
    items = []
    for p in sorted(noisy_dir.glob("*.wav")):
        x, ref = load_audio(p, RATE), load_audio(clean_dir / p.name, RATE)
        n = min(len(x), len(ref))
        sf.write(out / "noisy" / p.name, x[:n], RATE, subtype="FLOAT")
        sf.write(out / "clean" / p.name, ref[:n], RATE, subtype="FLOAT")
        items.append({"file": p.stem, "noise": "demand", "snr_db": None, "seconds": round(n / RATE, 2)})
    manifest = {"corpus": str(root), "part": name, "rate": RATE, "items": items}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def heldout_pairs(part: str = "test", limit: int | None = None) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, noisy, clean) of a built held-out set, in manifest order (``limit`` spread evenly)."""
    root = OUT_DIR / part
    items = json.loads((root / "manifest.json").read_text())["items"]
    if limit:
        items = [items[i] for i in np.linspace(0, len(items) - 1, min(limit, len(items))).round().astype(int)]
    return [
        (
            it["file"],
            sf.read(root / "noisy" / f"{it['file']}.wav", dtype="float32")[0],
            sf.read(root / "clean" / f"{it['file']}.wav", dtype="float32")[0],
        )
        for it in items
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default="klettres")
    ap.add_argument("--per-utterance", type=int, default=3, help="noisy versions of each held-out utterance")
    ap.add_argument(
        "--vctk-demand", type=Path, help="also write VoiceBank-DEMAND's test set (data/denoise/vctk_demand_test)"
    )
    a = ap.parse_args()
    if a.vctk_demand:
        print(f"vctk_demand_test: {len(build_pairs_heldout(a.vctk_demand)['items'])} files")
    split = {"rate": RATE, "snr_db": list(SNR_RANGE), "kinds": list(KINDS), "corpus": a.corpus}
    for seed, part in enumerate(("dev", "test"), start=1):
        m = build_heldout(a.corpus, part, a.per_utterance, seed)
        split[part] = {"files": len(m["items"]), "seconds": round(sum(i["seconds"] for i in m["items"]), 1)}
        split["heldout_noise"] = m["heldout_noise"]
        print(f"{part}: {len(m['items'])} noisy files, {split[part]['seconds']} s")
    speech = np.zeros(RATE * 2, np.float32)
    split["train_noise"] = NoiseBank(False, speech).files
    split["babble"] = {"train": "training speech of the corpus", "heldout": "asterisk en_US_f_Allison (unseen)"}
    SPLIT_FILE.write_text(json.dumps(split, indent=1) + "\n")


if __name__ == "__main__":
    main()

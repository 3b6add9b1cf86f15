"""Held-out quality of an upsampler vs sinc (soxr VHQ) and linear interpolation.

``python -m export.evaluate MODEL [--steps 0 1 2 4] [--protocol stft soxr] [--out eval.json]``

MODEL is an exported ``.onnx`` (with its card) or a training ``.pt`` (torch backend). Inputs
are simulated from the held-out references: ``stft`` is NU-Wave's brick-wall lowpass and
decimation, ``soxr`` a real resampler. 16->48 and 24->48 use the held-out klettres languages;
8->16 uses them resampled to 16 kHz and the never-trained-on asterisk G.722 prompts.

The held-out files are split in two: every 5th file (from the 3rd) is the *dev* part, used only
to calibrate the high-band gain and search noise schedules (``export.schedule``); scores are
reported on the *test* part, which nothing was tuned on. ``--corpus klettres_wb`` is the
wide-band subset (references that really have a band above the input's Nyquist).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from export.checkpoint import upsample_kernel
from export.data import DATA_DIR, degrade, linear_up, sinc_up
from rtaudio.metrics import lsd, lsd_hf, snr
from rtaudio.metrics_band import band_realness, visqol_audio, visqol_available, whistle_db, whistle_excess_db

PAIRS = [(16000, 48000), (24000, 48000), (8000, 16000)]


DEV_EVERY, DEV_OFFSET = 5, 2


#: corpora that are test sets only, at this rate (Hz): every file is test, there is no dev part
TEST_ONLY = {"asterisk16k": 16000}


def heldout_files(corpus: str, part: str) -> list[Path]:
    """The ``dev`` (tuning) or ``test`` (reporting) part of a corpus' held-out split."""
    if corpus in TEST_ONLY:
        return sorted((DATA_DIR / corpus).glob("*.wav")) if part == "test" else []
    files = sorted((DATA_DIR / corpus / "heldout").glob("*.wav"))
    dev = {i for i in range(len(files)) if i % DEV_EVERY == DEV_OFFSET}
    return [f for i, f in enumerate(files) if (i in dev) == (part == "dev")]


def references(
    out_rate: int, corpus: str = "klettres", limit: int | None = None, part: str = "test"
) -> list[np.ndarray]:
    files = heldout_files(corpus, part)
    if limit:
        files = files[:: max(1, len(files) // limit)][:limit]
    refs = []
    for f in files:
        x, sr = sf.read(f, dtype="float32")
        refs.append(x if sr == out_rate else soxr.resample(x, sr, out_rate, quality="VHQ").astype(np.float32))
    if out_rate == 16000 and not limit and part == "test" and corpus.startswith("klettres"):
        refs += [sf.read(f, dtype="float32")[0] for f in sorted((DATA_DIR / "asterisk16k").glob("*.wav"))]
    return refs


def low_inputs(refs: list[np.ndarray], in_rate: int, out_rate: int, protocol: str) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    lows = []
    for r in refs:
        # Trim to whole input samples so every method returns exactly the reference length.
        step = out_rate // in_rate
        r = r[: len(r) // step * step]
        lows.append(degrade(r.astype(np.float64), in_rate, protocol, rng, src_rate=out_rate))
    return lows


def scores(
    refs: list[np.ndarray], ests: list[np.ndarray], in_rate: int, out_rate: int, perceptual: bool = False
) -> dict[str, float]:
    rows = [(lsd(r, e), lsd_hf(r, e, out_rate, in_rate), snr(r, e)) for r, e in zip(refs, ests, strict=True)]
    m = np.mean(np.array(rows), axis=0)
    # The mean of per-file dB is dominated by files that are already band-limited (sinc is
    # near-perfect there), so the median is reported beside it.
    med = float(np.median([r[2] for r in rows]))
    out = {
        "lsd": round(float(m[0]), 3),
        "lsd_hf": round(float(m[1]), 3),
        "snr": round(float(m[2]), 2),
        "snr_median": round(med, 2),
    }
    return out | (band_scores(refs, ests, in_rate, out_rate) if perceptual else {})


def band_scores(refs: list[np.ndarray], ests: list[np.ndarray], in_rate: int, out_rate: int) -> dict[str, float]:
    """ViSQOL v3 audio mode (None without visqol-python), and the added band's realness and whistles
    (rtaudio.metrics_band). The held-out files are 0.5-1.5 s, shorter than ViSQOL's patches need, so
    ViSQOL and the whistles (a long-term spectrum) see all files joined; the band classifier runs per file."""
    edge = in_rate / 2
    real = [band_realness(r, e, out_rate, edge) for r, e in zip(refs, ests, strict=True)]
    ref_all, est_all = np.concatenate(refs), np.concatenate(ests)
    return {
        "visqol": round(visqol_audio(ref_all, est_all, out_rate), 3) if visqol_available() else None,
        "band_real_acc": round(float(np.nanmean(real)), 3),
        "whistle_db": round(whistle_db(est_all, out_rate, edge)[0], 1),
        "whistle_ref_db": round(whistle_db(ref_all, out_rate, edge)[0], 1),
        "whistle_excess_db": round(whistle_excess_db(ref_all, est_all, out_rate, edge)[0], 1),
    }


def run_model(
    model: Path,
    lows: list[np.ndarray],
    in_rate: int,
    out_rate: int,
    steps: list[int],
    schedules: dict[str, list[float]] | None = None,
    threads: int = 2,
    seed: int = 0,
) -> dict[int, tuple[list[np.ndarray], float]]:
    """Whole-file (offline) outputs per step count, and the real-time factor of each.

    The predictor pass is shared by all step counts (it is the same computation).
    """
    k = upsample_kernel(model, in_rate, out_rate, steps=0, seed=seed, threads=threads)
    sched = schedules or k.card["schedules"]
    dur = sum(len(x) for x in lows) / in_rate
    t0 = time.perf_counter()
    states = [k.predict(x[None].astype(np.float32), 0) for x in lows]
    t_pred = time.perf_counter() - t0
    res = {}
    for n in steps:
        t0 = time.perf_counter()
        outs = [k.finish(st, k.refine(st, sched[str(n)]))[0] for st in states]
        res[n] = (outs, (t_pred + time.perf_counter() - t0) / dur)
    return res


def evaluate(
    model: Path,
    steps: list[int],
    protocols: list[str],
    limit: int | None = None,
    schedules: dict[str, list[float]] | None = None,
    corpus: str = "klettres",
    perceptual: bool = False,
    part: str = "test",
    pairs: list[tuple[int, int]] | None = None,
) -> dict:
    what = {"music": "pieces with held-out instruments"}.get(corpus, "languages de, pt_BR, uk")
    extra = " (+ asterisk G.722 prompts for 8->16 without --limit)" if corpus.startswith("klettres") else ""
    result: dict = {"heldout": f"{corpus} {part} part: {what}{extra}", "pairs": {}}
    for in_rate, out_rate in pairs or PAIRS:
        refs = references(out_rate, corpus, limit, part)
        key = f"{in_rate}->{out_rate}"
        res = result["pairs"].setdefault(key, {"files": len(refs), "seconds": round(sum(map(len, refs)) / out_rate)})
        for proto in protocols:
            lows = low_inputs(refs, in_rate, out_rate, proto)
            sinc = [sinc_up(x, in_rate, out_rate) for x in lows]
            linear = [linear_up(x, in_rate, out_rate) for x in lows]
            row: dict = {
                "sinc": scores(refs, sinc, in_rate, out_rate, perceptual),
                "linear": scores(refs, linear, in_rate, out_rate, perceptual),
            }
            for n, (outs, rtf) in run_model(model, lows, in_rate, out_rate, steps, schedules).items():
                row[f"model_{n}step"] = scores(refs, outs, in_rate, out_rate, perceptual) | {
                    "rtf_offline": round(rtf, 3)
                }
            print(key, proto, json.dumps(row), flush=True)
            res[proto] = row
    return result


def table(result: dict) -> str:
    extra = [
        k
        for k in ("visqol", "band_real_acc", "whistle_db", "whistle_ref_db", "whistle_excess_db")
        if any(
            k in s
            for res in result["pairs"].values()
            for row in res.values()
            if isinstance(row, dict)
            for s in row.values()
        )
    ]
    lines = [
        "| pair | protocol | method | LSD | LSD-HF | SNR dB (mean) | SNR dB (median) |"
        + "".join(f" {k} |" for k in extra),
        "| --- | --- | --- | --- | --- | --- | --- |" + " --- |" * len(extra),
    ]
    for key, res in result["pairs"].items():
        for proto, row in res.items():
            if not isinstance(row, dict):
                continue
            for name, s in row.items():
                lines.append(
                    f"| {key} | {proto} | {name} | {s['lsd']} | {s['lsd_hf']} | {s['snr']} | {s['snr_median']} |"
                    + "".join(f" {s.get(k)} |" for k in extra)
                )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", type=Path)
    ap.add_argument("--steps", type=int, nargs="+", default=[0])
    ap.add_argument("--protocol", nargs="+", default=["stft", "soxr"], choices=["stft", "soxr", "poly", "cheby"])
    ap.add_argument("--limit", type=int, help="evaluate on this many held-out files only")
    ap.add_argument("--corpus", default="klettres", help="corpus under data/corpus (default klettres)")
    ap.add_argument("--part", default="test", choices=["test", "dev"], help="held-out part (dev: choices only)")
    ap.add_argument("--pairs", nargs="+", default=None, metavar="IN:OUT", help="kHz pairs (default 16:48 24:48 8:16)")
    ap.add_argument("--schedules", type=Path, help="schedules JSON (for .pt models without a card)")
    ap.add_argument("--out", type=Path)
    ap.add_argument(
        "--perceptual",
        action="store_true",
        help="also ViSQOL v3 audio mode (visqol-python; seconds per file), the band classifier and whistle peaks",
    )
    a = ap.parse_args()
    sched = json.loads(a.schedules.read_text())["schedules"] if a.schedules else None
    pairs = [tuple(int(1000 * float(v)) for v in p.split(":")) for p in a.pairs] if a.pairs else None
    rate = TEST_ONLY.get(a.corpus)
    # a corpus recorded at R has no reference above R/2: only pairs up to R can be scored
    if rate and (not pairs or any(out > rate for _, out in pairs)):
        ap.error(f"--corpus {a.corpus} is {rate} Hz audio: give --pairs with outputs up to that rate")
    result = evaluate(a.model, a.steps, a.protocol, a.limit, sched, a.corpus, a.perceptual, a.part, pairs)
    print(table(result))
    if a.out:
        a.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()

"""``rtaudio bench``: report schema and internal consistency of its figures (never speed)."""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from rtaudio.benchmark import (
    SCHEMA,
    BenchClip,
    BenchConfig,
    backend_unavailable,
    boundary_errors,
    eval_clips,
    is_faithful,
    plot_report,
    run_bench,
    run_case,
    select_models,
    steps_for,
)
from rtaudio.commands.bench import report_notes, report_tables
from rtaudio.engine.processor import Processor
from rtaudio.registry import ModelInfo, shipped_models
from rtaudio.tasks.resample import SincKernel
from tests.conftest import run_cli

PAIRS = ((16000, 48000), (8000, 16000))
QUALITY = ("lsd", "lsd_hf", "snr_db", "parity_snr_db", "boundary_err_dbfs", "max_err_dbfs")


@pytest.fixture(scope="module")
def report() -> dict:
    """A small baseline-only run: one 1.5 s clip of each material (speech, music), two rate pairs."""
    return run_bench(BenchConfig(models=[], pairs=PAIRS, clips=1, max_seconds=1.5))


def test_report_schema(report: dict) -> None:
    assert report["schema"] == SCHEMA
    machine = report["machine"]
    for key in ("cpu_model", "cores", "usable_cores", "python", "numpy", "onnxruntime", "soxr"):
        assert machine[key], key
    assert report["backends"] == {"cpu": "available"}
    assert set(report["config"]["clips"]) == {"16000->48000", "8000->16000"}
    json.dumps(report, allow_nan=False)  # finite numbers only: strict JSON readers accept it


def test_baselines_present_for_every_pair(report: dict) -> None:
    for a, b in PAIRS:
        rows = {r["model"]: r for r in report["results"] if (r["in_rate"], r["out_rate"]) == (a, b)}
        assert set(rows) >= {"sinc", "linear"}
        for name in ("sinc", "linear"):
            assert rows[name]["status"] == "ok"
            assert rows[name]["kind"] == "baseline" and rows[name]["steps"] is None and rows[name]["params"] == 0


def test_figures_are_consistent(report: dict) -> None:
    for r in report["results"]:
        assert r["status"] == "ok", r["status"]
        assert r["audio_seconds"] == pytest.approx(2 * 1.5)
        assert r["rtf"] == pytest.approx(r["compute_seconds"] / r["audio_seconds"], rel=1e-3, abs=1e-6)
        # per-chunk RTF is chunk compute over chunk audio, so its median is p50 / chunk length
        assert r["rtf_median"] == pytest.approx(r["chunk_p50_ms"] / r["chunk_ms"], rel=1e-3, abs=1e-6)
        assert 0 < r["chunk_p50_ms"] <= r["chunk_p99_ms"]
        assert 0 < r["rtf_median"] <= r["rtf_p95"]
        # every input sample sits in some chunk; flush adds at most the pipeline's delay
        assert r["chunks"] * r["chunk_ms"] >= r["audio_seconds"] * 1e3
        flush = r["clips"] * (2 * r["latency_ms"] + r["chunk_ms"])  # per clip
        assert r["chunks"] * r["chunk_ms"] <= r["audio_seconds"] * 1e3 + flush
        assert r["latency_ms"] >= r["chunk_ms"]
        assert r["peak_rss_mb"] > 0 and r["rtf_offline"] > 0
        for key in QUALITY:
            assert math.isfinite(r[key]), key
        assert r["boundary_err_dbfs"] <= r["max_err_dbfs"]
        assert len(r["per_clip"]) == r["clips"] == 2
        assert r["lsd"] == pytest.approx(np.mean([c["lsd"] for c in r["per_clip"]]), abs=1e-3)
        # reported apart per material, each the mean of its own clips
        assert {c["group"] for c in r["per_clip"]} == set(r["quality_by_group"]) == {"speech", "music"}
        for group, figures in r["quality_by_group"].items():
            own = [c["lsd"] for c in r["per_clip"] if c["group"] == group]
            assert figures["lsd"] == pytest.approx(np.mean(own), abs=1e-3)


def test_streamed_baselines_match_offline_and_reference(report: dict) -> None:
    for r in report["results"]:
        assert r["parity_snr_db"] > 60, r  # baselines are deterministic: streaming changes nothing
        if r["model"] == "sinc":
            # output and reference are aligned: the input band alone gives well over 20 dB
            assert r["snr_db"] > 20, r
            assert r["lsd_hf"] >= r["lsd"] * 0.5


def test_eval_clips_lengths_are_exact() -> None:
    for a, b in PAIRS + ((24000, 48000),):
        for clip in eval_clips(a, b, max_seconds=1.0):
            assert isinstance(clip, BenchClip) and clip.source.dtype == clip.reference.dtype == np.float32
            assert len(clip.reference) * a == len(clip.source) * b
            assert len(clip.source) == a  # one second


def test_unavailable_backend_is_a_row_not_a_fallback() -> None:
    if backend_unavailable("cuda") is None:
        pytest.skip("this machine has CUDA")
    info = ModelInfo("fake", "upsample", {"schedules": {"0": []}, "params": 10}, Path("fake.onnx"))
    clip = eval_clips(16000, 48000, count=1, max_seconds=0.5)
    result = run_case(info, (16000, 48000), 0, "cuda", clip, BenchConfig())
    assert result.status.startswith("unavailable: ")
    assert result.rtf is None and result.quality["lsd"] is None and result.params == 10


def test_broken_model_is_a_failed_row(tmp_path: Path) -> None:
    onnx = tmp_path / "broken.onnx"
    onnx.write_bytes(b"not an onnx graph")
    card = {"name": "broken", "task": "upsample", "pairs": [[16000, 48000]], "rate_pairs": [[16000, 48000]]}
    card |= {"schedules": {"0": []}, "steps_default": 0, "sha256": "0" * 64}
    onnx.with_suffix(".json").write_text(json.dumps(card))
    info = ModelInfo("broken", "upsample", card, onnx)
    clip = eval_clips(16000, 48000, count=1, max_seconds=0.5)
    result = run_case(info, (16000, 48000), 0, "cpu", clip, BenchConfig())
    assert result.status.startswith("failed: ") and result.rtf is None


def test_quick_budget_skips_and_says_so() -> None:
    sinc = shipped_models("upsample")[0]
    clip = eval_clips(16000, 48000, count=1, max_seconds=0.5)
    result = run_case(sinc, (16000, 48000), None, "cpu", clip, BenchConfig(quick=True), deadline=time.time() - 1)
    assert result.status.startswith("skipped: --quick") and "without --quick" in result.status
    assert result.rtf is None and result.per_clip == []


@pytest.mark.parametrize("model", [m for m in shipped_models("upsample") if m.path is not None], ids=lambda m: m.name)
def test_shipped_neural_model_row(model: ModelInfo) -> None:
    steps = int(model.card.get("steps_default", 0))
    report = run_bench(
        BenchConfig(models=[model.name], steps=[steps], pairs=[(16000, 48000)], clips=1, max_seconds=0.5)
    )
    (row,) = [r for r in report["results"] if r["model"] == model.name]
    assert row["status"] == "ok", row["status"]
    assert row["kind"] == "neural" and row["steps"] == steps and row["params"] == model.card.get("params")
    assert row["rtf"] == pytest.approx(row["compute_seconds"] / row["audio_seconds"], rel=1e-3, abs=1e-6)
    for key in QUALITY:
        assert math.isfinite(row[key]), key
    assert row["boundary_err_dbfs"] <= row["max_err_dbfs"]


@pytest.mark.skipif(not shipped_models("vocode"), reason="no vocoder shipped")
def test_vocoder_rows() -> None:
    report = run_bench(BenchConfig(task="vocode", steps=[0], clips=1, max_seconds=1.0))
    assert report["config"]["task"] == "vocode" and all(a == b for a, b in report["config"]["pairs"])
    assert {r["kind"] for r in report["results"]} == {"neural"}  # sinc/linear are not vocoders
    for row in report["results"]:
        assert row["status"] == "ok", row["status"]
        assert "snr_db" not in row and "lsd_hf" not in row  # upsampling figures only
        assert math.isfinite(row["lsd"]) and math.isfinite(row["parity_snr_db"])
        assert row["rtf_median"] == pytest.approx(row["chunk_p50_ms"] / row["chunk_ms"], rel=1e-3, abs=1e-6)
    con = Console(record=True, width=200, no_color=True)
    for table in report_tables(report):
        con.print(table)
    assert "resynthesis" in con.export_text()


def test_faithful_cards() -> None:
    assert is_faithful({"faithful": True}) and is_faithful({"configuration": "paper"})
    assert is_faithful({"kind": "WaveGrad (paper base configuration)"})
    assert not is_faithful({"kind": "frame-rate predictor + WaveGrad refiner of its residual"})
    assert not any(is_faithful(m.card) for m in shipped_models("upsample") if m.path is None)


def test_steps_for() -> None:
    card = {"schedules": {"0": [], "1": [0.1], "2": [0.2, 0.1], "4": [0.1] * 4}, "steps_default": 2}
    info = ModelInfo("m", "upsample", card, Path("m.onnx"))
    assert steps_for(info, BenchConfig()) == [0, 1, 2, 4]
    assert steps_for(info, BenchConfig(quick=True)) == [0, 2]
    assert steps_for(info, BenchConfig(steps=[8, 1])) == [1, 8]  # requested: 8 becomes an unavailable row
    baseline = shipped_models("upsample")[0]
    assert steps_for(baseline, BenchConfig(steps=[1, 2])) == [None]


def test_every_shipped_model_is_benchmarked() -> None:
    names = [m.name for m in select_models(BenchConfig())]
    assert names[:2] == ["sinc", "linear"]
    assert set(names) == {m.name for m in shipped_models("upsample")}


def test_boundary_error_sees_clicks_at_chunk_boundaries() -> None:
    proc = Processor(SincKernel(16000, 48000), chunk=320, crossfade=80)
    hop = proc.hop * 3
    offline = np.zeros(20 * hop, np.float32)
    click = offline.copy()
    click[5 * hop + 2] = 0.1  # inside the crossfade that starts chunk 5
    boundary, worst = boundary_errors(click, offline, proc)
    assert boundary == pytest.approx(-20.0) and worst == pytest.approx(-20.0)
    interior = offline.copy()
    interior[5 * hop + hop // 2] = 0.1  # mid-chunk, far from any crossfade
    boundary, worst = boundary_errors(interior, offline, proc)
    assert worst == pytest.approx(-20.0) and boundary == -200.0


def test_table_marks_missing_paper_config(report: dict) -> None:
    if report["faithful"]["present"]:
        pytest.skip("a faithful configuration is shipped")
    con = Console(record=True, width=200, no_color=True)
    for table in report_tables(report):
        con.print(table)
    for line in report_notes(report):
        con.print(line)
    text = con.export_text()
    assert "paper config" in text and "missing" in text
    assert "sinc" in text and "linear" in text and report["machine"]["cpu_model"] in text


def test_plot_writes_png(report: dict, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    out = tmp_path / "bench.png"
    plot_report(report, str(out))
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_without_matplotlib_is_one_clear_error(report: dict, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(RuntimeError, match="matplotlib"):
        plot_report(report, str(tmp_path / "x.png"))


def test_cli_quick_json(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    args = ("--quick", "--models", "sinc", "--pairs", "16:48", "--backends", "cpu,cuda", "--chunk-ms", "40")
    res = run_cli("bench", *args, "--json", str(out))
    assert res.returncode == 0, res.stderr.decode()
    report = json.loads(out.read_text())
    assert report["config"]["quick"] and report["config"]["pairs"] == [[16000, 48000]]
    assert {r["model"] for r in report["results"]} == {"sinc", "linear"}
    assert {r["chunk_ms"] for r in report["results"]} == {40.0}
    if backend_unavailable("cuda"):
        assert report["backends"]["cuda"].startswith("unavailable: ")
        assert "backend cuda: unavailable" in res.stdout.decode()
    assert "RTF" in res.stdout.decode()


def test_cli_rejects_bad_options() -> None:
    res = run_cli("bench", "--backends", "gpu")
    assert res.returncode == 2 and b"unknown backend" in res.stderr and b"Traceback" not in res.stderr
    res = run_cli("bench", "--steps", "a,b")
    assert res.returncode == 2 and b"Traceback" not in res.stderr
    res = run_cli("bench", "--quick", "--json", "/nonexistent/folder/bench.json")  # refused before measuring
    assert res.returncode == 2 and b"cannot write" in res.stderr and b"Traceback" not in res.stderr


def test_denoise_bench_measures_the_peers_on_the_same_clips(monkeypatch) -> None:
    from rtaudio import peers
    from rtaudio.tasks.denoise import quality

    report = run_bench(BenchConfig(task="denoise", clips=2, max_seconds=2.0))
    rows = {r["model"]: r for r in report["peers"]["16000->16000"]}
    assert set(rows) == {"noisy input", *peers.PEERS}
    clips = _denoise_bench_clips(report)
    noisy = [quality(c.reference, c.source, 16000)["pesq_wb"] for c in clips]
    assert rows["noisy input"]["pesq_wb"] == pytest.approx(float(np.mean(noisy)), abs=1e-6)
    for name in peers.PEERS:  # the peers extra may be absent: then a row saying why, never an error
        r = rows[name]
        if "unavailable" in r:
            assert r["unavailable"].startswith("unavailable: ")
        else:
            assert math.isfinite(r["pesq_wb"]) and r["rtf"] > 0 and 10 <= r["latency_ms"] <= 100
    con = Console(record=True, width=220, no_color=True)
    for table in report_tables(report):
        con.print(table)
    text = con.export_text()
    assert "noisy input" in text and "rnnoise" in text and "deepfilternet3" in text

    monkeypatch.setattr(peers, "load_peer", lambda name, calibration=None: "unavailable: not here")
    missing = run_bench(BenchConfig(task="denoise", clips=1, max_seconds=1.0))
    assert [r.get("unavailable") for r in missing["peers"]["16000->16000"][1:]] == ["unavailable: not here"] * 2
    con = Console(record=True, width=220, no_color=True)
    for table in report_tables(missing):
        con.print(table)
    assert "not here" in con.export_text()


def _denoise_bench_clips(report: dict) -> list:
    from rtaudio.tasks.denoise import bench_dir, bench_pairs_from

    names = report["config"]["clips"]["16000->16000"]
    clips = [c for c in bench_pairs_from(bench_dir(), None, report["config"]["clip_seconds"]) if c.name in names]
    assert len(clips) == len(names)
    return clips


def test_tasks_without_peers_report_none(report: dict) -> None:
    assert report["peers"] == {f"{a}->{b}": [] for a, b in PAIRS}

"""Tasks as objects: adding one is one module and one registration, and everything goes through it."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import rtaudio
from rtaudio import cli, registry
from rtaudio.cards import CardError, load_card, require, sha256_file
from rtaudio.tasks.task import BenchClip, Figure, ModelInfo, Plan, Request, Task


class PolarityKernel:
    """A window kernel that flips polarity (and scales by a task option)."""

    quantum_in = 1
    context_in = 0

    def __init__(self, rate: int, gain: float) -> None:
        self.in_rate = self.out_rate = rate
        self.gain = gain

    def run(self, window: np.ndarray, start: int) -> np.ndarray:
        return (-self.gain * window).astype(np.float32)


class InvertTask(Task):
    name = "invert"
    summary = "flip polarity (a test task)"
    baselines = ("flip",)
    figures = (Figure("err", "error"),)

    def build(self, model: ModelInfo, request: Request) -> Plan:
        kernel = PolarityKernel(request.source_rate, request.options.get("invert_gain") or 1.0)
        rate = request.source_rate
        return Plan(kernel, kernel, model, self, rate, rate, rate)

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument_group("invert").add_argument("--invert-gain", type=float, default=None)

    def option_names(self) -> tuple[str, ...]:
        return ("invert_gain",)

    def bench_pairs(self, models):
        return [(8000, 8000)]

    def bench_clips(self, pair, count, seconds):
        x = np.random.default_rng(0).standard_normal(4000).astype(np.float32) * 0.1
        return [BenchClip("noise", x, -x)]

    def quality(self, clip, estimate, pair, model):
        return {"err": float(np.abs(clip.reference - estimate).max())}


@pytest.fixture
def invert_registered(monkeypatch: pytest.MonkeyPatch) -> InvertTask:
    task = InvertTask()
    monkeypatch.setitem(registry.TASKS, task.name, task)  # the one registration
    return task


def test_a_new_task_is_one_registration_away(invert_registered: InvertTask, tmp_path: Path) -> None:
    # the embedding API
    p = rtaudio.open("invert", rate=8000, options={"invert_gain": 2.0})
    x = np.linspace(-0.1, 0.1, 500, dtype=np.float32)
    y = np.concatenate([p.process(x), p.flush()])
    np.testing.assert_allclose(y, -2.0 * x, atol=1e-7)
    # the CLI: its option, its default model (the baseline), the models listing
    src, out = tmp_path / "in.wav", tmp_path / "out.wav"
    sf.write(src, x, 8000, subtype="FLOAT")
    assert cli.main(["stream", str(src), str(out), "--task", "invert", "--invert-gain", "0.5"]) == 0
    np.testing.assert_allclose(sf.read(out, dtype="float32")[0], -0.5 * x, atol=1e-7)
    assert [m.name for m in registry.shipped_models("invert")] == ["flip"]
    # the bench: its material, its figures, its baseline row
    from rtaudio.benchmark import BenchConfig, run_bench

    report = run_bench(BenchConfig(task="invert"))
    (row,) = report["results"]
    assert row["status"] == "ok" and row["err"] == 0.0 and row["kind"] == "baseline"
    assert report["figures"][0]["key"] == "err"


def test_unknown_task_is_one_line_everywhere(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(registry.ModelError, match="unknown task 'bogus'"):
        rtaudio.open("bogus")
    assert cli.main(["models", "--task", "bogus"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown task" in err[0]


def test_no_task_name_branches_outside_the_task_modules() -> None:
    """Commands, API, engine, live and bench never ask which task they serve."""
    root = Path(rtaudio.__file__).parent
    task_files = {root / "tasks"}
    offenders = []
    for path in root.rglob("*.py"):
        if any(folder in path.parents for folder in task_files):
            continue
        text = path.read_text()
        for name in registry.TASKS:
            for pattern in (f'task == "{name}"', f'task != "{name}"', f"task == '{name}'"):
                if pattern in text:
                    offenders.append(f"{path.relative_to(root)}: {pattern}")
    assert offenders == []


def test_card_for_another_task_is_refused(tmp_path: Path) -> None:
    shipped = registry.models_dir() / "vocoder24k.onnx"
    model = tmp_path / shipped.name
    shutil.copy(shipped, model)
    shutil.copy(shipped.with_suffix(".json"), model.with_suffix(".json"))
    with pytest.raises(CardError, match="'vocode' model"):
        rtaudio.open("upsample", model=str(model))
    with pytest.raises(CardError, match="'vocode' model"):
        load_card(model, "upsample")


def test_card_fields_are_checked_by_name_and_type() -> None:
    card = {"a": 1, "b": {"c": "x"}, "flag": True}
    require(card, {"a": int, "b.c": str}, "t.json")
    with pytest.raises(CardError, match="no 'b.d' field"):
        require(card, {"b.d": int}, "t.json")
    with pytest.raises(CardError, match="'a' is int, expected str"):
        require(card, {"a": str}, "t.json")
    with pytest.raises(CardError, match="'flag' is bool, expected int"):
        require(card, {"flag": int}, "t.json")  # JSON true is not a count


def test_every_side_file_is_sha_checked(tmp_path: Path) -> None:
    weights = tmp_path / "m.onnx"
    weights.write_bytes(b"weights")
    side = tmp_path / "extra.npz"
    side.write_bytes(b"side")
    card = {"task": "upsample", "sha256": sha256_file(weights), "parts": {"x": {"file": "extra.npz", "sha256": "0"}}}
    weights.with_suffix(".json").write_text(json.dumps(card))
    with pytest.raises(CardError, match="extra.npz: sha256"):
        load_card(weights, "upsample")
    card["parts"]["x"]["sha256"] = sha256_file(side)
    weights.with_suffix(".json").write_text(json.dumps(card))
    assert load_card(weights, "upsample")["parts"]["x"]["file"] == "extra.npz"

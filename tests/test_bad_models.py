"""Broken model files and cards: one line on stderr naming the file, exit 2, no output file.

Exactly what a user gets when training or copying their own model goes wrong: the sha256 in
the card matches (they regenerated it), but the file is not a model ONNX Runtime can load, or
not the model the card describes, or the card itself is wrong.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import rtaudio
from rtaudio.backends import ModelFileError
from rtaudio.cards import sha256_file, side_files
from rtaudio.registry import models_dir
from tests.conftest import run_cli

SHIPPED = models_dir() / "upsample48k.onnx"


def _copy_model(folder: Path) -> Path:
    """The shipped upsampler under a user's name, with every side file its card names."""
    model = folder / "mine.onnx"
    shutil.copy(SHIPPED, model)
    card = json.loads(SHIPPED.with_suffix(".json").read_text())
    for _, entry in side_files(card):
        shutil.copy(SHIPPED.parent / entry["file"], folder / entry["file"])
    model.with_suffix(".json").write_text(json.dumps(card))
    return model


def _edit_card(model: Path, edit: Callable[[dict], None]) -> None:
    card = json.loads(model.with_suffix(".json").read_text())
    edit(card)
    card["sha256"] = sha256_file(model)  # the user regenerated the card: the digest matches
    model.with_suffix(".json").write_text(json.dumps(card))


def _truncated(model: Path) -> None:
    model.write_bytes(model.read_bytes()[: model.stat().st_size // 2])
    _edit_card(model, lambda c: None)


def _garbage(model: Path) -> None:
    model.write_bytes(np.random.default_rng(0).bytes(4096))
    _edit_card(model, lambda c: None)


def _other_model(model: Path) -> None:
    shutil.copy(models_dir() / "vocoder24k.onnx", model)  # valid ONNX, another network
    _edit_card(model, lambda c: None)


def _missing_field(model: Path) -> None:
    _edit_card(model, lambda c: c.pop("schedules"))


def _mistyped_field(model: Path) -> None:
    _edit_card(model, lambda c: c.update(receptive_field="wide"))


def _other_task(model: Path) -> None:
    _edit_card(model, lambda c: c.update(task="vocode"))


def _not_json(model: Path) -> None:
    model.with_suffix(".json").write_text("{ this is not json")


def _broken_envelope(model: Path) -> None:
    card = json.loads(model.with_suffix(".json").read_text())
    side = model.parent / card["envelope"]["file"]
    side.write_bytes(b"PK\x03\x04 not a zip")

    def fix(c: dict) -> None:
        c["envelope"]["sha256"] = sha256_file(side)

    _edit_card(model, fix)


BREAKAGES = {
    "truncated": (_truncated, "ONNX Runtime cannot load"),
    "garbage": (_garbage, "ONNX Runtime cannot load"),
    "another model's graph": (_other_model, "graph inputs"),
    "card field missing": (_missing_field, "no 'schedules' field"),
    "card field mistyped": (_mistyped_field, "'receptive_field' is str"),
    "card for another task": (_other_task, "'vocode' model"),
    "card not JSON": (_not_json, "unreadable"),
    "envelope side file": (_broken_envelope, "envelope maps unreadable"),
}


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("clip") / "in.wav"
    sf.write(path, 0.1 * np.sin(np.arange(8000) / 5.0).astype(np.float32), 16000)
    return path


@pytest.mark.parametrize("breakage", list(BREAKAGES))
def test_broken_model_is_one_line_exit_2_and_no_output(breakage: str, tmp_path: Path, clip: Path) -> None:
    break_it, message = BREAKAGES[breakage]
    model = _copy_model(tmp_path)
    break_it(model)
    out = tmp_path / "out" / "o.wav"
    out.parent.mkdir()
    done = run_cli("stream", str(clip), str(out), "--model", str(model))
    err = done.stderr.decode().strip().splitlines()
    assert done.returncode == 2, done.stderr.decode()
    assert len(err) == 1 and err[0].startswith("rtaudio: error: ") and message in err[0], err
    assert "mine" in err[0] or "upsample48k_envelope" in err[0]  # names the file
    assert list(out.parent.iterdir()) == []  # no output, no leftover temporary
    with pytest.raises(ModelFileError, match=re.escape(message)):
        rtaudio.open("upsample", model=str(model), rate=16000)


def test_debug_shows_the_traceback(tmp_path: Path, clip: Path) -> None:
    model = _copy_model(tmp_path)
    _garbage(model)
    done = run_cli("--debug", "stream", str(clip), str(tmp_path / "o.wav"), "--model", str(model))
    assert done.returncode != 0 and b"Traceback" in done.stderr


def test_intact_copy_still_works(tmp_path: Path, clip: Path) -> None:
    model = _copy_model(tmp_path)
    done = run_cli("stream", str(clip), str(tmp_path / "o.wav"), "--model", str(model))
    assert done.returncode == 0, done.stderr.decode()


@pytest.mark.parametrize("chunk_ms", ["0.001", "1.5", "-3", "90000"])
def test_absurd_chunk_is_refused_with_the_usable_range(chunk_ms: str, tmp_path: Path, clip: Path) -> None:
    done = run_cli("stream", str(clip), str(tmp_path / "o.wav"), "--model", "sinc", f"--chunk-ms={chunk_ms}")
    err = done.stderr.decode().strip().splitlines()
    assert done.returncode == 2 and len(err) == 1 and "usable range 2..60000 ms" in err[0], err
    assert not (tmp_path / "o.wav").exists()
    with pytest.raises(ValueError, match="usable range"):
        rtaudio.open("upsample", "sinc", rate=16000, chunk_ms=float(chunk_ms))

"""Model cards: the one loader every task uses (JSON beside the model, sha256 checked).

A card is ``NAME.json`` beside ``NAME.onnx`` (or the model's other weight file). It records
what a user needs to trust the model (task, rates, latency, training data and command,
measured quality) and the sha256 of the weight file and of every side file it names (any
entry ``{"file": ..., "sha256": ...}``, e.g. the upsampler's envelope maps), all checked at
load. A card that is missing, unreadable, for another task, or lacks a field its task needs
is refused with one line naming the file and what is wrong.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from rtaudio.backends import ModelFileError

__all__ = ["CardError", "card_path", "load_card", "read_card", "require", "sha256_file", "side_files"]


class CardError(ModelFileError):
    """A card (or a file it names) is missing, unreadable, inconsistent or of the wrong shape."""


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB pieces."""
    h = hashlib.sha256()
    with Path(path).open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def card_path(model_path: Path) -> Path:
    """Where the card of ``model_path`` lives: same name, ``.json``."""
    return Path(model_path).with_suffix(".json")


def read_card(model_path: Path) -> dict[str, Any]:
    """The card beside ``model_path``, parsed but not verified (listing models is cheap)."""
    path = card_path(model_path)
    if not path.is_file():
        raise CardError(f"model card {path} is missing (expected beside {Path(model_path).name})")
    try:
        card = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CardError(f"model card {path} is unreadable: {' '.join(str(exc).split())}") from None
    if not isinstance(card, dict):
        raise CardError(f"model card {path} is not a JSON object")
    return card


def side_files(card: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Every ``{"file": ..., "sha256": ...}`` entry of a card, with its key path (``"envelope"``)."""

    def walk(node: Any, where: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
        if isinstance(node, Mapping):
            if "file" in node and "sha256" in node:
                yield where, node
            for key, value in node.items():
                yield from walk(value, f"{where}.{key}" if where else str(key))

    yield from walk(card, "")


def _check_sha(path: Path, expected: object, card_file: Path) -> None:
    if not path.is_file():
        raise CardError(f"{path} named by {card_file.name} is missing")
    digest = sha256_file(path)
    if digest != expected:
        raise CardError(
            f"{path.name}: sha256 {digest[:12]}... does not match its card {card_file.name} "
            f"({str(expected)[:12]}...); the file is corrupt or the card is stale"
        )


def require(card: Mapping[str, Any], fields: Mapping[str, type | tuple[type, ...]], source: str) -> None:
    """Refuse a card that lacks one of ``fields`` (dotted names allowed) or has one of the wrong type."""
    for name, kind in fields.items():
        node: Any = card
        for part in name.split("."):
            if not isinstance(node, Mapping) or part not in node:
                raise CardError(f"model card {source} has no {name!r} field")
            node = node[part]
        # bool is an int in Python; a card's true/false is never a count or a rate
        if not isinstance(node, kind) or (isinstance(node, bool) and bool not in _as_tuple(kind)):
            names = "/".join(k.__name__ for k in _as_tuple(kind))
            raise CardError(f"model card {source}: {name!r} is {type(node).__name__}, expected {names}")


def _as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def load_card(
    model_path: Path,
    task: str | None = None,
    fields: Mapping[str, type | tuple[type, ...]] | None = None,
) -> dict[str, Any]:
    """Load and verify the card of ``model_path``.

    Parameters
    ----------
    model_path
        The weight file (``.onnx``, ...); its card is beside it.
    task
        The task that will run it: a card for another task is refused.
    fields
        Fields the task needs and their types (dotted names reach into sub-objects).

    The weight file's sha256 and every side file's are checked.
    """
    model_path = Path(model_path)
    card = read_card(model_path)
    source = card_path(model_path)
    if task is not None and card.get("task") != task:
        raise CardError(
            f"{model_path.name} is a {card.get('task', 'untyped')!r} model (its card says so), not a {task!r} one"
        )
    require(card, {"sha256": str}, source.name)
    _check_sha(model_path, card["sha256"], source)
    for _, entry in side_files(card):
        if not isinstance(entry["file"], str):
            raise CardError(f"model card {source.name} names a side file that is not a file name: {entry['file']!r}")
        _check_sha(model_path.parent / entry["file"], entry["sha256"], source)
    if fields:
        require(card, fields, source.name)
    return card

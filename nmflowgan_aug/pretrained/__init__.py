"""Shipped pretrained weights: names, files and recorded SHA-256 checksums.

Each shipped model is a folder beside this file holding ``model.safetensors``, ``config.json`` and
``MODEL_CARD.md``; its checksum is recorded in ``registry.json`` (written by
:mod:`nmflowgan_aug.pretrained.release`) and verified on every load, so a corrupted or replaced file is
refused instead of silently producing wrong noise.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

__all__ = ["list_pretrained", "resolve_pretrained", "sha256_of"]

_HERE = Path(__file__).resolve().parent

#: ``registry.json``: name -> {"folder": folder beside this file, "sha256": of its model.safetensors}.
REGISTRY_FILE = _HERE / "registry.json"
_REGISTRY: dict[str, tuple[str, str]] = {
    name: (entry["folder"], entry["sha256"]) for name, entry in json.loads(REGISTRY_FILE.read_text()).items()
}


def list_pretrained() -> list[str]:
    """Names accepted by ``NMFlowGAN.from_pretrained(name)``."""
    return sorted(_REGISTRY)


def sha256_of(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def resolve_pretrained(name_or_path: str | os.PathLike, registry: dict[str, tuple[str, str]] | None = None) -> Path:
    """Folder holding ``model.safetensors`` + ``config.json`` for a shipped name or a local path.

    Args:
        name_or_path: a shipped name (see :func:`list_pretrained`) or a folder written by
            ``NMFlowGAN.save_pretrained``.
        registry: the name table (default: the shipped models); tests pass their own.

    Raises:
        FileNotFoundError: neither a saved-model folder nor a shipped name.
        ValueError: the shipped weights do not match their recorded SHA-256.
    """
    registry = _REGISTRY if registry is None else registry
    path = Path(name_or_path)
    if (path / "model.safetensors").is_file() and (path / "config.json").is_file():
        return path
    if str(name_or_path) in registry:
        folder_name, expected = registry[str(name_or_path)]
        folder = _HERE / folder_name if not Path(folder_name).is_absolute() else Path(folder_name)
        weights = folder / "model.safetensors"
        if not weights.is_file():
            raise FileNotFoundError(f"shipped model {name_or_path!r} is missing its weights file {weights}")
        actual = sha256_of(weights)
        if actual != expected:
            raise ValueError(
                f"checksum mismatch for shipped model {name_or_path!r}: {weights} has SHA-256 {actual}, "
                f"expected {expected}; reinstall nmflowgan_aug"
            )
        return folder
    raise FileNotFoundError(
        f"{name_or_path!s} is neither a folder with model.safetensors + config.json nor a shipped model "
        f"name; shipped models: {list_pretrained()}"
    )

"""Shipped pretrained weights: names, files and checksums."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["list_pretrained", "resolve_pretrained"]

_HERE = Path(__file__).resolve().parent

#: name -> (folder under this package, SHA-256 of its model.safetensors)
_REGISTRY: dict[str, tuple[str, str]] = {}


def list_pretrained() -> list[str]:
    """Names accepted by ``NMFlowGAN.from_pretrained(name)``."""
    return sorted(_REGISTRY)


def resolve_pretrained(name_or_path: str | os.PathLike) -> Path:
    """Folder holding ``model.safetensors`` + ``config.json`` for a shipped name or a local path.

    Raises:
        FileNotFoundError: neither a saved-model folder nor a shipped name.
    """
    path = Path(name_or_path)
    if (path / "model.safetensors").is_file() and (path / "config.json").is_file():
        return path
    if str(name_or_path) in _REGISTRY:
        return _HERE / _REGISTRY[str(name_or_path)][0]
    raise FileNotFoundError(
        f"{name_or_path!s} is neither a folder with model.safetensors + config.json nor a shipped model "
        f"name; shipped models: {list_pretrained()}"
    )

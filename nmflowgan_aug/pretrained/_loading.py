"""Loading helpers behind ``NMFlowGAN.from_pretrained``, the one public way to load a model.

:func:`weights_folder` resolves a name or folder (verifying the SHA-256 of a shipped folder);
:func:`frozen_model` and :func:`cached_model` give the integrations a noise model without gradients,
fresh or shared per (name, device).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Union

import torch

from ..model.nmflowgan import CONFIG_FILE, WEIGHTS_FILE, NMFlowGAN
from . import registry
from .registry import PretrainedWeights, folder_sha256

__all__ = ["ModelLike", "cached_model", "frozen_model", "weights_folder"]

#: A noise model, a shipped name (``"sidd"``) or a folder written by ``NMFlowGAN.save_pretrained``.
ModelLike = Union[NMFlowGAN, str, os.PathLike]

_MODEL_CACHE: dict[tuple[str, str], NMFlowGAN] = {}


def weights_folder(name_or_path: str | os.PathLike, records: Mapping[str, PretrainedWeights] | None = None) -> Path:
    """Folder holding ``model.safetensors`` + ``config.json`` for a saved-model folder or a shipped name.

    Args:
        name_or_path: a folder written by ``NMFlowGAN.save_pretrained`` or a shipped name.
        records: the shipped models (default: :data:`~nmflowgan_aug.pretrained.registry.REGISTRY`).

    Raises:
        FileNotFoundError: neither a saved-model folder nor a shipped name, or shipped weights missing.
        ValueError: the shipped folder (weights + ``config.json``) does not match its recorded SHA-256.
    """
    records = registry.REGISTRY if records is None else records
    path = Path(name_or_path)
    if (path / WEIGHTS_FILE).is_file() and (path / CONFIG_FILE).is_file():
        return path
    record = records.get(str(name_or_path))
    if record is None:
        raise FileNotFoundError(
            f"{name_or_path!s} is neither a folder with {WEIGHTS_FILE} + {CONFIG_FILE} (written by "
            f"NMFlowGAN.save_pretrained) nor a shipped model name; shipped models: {sorted(records)}"
        )
    if not record.weights_file.is_file():
        raise FileNotFoundError(f"shipped model {record.name!r} is missing its weights file {record.weights_file}")
    actual = folder_sha256(record.path)
    if actual != record.sha256:
        raise ValueError(
            f"checksum mismatch for shipped model {record.name!r}: the files of {record.path} (weights and "
            f"config.json) have SHA-256 {actual}, expected {record.sha256}; reinstall nmflowgan_aug"
        )
    return record.path


def frozen_model(model: ModelLike, device: torch.device | str = "cpu") -> NMFlowGAN:
    """``model`` itself when it is an :class:`NMFlowGAN`, else a frozen ``NMFlowGAN.from_pretrained(model)``.

    The loaded model is on ``device``, in eval mode, without gradients (a fresh copy the caller owns and
    may move).

    Raises:
        FileNotFoundError, ValueError: see :func:`weights_folder`.
    """
    if isinstance(model, NMFlowGAN):
        return model
    return NMFlowGAN.from_pretrained(model, map_location=device).requires_grad_(False)


def cached_model(name_or_path: str | os.PathLike, device: torch.device) -> NMFlowGAN:
    """:func:`frozen_model` of a name or folder, loaded once per (name, device) and shared: do not move it."""
    key = (str(name_or_path), str(device))
    if key not in _MODEL_CACHE:
        _MODEL_CACHE[key] = frozen_model(name_or_path, device)
    return _MODEL_CACHE[key]

"""Reading the official NM-FlowGAN checkpoint (``NMFlowGAN_NoiseModeler.pth``, reference §3.2).

The official generator state dict holds the flow at top level (``pre_bijectors.*``, ``bijectors.*``,
``dist.buffer``) and the U-Net under ``generator.*``. Our module names mirror the official ones, so the
conversion is a prefix rename plus two bookkeeping tensors.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import torch

__all__ = ["convert_official_state_dict", "read_official_checkpoint"]


def read_official_checkpoint(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Return the generator state dict from an official checkpoint file.

    Accepts the training checkpoint layout ``{'model_weight': {'generator': sd, 'critic': sd}, ...}``
    or a bare generator state dict. Loaded with ``weights_only=True`` (no code execution).

    Raises:
        FileNotFoundError: missing file.
        ValueError: unreadable file or no generator weights in it.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"official checkpoint not found: {path}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise ValueError(f"cannot read {path} as a PyTorch checkpoint: {e}") from e
    if isinstance(ckpt, dict) and "model_weight" in ckpt:
        weights = ckpt["model_weight"]
        if not isinstance(weights, dict) or "generator" not in weights:
            raise ValueError(f"{path}: 'model_weight' has no 'generator' entry (keys: {sorted(weights)})")
        return weights["generator"]
    if isinstance(ckpt, dict) and all(isinstance(v, torch.Tensor) for v in ckpt.values()):
        return ckpt
    raise ValueError(f"{path} is neither an NM-FlowGAN training checkpoint nor a generator state dict")


def convert_official_state_dict(state: dict[str, torch.Tensor], num_bits: int = 8) -> dict[str, torch.Tensor]:
    """Rename official generator keys to ours: flow keys get ``flow.``, ``generator.`` becomes ``unet.``.

    ``dist.buffer`` (a device placeholder of the base distribution) is dropped. The dequantization
    constant ``pre_bijectors.0.ldj_per_dim`` is checked to equal ``−num_bits·ln 2`` and stored as a scalar.

    Raises:
        ValueError: a dequantization constant that does not match ``num_bits``.
    """
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if key == "dist.buffer":
            continue
        if key == "pre_bijectors.0.ldj_per_dim":
            expected = -num_bits * math.log(2.0)
            if value.numel() != 1 or not math.isclose(float(value.reshape(-1)[0]), expected, rel_tol=1e-5):
                raise ValueError(f"{key} = {value.tolist()} does not match num_bits={num_bits} (expected {expected:.6f})")
            value = value.reshape(())
        if key.startswith("generator."):
            out["unet." + key[len("generator.") :]] = value
        else:
            out["flow." + key] = value
    return out

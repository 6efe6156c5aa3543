"""sRGB image conventions shared by the model, the data code and the integrations: validation and 8-bit levels.

Every check raises with the bad value and what is allowed; none of them silently repairs input.
"""

from __future__ import annotations

import torch

__all__ = ["check_same_shape", "check_srgb_batch", "quantize_8bit"]


def check_srgb_batch(x: torch.Tensor, name: str = "image", *, allow_uint8: bool = False) -> None:
    """Check a batch of sRGB images, shape ``(B, 3, H, W)``.

    Float tensors must be finite and in [0, 1]; uint8 (when ``allow_uint8``) is taken as 8-bit levels.

    Raises:
        TypeError: not a tensor, or a dtype other than floating point (or uint8 when allowed).
        ValueError: wrong number of dimensions or channels, empty spatial size, NaN/Inf, or float
            values outside [0, 1].
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.ndim != 4:
        raise ValueError(f"{name} must have shape (B, 3, H, W), got {tuple(x.shape)}")
    if x.shape[1] != 3:
        raise ValueError(f"{name} must have 3 (RGB) channels, got {x.shape[1]} in shape {tuple(x.shape)}")
    if x.shape[0] == 0 or x.shape[2] == 0 or x.shape[3] == 0:
        raise ValueError(f"{name} is empty: shape {tuple(x.shape)}")
    if x.dtype == torch.uint8 and allow_uint8:
        return
    if not x.is_floating_point():
        allowed = "floating point in [0, 1] or uint8" if allow_uint8 else "floating point in [0, 1]"
        raise TypeError(f"{name} must be {allowed}, got dtype {x.dtype}")
    if not torch.isfinite(x.detach()).all():
        raise ValueError(f"{name} contains NaN or Inf values")
    lo, hi = float(x.detach().min()), float(x.detach().max())
    if lo < 0.0 or hi > 1.0:
        raise ValueError(f"{name} must be sRGB in [0, 1], got values in [{lo:.4g}, {hi:.4g}]")


def check_same_shape(a: torch.Tensor, b: torch.Tensor, names: tuple[str, str] = ("noisy", "clean")) -> None:
    """Raise ValueError when two image batches differ in shape."""
    if a.shape != b.shape:
        raise ValueError(f"{names[0]} and {names[1]} must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")


def quantize_8bit(x: torch.Tensor) -> torch.Tensor:
    """Round float sRGB in [0, 1] to the nearest of the 256 8-bit levels (stays float in [0, 1])."""
    return torch.round(x.clamp(0, 1) * 255) / 255

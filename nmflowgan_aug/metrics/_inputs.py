"""Input handling shared by the metrics: image batches ``(B, 3, H, W)``, units and bin edges."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Union

import numpy as np
import torch

from ..srgb import check_same_shape, check_srgb_batch

__all__ = ["ArrayLike", "as_tensor", "check_edges", "check_images", "noise_of", "to_levels", "to_unit"]

ArrayLike = Union[torch.Tensor, np.ndarray]

# Float inputs k/255 in float32 come back as k +- 1.5e-5 after x 255. An image whose values are all
# that close to integers is snapped to exact levels, so that integer-valued noise lands in the right
# width-4 bin (integers sit on the bin edges). Continuous (unrounded) images are left untouched.
_LEVEL_SNAP_TOL = 1e-4


def as_tensor(x: ArrayLike, name: str) -> torch.Tensor:
    if isinstance(x, np.ndarray):
        return torch.from_numpy(x)
    if isinstance(x, torch.Tensor):
        return x
    raise TypeError(f"{name} must be a torch.Tensor or numpy.ndarray, got {type(x).__name__}")


def check_images(
    tensors: dict[str, torch.Tensor], *, allow_uint8: bool = True, fake_name: str | None = None, fake_max: float = 1.0
) -> None:
    """Validate sRGB batches (B, 3, H, W) of equal shape; ``fake_name`` may exceed 1 up to ``fake_max``."""
    names = list(tensors)
    for name, x in tensors.items():
        if name == fake_name and fake_max > 1.0 and isinstance(x, torch.Tensor) and x.is_floating_point():
            # same checks as check_srgb_batch, with the official generator's wider range
            check_srgb_batch(x.clamp(0.0, 1.0), name)  # shape, channels, emptiness
            if not torch.isfinite(x).all():
                raise ValueError(f"{name} contains NaN or Inf values")
            lo, hi = float(x.min()), float(x.max())
            if lo < 0.0 or hi > fake_max + 1e-6:  # slack for float32 256/255
                raise ValueError(f"{name} must be in [0, {fake_max:.6g}], got values in [{lo:.4g}, {hi:.4g}]")
        else:
            check_srgb_batch(x, name, allow_uint8=allow_uint8)
    for other in names[1:]:
        check_same_shape(tensors[names[0]], tensors[other], (names[0], other))
    devices = {x.device for x in tensors.values()}
    if len(devices) > 1:
        raise ValueError(f"{', '.join(names)} must be on one device, got {sorted(str(d) for d in devices)}")


def to_unit(x: torch.Tensor) -> torch.Tensor:
    """Image in [0, 1] units, float64 (uint8 is divided by 255)."""
    return x.to(torch.float64) / 255.0 if x.dtype == torch.uint8 else x.to(torch.float64)


def to_levels(x: torch.Tensor) -> torch.Tensor:
    """Image in 8-bit levels (0..255), float64; float input is x 255 with float representation error removed."""
    if x.dtype == torch.uint8:
        return x.to(torch.float64)
    levels = x.to(torch.float64) * 255.0
    nearest = torch.round(levels)
    # an image on the 8-bit grid (k/255 up to float error) becomes exact integers; others stay as is
    return nearest if bool(((levels - nearest).abs() < _LEVEL_SNAP_TOL).all()) else levels


def check_edges(bin_edges: ArrayLike | Sequence[float]) -> torch.Tensor:
    if isinstance(bin_edges, np.ndarray):
        edges = torch.from_numpy(bin_edges)
    elif isinstance(bin_edges, torch.Tensor):
        edges = bin_edges
    else:
        edges = torch.tensor(list(bin_edges))
    edges = edges.detach().to(device="cpu", dtype=torch.float64)
    if edges.ndim != 1 or edges.numel() < 2:
        raise ValueError(f"bin_edges must be a 1-D sequence of at least 2 edges, got shape {tuple(edges.shape)}")
    if not torch.isfinite(edges).all():
        raise ValueError("bin_edges contains NaN or Inf values")
    if not bool((edges[1:] > edges[:-1]).all()):
        raise ValueError("bin_edges must be strictly increasing")
    return edges


def noise_of(noisy: torch.Tensor, clean: torch.Tensor) -> torch.Tensor:
    """Checked ``noisy - clean`` in [0, 1] units, float64 ``(B, 3, H, W)`` (uint8 inputs are divided by 255)."""
    check_images({"noisy": noisy, "clean": clean})
    return to_unit(noisy) - to_unit(clean)

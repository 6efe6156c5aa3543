"""sRGB image conventions shared by the model, the data code and the integrations: validation and 8-bit levels.

Every check raises with the bad value and what is allowed; none of them silently repairs input.

Checking the values of a batch on a GPU costs one device→host copy (a host synchronisation): the value
check reduces the batch to its minimum and maximum in one kernel and copies the two numbers at once.
Inside :func:`unchecked_values` the values are not checked at all, so sampling on the GPU waits for nothing:
for a training loop whose clean batches are known to be sRGB in [0, 1] (e.g. straight from a DataLoader
of 8-bit images), around ``add_camera_noise`` or the integrations' transforms.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from contextvars import ContextVar

import torch

__all__ = ["check_same_shape", "check_srgb_batch", "quantize_8bit", "unchecked_values"]

_CHECK_VALUES: ContextVar[bool] = ContextVar("nmflowgan_aug_check_values", default=True)


@contextlib.contextmanager
def unchecked_values() -> Iterator[None]:
    """Within this block, :func:`check_srgb_batch` checks shapes and dtypes but not the values (NaN/Inf, range).

    For the hot path of GPU training on batches known to be valid: the value check is the one host
    synchronisation it makes. Out-of-range input inside the block is not detected: it gives out-of-range
    or NaN output instead of an error. The setting is per thread and per asyncio task, and is restored
    when the block ends.

    Example:
        >>> with unchecked_values():
        ...     check_srgb_batch(torch.full((1, 3, 2, 2), 2.0))  # not checked: no error
    """
    token = _CHECK_VALUES.set(False)
    try:
        yield
    finally:
        _CHECK_VALUES.reset(token)


def check_srgb_batch(x: torch.Tensor, name: str = "image", *, allow_uint8: bool = False) -> None:
    """Check a batch of sRGB images, shape ``(B, 3, H, W)``.

    Float tensors must be finite and in [0, 1]; uint8 (when ``allow_uint8``) is taken as 8-bit levels. The values
    are checked with one reduction (``torch.aminmax``) and one device→host copy of its two numbers, and not at
    all inside :func:`unchecked_values`.

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
    if not _CHECK_VALUES.get():
        return
    lo, hi = torch.stack(torch.aminmax(x.detach())).tolist()  # NaN propagates into min/max; one copy to the host
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(f"{name} contains NaN or Inf values")
    if lo < 0.0 or hi > 1.0:
        raise ValueError(f"{name} must be sRGB in [0, 1], got values in [{lo:.4g}, {hi:.4g}]")


def check_same_shape(a: torch.Tensor, b: torch.Tensor, names: tuple[str, str] = ("noisy", "clean")) -> None:
    """Raise ValueError when two image batches differ in shape."""
    if a.shape != b.shape:
        raise ValueError(f"{names[0]} and {names[1]} must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")


def quantize_8bit(x: torch.Tensor) -> torch.Tensor:
    """Round float sRGB in [0, 1] to the nearest of the 256 8-bit levels (stays float in [0, 1])."""
    return torch.round(x.clamp(0, 1) * 255) / 255

"""Training pairs of the baselines: ``ImagePair``-like objects or ``(clean, noisy, camera, iso)`` tuples.

Every baseline's ``fit`` accepts either form and reads it with :func:`load_training_pairs` into
float64 ``(H, W, 3)`` sRGB arrays in [0, 1].
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .base import check_iso

__all__ = ["TrainingPair", "load_training_pairs"]


@dataclass(frozen=True, eq=False)
class TrainingPair:
    """One training pair: name, camera, ISO, scene instance (or None) and sRGB images.

    ``clean`` and ``noisy`` are float64 ``(H, W, 3)`` arrays in [0, 1].
    """

    name: str
    camera: str
    iso: float
    scene: str | None
    clean: np.ndarray
    noisy: np.ndarray


def _to_hwc_unit(x: Any, what: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    a = np.asarray(x)
    if a.ndim == 3 and a.shape[0] == 3 and a.shape[-1] != 3:
        a = a.transpose(1, 2, 0)
    if a.ndim != 3 or a.shape[-1] != 3:
        raise ValueError(f"{what} must be an RGB image (H, W, 3) or (3, H, W), got shape {a.shape}")
    if a.dtype == np.uint8:
        return a.astype(np.float64) / 255.0
    if a.dtype.kind != "f":
        raise TypeError(f"{what} must be uint8 or float in [0, 1], got dtype {a.dtype}")
    a = a.astype(np.float64)
    if not np.isfinite(a).all() or a.min() < 0 or a.max() > 1:
        raise ValueError(f"{what} must be float in [0, 1] without NaN/Inf")
    return a


def _center_crop(a: np.ndarray, max_size: int | None) -> np.ndarray:
    if max_size is None:
        return a
    h, w = a.shape[:2]
    top, left = max(0, (h - max_size) // 2), max(0, (w - max_size) // 2)
    return a[top : top + max_size, left : left + max_size]


def load_training_pairs(pairs: Iterable[Any], max_size: int | None = None) -> list[TrainingPair]:
    """Read training pairs.

    Args:
        pairs: ``ImagePair``-like objects (``.load()`` → ``(clean, noisy)``, ``.camera``, ``.iso``,
            ``.name``, optional ``.scene``) or tuples ``(clean, noisy, camera, iso)``; images uint8
            (8-bit levels) or float in [0, 1], ``(H, W, 3)`` or ``(3, H, W)``. Tuples are named
            ``pair0``, ``pair1``, ...
        max_size: centre-crop each image to at most this many pixels per side.

    Raises:
        TypeError: an entry of another type, or images of another dtype.
        ValueError: no pairs, unknown camera/ISO, images that are not RGB in [0, 1], or clean and
            noisy of different shapes.
    """
    out = []
    for n, pair in enumerate(pairs):
        if hasattr(pair, "load"):
            name, camera, iso = getattr(pair, "name", f"pair{n}"), pair.camera, pair.iso
            scene = getattr(pair, "scene", None)
            clean, noisy = pair.load()
        elif isinstance(pair, (tuple, list)) and len(pair) == 4:
            clean, noisy, camera, iso = pair
            name, scene = f"pair{n}", None
        else:
            raise TypeError(
                "each training pair must be an ImagePair (with load(), camera, iso) or a tuple "
                f"(clean, noisy, camera, iso), got {type(pair).__name__}"
            )
        if camera is None or iso is None:
            raise ValueError(
                f"training pair {name!r} has unknown camera/ISO ({camera!r}, {iso!r}); "
                "filter pairs with nmflowgan_aug.data.sidd.known_metadata first"
            )
        c = _center_crop(_to_hwc_unit(clean, f"clean of {name!r}"), max_size)
        y = _center_crop(_to_hwc_unit(noisy, f"noisy of {name!r}"), max_size)
        if c.shape != y.shape:
            raise ValueError(f"pair {name!r}: clean {c.shape} and noisy {y.shape} differ in shape")
        out.append(TrainingPair(str(name), str(camera), check_iso(iso), None if scene is None else str(scene), c, y))
    if not out:
        raise ValueError("no training pairs given")
    return out

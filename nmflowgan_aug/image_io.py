"""Read and write RGB image files of 8 or 16 bits (PNG, JPEG, TIFF) as sRGB tensors in [0, 1].

OpenCV does the decoding and encoding (it reads 16-bit PNG and TIFF, which Pillow turns into 8 bits);
it comes with ``pip install nmflowgan_aug[synthesize]`` (or with BasicSR) and is imported on first use.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from ._io import atomic_write

__all__ = ["IMAGE_SUFFIXES", "NOISY_SUFFIX", "read_image", "write_image"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
#: Suffix of noisy outputs for JPEG sources: JPEG compression would smooth the noise away.
NOISY_SUFFIX = {".jpg": ".png", ".jpeg": ".png"}
_MAX = {np.dtype(np.uint8): 255, np.dtype(np.uint16): 65535}


def _cv2():
    try:
        import cv2
    except ImportError as err:
        raise ImportError(
            f"reading and writing 16-bit images needs OpenCV ({err}); `pip install nmflowgan_aug[synthesize]`"
        ) from err
    return cv2


def read_image(path: str | os.PathLike) -> tuple[torch.Tensor, int]:
    """An RGB image file as float32 sRGB ``(3, H, W)`` in [0, 1], and its bit depth (8 or 16).

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a readable image, not 3 colour channels (grayscale, RGBA), or not 8/16-bit.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image file not found: {path}")
    cv2 = _cv2()
    array = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if array is None:
        raise ValueError(f"cannot read image {path} (allowed: {', '.join(IMAGE_SUFFIXES)})")
    if array.ndim != 3 or array.shape[2] != 3:
        channels = 1 if array.ndim == 2 else array.shape[2]
        raise ValueError(f"image {path} has {channels} channel(s); an RGB image (3 channels) is needed")
    if array.dtype not in _MAX:
        raise ValueError(f"image {path} has {array.dtype} samples; 8-bit or 16-bit images are supported")
    rgb = np.ascontiguousarray(array[..., ::-1].transpose(2, 0, 1))  # OpenCV reads BGR
    return torch.from_numpy(rgb.astype(np.float32) / _MAX[array.dtype]), 8 * array.dtype.itemsize


def write_image(path: str | os.PathLike, image: torch.Tensor, bit_depth: int = 8) -> Path:
    """Write float sRGB ``(3, H, W)`` in [0, 1] as an 8- or 16-bit PNG/TIFF (temporary file, then rename).

    Raises:
        ValueError: a bit depth other than 8 or 16, a JPEG target (lossy: it would smooth the noise),
            or an unknown suffix.
    """
    path = Path(path)
    if bit_depth not in (8, 16):
        raise ValueError(f"bit_depth must be 8 or 16, got {bit_depth}")
    suffix = path.suffix.lower()
    if suffix in NOISY_SUFFIX or suffix not in IMAGE_SUFFIXES:
        raise ValueError(f"cannot write {path}: noisy images are written as .png or .tif (lossless)")
    scale, dtype = (255, np.uint8) if bit_depth == 8 else (65535, np.uint16)
    array = torch.round(image.detach().float().clamp(0, 1) * scale).cpu().numpy().astype(dtype)
    ok, encoded = _cv2().imencode(suffix, np.ascontiguousarray(array.transpose(1, 2, 0)[..., ::-1]))
    if not ok:
        raise ValueError(f"OpenCV could not encode {path}")
    return atomic_write(path, lambda tmp: Path(tmp).write_bytes(encoded.tobytes()))

"""Training images of a denoiser in memory, and random crops of them for each training step.

Images are either pairs (clean and real noisy, :func:`load_train_images`) or clean images only
(:func:`load_clean_images`), whose noisy inputs a noise model synthesizes during training.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from ..data.hdf5_patches import random_flip_rot

__all__ = ["PatchSampler", "TrainImages", "load_clean_images", "load_train_images"]


@dataclass
class TrainImages:
    """Training images in memory: clean (and real noisy) uint8 ``(3, H, W)`` RGB arrays with camera/ISO per image.

    Attributes:
        clean: clean images, 8-bit levels, CHW.
        noisy: real noisy partners, same shapes; None for clean-only images (synthetic noise only).
        cameras: camera name per image (the condition a noise model synthesizes with).
        isos: ISO per image.
        names: name per image (``<image>#<k>`` for the k-th crop of an image).
    """

    clean: list[np.ndarray]
    noisy: list[np.ndarray] | None
    cameras: list[str]
    isos: list[int]
    names: list[str]

    @property
    def conditions(self) -> list[tuple[str, int]]:
        """``(camera, ISO)`` per image."""
        return list(zip(self.cameras, self.isos))

    def with_conditions(self, conditions: Sequence[tuple[str, int]]) -> TrainImages:
        """The same images with other ``(camera, ISO)`` per image (e.g. drawn from an evaluation set's).

        Raises:
            ValueError: ``conditions`` of another length than the images.
        """
        if len(conditions) != len(self.clean):
            raise ValueError(f"got {len(conditions)} conditions for {len(self.clean)} training images")
        return TrainImages(self.clean, self.noisy, [c for c, _ in conditions], [int(i) for _, i in conditions],
                           self.names)


def _chw(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a.transpose(2, 0, 1))


def _crops(name: str, h: int, w: int, patch_size: int, patches_per_image: int, rng: np.random.Generator
           ) -> list[tuple[str, int, int, int, int]]:
    """``(name, y, x, height, width)`` of the random crops of one image (the whole image when 0 crops)."""
    if h < patch_size or w < patch_size:
        raise ValueError(f"training image {name} is {h}×{w}, smaller than the patch size {patch_size}")
    if patches_per_image == 0:
        return [(name, 0, 0, h, w)]
    ys = rng.integers(0, h - patch_size + 1, patches_per_image)
    xs = rng.integers(0, w - patch_size + 1, patches_per_image)
    return [(f"{name}#{k}", y, x, patch_size, patch_size) for k, (y, x) in enumerate(zip(ys, xs))]


def load_train_images(
    pairs: Sequence[Any], patch_size: int, patches_per_image: int, seed: int, progress: bool = True
) -> TrainImages:
    """Read training pairs into memory.

    Args:
        pairs: ``ImagePair``-like objects with known camera/ISO (``load()`` → uint8 ``(H, W, 3)`` clean, noisy).
        patch_size: the training patch side; every image must be at least this large.
        patches_per_image: keep only this many random ``patch_size`` crops of each image (for full
            SIDD-Medium, whose 320 images do not fit in memory); 0 keeps whole images.
        seed: seed of the crop positions.
        progress: show a tqdm bar.

    Raises:
        ValueError: an image smaller than ``patch_size``.
    """
    rng = np.random.default_rng(seed)
    out = TrainImages([], [], [], [], [])
    for pair in tqdm(pairs, desc="load training pairs", leave=False, disable=None if progress else True):
        clean, noisy = pair.load()
        for name, y, x, ch, cw in _crops(pair.name, *clean.shape[:2], patch_size, patches_per_image, rng):
            out.clean.append(_chw(clean[y : y + ch, x : x + cw]))
            out.noisy.append(_chw(noisy[y : y + ch, x : x + cw]))
            out.cameras.append(pair.camera)
            out.isos.append(int(pair.iso))
            out.names.append(name)
    return out


def load_clean_images(
    images: Sequence[tuple[str, np.ndarray]], patch_size: int, patches_per_image: int, seed: int
) -> TrainImages:
    """Clean-only training images (no real noisy partner), without conditions yet (:meth:`TrainImages.with_conditions`).

    Args:
        images: ``(name, uint8 (H, W, 3) RGB)`` per image.
        patch_size: the training patch side, as in :func:`load_train_images`.
        patches_per_image: crops kept per image, as in :func:`load_train_images` (0 keeps whole images).
        seed: seed of the crop positions, as in :func:`load_train_images`.

    Returns:
        :class:`TrainImages` with ``noisy`` None and placeholder conditions (camera ``""``, ISO 0).

    Raises:
        ValueError: an image smaller than ``patch_size``, or not uint8 ``(H, W, 3)``.
    """
    rng = np.random.default_rng(seed)
    out = TrainImages([], None, [], [], [])
    for name, img in images:
        if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
            raise ValueError(f"training image {name} must be uint8 (H, W, 3), got {img.dtype} {img.shape}")
        for crop_name, y, x, ch, cw in _crops(name, *img.shape[:2], patch_size, patches_per_image, rng):
            out.clean.append(_chw(img[y : y + ch, x : x + cw]))
            out.cameras.append("")
            out.isos.append(0)
            out.names.append(crop_name)
    return out


class PatchSampler:
    """Random crops (and optional flips/rotations) of :class:`TrainImages`, identical sequence for a given seed.

    Images are drawn with probability proportional to their number of crop positions, so every
    pixel is equally likely, as with the official dense 96×96/stride-48 patch sets. The flips and
    rotations are those of the HDF5 patch dataset (:func:`nmflowgan_aug.data.hdf5_patches.random_flip_rot`).

    Args:
        images: the training images.
        patch_size: square patch side in pixels.
        augment: apply a random flip/rotation to each patch pair.
        seed: seed of the sampler's own ``torch.Generator``.
    """

    def __init__(self, images: TrainImages, patch_size: int, augment: bool, seed: int) -> None:
        self.images = images
        self.patch = patch_size
        self.augment = augment
        self.gen = torch.Generator().manual_seed(seed)
        self.weights = torch.tensor(
            [(c.shape[1] - patch_size + 1) * (c.shape[2] - patch_size + 1) for c in images.clean], dtype=torch.float64
        )

    def batch(self, size: int) -> tuple[torch.Tensor, torch.Tensor | None, list[int]]:
        """Draw a batch of ``size`` random crops: ``(clean, noisy, image_indices)``.

        ``clean`` and ``noisy`` are uint8 ``(B, 3, P, P)`` each (8-bit levels), on the CPU; ``noisy`` is
        None for clean-only images. The same seed gives the same crops with or without noisy partners.
        """
        p = self.patch
        idx = torch.multinomial(self.weights, size, replacement=True, generator=self.gen).tolist()
        clean, noisy = [], []
        for i in idx:
            c = self.images.clean[i]
            n = c if self.images.noisy is None else self.images.noisy[i]
            y = int(torch.randint(0, c.shape[1] - p + 1, (), generator=self.gen))
            x = int(torch.randint(0, c.shape[2] - p + 1, (), generator=self.gen))
            c, n = c[:, y : y + p, x : x + p], n[:, y : y + p, x : x + p]
            if self.augment:
                c, n = random_flip_rot(c, n, self.gen)
            clean.append(c)
            noisy.append(n)
        return (torch.from_numpy(np.stack(clean)),
                None if self.images.noisy is None else torch.from_numpy(np.stack(noisy)), idx)

"""Synthetic validation blocks for the fidelity tests."""

from __future__ import annotations

import numpy as np
import torch

from nmflowgan_aug.evaluation.fidelity import Block


def make_block(block_id: str, camera: str, iso: int, level: int, seed: int, size: int = 96,
               scene: str | None = None) -> Block:
    """A validation block with uniform integer noise of ±``level`` 8-bit levels."""
    rng = np.random.default_rng(seed)
    clean = rng.integers(40, 210, (1, 3, size, size))
    noisy = np.clip(clean + rng.integers(-level, level + 1, clean.shape), 0, 255)
    return Block(block_id, camera, iso, scene, torch.from_numpy(clean / 255.0).float(),
                 torch.from_numpy(noisy / 255.0).float())

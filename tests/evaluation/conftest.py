"""Small synthetic inputs of the evaluation tests: a pairs manifest with PNG images, and validation blocks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from nmflowgan_aug.evaluation.fidelity import Block

#: Rows of the tiny manifest: id, camera, iso, size.
ROWS = [("a", "GP", "800", 40), ("b", "GP", "3200", 40), ("c", "unknown", "800", 40), ("d", "IP", "100", 48)]


@pytest.fixture
def tiny_manifest(tmp_path) -> Path:
    """``pairs.csv`` with four pairs of uint8 PNGs (``c`` has an unknown camera), noise ±6 levels."""
    rng = np.random.default_rng(0)
    lines = ["id,camera,iso"]
    for ident, camera, iso, size in ROWS:
        clean = rng.integers(30, 220, (size, size, 3), dtype=np.uint8)
        noisy = np.clip(clean.astype(int) + rng.integers(-6, 7, clean.shape), 0, 255).astype(np.uint8)
        (tmp_path / ident).mkdir()
        Image.fromarray(clean).save(tmp_path / ident / "clean.png")
        Image.fromarray(noisy).save(tmp_path / ident / "noisy.png")
        lines.append(f"{ident},{camera},{iso}")
    (tmp_path / "pairs.csv").write_text("\n".join(lines) + "\n")
    return tmp_path / "pairs.csv"


def make_block(block_id: str, camera: str, iso: int, level: int, seed: int, size: int = 96,
               scene: str | None = None) -> Block:
    """A validation block with uniform integer noise of ±``level`` 8-bit levels."""
    rng = np.random.default_rng(seed)
    clean = rng.integers(40, 210, (1, 3, size, size))
    noisy = np.clip(clean + rng.integers(-level, level + 1, clean.shape), 0, 255)
    return Block(block_id, camera, iso, scene, torch.from_numpy(clean / 255.0).float(),
                 torch.from_numpy(noisy / 255.0).float())

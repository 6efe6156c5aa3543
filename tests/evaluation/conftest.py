"""Fixtures of the evaluation tests: a small pairs manifest with PNG images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

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

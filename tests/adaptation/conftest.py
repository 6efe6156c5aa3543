"""Fixtures of the adaptation tests: one thread for tiny tensors, and the real PolyU pairs.

The PolyU fixture skips with a clear message when the data is absent.
"""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True, scope="module")
def _tiny_tensors(one_thread):
    """Tiny tensors: one intra-op thread (the ``one_thread`` fixture of tests/conftest.py)."""


@pytest.fixture(scope="session")
def polyu(shared_data) -> Path:
    """The PolyU folder of the real data."""
    folder = shared_data / "polyu"
    if not (folder / "CroppedImages").is_dir():
        pytest.skip(f"PolyU pairs not found at {folder} (they come with ../shared/data)")
    return folder

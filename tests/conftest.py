"""Shared fixtures: the real data in ../shared/data (skipped with a clear message when absent) and devices."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("NMFLOWGAN_SHARED_DATA", REPO.parent / "shared" / "data"))


def pytest_addoption(parser):
    parser.addoption("--device", default="cpu", help="comma-separated devices for device-parametrized tests: cpu,cuda")


def pytest_generate_tests(metafunc):
    if "device" in metafunc.fixturenames:
        names = metafunc.config.getoption("--device").split(",")
        metafunc.parametrize("device", names, indirect=True)


@pytest.fixture
def device(request):
    name = request.param
    if name.startswith("cuda") and not torch.cuda.is_available():
        pytest.skip("CUDA is not available on this machine")
    return torch.device(name)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Root of the real noisy/clean data (../shared/data beside the checkout)."""
    if not (SHARED_DATA / "sidd_native" / "pairs.csv").is_file():
        pytest.skip(f"real data not found at {SHARED_DATA} (set NMFLOWGAN_SHARED_DATA or place shared/ beside the checkout)")
    return SHARED_DATA


@pytest.fixture(scope="module")
def one_thread():
    """Run the module on one intra-op thread; the previous thread count is restored after the module.

    Tests on tiny tensors run fastest, and immune to CPU oversubscription on busy CI cores, on one
    intra-op thread.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)

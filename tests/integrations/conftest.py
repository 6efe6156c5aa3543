"""Fixtures for the integration tests: a tiny random noise model saved to disk, one CPU thread."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from nmflowgan_aug import SIDD_VOCABULARY, NMFlowGAN, NMFlowGANConfig


def save_tiny_model(folder: Path) -> Path:
    """A random NM-FlowGAN with the SIDD vocabulary, small enough for CPU tests (~5k parameters)."""
    torch.manual_seed(0)
    config = NMFlowGANConfig(
        cameras=SIDD_VOCABULARY.cameras, isos=SIDD_VOCABULARY.isos, iso_encoding="log",
        flow_features=4, unet_depth=2, unet_width=4,
    )
    return NMFlowGAN(config).save_pretrained(folder)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    return save_tiny_model(tmp_path_factory.mktemp("tiny_nmflowgan"))


@pytest.fixture(autouse=True, scope="module")
def _tiny_tensors(one_thread):
    """Every integration test module runs on one thread (the ``one_thread`` fixture of tests/conftest.py)."""


@pytest.fixture(scope="session")
def integration_docs() -> str:
    """The README's Integrations section (between its markers): its examples are run by the tests."""
    text = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    return text.split("<!-- integrations:start -->", 1)[1].split("<!-- integrations:end -->", 1)[0]

"""Fixtures of the benchmark command-line tests."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """An untrained NM-FlowGAN with the SIDD vocabulary and a U-Net of depth 2 × width 4, saved to a folder."""
    from nmflowgan_aug import NMFlowGAN, NMFlowGANConfig
    from nmflowgan_aug.vocab import SIDD_VOCABULARY

    torch.manual_seed(0)
    config = NMFlowGANConfig(cameras=SIDD_VOCABULARY.cameras, isos=SIDD_VOCABULARY.isos, iso_encoding="log",
                             unet_depth=2, unet_width=4)
    return NMFlowGAN(config).save_pretrained(tmp_path_factory.mktemp("model") / "tiny")

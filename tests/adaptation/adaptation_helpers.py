"""Helpers of the adaptation tests: tiny models whose cameras differ, and synthetic pairs of a new camera."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from nmflowgan_aug import NMFlowGAN, NMFlowGANConfig
from nmflowgan_aug.vocab import SIDD_VOCABULARY

#: Model options exercised by the tests: the shipped kind (log, U-Net) and the next one (per-camera log-ISO
#: slope, linear-light noise, spatial kernel, no U-Net).
VARIANTS = {
    "log_unet": {"iso_encoding": "log", "unet_depth": 2, "unet_width": 4},
    "log_camera_spatial": {"iso_encoding": "log_camera", "unet_depth": 0, "noise_domain": "linear",
                           "spatial_kernel": 3},
}


def tiny_model(variant: str, seed: int = 0) -> NMFlowGAN:
    """A small model of ``variant`` (:data:`VARIANTS`) with the SIDD cameras and ISOs, in eval mode.

    Every flow weight and BatchNorm statistic is moved off its initial value, so that the cameras differ.
    """
    config = NMFlowGANConfig(cameras=SIDD_VOCABULARY.cameras, isos=SIDD_VOCABULARY.isos, flow_features=4,
                             **VARIANTS[variant])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = NMFlowGAN(config)
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for p in model.flow.parameters():
                p.add_(0.1 * torch.randn(p.shape, generator=g))
            for m in model.flow.modules():
                if isinstance(m, nn.BatchNorm1d):
                    m.running_mean.normal_(0.0, 0.3, generator=g)
                    m.running_var.uniform_(0.5, 2.0, generator=g)
    return model.eval()


@dataclass(frozen=True)
class MemoryPair:
    """An :class:`~nmflowgan_aug.data.sidd.ImagePair` held in memory."""

    name: str
    camera: str | None
    iso: int | None
    clean: np.ndarray
    noisy: np.ndarray

    def load(self) -> tuple[np.ndarray, np.ndarray]:
        return self.clean, self.noisy


def synthetic_pairs(camera: str = "NEW", isos=(800, 3200), size: int = 48, sigma: float = 3.0) -> list[MemoryPair]:
    """Smooth clean images with Gaussian noise of ``sigma`` 8-bit levels, one pair per ISO."""
    rng = np.random.default_rng(0)
    pairs = []
    for i, iso in enumerate(isos):
        y, x = np.mgrid[:size, :size] / size
        clean = np.stack([40 + 150 * x, 60 + 120 * y, 90 + 80 * x * y], -1)
        noisy = clean + rng.normal(0, sigma, clean.shape)
        pairs.append(MemoryPair(f"p{i}", camera, iso, clean.round().astype(np.uint8),
                                noisy.round().clip(0, 255).astype(np.uint8)))
    return pairs

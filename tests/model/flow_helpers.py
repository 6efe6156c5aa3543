"""Helpers shared by the flow tests: float64 conditions and parameters moved off their initial values."""

from __future__ import annotations

import torch
from torch import nn

from nmflowgan_aug.model.flow_layers import FlowCondition

DT = torch.float64


def make_cond(vocab, cameras, isos, shape, seed=0, dtype=DT) -> FlowCondition:
    """A condition with a random (dequantized-like) clean image in [0, 1)."""
    g = torch.Generator().manual_seed(seed)
    clean = torch.rand(shape, generator=g, dtype=dtype)
    cams = vocab.camera_codes(cameras, shape[0])
    iso_values = vocab.iso_values(isos, shape[0])
    meta, row = vocab.encode(cams, iso_values)
    return FlowCondition(clean, meta.to(dtype), row)


def randomize_(module: nn.Module, seed: int = 0, scale: float = 0.3) -> nn.Module:
    """Move every parameter (and BatchNorm running statistics) away from its initial value."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(scale * torch.randn(p.shape, generator=g, dtype=p.dtype))
        for m in module.modules():
            if isinstance(m, nn.BatchNorm1d):
                m.running_mean.normal_(0.0, 0.3, generator=g)
                m.running_var.uniform_(0.5, 2.0, generator=g)
    return module

"""DnCNN denoiser: official parameter count, residual structure, shapes."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from nmflowgan_aug.denoisers import DnCNN


def test_official_parameter_count():
    model = DnCNN(channels=3, num_layers=18, features=64)
    assert sum(p.numel() for p in model.parameters()) == 596_419


def test_layer_structure():
    model = DnCNN(num_layers=18)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(convs) == 18 and len(bns) == 16
    assert all(c.kernel_size == (3, 3) and c.bias is not None for c in convs)
    assert all(b.momentum == pytest.approx(0.1) and b.eps == pytest.approx(1e-4) for b in bns)
    assert isinstance(model.net[1], nn.ReLU) and isinstance(model.net[-1], nn.Conv2d)


def test_residual_identity_when_last_conv_is_zero():
    torch.manual_seed(0)
    model = DnCNN(num_layers=5, features=8)
    nn.init.zeros_(model.last.weight)
    nn.init.zeros_(model.last.bias)
    x = torch.rand(2, 3, 17, 23)
    for mode in (model.train, model.eval):
        mode()
        assert torch.equal(model(x), x)


@pytest.mark.parametrize("shape", [(1, 3, 8, 8), (3, 3, 33, 20)])
def test_shapes_and_dtype(shape):
    model = DnCNN(num_layers=4, features=8).eval()
    x = torch.rand(shape)
    y = model(x)
    assert y.shape == x.shape and y.dtype == x.dtype


def test_gradient_flows():
    model = DnCNN(num_layers=3, features=4)
    loss = (model(torch.rand(2, 3, 8, 8)) ** 2).mean()
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())


def test_bad_arguments():
    with pytest.raises(ValueError, match="num_layers"):
        DnCNN(num_layers=1)
    with pytest.raises(ValueError, match="expects"):
        DnCNN(num_layers=3, features=4)(torch.rand(1, 1, 8, 8))

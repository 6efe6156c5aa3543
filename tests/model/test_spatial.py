"""SpatialCorrelation: the flow contract (inverse, log-det against the autograd Jacobian) and the convolution it is."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from nmflowgan_aug.model.flow_layers import FlowCondition
from nmflowgan_aug.model.spatial import SpatialCorrelation, circulant_log_abs_det, circulant_spectrum

pytestmark = pytest.mark.usefixtures("one_thread")
DT = torch.float64


def _layer(kernel_size: int = 3, seed: int = 0) -> SpatialCorrelation:
    g = torch.Generator().manual_seed(seed)
    layer = SpatialCorrelation(kernel_size).double()
    with torch.no_grad():
        layer.weight.copy_(0.1 * torch.randn(layer.weight.shape, generator=g, dtype=DT))
    return layer


def _cond(batch: int) -> FlowCondition:
    """The layer ignores the condition; the flow passes one."""
    return FlowCondition(torch.rand(batch, 3, 2, 2, dtype=DT), torch.zeros(batch, 4, dtype=DT), None)


@pytest.mark.parametrize("size", [(4, 5), (6, 6), (5, 4), (3, 3), (1, 4), (2, 1)])
def test_log_det_matches_the_autograd_jacobian(size):
    h, w = size
    layer, cond = _layer(kernel_size=3), _cond(2)
    u = torch.randn(2, 3, h, w, dtype=DT, generator=torch.Generator().manual_seed(2))
    _, log_det = layer(u, cond)
    for b in range(2):
        jac = torch.autograd.functional.jacobian(lambda x: layer(x[None], _cond(1))[0][0].flatten(), u[b])
        expected = torch.linalg.slogdet(jac.reshape(3 * h * w, 3 * h * w))[1]
        assert log_det[b].item() == pytest.approx(expected.item(), abs=1e-9)


@pytest.mark.parametrize("kernel_size, size", [(3, (5, 7)), (5, (8, 6)), (5, (3, 3))])
def test_inverse_and_forward_are_exact_inverses(kernel_size, size):
    layer, cond = _layer(kernel_size), _cond(3)
    u = torch.randn(3, 3, *size, dtype=DT, generator=torch.Generator().manual_seed(3))
    z, _ = layer(u, cond)
    assert torch.allclose(layer.inverse(z, cond), u, atol=1e-12)
    assert torch.allclose(layer(layer.inverse(u, cond), cond)[0], u, atol=1e-12)


def test_sampling_direction_is_a_circular_cross_correlation_with_the_kernel():
    layer, cond = _layer(kernel_size=5), _cond(2)
    z = torch.randn(2, 3, 9, 10, dtype=DT, generator=torch.Generator().manual_seed(4))
    expected = F.conv2d(F.pad(z, (2, 2, 2, 2), mode="circular"), layer.kernel())
    assert torch.allclose(layer.inverse(z, cond), expected, atol=1e-12)


def test_a_new_layer_is_the_identity():
    layer = SpatialCorrelation(5).double()
    u = torch.randn(2, 3, 6, 7, dtype=DT)
    z, log_det = layer(u, _cond(2))
    assert torch.allclose(z, u, atol=1e-12)
    assert torch.allclose(log_det, torch.zeros(2, dtype=DT), atol=1e-12)


def test_known_correlation_from_a_hand_made_kernel():
    """A [a, 1, a] horizontal kernel on white noise gives lag-1 correlation 2a / (1 + 2a²) and lag-2 a² / (1 + 2a²)."""
    a = 0.3
    layer = SpatialCorrelation(3)
    with torch.no_grad():
        layer.weight[range(3), range(3), 1, 0] = a
        layer.weight[range(3), range(3), 1, 2] = a
    cond = FlowCondition(torch.zeros(1, 3, 1, 1), torch.zeros(1, 1), None)
    u = layer.inverse(torch.randn(1, 3, 256, 256, generator=torch.Generator().manual_seed(5)), cond)
    lag1 = (u[..., :-1] * u[..., 1:]).mean() / u.pow(2).mean()
    lag2 = (u[..., :-2] * u[..., 2:]).mean() / u.pow(2).mean()
    assert lag1.item() == pytest.approx(2 * a / (1 + 2 * a**2), abs=0.01)
    assert lag2.item() == pytest.approx(a**2 / (1 + 2 * a**2), abs=0.01)
    assert (u[:, :, :-1] * u[:, :, 1:]).mean().item() == pytest.approx(0.0, abs=0.01)  # no vertical correlation


def test_log_det_of_a_diagonal_spectrum_is_the_sum_of_its_logs():
    spectrum = circulant_spectrum(2.0 * torch.eye(3, dtype=DT)[None, :, :, None, None], 4, 6)
    assert circulant_log_abs_det(spectrum, 6).item() == pytest.approx(3 * 4 * 6 * torch.log(torch.tensor(2.0)).item())


def test_gradients_reach_the_kernel():
    layer, cond = _layer(3), _cond(2)
    z, log_det = layer(torch.randn(2, 3, 6, 6, dtype=DT), cond)
    (z.square().sum() - log_det.sum()).backward()
    assert layer.weight.grad.abs().sum() > 0


def test_even_kernel_size_is_refused():
    with pytest.raises(ValueError, match="positive odd"):
        SpatialCorrelation(4)

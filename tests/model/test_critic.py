"""Critic96 and the WGAN-GP losses (nmflowgan_aug.model.critic; reference §2.3-§2.4)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from nmflowgan_aug.model.critic import Critic96, critic_loss, generator_loss, gradient_penalty

DT = torch.float64


class LinearCritic(nn.Module):
    """D(x) = <w, x> + c: its input gradient is w everywhere, so GP = (‖w‖ − 1)² exactly."""

    def __init__(self, shape, seed=0, scale=0.05):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.w = nn.Parameter(scale * torch.randn(shape, generator=g, dtype=DT))
        self.c = nn.Parameter(torch.tensor(0.7, dtype=DT))

    def forward(self, x):
        return (x * self.w).flatten(1).sum(1) + self.c


def test_critic96_output_shape_and_official_size():
    critic = Critic96(width=8)
    out = critic(torch.rand(3, 6, 96, 96))
    assert out.shape == (3,)
    # official size: 14,160,969 parameters (reference §2.3), classifier Linear(4608 → 100)
    official = Critic96()
    assert sum(p.numel() for p in official.parameters()) == 14_160_969
    assert official.classifier[0].in_features == 512 * 3 * 3


@pytest.mark.parametrize("shape", [(2, 6, 64, 64), (2, 6, 96, 95), (2, 3, 96, 96), (6, 96, 96), (2, 6, 128, 128)])
def test_critic96_rejects_other_shapes(shape):
    with pytest.raises(ValueError, match="96"):
        Critic96(width=4)(torch.rand(shape))


@pytest.mark.parametrize("norm", [0.3, 1.0, 2.5])
def test_gradient_penalty_equals_hand_computation_for_linear_critic(norm):
    shape = (6, 4, 4)
    critic = LinearCritic(shape, seed=1)
    with torch.no_grad():
        critic.w.mul_(norm / critic.w.norm())
    real = torch.rand(5, *shape, dtype=DT, generator=torch.Generator().manual_seed(2))
    fake = torch.rand(5, *shape, dtype=DT, generator=torch.Generator().manual_seed(3))
    gp = gradient_penalty(critic, real, fake, generator=torch.Generator().manual_seed(4))
    torch.testing.assert_close(gp, torch.tensor((norm - 1.0) ** 2, dtype=DT), rtol=1e-12, atol=1e-14)
    # differentiable w.r.t. the critic parameters: d/dw (‖w‖−1)² = 2(‖w‖−1)·w/‖w‖
    (grad_w,) = torch.autograd.grad(gp, critic.w)
    torch.testing.assert_close(grad_w, 2 * (norm - 1.0) * critic.w / norm, rtol=1e-10, atol=1e-14)


def test_gradient_penalty_uses_interpolates_between_real_and_fake():
    """With a quadratic critic D(x) = ½‖x‖², ∇D(x̂) = x̂ = α·real + (1 − α)·fake, α ~ U[0, 1] per sample."""

    class Quadratic(nn.Module):
        def forward(self, x):
            return 0.5 * (x**2).flatten(1).sum(1)

    real = torch.rand(4, 2, 3, 3, dtype=DT, generator=torch.Generator().manual_seed(5))
    fake = torch.rand(4, 2, 3, 3, dtype=DT, generator=torch.Generator().manual_seed(6))
    gp = gradient_penalty(Quadratic(), real, fake, generator=torch.Generator().manual_seed(7))
    alpha = torch.rand(4, 1, 1, 1, generator=torch.Generator().manual_seed(7), dtype=DT)
    assert ((alpha >= 0) & (alpha <= 1)).all()
    mixed = alpha * real + (1 - alpha) * fake
    expected = ((mixed.flatten(1).norm(dim=1) - 1) ** 2).mean()
    torch.testing.assert_close(gp, expected)


def test_critic_and_generator_loss_signs():
    shape = (6, 4, 4)
    critic = LinearCritic(shape, seed=8)
    with torch.no_grad():
        critic.w.fill_(0.1)  # D = 0.1·Σx + c, ‖w‖ = 0.1·√96
    real = torch.full((3, *shape), 0.8, dtype=DT)
    fake = torch.full((3, *shape), 0.2, dtype=DT, requires_grad=True)
    d_real, d_fake = critic(real).mean(), critic(fake).mean()
    assert d_real > d_fake  # the critic scores real higher
    loss, wasserstein = critic_loss(critic, real, fake, gp_weight=10.0, generator=torch.Generator().manual_seed(0))
    gp = (0.1 * 96**0.5 - 1) ** 2
    torch.testing.assert_close(wasserstein, (d_real - d_fake).detach())
    assert wasserstein > 0 and not wasserstein.requires_grad
    torch.testing.assert_close(loss, d_fake - d_real + 10.0 * gp)
    # the critic loss does not backpropagate into the fake images (they are detached)
    loss.backward()
    assert fake.grad is None
    # lowering the critic loss (without GP) means widening the real/fake gap
    no_gp, _ = critic_loss(critic, real, fake, gp_weight=0.0)
    torch.testing.assert_close(no_gp, -(d_real - d_fake))

    g_loss = generator_loss(critic, fake)
    torch.testing.assert_close(g_loss, -critic(fake).mean())
    (g_fake,) = torch.autograd.grad(g_loss, fake)
    # a gradient step on the generator loss moves fake images toward higher critic scores
    assert (g_fake < 0).all()

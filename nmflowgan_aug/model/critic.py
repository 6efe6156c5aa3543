"""The NM-FlowGAN critic and the WGAN-GP losses (reference §2.3-§2.4; Gulrajani et al. 2017).

The critic sees ``concat(noise, clean) / 256`` (6 channels, 96×96) and is not conditioned on camera
or ISO. Widths follow KAIR's 96×96 discriminator as used by the official code.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["Critic96", "critic_loss", "generator_loss", "gradient_penalty"]


class Critic96(nn.Module):
    """Wasserstein critic for ``(B, 6, 96, 96)`` inputs → scores ``(B,)``.

    Args:
        in_channels: 6 (noise and clean image).
        width: first-layer width ``nc`` (official: 64); later layers use 2·nc, 4·nc, 8·nc.

    Raises:
        ValueError: input that is not ``(B, in_channels, 96, 96)``.
    """

    size = 96

    def __init__(self, in_channels: int = 6, width: int = 64) -> None:
        super().__init__()
        self.in_channels = in_channels
        nc = width
        # (kernel, stride, in, out): five stride-2 stages take 96 → 3.
        spec = [
            (4, 2, nc, nc), (3, 1, nc, 2 * nc), (4, 2, 2 * nc, 2 * nc), (3, 1, 2 * nc, 4 * nc),
            (4, 2, 4 * nc, 4 * nc), (3, 1, 4 * nc, 8 * nc), (4, 2, 8 * nc, 8 * nc), (3, 1, 8 * nc, 8 * nc),
            (4, 2, 8 * nc, 8 * nc),
        ]  # fmt: skip
        layers: list[nn.Module] = [nn.Conv2d(in_channels, nc, 7, padding=3)]
        for k, s, cin, cout in spec:
            layers += [nn.Conv2d(cin, cout, k, s, padding=1), nn.InstanceNorm2d(cout, affine=True), nn.LeakyReLU(0.2)]
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Linear(8 * nc * 3 * 3, 100), nn.LeakyReLU(0.2), nn.Linear(100, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Critic scores ``(B,)`` of ``x`` ``(B, in_channels, 96, 96)``; raises ValueError for other shapes."""
        if x.ndim != 4 or x.shape[1] != self.in_channels or x.shape[2:] != (self.size, self.size):
            raise ValueError(f"critic input must be (B, {self.in_channels}, 96, 96), got {tuple(x.shape)}")
        return self.classifier(self.features(x).flatten(1)).squeeze(1)


def gradient_penalty(
    critic: nn.Module, real: torch.Tensor, fake: torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    """WGAN-GP penalty ``mean((‖∇D(x̂)‖₂ − 1)²)`` with ``x̂ = α·real + (1 − α)·fake``.

    ``α ~ U[0, 1]`` per sample, as in Gulrajani et al. 2017. (The official NM-FlowGAN code draws α
    from a standard normal, so most of its x̂ are extrapolations off the real-fake segment.)
    """
    alpha = torch.rand(real.shape[0], 1, 1, 1, generator=generator, device=real.device, dtype=real.dtype)
    mixed = (alpha * real + (1 - alpha) * fake.detach()).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(mixed).sum(), mixed, create_graph=True)
    return ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()


def critic_loss(
    critic: nn.Module,
    real: torch.Tensor,
    fake: torch.Tensor,
    gp_weight: float = 10.0,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``mean D(fake) − mean D(real) + λ·GP``; also returns the Wasserstein estimate ``mean D(real) − mean D(fake)``."""
    wasserstein = critic(real).mean() - critic(fake.detach()).mean()
    return -wasserstein + gp_weight * gradient_penalty(critic, real, fake, generator), wasserstein.detach()


def generator_loss(critic: nn.Module, fake: torch.Tensor) -> torch.Tensor:
    """``−mean D(fake)``."""
    return -critic(fake).mean()

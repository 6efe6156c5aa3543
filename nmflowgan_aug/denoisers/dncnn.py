"""DnCNN, the denoiser of NM-FlowGAN's denoising experiment (reference §5.3).

Zhang et al., "Beyond a Gaussian Denoiser", TIP 2017: a plain stack of 3×3 convolutions that predicts
the noise and subtracts it from its input.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["DnCNN"]


class DnCNN(nn.Module):
    """Residual DnCNN: ``denoised = x − net(x)``.

    ``net`` is Conv3×3 + ReLU, then ``num_layers − 2`` × [Conv3×3 → BatchNorm2d → ReLU], then
    Conv3×3, all with ``features`` channels inside, zero padding and bias on every convolution.
    At the official size (``channels=3, num_layers=18, features=64``) it has 596,419 parameters.

    Differences from the official NM-FlowGAN denoiser, on purpose:

    * BatchNorm momentum is PyTorch's standard 0.1 (the running statistics move 10 % towards each
      batch). The official code passes ``momentum=0.9``, apparently with Keras' convention
      (fraction *kept*) in mind; in PyTorch that makes the running statistics follow the latest batch
      almost entirely. ``bn_eps`` keeps the official 1e-4.
    * The input/output scale is [0, 1] (the official code works in levels/256); the network is
      scale-agnostic up to the learned weights.

    Args:
        channels: image channels (3 for RGB).
        num_layers: convolution layers in total (>= 2): first, ``num_layers − 2`` middle, last.
        features: channels of the hidden layers.
        bn_momentum: BatchNorm2d momentum (PyTorch convention).
        bn_eps: BatchNorm2d epsilon (official 1e-4).

    Shapes:
        input ``(B, channels, H, W)`` float, any H, W >= 1 (noisy sRGB, nominally in [0, 1]);
        output the same shape and dtype (denoised estimate, *not* clipped: clip to [0, 1] yourself
        before quantizing or scoring).
    """

    def __init__(
        self,
        channels: int = 3,
        num_layers: int = 18,
        features: int = 64,
        *,
        bn_momentum: float = 0.1,
        bn_eps: float = 1e-4,
    ) -> None:
        super().__init__()
        if channels < 1 or features < 1:
            raise ValueError(f"channels and features must be positive, got channels={channels}, features={features}")
        if num_layers < 2:
            raise ValueError(f"num_layers must be >= 2 (first and last convolution), got {num_layers}")
        self.channels = channels
        self.num_layers = num_layers
        self.features = features
        layers: list[nn.Module] = [nn.Conv2d(channels, features, 3, padding=1), nn.ReLU(inplace=True)]
        for _ in range(num_layers - 2):
            layers += [
                nn.Conv2d(features, features, 3, padding=1),
                nn.BatchNorm2d(features, eps=bn_eps, momentum=bn_momentum),
                nn.ReLU(inplace=True),
            ]
        layers.append(nn.Conv2d(features, channels, 3, padding=1))
        self.net = nn.Sequential(*layers)

    @property
    def last(self) -> nn.Conv2d:
        """The final convolution (predicts the noise)."""
        return self.net[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Denoise ``x`` ``(B, channels, H, W)``; returns ``x − net(x)``, same shape."""
        if x.ndim != 4 or x.shape[1] != self.channels:
            raise ValueError(f"DnCNN expects (B, {self.channels}, H, W), got shape {tuple(x.shape)}")
        return x - self.net(x)

"""The spatial-correlation network of NM-FlowGAN: a residual U-Net on the pixel-wise noise map.

Official setting (reference §2.1): depth 5, base width 64 (widths 64…1024), two 3×3 convs + ReLU per
level, 2×2 max-pool down, 2×2 transposed conv up, a 1×1 head and a global residual
``out = head(features) + input``. Attribute names mirror the official state-dict keys.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["UNet"]


class _ConvBlock(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.block = nn.Sequential(
            nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU(), nn.Conv2d(cout, cout, 3, padding=1), nn.ReLU()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x)


class _UpBlock(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.up = nn.ConvTranspose2d(cin, cout, kernel_size=2, stride=2)
        self.conv_block = _ConvBlock(2 * cout, cout)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.conv_block(torch.cat([self.up(x), skip], dim=1))


class UNet(nn.Module):
    """Residual U-Net, ``(B, C, H, W) → (B, C, H, W)``; H and W must be multiples of ``2**(depth−1)``.

    Args:
        channels: input and output channels (3).
        depth: number of resolution levels (official: 5).
        width: channels of the first level, doubled at each level (official: 64).
    """

    def __init__(self, channels: int = 3, depth: int = 5, width: int = 64) -> None:
        super().__init__()
        if depth < 1 or width < 1:
            raise ValueError(f"depth and width must be positive, got depth={depth}, width={width}")
        widths = [width * 2**i for i in range(depth)]
        self.down_path = nn.ModuleList(_ConvBlock(cin, cout) for cin, cout in zip([channels] + widths[:-1], widths))
        self.up_path = nn.ModuleList(_UpBlock(widths[i + 1], widths[i]) for i in reversed(range(depth - 1)))
        self.last = nn.Conv2d(width, channels, 1)
        # Zero-initialised head: an untrained U-Net is the identity, so a new model starts from the
        # flow's pixel-wise noise and adversarial training adds correlation from there.
        nn.init.zeros_(self.last.weight)
        nn.init.zeros_(self.last.bias)

    @property
    def multiple(self) -> int:
        """H and W must be divisible by this."""
        return 2 ** (len(self.down_path) - 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W)`` → ``head(features) + x``, same shape; H and W multiples of :attr:`multiple`."""
        skips = []
        h = x
        for i, down in enumerate(self.down_path):
            h = down(h)
            if i < len(self.down_path) - 1:
                skips.append(h)
                h = nn.functional.max_pool2d(h, 2)
        for up in self.up_path:
            h = up(h, skips.pop())
        return self.last(h) + x

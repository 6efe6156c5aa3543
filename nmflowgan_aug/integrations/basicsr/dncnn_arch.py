"""``NMFlowGANDnCNN``: :class:`nmflowgan_aug.denoisers.DnCNN` registered in BasicSR's ``ARCH_REGISTRY``."""

from __future__ import annotations

from basicsr.utils.registry import ARCH_REGISTRY

from ...denoisers import DnCNN
from ._compat import register_once

__all__ = ["NMFlowGANDnCNN"]


@register_once(ARCH_REGISTRY)
class NMFlowGANDnCNN(DnCNN):
    """Residual DnCNN with BasicSR-style arguments, for ``network_g: {type: NMFlowGANDnCNN, ...}``.

    ``denoised = x − net(x)``; Conv+ReLU, BatchNorm middle layers.

    Args:
        num_in_ch: image channels (3 for RGB).
        num_feat: hidden channels (DnCNN: 64).
        num_layers: convolutions in total (DnCNN: 17; NM-FlowGAN's experiment: 18).

    Shapes:
        ``(B, num_in_ch, H, W)`` float noisy sRGB in [0, 1] → same shape, not clipped.
    """

    def __init__(self, num_in_ch: int = 3, num_feat: int = 64, num_layers: int = 17) -> None:
        super().__init__(channels=num_in_ch, num_layers=num_layers, features=num_feat)

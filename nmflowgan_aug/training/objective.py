"""The generator side of a training iteration as one module call, for ``DistributedDataParallel`` and ``torch.compile``.

DDP averages the gradients of the parameters that a call of the wrapped module reaches, so the flow's
likelihood and the U-Net's synthesis of one iteration run in one :class:`GeneratorObjective` call. Its
parameters are those that exist: the flow, the U-Net (when the model has one) and the noise scale of
resampled sources (when a source is resampled).
"""

from __future__ import annotations

import torch
from torch import nn

from ..model import NMFlowGAN
from .amp import autocast

__all__ = ["GeneratorObjective"]


class GeneratorObjective(nn.Module):
    """Likelihood of the noisy patches under the flow and, on adversarial iterations, the synthesized patches.

    Args:
        model: the noise model being trained.
        resampled_layer: the noise scale of resampled training sources, or ``None``.
        amp: ``train.amp`` mode; the synthesis (the U-Net) runs under that autocast, the likelihood in float32.
    """

    def __init__(self, model: NMFlowGAN, resampled_layer: nn.Module | None, amp: str = "none") -> None:
        super().__init__()
        self.model = model
        self.resampled_layer = resampled_layer
        self.amp = amp

    def forward(
        self,
        clean: torch.Tensor,
        clean_levels: torch.Tensor,
        noisy_levels: torch.Tensor,
        camera_codes: torch.Tensor,
        iso_values: torch.Tensor,
        resampled: torch.Tensor | None,
        adversarial: bool,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """One pass of the generator side (dequantization and sampling noise from torch's global RNG).

        Args:
            clean: sRGB in [0, 1], ``(B, 3, H, W)``.
            clean_levels: the clean patches in 8-bit levels (integers 0..255 as float), ``(B, 3, H, W)``.
            noisy_levels: the noisy patches in 8-bit levels (integers 0..255 as float), ``(B, 3, H, W)``.
            camera_codes: camera codes, LongTensor ``(B,)``.
            iso_values: ISO values, LongTensor ``(B,)``.
            resampled: bool ``(B,)`` flags of resampled patches, or ``None`` when no source is resampled.
            adversarial: also synthesize noisy patches (for the U-Net's adversarial loss).

        Returns:
            ``z`` ``(B, 3, H, W)``, the log-likelihood ``(B,)`` in nats (float32), and the synthesized
            noisy patches in levels ``(B, 3, H, W)`` (``None`` unless ``adversarial``).
        """
        device = clean.device
        with torch.autocast(device.type, enabled=False):
            cond = self.model.condition(clean_levels, camera_codes, iso_values)
            z, log_p = self.model.flow.latent_and_log_prob(
                noisy_levels, cond, resampled=resampled, resampled_layer=self.resampled_layer
            )
        fake = None
        if adversarial:
            with autocast(device, self.amp):
                fake = self.model.synthesize_levels(clean, camera_codes, iso_values)
        return z, log_p, fake

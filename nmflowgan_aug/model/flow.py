"""The conditional noise flow of NM-FlowGAN (arXiv 2312.10112, §3.2; reference §1), with our two options.

Layers in forward (noisy → latent) order: UD, then NE | SAL | SDL | CL2 | SAL | SDL | CL2; base
distribution N(0, I). The state-dict names (``pre_bijectors.0``, ``bijectors.1`` …) follow the
official checkpoint layout (reference §3.2) so that ``NMFlowGAN_NoiseModeler.pth`` loads directly.

Options (both off in the official model): ``noise_domain="linear"`` extracts the noise in linear light
(:class:`~nmflowgan_aug.model.flow_layers.LinearNoiseExtraction` in place of NE), and ``spatial_kernel=k``
appends a :class:`~nmflowgan_aug.model.spatial.SpatialCorrelation` layer (``bijectors.7``) on the latent
side, so the flow models the spatial and cross-channel correlation of real noise by likelihood.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .flow_layers import (
    ConditionalLinearTable,
    FlowCondition,
    LinearNoiseExtraction,
    NoiseExtraction,
    SignalDependentLinear,
    StructureAwareLinear,
    UniformDequantization,
)
from .spatial import SpatialCorrelation

__all__ = ["NOISE_DOMAINS", "NoiseFlow", "standard_normal_log_prob"]

#: Noise-extraction layer per ``noise_domain``.
NOISE_DOMAINS = {"srgb": NoiseExtraction, "linear": LinearNoiseExtraction}


def standard_normal_log_prob(z: torch.Tensor) -> torch.Tensor:
    """``Σ log N(z; 0, 1)`` over all but the batch dimension, in nats, shape ``(B,)``."""
    return (-0.5 * (z**2 + math.log(2 * math.pi))).flatten(1).sum(1)


class NoiseFlow(nn.Module):
    """Conditional flow ``noisy ↔ z`` given the clean image, camera and ISO.

    Args:
        meta_features: length of the condition vector (``ConditionVocabulary.meta_features``).
        table_rows: rows of each CL2 table (``ConditionVocabulary.table_rows``).
        num_bits: bit depth of the images (8 for sRGB PNGs).
        features: width of the SAL/SDL convolutional subnetworks (official: 16).
        linear_iso: condition vectors are ``[t ‖ onehot(camera)]`` (log-ISO encoding), see :class:`MetaEncoder`.
        noise_domain: ``"srgb"`` (official: ``n = noisy − clean``) or ``"linear"`` (the difference in linear
            light, :class:`~nmflowgan_aug.model.flow_layers.LinearNoiseExtraction`).
        spatial_kernel: ``0`` (official: no spatial layer) or the odd kernel size of a final
            :class:`~nmflowgan_aug.model.spatial.SpatialCorrelation` layer.

    Raises:
        ValueError: an unknown ``noise_domain`` or an even/negative ``spatial_kernel``.
    """

    def __init__(
        self,
        meta_features: int,
        table_rows: int,
        num_bits: int = 8,
        features: int = 16,
        linear_iso: bool = False,
        noise_domain: str = "srgb",
        spatial_kernel: int = 0,
    ) -> None:
        super().__init__()
        if noise_domain not in NOISE_DOMAINS:
            raise ValueError(f"noise_domain must be one of {list(NOISE_DOMAINS)}, got {noise_domain!r}")
        self.pre_bijectors = nn.ModuleList([UniformDequantization(num_bits)])
        layers: list[nn.Module] = [NOISE_DOMAINS[noise_domain]()]
        for _ in range(2):
            layers += [
                StructureAwareLinear(meta_features, features, linear_iso),
                SignalDependentLinear(meta_features, features, linear_iso),
                ConditionalLinearTable(table_rows),
            ]
        if spatial_kernel:
            layers.append(SpatialCorrelation(spatial_kernel))
        self.bijectors = nn.ModuleList(layers)

    @property
    def spatial(self) -> SpatialCorrelation | None:
        """The spatial-correlation layer, or ``None`` (official flow)."""
        last = self.bijectors[-1]
        return last if isinstance(last, SpatialCorrelation) else None

    @property
    def dequantize(self) -> UniformDequantization:
        """The uniform dequantization layer (UD), ``pre_bijectors[0]``."""
        return self.pre_bijectors[0]

    def forward(
        self,
        noisy_levels: torch.Tensor,
        cond: FlowCondition,
        generator: torch.Generator | None = None,
        resampled: torch.Tensor | None = None,
        resampled_layer: nn.Module | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Map integer noisy levels ``(B, 3, H, W)`` (values 0..2**num_bits − 1) to ``z``.

        Args:
            noisy_levels: the noisy image in levels (float tensor of integers).
            cond: the condition (dequantized clean image, condition vector, CL2 row).
            generator: for the dequantization noise.
            resampled: optional bool ``(B,)``: samples whose noise was resized (training only). For them
                ``resampled_layer`` (a :class:`~nmflowgan_aug.model.flow_layers.ResampledNoiseScale`) takes
                the place of the spatial-correlation layer (or is appended when the flow has none).
            resampled_layer: required with ``resampled``.

        Returns:
            ``z`` of the same shape and the total log-det ``(B,)`` including the dequantization term.
        """
        x, log_det = self.dequantize(noisy_levels, generator)
        spatial = self.spatial
        for layer in self.bijectors[:-1] if spatial is not None else self.bijectors:
            x, ld = layer(x, cond)
            log_det = log_det + ld
        z, ld = spatial(x, cond) if spatial is not None else (x, torch.zeros_like(log_det))
        if resampled is not None:
            if resampled_layer is None:
                raise ValueError("resampled samples need a resampled_layer (a ResampledNoiseScale)")
            z_resampled, ld_resampled = resampled_layer(x, cond)
            z = torch.where(resampled[:, None, None, None], z_resampled, z)
            ld = torch.where(resampled, ld_resampled, ld)
        return z, log_det + ld

    def latent_and_log_prob(
        self,
        noisy_levels: torch.Tensor,
        cond: FlowCondition,
        generator: torch.Generator | None = None,
        resampled: torch.Tensor | None = None,
        resampled_layer: nn.Module | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The latent ``z`` ``(B, 3, H, W)`` and :meth:`log_prob` ``(B,)`` from one pass (training logs both).

        ``resampled`` and ``resampled_layer``: see :meth:`forward`.
        """
        z, log_det = self(noisy_levels, cond, generator, resampled, resampled_layer)
        return z, standard_normal_log_prob(z) + log_det

    def log_prob(
        self, noisy_levels: torch.Tensor, cond: FlowCondition, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Log-likelihood of the 8-bit noisy image in nats per image, shape ``(B,)`` (reference §1.6).

        ``log N(z; 0, I) + log|det ∂z/∂x|`` including the dequantization term ``−num_bits·ln 2`` per dimension.
        """
        return self.latent_and_log_prob(noisy_levels, cond, generator)[1]

    def inverse(self, z: torch.Tensor, cond: FlowCondition) -> torch.Tensor:
        """Map latents ``z`` to integer noisy levels (float tensor, values 0..2**num_bits − 1)."""
        x = z
        for layer in reversed(self.bijectors):
            x = layer.inverse(x, cond)
        return self.dequantize.inverse(x)

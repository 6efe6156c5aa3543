"""Spatially correlated noise as a flow layer: a conditional circulant convolution with an exact log-determinant.

Real sRGB camera noise is correlated between neighbouring pixels and between channels, because the camera
pipeline demosaics the colour filter array (CFA) mosaic and mixes colours with a colour-correction matrix:
measured on native SIDD crops (noisy − clean), the lag-1 correlation is about 0.5 in R and B and 0.33 in G,
lag 2 about 0.07, and the lag-0 correlations R–G 0.25, R–B 0.55, G–B 0.25. The pixel-wise flow of
NM-FlowGAN has none of it (reference §1.5). :class:`SpatialCorrelation` adds it inside the flow, trained by
likelihood like the other layers, so it needs no adversarial stage.

The layer is a linear map on the whole noise image: in the sampling direction
``u = K ⋆ z`` with a small ``C×C×k×k`` kernel (a cross-correlation, as :func:`torch.nn.functional.conv2d`
computes it) on the torus, i.e. with circular boundary conditions. A circular convolution is diagonalised
by the 2-D discrete Fourier transform, so (Hoogeboom, van den Berg & Welling, "Emerging Convolutions for
Generative Normalizing Flows", ICML 2019, §3.3 "periodic convolutions"):

* its inverse is a per-frequency ``C×C`` linear solve, ``Z(f) = K(f)⁻¹ U(f)``;
* ``log |det| = Σ_f log |det K(f)|`` over all ``H·W`` frequencies ``f`` (for real signals the
  frequencies ``f`` and ``−f`` have conjugate determinants, so the half spectrum of :func:`torch.fft.rfft2`
  counted twice, except its self-conjugate columns, gives the sum).

The circulant model gives every pixel, edges included, the same neighbourhood statistics; its only
artefact is a correlation between opposite borders of the image, which no metric of a single image sees.
"""

from __future__ import annotations

import torch
from torch import nn

from .flow_layers import FlowCondition

__all__ = ["SpatialCorrelation", "circulant_log_abs_det", "circulant_spectrum"]


def circulant_spectrum(kernel: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Transfer function of the circular cross-correlation ``u = K ⋆ z`` on an ``height × width`` torus.

    Args:
        kernel: ``(B, C_out, C_in, k, k)`` with odd ``k``; tap ``[o, i, dy, dx]`` weighs input channel ``i`` at
            offset ``(dy − k//2, dx − k//2)`` for output channel ``o``, as in :func:`torch.nn.functional.conv2d`.
        height: image height (≥ 1; a kernel larger than the image wraps around).
        width: image width (≥ 1; a kernel larger than the image wraps around).

    Returns:
        Complex ``(B, C_out, C_in, height, width // 2 + 1)``: ``K(f)`` such that
        ``rfft2(u)[:, o] = Σ_i K[:, o, i] · rfft2(z)[:, i]``.
    """
    k = kernel.shape[-1]
    c = k // 2
    # Cross-correlation tap (dy, dx) reads z at (y + dy − c, x + dx − c): it is a convolution with the tap
    # placed at (c − dy, c − dx) modulo the image size.
    dy = (c - torch.arange(k, device=kernel.device)) % height
    dx = (c - torch.arange(k, device=kernel.device)) % width
    taps = kernel.new_zeros(height, width, *kernel.shape[:3])
    # accumulate: a kernel wider than a tiny image folds onto itself
    taps.index_put_((dy[:, None].expand(k, k), dx[None, :].expand(k, k)), kernel.permute(3, 4, 0, 1, 2), accumulate=True)
    return torch.fft.rfft2(taps.permute(2, 3, 4, 0, 1))


def circulant_log_abs_det(spectrum: torch.Tensor, width: int) -> torch.Tensor:
    """``log |det|`` of the real circular convolution whose half spectrum is ``spectrum``, shape ``(B,)``.

    Args:
        spectrum: complex ``(B, C, C, H, width // 2 + 1)`` from :func:`circulant_spectrum`.
        width: the image width ``W`` (it fixes which rfft columns are self-conjugate: column 0, and column
            ``W/2`` for even ``W``).
    """
    _, log_abs = torch.linalg.slogdet(spectrum.permute(0, 3, 4, 1, 2))  # (B, H, W//2 + 1)
    weights = torch.full((spectrum.shape[-1],), 2.0, dtype=log_abs.dtype, device=log_abs.device)
    weights[0] = 1.0
    if width % 2 == 0:
        weights[-1] = 1.0
    return (log_abs * weights).sum((1, 2))


class SpatialCorrelation(nn.Module):
    """Flow layer ``u ↔ z`` with ``u = K ⋆ z`` circular: spatial and cross-channel noise correlation.

    ``K = I + W``: the identity tap (so a new layer is the identity map) plus a learned, zero-initialised
    kernel ``W``, shared by every camera and ISO. The correlation of real SIDD noise differs little between
    the five phones and over ISO (lag-1 0.40–0.58 in R/B, 0.26–0.38 in G on every native crop), while native
    crops, the only data that carry it, exist for one or two ISO levels per camera; a kernel per camera or a
    slope over ISO would be fitted on a single crop and extrapolated from it (in a leave-one-scene-out probe
    a camera without native crops got lag-1 0.25 from a per-camera kernel, against 0.53 real).

    ``cond`` is accepted for the flow-layer interface and not used. Direction convention as for every
    flow layer (:mod:`nmflowgan_aug.model.flow_layers`): ``forward`` maps data ``u`` (the noise after the pixel-wise layers) to the latent ``z = K⁻¹ ⋆ u`` and returns the
    log-determinant ``−Σ_f log |det K(f)|``, ``(B,)``; ``inverse`` is the sampling direction ``u = K ⋆ z``.
    Both run through the 2-D FFT (see the module docstring), so they are exact inverses for any size.

    Args:
        kernel_size: odd ``k``; 5 covers the lag-2 correlation of demosaiced noise.
        channels: colour channels (3).

    Raises:
        ValueError: an even or non-positive ``kernel_size``.
    """

    def __init__(self, kernel_size: int = 5, channels: int = 3) -> None:
        super().__init__()
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be a positive odd number, got {kernel_size}")
        self.kernel_size, self.channels = kernel_size, channels
        shape = (channels, channels, kernel_size, kernel_size)
        self.weight = nn.Parameter(torch.zeros(shape))
        identity = torch.zeros(shape)
        identity[range(channels), range(channels), kernel_size // 2, kernel_size // 2] = 1.0
        self.register_buffer("identity", identity, persistent=False)

    def kernel(self) -> torch.Tensor:
        """The kernel ``I + W``, ``(C, C, k, k)``."""
        return self.identity + self.weight

    def spectrum(self, height: int, width: int) -> torch.Tensor:
        """``K(f)``, complex ``(1, C, C, height, width // 2 + 1)`` (see :func:`circulant_spectrum`)."""
        return circulant_spectrum(self.kernel()[None], height, width)

    def forward(self, u: torch.Tensor, cond: FlowCondition) -> tuple[torch.Tensor, torch.Tensor]:
        """Towards the latent: ``(z, log_det)`` with ``z = K⁻¹ ⋆ u`` ``(B, C, H, W)`` and ``log_det`` ``(B,)``."""
        h, w = u.shape[-2:]
        spectrum = self.spectrum(h, w)
        rhs = torch.fft.rfft2(u).permute(0, 2, 3, 1).unsqueeze(-1)  # (B, H, W', C, 1)
        z_hat = torch.linalg.solve(spectrum.permute(0, 3, 4, 1, 2), rhs).squeeze(-1).permute(0, 3, 1, 2)
        log_det = -circulant_log_abs_det(spectrum, w).expand(u.shape[0])
        return torch.fft.irfft2(z_hat, s=(h, w)), log_det

    def inverse(self, z: torch.Tensor, cond: FlowCondition) -> torch.Tensor:
        """Towards the data (sampling): ``u = K ⋆ z``, ``(B, C, H, W)``."""
        h, w = z.shape[-2:]
        u_hat = torch.einsum("oiyx,biyx->boyx", self.spectrum(h, w)[0], torch.fft.rfft2(z))
        return torch.fft.irfft2(u_hat, s=(h, w))

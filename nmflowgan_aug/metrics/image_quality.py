"""PSNR and SSIM per image, following the SIDD denoising protocol (per block, then averaged)."""

from __future__ import annotations

import math
from typing import Literal

import torch
from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure

from ._inputs import check_images, to_unit

__all__ = ["psnr", "ssim"]


def psnr(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR in dB, ``10·log10(1 / MSE)`` with MSE over all channels and pixels of an image.

    SIDD protocol (as in NM-FlowGAN's denoiser test and the SIDD benchmark): PSNR per 256×256 block
    on RGB with peak 255 (= data range 1.0 here), then the plain mean over blocks. Computed with
    ``torchmetrics.functional.peak_signal_noise_ratio(data_range=1.0, dim=(1, 2, 3),
    reduction="none")`` in float64 (the torchmetrics default ``dim=None`` would pool the MSE over the
    whole batch instead). Identical images give ``inf``. torchmetrics converts ``10/ln 10`` in float32,
    so values carry a relative error of about 5e-8 (~2e-6 dB) against an all-float64 computation.

    Args:
        pred: Predicted images, ``(B, 3, H, W)``, float sRGB in [0, 1] or uint8.
        target: Reference images, same shape.

    Returns:
        PSNR per image, shape ``(B,)``, float64.
    """
    check_images({"pred": pred, "target": target})
    return peak_signal_noise_ratio(to_unit(pred), to_unit(target), data_range=1.0, dim=(1, 2, 3), reduction="none")


def ssim(
    pred: torch.Tensor, target: torch.Tensor, *, window: Literal["gaussian", "uniform"] = "gaussian"
) -> torch.Tensor:
    """Per-image SSIM (Wang et al., 2004) on RGB, channels averaged, data range 1.0.

    Computed with ``torchmetrics.functional.structural_similarity_index_measure`` (float64) on the
    full SSIM map, then averaged over the **valid** windows only (a border of ``window // 2`` pixels is
    dropped), as skimage, MATLAB-style and BasicSR implementations do; torchmetrics' own reduction
    would also average the reflect-padded border.

    Windows:

    * ``"gaussian"`` (default): 11×11 Gaussian, σ = 1.5, population covariances. Equals
      ``skimage.metrics.structural_similarity(channel_axis=-1, data_range=1, gaussian_weights=True,
      sigma=1.5, use_sample_covariance=False)`` and the BasicSR/NAFlow SSIM used for SIDD tables.
    * ``"uniform"``: 7×7 box window with sample covariances (N/(N−1), N = 49), i.e. skimage's
      defaults ``structural_similarity(channel_axis=-1, data_range=...)``, which is the protocol of
      NM-FlowGAN's own denoiser test. The sample-covariance factor is folded into ``K2``
      (``K2' = 0.03·sqrt(48/49)``), which is algebraically identical.

    SIDD protocol: SSIM per 256×256 block, then the plain mean over blocks.

    Args:
        pred: Predicted images, ``(B, 3, H, W)``, float sRGB in [0, 1] or uint8.
        target: Reference images, same shape; H and W must be at least the window size.
        window: ``"gaussian"`` or ``"uniform"``, see above.

    Returns:
        SSIM per image, shape ``(B,)``, float64.
    """
    check_images({"pred": pred, "target": target})
    if window == "gaussian":
        size, kwargs = 11, {"gaussian_kernel": True, "sigma": 1.5}
    elif window == "uniform":
        size, kwargs = 7, {"gaussian_kernel": False, "kernel_size": 7, "k2": 0.03 * math.sqrt(48.0 / 49.0)}
    else:
        raise ValueError(f"window must be 'gaussian' or 'uniform', got {window!r}")
    if pred.shape[-2] < size or pred.shape[-1] < size:
        raise ValueError(f"ssim with the {window} window needs H and W >= {size}, got {tuple(pred.shape[-2:])}")
    _, full = structural_similarity_index_measure(
        to_unit(pred), to_unit(target), data_range=1.0, reduction="none", return_full_image=True, **kwargs
    )
    pad = size // 2
    return full[..., pad:-pad, pad:-pad].flatten(1).mean(dim=1)

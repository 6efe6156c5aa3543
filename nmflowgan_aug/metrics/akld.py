"""AKLD: DANet's average KL divergence between local zero-mean Gaussian noise models, with its blur kernel."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from ._inputs import check_images, to_unit

__all__ = ["akld", "cv2_gaussian_kernel1d", "local_noise_variance"]

# OpenCV's getGaussianKernel uses these fixed kernels (not sampled Gaussians) for odd sizes <= 7 when
# sigma <= 0; for size 7 this is [2, 7, 14, 18, 14, 7, 2] / 64.
_CV2_SMALL_KERNELS = {
    1: (1.0,),
    3: (0.25, 0.5, 0.25),
    5: (0.0625, 0.25, 0.375, 0.25, 0.0625),
    7: (0.03125, 0.109375, 0.21875, 0.28125, 0.21875, 0.109375, 0.03125),
}


def cv2_gaussian_kernel1d(ksize: int, sigma: float | None = None) -> torch.Tensor:
    """1-D Gaussian kernel with the semantics of OpenCV's ``cv2.getGaussianKernel(ksize, sigma)``.

    * ``sigma`` None or <= 0 and ``ksize`` in {1, 3, 5, 7}: OpenCV's fixed table (for 7:
      ``[2, 7, 14, 18, 14, 7, 2] / 64``), **not** a sampled Gaussian.
    * otherwise ``exp(-x² / (2σ²))`` at ``x = i - (ksize-1)/2``, normalized to sum 1, with
      ``σ = sigma`` if positive else ``0.3·((ksize-1)/2 - 1) + 0.8`` (1.4 for ksize 7).

    Args:
        ksize: Odd positive kernel length.
        sigma: Standard deviation in pixels; None or <= 0 selects OpenCV's default.

    Returns:
        Kernel of shape ``(ksize,)``, float64, summing to 1.
    """
    if not isinstance(ksize, (int, np.integer)) or isinstance(ksize, bool) or ksize < 1 or ksize % 2 == 0:
        raise ValueError(f"ksize must be an odd positive integer, got {ksize!r}")
    if sigma is not None and not math.isfinite(sigma):
        raise ValueError(f"sigma must be finite or None, got {sigma}")
    if (sigma is None or sigma <= 0) and ksize in _CV2_SMALL_KERNELS:
        return torch.tensor(_CV2_SMALL_KERNELS[int(ksize)], dtype=torch.float64)
    s = sigma if (sigma is not None and sigma > 0) else 0.3 * ((ksize - 1) * 0.5 - 1) + 0.8
    x = torch.arange(ksize, dtype=torch.float64) - (ksize - 1) / 2
    k = torch.exp(-(x**2) / (2 * s * s))
    return k / k.sum()


def local_noise_variance(
    noisy: torch.Tensor, clean: torch.Tensor, *, window: int = 7, sigma: float | None = None
) -> torch.Tensor:
    """Local noise variance maps ``GaussBlur(window×window)((noisy - clean)²)``, clamped to >= 1e-10.

    DANet's ``estimate_sigma_gauss`` (zsyOAOA/DANet ``utils.py``, reused by NAFlow): errors in [0, 1]
    units; the 2-D kernel is the outer product of :func:`cv2_gaussian_kernel1d` with itself
    (``getGaussianKernel(7, sigma=-1)`` in DANet); borders padded by reflection **without** repeating
    the edge pixel, i.e. torch ``F.pad(mode="reflect")`` = OpenCV ``BORDER_REFLECT_101`` (cv2's
    default ``BORDER_DEFAULT``) = scipy.ndimage ``mode="mirror"``. The blur is applied as two 1-D
    passes (identical to the outer-product kernel up to rounding). kornia's ``gaussian_blur2d`` has the
    same border rule but always samples the Gaussian, so it cannot reproduce OpenCV's 7-tap table.

    Args:
        noisy: Noisy images, ``(B, 3, H, W)``, float sRGB in [0, 1] or uint8.
        clean: Clean images, same shape.
        window: Odd kernel size; ``window // 2`` must be smaller than H and W.
        sigma: Kernel σ in pixels, None for OpenCV's default (see :func:`cv2_gaussian_kernel1d`).

    Returns:
        Variance maps, ``(B, 3, H, W)``, float64, in [0, 1]² units.
    """
    check_images({"noisy": noisy, "clean": clean})
    return _local_variance(to_unit(noisy) - to_unit(clean), window, sigma)


def _local_variance(err: torch.Tensor, window: int, sigma: float | None) -> torch.Tensor:
    kernel = cv2_gaussian_kernel1d(window, sigma).to(device=err.device)
    pad = window // 2
    if pad >= err.shape[-2] or pad >= err.shape[-1]:
        raise ValueError(f"window {window} needs images larger than {pad} pixels per side, got {tuple(err.shape[-2:])}")
    height, width = err.shape[-2:]
    x = err**2
    if pad > 0:
        x = F.pad(x, (pad, pad, pad, pad), mode="reflect")
    # separable correlation as weighted sums of shifted views (cheaper than grouped conv2d on CPU)
    w = [float(v) for v in kernel]
    x = sum(w[k] * x[..., :, k : k + width] for k in range(window))
    x = sum(w[k] * x[..., k : k + height, :] for k in range(window))
    return x.clamp(min=1e-10)


def akld(
    noisy_real: torch.Tensor,
    noisy_fake: torch.Tensor,
    clean: torch.Tensor,
    *,
    window: int = 7,
    sigma: float | None = None,
) -> torch.Tensor:
    r"""Average KL divergence (AKLD) between local zero-mean Gaussian noise models, per image.

    DANet protocol (Yue et al., ECCV 2020; zsyOAOA/DANet ``demo_AKLD.py`` + ``utils.py``, copied by
    NAFlow ``naflow/utils/metrics.py::calculate_alkd``; reference §5.2):

    * ``σ²_real = local_noise_variance(noisy_real, clean)``, ``σ²_fake = local_noise_variance(noisy_fake,
      clean)`` (7×7 Gaussian blur of the squared error, reflect-101 borders, clamped >= 1e-10);
    * ``r = clamp(σ²_fake / σ²_real, 0.1, 10)``;
    * :math:`\mathrm{AKLD} = \tfrac12\,\mathrm{mean}_{c,h,w}(\log(1/r) + r - 1)`.

    Units: errors are in [0, 1] units (the DANet code uses ``img_as_float32``). The ratio ``r`` is
    invariant to a common scale of both errors, so the units only matter through the 1e-10 floor
    (which then acts on variances in [0, 1]² units).

    Kernel: with ``sigma=None`` (default) the kernel is exactly DANet's
    ``cv2.getGaussianKernel(7, sigma=-1)``, which for size 7 is OpenCV's fixed table
    ``[2, 7, 14, 18, 14, 7, 2]/64``; it is close to, but not equal to, a sampled Gaussian with the
    nominal σ = 0.3·((7−1)/2−1)+0.8 = 1.4 (pass ``sigma=1.4`` for that variant).

    DANet averages this value over 50 generated samples per image and then over images; the
    generated image is clipped to [0, 1] first (required here).

    Args:
        noisy_real: Real noisy images, ``(B, 3, H, W)``, float sRGB in [0, 1] or uint8.
        noisy_fake: Generated noisy images, same shape, float in [0, 1] or uint8.
        clean: Clean images, same shape.
        window: Odd blur window size (7 in the protocol).
        sigma: Blur σ in pixels; None for OpenCV's default for ``window``.

    Returns:
        Per-image AKLD, shape ``(B,)``, float64.
    """
    check_images({"noisy_real": noisy_real, "noisy_fake": noisy_fake, "clean": clean})
    c = to_unit(clean)
    var_real = _local_variance(to_unit(noisy_real) - c, window, sigma)
    var_fake = _local_variance(to_unit(noisy_fake) - c, window, sigma)
    r = (var_fake / var_real).clamp(0.1, 10.0)
    return 0.5 * (-torch.log(r) + r - 1.0).flatten(1).mean(dim=1)



"""Noise-model and denoiser metrics: histogram KLD (two protocols), AKLD, PSNR and SSIM.

All functions take image batches of shape ``(B, 3, H, W)`` (sRGB, float in [0, 1] or uint8 levels)
and return one value per image, shape ``(B,)``; average the result yourself (every protocol below
reports the plain mean over patches/blocks).

The "KLD" numbers of the literature are **not comparable** across papers, because each code base
bins differently. This module implements the two in use by name:

* :func:`kld_official`: NM-FlowGAN's own protocol (inherited from Flow-sRGB / Noise2NoiseFlow):
  8-bit noise levels, 130 bins of width 4, +1 count smoothing, per 96×96 patch.
* :func:`kld_block`: the NAFlow protocol, reused by PNG and GuidNoise: noise in [0, 1] units,
  256 bins over [-1, 1], no smoothing, bins empty on either side dropped, per SIDD 256×256 block.

:func:`akld` is DANet's average KL divergence between local zero-mean Gaussian noise models, and
:func:`psnr` / :func:`ssim` follow the SIDD denoising protocol (per block, then averaged).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal, Union

import numpy as np
import torch
import torch.nn.functional as F
from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure

from .srgb import check_same_shape, check_srgb_batch

__all__ = [
    "BLOCK_BIN_EDGES",
    "OFFICIAL_BIN_EDGES",
    "akld",
    "cv2_gaussian_kernel1d",
    "kld_block",
    "kld_histogram",
    "kld_official",
    "local_noise_variance",
    "psnr",
    "ssim",
]

ArrayLike = Union[torch.Tensor, np.ndarray]

#: NM-FlowGAN / Flow-sRGB bin edges in 8-bit levels: -260, -256, ..., 260 (131 edges, 130 bins of width 4).
OFFICIAL_BIN_EDGES = torch.arange(-260, 261, 4, dtype=torch.float64)

#: NAFlow bin edges on noise in [0, 1] units: -1, -1 + 1/128, ..., 1 (257 edges, 256 bins). Exact in binary.
BLOCK_BIN_EDGES = torch.arange(-128, 129, dtype=torch.float64) / 128.0

# OpenCV's getGaussianKernel uses these fixed kernels (not sampled Gaussians) for odd sizes <= 7 when
# sigma <= 0; for size 7 this is [2, 7, 14, 18, 14, 7, 2] / 64.
_CV2_SMALL_KERNELS = {
    1: (1.0,),
    3: (0.25, 0.5, 0.25),
    5: (0.0625, 0.25, 0.375, 0.25, 0.0625),
    7: (0.03125, 0.109375, 0.21875, 0.28125, 0.21875, 0.109375, 0.03125),
}

# Float inputs k/255 in float32 come back as k +- 1.5e-5 after x 255. An image whose values are all
# that close to integers is snapped to exact levels, so that integer-valued noise lands in the right
# width-4 bin (integers sit on the bin edges). Continuous (unrounded) images are left untouched.
_LEVEL_SNAP_TOL = 1e-4

# Histogram values per chunk when binning a batch (bounds the int64 index buffer to ~64 MB).
_HIST_CHUNK = 1 << 23


# --------------------------------------------------------------------------------------------------
# input handling


def _as_tensor(x: ArrayLike, name: str) -> torch.Tensor:
    if isinstance(x, np.ndarray):
        return torch.from_numpy(x)
    if isinstance(x, torch.Tensor):
        return x
    raise TypeError(f"{name} must be a torch.Tensor or numpy.ndarray, got {type(x).__name__}")


def _check_images(
    tensors: dict[str, torch.Tensor], *, allow_uint8: bool = True, fake_name: str | None = None, fake_max: float = 1.0
) -> None:
    """Validate sRGB batches (B, 3, H, W) of equal shape; ``fake_name`` may exceed 1 up to ``fake_max``."""
    names = list(tensors)
    for name, x in tensors.items():
        if name == fake_name and fake_max > 1.0 and isinstance(x, torch.Tensor) and x.is_floating_point():
            # same checks as check_srgb_batch, with the official generator's wider range
            check_srgb_batch(x.clamp(0.0, 1.0), name)  # shape, channels, emptiness
            if not torch.isfinite(x).all():
                raise ValueError(f"{name} contains NaN or Inf values")
            lo, hi = float(x.min()), float(x.max())
            if lo < 0.0 or hi > fake_max + 1e-6:  # slack for float32 256/255
                raise ValueError(f"{name} must be in [0, {fake_max:.6g}], got values in [{lo:.4g}, {hi:.4g}]")
        else:
            check_srgb_batch(x, name, allow_uint8=allow_uint8)
    for other in names[1:]:
        check_same_shape(tensors[names[0]], tensors[other], (names[0], other))
    devices = {x.device for x in tensors.values()}
    if len(devices) > 1:
        raise ValueError(f"{', '.join(names)} must be on one device, got {sorted(str(d) for d in devices)}")


def _to_unit(x: torch.Tensor) -> torch.Tensor:
    """Image in [0, 1] units, float64 (uint8 is divided by 255)."""
    return x.to(torch.float64) / 255.0 if x.dtype == torch.uint8 else x.to(torch.float64)


def _to_levels(x: torch.Tensor) -> torch.Tensor:
    """Image in 8-bit levels (0..255), float64; float input is x 255 with float representation error removed."""
    if x.dtype == torch.uint8:
        return x.to(torch.float64)
    levels = x.to(torch.float64) * 255.0
    nearest = torch.round(levels)
    # an image on the 8-bit grid (k/255 up to float error) becomes exact integers; others stay as is
    return nearest if bool(((levels - nearest).abs() < _LEVEL_SNAP_TOL).all()) else levels


def _check_edges(bin_edges: ArrayLike | Sequence[float]) -> torch.Tensor:
    if isinstance(bin_edges, np.ndarray):
        edges = torch.from_numpy(bin_edges)
    elif isinstance(bin_edges, torch.Tensor):
        edges = bin_edges
    else:
        edges = torch.tensor(list(bin_edges))
    edges = edges.detach().to(device="cpu", dtype=torch.float64)
    if edges.ndim != 1 or edges.numel() < 2:
        raise ValueError(f"bin_edges must be a 1-D sequence of at least 2 edges, got shape {tuple(edges.shape)}")
    if not torch.isfinite(edges).all():
        raise ValueError("bin_edges contains NaN or Inf values")
    if not bool((edges[1:] > edges[:-1]).all()):
        raise ValueError("bin_edges must be strictly increasing")
    return edges


# --------------------------------------------------------------------------------------------------
# histogram KLD


def _batched_histogram(values: torch.Tensor, edges: torch.Tensor) -> torch.Tensor:
    """Counts per row of ``values`` (B, N) with numpy.histogram's bin rule; returns (B, nbins) float64.

    Bins are half-open ``[e_i, e_{i+1})`` except the last, which is closed; values outside
    ``[e_0, e_last]`` are not counted.
    """
    n_rows, n_vals = values.shape
    nbins = edges.numel() - 1
    edges = edges.to(values.device)
    counts = torch.zeros(n_rows, nbins, dtype=torch.float64, device=values.device)
    rows_per_chunk = max(1, _HIST_CHUNK // max(n_vals, 1))
    for start in range(0, n_rows, rows_per_chunk):
        chunk = values[start : start + rows_per_chunk]
        idx = torch.searchsorted(edges, chunk.contiguous(), right=True) - 1
        idx = torch.where(chunk == edges[-1], torch.full_like(idx, nbins - 1), idx)  # last bin is closed
        inside = (idx >= 0) & (idx < nbins)
        row = torch.arange(chunk.shape[0], device=values.device).unsqueeze(1).expand_as(idx)
        flat = (row * nbins + idx)[inside]
        counts[start : start + chunk.shape[0]] = (
            torch.bincount(flat, minlength=chunk.shape[0] * nbins).view(chunk.shape[0], nbins).to(torch.float64)
        )
    return counts


def _batched_kld(real: torch.Tensor, fake: torch.Tensor, edges: torch.Tensor, pseudo_count: float) -> torch.Tensor:
    """KL(real || fake) per row of (B, N) and (B, M) float64 tensors; returns (B,) float64."""
    nbins = edges.numel() - 1
    p = (_batched_histogram(real, edges) + pseudo_count) / (real.shape[1] + pseudo_count * nbins)
    q = (_batched_histogram(fake, edges) + pseudo_count) / (fake.shape[1] + pseudo_count * nbins)
    keep = (p > 0) & (q > 0)
    safe_p = torch.where(keep, p, torch.ones_like(p))
    safe_q = torch.where(keep, q, torch.ones_like(q))
    return torch.where(keep, p * (torch.log(safe_p) - torch.log(safe_q)), torch.zeros_like(p)).sum(dim=1)


def kld_histogram(
    real_noise: ArrayLike,
    fake_noise: ArrayLike,
    *,
    bin_edges: ArrayLike | Sequence[float],
    pseudo_count: float = 1.0,
) -> torch.Tensor:
    r"""Histogram KL divergence KL(real ‖ fake) between two sets of noise values.

    All values of each input are pooled (any shape; the two sizes may differ). With ``N`` values,
    ``K`` bins and pseudo-count ``a``:

    .. math::
        p_k = \frac{h^{real}_k + a}{N_{real} + aK},\quad q_k = \frac{h^{fake}_k + a}{N_{fake} + aK},\quad
        \mathrm{KL} = \sum_{k:\,p_k>0,\,q_k>0} p_k \log\frac{p_k}{q_k}.

    Binning follows ``numpy.histogram``: bins ``[e_i, e_{i+1})``, the last one closed. ``N`` is the
    number of values given, so values outside the edges count in ``N`` but in no bin (as in the
    Noise Flow / Flow-sRGB / NAFlow code). With ``a > 0`` every bin is positive and the sum runs over
    all bins; with ``a = 0`` bins empty on either side are dropped (the NAFlow convention, which keeps
    the value finite; it is then not a true KL divergence).

    Args:
        real_noise: Reference noise values, tensor or array of any shape (e.g. ``noisy - clean``).
        fake_noise: Generated noise values in the same units, any shape.
        bin_edges: Strictly increasing 1-D edges, in the units of the noise.
        pseudo_count: Count added to every bin of both histograms (``a``), >= 0. 1 is NM-FlowGAN's
            ``cnt_regr``.

    Returns:
        0-d float64 tensor on the device of ``real_noise``.

    Raises:
        TypeError: inputs are not tensors/arrays or not real-valued.
        ValueError: empty or non-finite inputs, bad edges or a negative pseudo-count.
    """
    real = _as_tensor(real_noise, "real_noise")
    fake = _as_tensor(fake_noise, "fake_noise")
    for name, x in (("real_noise", real), ("fake_noise", fake)):
        if x.is_complex() or x.dtype == torch.bool:
            raise TypeError(f"{name} must be real-valued, got dtype {x.dtype}")
        if x.numel() == 0:
            raise ValueError(f"{name} is empty")
    real = real.detach().reshape(1, -1).to(torch.float64)
    fake = fake.detach().reshape(1, -1).to(device=real.device, dtype=torch.float64)
    for name, x in (("real_noise", real), ("fake_noise", fake)):
        if not torch.isfinite(x).all():
            raise ValueError(f"{name} contains NaN or Inf values")
    if not (math.isfinite(pseudo_count) and pseudo_count >= 0):
        raise ValueError(f"pseudo_count must be a finite number >= 0, got {pseudo_count}")
    edges = _check_edges(bin_edges)
    return _batched_kld(real, fake, edges, float(pseudo_count))[0]


def kld_official(noisy_real: torch.Tensor, noisy_fake: torch.Tensor, clean: torch.Tensor) -> torch.Tensor:
    """Per-patch noise KLD with the NM-FlowGAN evaluation protocol ("K1").

    Protocol (NM-FlowGAN ``noise_flow_gan_trainer.py::_test_dataloader_process`` and
    ``util/util.py::kl_div_3_data``, itself Flow-sRGB's sRGB setting from SamsungLabs/Noise2NoiseFlow;
    see ``docs/nmflowgan_reference.md`` §5.1), for each patch separately:

    * images in 8-bit levels (float input x 255; uint8 as is); ``real = noisy_real - clean`` (integer
      valued), ``gen = noisy_fake - clean`` with the fake **not rounded**;
    * all 3 channels pooled, N = 3·H·W values per side;
    * bin edges ``arange(-260, 261, 4)`` = -260, -256, ..., 260: 130 bins of width 4 levels;
    * smoothing ``(hist + 1) / (N + 130)`` on both histograms; KL(real ‖ gen) = Σ p·log(p/q).

    The official number is the plain mean of this value over **all 96×96 patches** (stride 48) of the
    22 NM-FlowGAN test scenes of SIDD-Medium, not SIDD Validation. With +1 smoothing per patch the
    value **depends on the patch size** (smaller patches give larger values), so only compare it with
    numbers computed on 96×96 patches; it is not comparable to :func:`kld_block` or to per-camera
    KLDs of other papers.

    A float input whose values **all** lie within 1e-4 levels of integers (an 8-bit image stored as
    ``k / 255``) is snapped to exact integer levels, removing float32 representation error (integer
    noise values sit on the bin edges); any other input, e.g. the unrounded fake, is used as is.
    Pass 8-bit images as uint8 or float32/float64: half precision cannot represent ``k / 255``
    closely enough for this.

    Args:
        noisy_real: Real noisy patches, ``(B, 3, H, W)``, float sRGB in [0, 1] or uint8.
        noisy_fake: Generated noisy patches, same shape, float in [0, 256/255] (the official generator
            clips to [0, 256] levels) or uint8.
        clean: Clean patches, same shape, float in [0, 1] or uint8.

    Returns:
        Per-patch KLD, shape ``(B,)``, float64.

    Raises:
        TypeError, ValueError: bad types, shapes, ranges or non-finite values.
    """
    _check_images(
        {"noisy_real": noisy_real, "noisy_fake": noisy_fake, "clean": clean},
        fake_name="noisy_fake",
        fake_max=256.0 / 255.0,
    )
    c = _to_levels(clean)
    real = (_to_levels(noisy_real) - c).flatten(1)
    fake = (_to_levels(noisy_fake) - c).flatten(1)
    return _batched_kld(real, fake, OFFICIAL_BIN_EDGES, 1.0)


def kld_block(noisy_real: torch.Tensor, noisy_fake: torch.Tensor, clean: torch.Tensor) -> torch.Tensor:
    """Per-block noise KLD with the NAFlow protocol ("K3", also used by PNG and GuidNoise).

    Protocol (``docs/peers_and_metrics.md`` §0, table row K3: "256 bins over [−1, 1], forward KL,
    SIDD validation"; details from dongjinkim9/NAFlow ``naflow/utils/metrics.py::calculate_kld`` and
    ``naflow/models/lit_naflow.py::validation_step``), for each block separately:

    * noise in [0, 1] units: ``real = noisy_real - clean``, ``fake = clip(noisy_fake, 0, 1) - clean``
      (the clip is enforced here by requiring inputs in [0, 1]);
    * all 3 channels pooled; 256 bins of width 1/128 over [-1, 1];
    * **no smoothing**: ``p = hist / N``; bins where either histogram is empty are dropped;
      KL(real ‖ fake) = Σ p·log(p/q) over the remaining bins. Because real mass in bins the fake
      misses is dropped, the value is not a true KL divergence and can even be negative.

    The published numbers are means over the 1280 SIDD Validation blocks (256×256, see
    :mod:`nmflowgan_aug.data.sidd_mat`), usually reported per camera. Any block size is accepted,
    but values depend on it.

    Args:
        noisy_real: Real noisy blocks, ``(B, 3, H, W)``, float sRGB in [0, 1] or uint8.
        noisy_fake: Generated noisy blocks, same shape, float in [0, 1] or uint8.
        clean: Clean blocks, same shape, float in [0, 1] or uint8.

    Returns:
        Per-block KLD, shape ``(B,)``, float64.

    Raises:
        TypeError, ValueError: bad types, shapes, ranges or non-finite values.
    """
    _check_images({"noisy_real": noisy_real, "noisy_fake": noisy_fake, "clean": clean})
    c = _to_unit(clean)
    real = (_to_unit(noisy_real) - c).flatten(1)
    fake = (_to_unit(noisy_fake) - c).flatten(1)
    return _batched_kld(real, fake, BLOCK_BIN_EDGES, 0.0)


# --------------------------------------------------------------------------------------------------
# AKLD


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
    _check_images({"noisy": noisy, "clean": clean})
    return _local_variance(_to_unit(noisy) - _to_unit(clean), window, sigma)


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
    NAFlow ``naflow/utils/metrics.py::calculate_alkd``; ``docs/nmflowgan_reference.md`` §5.2):

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
    _check_images({"noisy_real": noisy_real, "noisy_fake": noisy_fake, "clean": clean})
    c = _to_unit(clean)
    var_real = _local_variance(_to_unit(noisy_real) - c, window, sigma)
    var_fake = _local_variance(_to_unit(noisy_fake) - c, window, sigma)
    r = (var_fake / var_real).clamp(0.1, 10.0)
    return 0.5 * (-torch.log(r) + r - 1.0).flatten(1).mean(dim=1)


# --------------------------------------------------------------------------------------------------
# PSNR / SSIM


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
    _check_images({"pred": pred, "target": target})
    return peak_signal_noise_ratio(_to_unit(pred), _to_unit(target), data_range=1.0, dim=(1, 2, 3), reduction="none")


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
    _check_images({"pred": pred, "target": target})
    if window == "gaussian":
        size, kwargs = 11, {"gaussian_kernel": True, "sigma": 1.5}
    elif window == "uniform":
        size, kwargs = 7, {"gaussian_kernel": False, "kernel_size": 7, "k2": 0.03 * math.sqrt(48.0 / 49.0)}
    else:
        raise ValueError(f"window must be 'gaussian' or 'uniform', got {window!r}")
    if pred.shape[-2] < size or pred.shape[-1] < size:
        raise ValueError(f"ssim with the {window} window needs H and W >= {size}, got {tuple(pred.shape[-2:])}")
    _, full = structural_similarity_index_measure(
        _to_unit(pred), _to_unit(target), data_range=1.0, reduction="none", return_full_image=True, **kwargs
    )
    pad = size // 2
    return full[..., pad:-pad, pad:-pad].flatten(1).mean(dim=1)

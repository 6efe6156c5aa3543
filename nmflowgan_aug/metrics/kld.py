"""Histogram KL divergence of noise values, in the two protocols of the literature.

* :func:`kld_official`: NM-FlowGAN's own protocol (inherited from Flow-sRGB / Noise2NoiseFlow):
  8-bit noise levels, 130 bins of width 4, +1 count smoothing, per 96×96 patch.
* :func:`kld_block`: the NAFlow protocol, reused by PNG and GuidNoise: noise in [0, 1] units,
  256 bins over [-1, 1], no smoothing, bins empty on either side dropped, per SIDD 256×256 block.
* :func:`kld_histogram`: the general form both use.

The "KLD" numbers of the literature are **not comparable** across papers, because each code base
bins differently.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from ._inputs import ArrayLike, as_tensor, check_edges, check_images, to_levels, to_unit

__all__ = ["BLOCK_BIN_EDGES", "OFFICIAL_BIN_EDGES", "bin_index", "kld_block", "kld_histogram", "kld_official"]

#: NM-FlowGAN / Flow-sRGB bin edges in 8-bit levels: -260, -256, ..., 260 (131 edges, 130 bins of width 4).
OFFICIAL_BIN_EDGES = torch.arange(-260, 261, 4, dtype=torch.float64)

#: NAFlow bin edges on noise in [0, 1] units: -1, -1 + 1/128, ..., 1 (257 edges, 256 bins). Exact in binary.
BLOCK_BIN_EDGES = torch.arange(-128, 129, dtype=torch.float64) / 128.0

# Histogram values per chunk when binning a batch (bounds the int64 index buffer to ~64 MB).
_HIST_CHUNK = 1 << 23


def bin_index(values: torch.Tensor, edges: torch.Tensor) -> torch.Tensor:
    """Bin of each value with ``numpy.histogram``'s rule, int64 of the shape of ``values``; -1 or ``K`` outside.

    Bins are half-open ``[e_i, e_{i+1})`` except the last, which is closed; a value below ``e_0`` gets
    -1 and one above ``e_K`` gets ``K`` (``K`` = number of bins).
    """
    nbins = edges.numel() - 1
    idx = torch.searchsorted(edges, values.contiguous(), right=True) - 1
    return torch.where(values == edges[-1], torch.full_like(idx, nbins - 1), idx)  # last bin is closed


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
        idx = bin_index(chunk, edges)
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
    real = as_tensor(real_noise, "real_noise")
    fake = as_tensor(fake_noise, "fake_noise")
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
    edges = check_edges(bin_edges)
    return _batched_kld(real, fake, edges, float(pseudo_count))[0]


def kld_official(noisy_real: torch.Tensor, noisy_fake: torch.Tensor, clean: torch.Tensor) -> torch.Tensor:
    """Per-patch noise KLD with the NM-FlowGAN evaluation protocol ("K1").

    Protocol (NM-FlowGAN ``noise_flow_gan_trainer.py::_test_dataloader_process`` and
    ``util/util.py::kl_div_3_data``, itself Flow-sRGB's sRGB setting from SamsungLabs/Noise2NoiseFlow;
    see reference §5.1), for each patch separately:

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
    check_images(
        {"noisy_real": noisy_real, "noisy_fake": noisy_fake, "clean": clean},
        fake_name="noisy_fake",
        fake_max=256.0 / 255.0,
    )
    c = to_levels(clean)
    real = (to_levels(noisy_real) - c).flatten(1)
    fake = (to_levels(noisy_fake) - c).flatten(1)
    return _batched_kld(real, fake, OFFICIAL_BIN_EDGES, 1.0)


def kld_block(noisy_real: torch.Tensor, noisy_fake: torch.Tensor, clean: torch.Tensor) -> torch.Tensor:
    """Per-block noise KLD with the NAFlow protocol ("K3", also used by PNG and GuidNoise).

    Protocol ("K3" in peer comparisons: 256 bins over [−1, 1], forward KL, SIDD validation; details from
    dongjinkim9/NAFlow ``naflow/utils/metrics.py::calculate_kld`` and
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
    check_images({"noisy_real": noisy_real, "noisy_fake": noisy_fake, "clean": clean})
    c = to_unit(clean)
    real = (to_unit(noisy_real) - c).flatten(1)
    fake = (to_unit(noisy_fake) - c).flatten(1)
    return _batched_kld(real, fake, BLOCK_BIN_EDGES, 0.0)



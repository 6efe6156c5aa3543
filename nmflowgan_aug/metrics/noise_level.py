"""Noise level: the std of the noise per channel, and the noise-level function (std per clean-intensity bin).

The noise-level function (NLF) is the standard deviation of the noise ``noisy − clean`` as a function of
the clean intensity, per colour channel (the term of Liu et al., "Automatic estimation and removal of
noise from a single image", TPAMI 2008). In sRGB it is not monotonic: shot noise grows with the raw
signal while the tone curve compresses bright values. A noise model can match the overall noise
histogram with the wrong NLF, so the fidelity benchmark compares the NLFs of synthetic and real noise
on the same clean image (:func:`nlf_ratio`, :func:`nlf_error`).

Conventions: noise in [0, 1] units (uint8 inputs are divided by 255); the clean intensity of a pixel is
its value in the **same** channel; a std is the population standard deviation (``ddof = 0``) about the
mean of the pixels it covers, so a non-zero mean of real noise (SIDD at high ISO) is not counted as
spread. Bins follow ``numpy.histogram`` (``[e_i, e_{i+1})``, the last bin closed).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch

from ._inputs import ArrayLike, check_edges, check_images, noise_of, to_unit
from .kld import bin_index

__all__ = ["NLF_BINS", "NLF_MIN_COUNT", "NoiseLevelFunction", "nlf_error", "nlf_ratio", "noise_level_function",
           "noise_std"]

#: Default NLF bins: 16 bins of equal width over [0, 1] (16 levels of 8 bits each).
NLF_BINS = 16

#: Default least number of pixels for a bin to count in :func:`nlf_ratio` / :func:`nlf_error`. The std of
#: ``n`` Gaussian values has a relative sampling error of about ``1/sqrt(2n)``, so with 400 pixels one
#: synthetic/real ratio carries about 5 % sampling error (3.5 % from each side).
NLF_MIN_COUNT = 400


class NoiseLevelFunction(NamedTuple):
    """Output of :func:`noise_level_function`.

    Attributes:
        std: noise std per image, channel and bin, ``(B, 3, K)`` float64 in [0, 1] units; NaN in bins with
            fewer than 2 pixels.
        counts: pixels per image, channel and bin, ``(B, 3, K)`` int64.
        bin_edges: the ``K + 1`` bin edges on the clean intensity, float64 in [0, 1] units.
    """

    std: torch.Tensor
    counts: torch.Tensor
    bin_edges: torch.Tensor


def noise_std(noisy: torch.Tensor, clean: torch.Tensor) -> torch.Tensor:
    """Standard deviation of the noise ``noisy − clean`` per image and channel, over all pixels.

    Args:
        noisy: Noisy images, ``(B, 3, H, W)``, float sRGB in [0, 1] or uint8 levels.
        clean: Clean images, same shape.

    Returns:
        ``(B, 3)`` float64, in [0, 1] units (× 255 for 8-bit levels); population std (``ddof = 0``).

    Raises:
        TypeError, ValueError: bad types, shapes or ranges.
    """
    return noise_of(noisy, clean).flatten(2).std(dim=2, correction=0)


def _edges(bins: int | Sequence[float] | ArrayLike) -> torch.Tensor:
    if isinstance(bins, bool):
        raise TypeError("bins must be an int or a sequence of bin edges, got a bool")
    if isinstance(bins, int):
        if bins < 1:
            raise ValueError(f"bins must be >= 1, got {bins}")
        return torch.linspace(0.0, 1.0, bins + 1, dtype=torch.float64)
    return check_edges(bins)


def noise_level_function(
    noisy: torch.Tensor, clean: torch.Tensor, bins: int | Sequence[float] | ArrayLike = NLF_BINS
) -> NoiseLevelFunction:
    """Noise std per clean-intensity bin, per image and channel (the noise-level function).

    A pixel of channel ``c`` falls in the bin of its clean value in channel ``c``; pixels outside the edges
    are not counted. The std of a bin is taken about the bin's own mean (see the module docstring).

    Args:
        noisy: Noisy images, ``(B, 3, H, W)``, float sRGB in [0, 1] or uint8 levels.
        clean: Clean images, same shape.
        bins: Number of equal-width bins over [0, 1] (default 16), or strictly increasing bin edges on the
            clean intensity in [0, 1] units.

    Returns:
        :class:`NoiseLevelFunction` ``(std, counts, bin_edges)``.

    Raises:
        TypeError: bad input types, or ``bins`` that is neither an int nor edges.
        ValueError: bad shapes or ranges, ``bins < 1``, or edges that are not strictly increasing.
    """
    edges = _edges(bins)
    check_images({"noisy": noisy, "clean": clean})
    n = (to_unit(noisy) - to_unit(clean)).flatten(2)
    nbins = edges.numel() - 1
    idx = bin_index(to_unit(clean).flatten(2), edges.to(n.device))
    inside = (idx >= 0) & (idx < nbins)
    cell = torch.arange(n.shape[0] * 3, device=n.device).view(n.shape[0], 3, 1) * nbins + idx
    cell, values = cell[inside], n[inside]
    size = n.shape[0] * 3 * nbins
    counts = torch.bincount(cell, minlength=size)
    mean = torch.bincount(cell, weights=values, minlength=size) / counts.clamp(min=1)
    sum_sq = torch.bincount(cell, weights=(values - mean[cell]) ** 2, minlength=size)  # two-pass: no cancellation
    std = torch.where(counts >= 2, torch.sqrt(sum_sq / counts.clamp(min=1)), torch.full_like(sum_sq, torch.nan))
    shape = (n.shape[0], 3, nbins)
    return NoiseLevelFunction(std.view(shape), counts.view(shape), edges)


def nlf_ratio(
    noisy_real: torch.Tensor,
    noisy_fake: torch.Tensor,
    clean: torch.Tensor,
    *,
    bins: int | Sequence[float] | ArrayLike = NLF_BINS,
    min_count: int = NLF_MIN_COUNT,
) -> torch.Tensor:
    """Synthetic/real ratio of the noise-level functions of two noisy versions of the same clean images.

    ``std_fake / std_real`` per image, channel and intensity bin (:func:`noise_level_function`). Both sides
    share the clean image, so the bins hold the same pixels. A bin counts when it holds at least
    ``min_count`` pixels and the real noise in it is not constant (an all-saturated bin is); other bins
    are NaN.

    Args:
        noisy_real: Real noisy images, ``(B, 3, H, W)``, float sRGB in [0, 1] or uint8 levels.
        noisy_fake: Synthetic noisy images of the same clean images, same shape.
        clean: Clean images, same shape.
        bins: Bins on the clean intensity, as in :func:`noise_level_function`.
        min_count: Least pixels per bin, an int >= 2 (default :data:`NLF_MIN_COUNT` = 400).

    Returns:
        Ratios ``(B, 3, K)``, float64 (1 = same noise level; 0 where the synthetic noise is constant).

    Raises:
        TypeError, ValueError: bad inputs or bins, or ``min_count`` below 2.
    """
    if isinstance(min_count, bool) or not isinstance(min_count, int) or min_count < 2:
        raise ValueError(f"min_count must be an int >= 2, got {min_count!r}")
    check_images({"noisy_real": noisy_real, "noisy_fake": noisy_fake, "clean": clean})
    real = noise_level_function(noisy_real, clean, bins)
    fake = noise_level_function(noisy_fake, clean, bins)
    valid = (real.counts >= min_count) & (real.std > 0)
    return torch.where(valid, fake.std / torch.where(valid, real.std, torch.ones_like(real.std)),
                       torch.full_like(real.std, torch.nan))


def nlf_error(
    noisy_real: torch.Tensor,
    noisy_fake: torch.Tensor,
    clean: torch.Tensor,
    *,
    bins: int | Sequence[float] | ArrayLike = NLF_BINS,
    min_count: int = NLF_MIN_COUNT,
) -> torch.Tensor:
    r"""Noise-level-function error per image: RMS log ratio of synthetic to real std over the counted bins.

    .. math::
        \mathrm{NLF\ error} = \sqrt{\operatorname{mean}_{(c, k)\ \text{counted}} \ln^2(\sigma^{fake}_{c,k} /
        \sigma^{real}_{c,k})}

    over the (channel, bin) cells that :func:`nlf_ratio` counts, each cell weighing the same. 0 is a
    perfect match; 0.1 is a level error of about 10 %; it is symmetric in over- and under-estimation.
    Two realizations of the same noise law score above 0 through sampling error: about 0.02 on a 256×256
    block whose intensities spread over all bins (defaults), more when bins hold close to ``min_count``
    pixels. Infinite where the synthetic noise of a counted bin is constant.

    Args:
        noisy_real: Real noisy images, ``(B, 3, H, W)``, float sRGB in [0, 1] or uint8 levels (as in
            :func:`nlf_ratio`).
        noisy_fake: Synthetic noisy images of the same clean images, same shape.
        clean: Clean images, same shape.
        bins: Bins on the clean intensity, as in :func:`nlf_ratio`.
        min_count: Least pixels per bin, as in :func:`nlf_ratio`.

    Returns:
        ``(B,)`` float64, >= 0.

    Raises:
        TypeError, ValueError: bad inputs (see :func:`nlf_ratio`), or an image without any counted cell
            (the message names it and the ``min_count``).
    """
    ratio = nlf_ratio(noisy_real, noisy_fake, clean, bins=bins, min_count=min_count)
    valid = ~torch.isnan(ratio)
    empty = (~valid.flatten(1).any(dim=1)).nonzero().flatten().tolist()
    if empty:
        raise ValueError(f"image(s) {empty} have no intensity bin with at least min_count={min_count} pixels "
                         "and non-constant real noise; use fewer bins or a smaller min_count")
    log_sq = torch.where(valid, torch.log(torch.where(valid, ratio, torch.ones_like(ratio))) ** 2,
                         torch.zeros_like(ratio))
    return torch.sqrt(log_sq.flatten(1).sum(dim=1) / valid.flatten(1).sum(dim=1))

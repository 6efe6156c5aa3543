"""Noise-model and denoiser metrics, one value per image.

All functions take image batches of shape ``(B, 3, H, W)`` (sRGB, float in [0, 1] or uint8 levels)
and return one value (or one small array) per image; average the result yourself (every protocol below
reports the plain mean over patches/blocks).

* :mod:`.kld`: histogram KL divergence of the noise in the two protocols of the literature,
  :func:`kld_official` (NM-FlowGAN / Flow-sRGB: 8-bit levels, width-4 bins, +1 smoothing, per 96×96
  patch) and :func:`kld_block` (NAFlow, PNG, GuidNoise: 256 bins over [−1, 1], no smoothing, per
  256×256 block). Their numbers are **not comparable** with each other or across papers.
* :mod:`.akld`: :func:`akld`, DANet's average KL divergence between local zero-mean Gaussian noise models.
* :mod:`.noise_correlation`: :func:`noise_autocorrelation` (lags 1..k, horizontal and vertical, per
  channel) and :func:`noise_cross_correlation` (lag 0 between channels): the spatial and colour structure
  that the histogram KLDs cannot see.
* :mod:`.noise_level`: :func:`noise_std` per channel and the noise-level function
  (:func:`noise_level_function`, std per clean-intensity bin), with :func:`nlf_ratio` and
  :func:`nlf_error` comparing a synthetic and a real NLF on the same clean image.
* :mod:`.image_quality`: :func:`psnr` / :func:`ssim` following the SIDD denoising protocol.

Real noisy images are 8-bit, so real noise takes integer levels. Scoring a float generator's output
against it inflates histogram KLDs by itself (by up to +0.06 in the NAFlow protocol); the fidelity
benchmark therefore scores the synthetic output rounded to 8-bit levels as its headline
(:mod:`nmflowgan_aug.evaluation.fidelity`).
"""

from .akld import akld, cv2_gaussian_kernel1d, local_noise_variance
from .image_quality import psnr, ssim
from .kld import BLOCK_BIN_EDGES, OFFICIAL_BIN_EDGES, kld_block, kld_histogram, kld_official
from .noise_correlation import (
    CHANNEL_PAIR_NAMES,
    CHANNEL_PAIRS,
    DIRECTIONS,
    noise_autocorrelation,
    noise_cross_correlation,
)
from .noise_level import (
    NLF_BINS,
    NLF_MIN_COUNT,
    NoiseLevelFunction,
    nlf_error,
    nlf_ratio,
    noise_level_function,
    noise_std,
)

__all__ = [
    "BLOCK_BIN_EDGES",
    "CHANNEL_PAIRS",
    "CHANNEL_PAIR_NAMES",
    "DIRECTIONS",
    "NLF_BINS",
    "NLF_MIN_COUNT",
    "NoiseLevelFunction",
    "OFFICIAL_BIN_EDGES",
    "akld",
    "cv2_gaussian_kernel1d",
    "kld_block",
    "kld_histogram",
    "kld_official",
    "local_noise_variance",
    "nlf_error",
    "nlf_ratio",
    "noise_autocorrelation",
    "noise_cross_correlation",
    "noise_level_function",
    "noise_std",
    "psnr",
    "ssim",
]

"""Spatial and cross-channel correlation of the noise ``noisy − clean``: the structure histograms cannot see.

Real sRGB camera noise is correlated between neighbouring pixels (demosaicing and the phone's own
denoising and sharpening spread each raw value over its neighbours) and between colour channels (the
colour matrix mixes the raw channels). Per-pixel histograms (:mod:`.kld`) and local variances
(:mod:`.akld`) are blind to both; these functions measure them directly. On SIDD sRGB noise the lag-1
correlation is about 0.5 in R and B and 0.35 in G, about 0.07 at lag 2 and about 0 from lag 3
(measured on the native SIDD crops of ``../shared/data/sidd_native``).

Estimator (both functions): the sample Pearson correlation coefficient of pairs of noise values ``(a, b)``,

    r = Σ (a − ā)(b − b̄) / sqrt(Σ (a − ā)² · Σ (b − b̄)²),

computed per image and channel (or channel pair) over **all** pairs inside the image (no padding, no
wrap-around), in float64; ``ā`` and ``b̄`` are the means of the two sides of the pairs. It is invariant to
the scale and offset of the noise, so its units do not matter (and a non-zero mean of real noise does not
bias it). It is NaN where one side is constant (e.g. a method that adds no noise to a channel).
"""

from __future__ import annotations

import torch

from ._inputs import check_images, noise_of, to_unit

__all__ = ["CHANNEL_PAIRS", "CHANNEL_PAIR_NAMES", "DIRECTIONS", "noise_autocorrelation", "noise_cross_correlation"]

#: Channel index pairs of :func:`noise_cross_correlation`, in output order: (R, G), (R, B), (G, B).
CHANNEL_PAIRS = ((0, 1), (0, 2), (1, 2))
#: Names of :data:`CHANNEL_PAIRS`.
CHANNEL_PAIR_NAMES = ("R-G", "R-B", "G-B")
#: Directions of :func:`noise_autocorrelation`, in output order (dimension 2).
DIRECTIONS = ("horizontal", "vertical")


def _pearson(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pearson correlation of ``a`` and ``b`` over their last two dimensions (NaN where one side is constant)."""
    a = a - a.mean(dim=(-2, -1), keepdim=True)
    b = b - b.mean(dim=(-2, -1), keepdim=True)
    den = torch.sqrt((a * a).sum(dim=(-2, -1)) * (b * b).sum(dim=(-2, -1)))
    num = (a * b).sum(dim=(-2, -1))
    return torch.where(den > 0, num / torch.where(den > 0, den, torch.ones_like(den)), torch.full_like(den, torch.nan))


def noise_autocorrelation(noisy: torch.Tensor, clean: torch.Tensor, max_lag: int = 3) -> torch.Tensor:
    """Spatial autocorrelation of the noise at lags 1..``max_lag``, per image, channel and direction.

    For lag ``k`` the horizontal value is the Pearson correlation (see the module docstring) of the
    noise ``n = noisy − clean`` at ``(y, x)`` with the noise at ``(y, x + k)``, over the ``H·(W − k)``
    pixel pairs of the image and channel; the vertical value pairs ``(y, x)`` with ``(y + k, x)``.
    Reference values: an AR(1) field ``n_x = ρ·n_{x−1} + sqrt(1 − ρ²)·ε_x`` has correlation ``ρ^k`` at
    lag ``k`` (Box & Jenkins, "Time Series Analysis", AR(1) autocorrelation function); i.i.d. noise has 0.

    Args:
        noisy: Noisy images, ``(B, 3, H, W)``, float sRGB in [0, 1] or uint8 levels.
        clean: Clean images, same shape.
        max_lag: Largest lag in pixels, an integer in ``1 .. min(H, W) − 1``.

    Returns:
        Correlations ``(B, 3, 2, max_lag)``, float64 in [−1, 1]: channel (R, G, B), direction
        (:data:`DIRECTIONS`: 0 horizontal, 1 vertical), lag (index ``k − 1`` holds lag ``k``). NaN where the
        noise of a channel is constant.

    Raises:
        TypeError: inputs that are not float or uint8 tensors, or a non-integer ``max_lag``.
        ValueError: bad shapes or ranges, or ``max_lag`` outside ``1 .. min(H, W) − 1``.
    """
    if not isinstance(max_lag, int) or isinstance(max_lag, bool):
        raise TypeError(f"max_lag must be an int, got {type(max_lag).__name__}")
    check_images({"noisy": noisy, "clean": clean})
    height, width = noisy.shape[-2:]
    if not 1 <= max_lag < min(height, width):
        raise ValueError(f"max_lag must be in 1..{min(height, width) - 1} for images of {height}×{width}, "
                         f"got {max_lag}")
    n = to_unit(noisy) - to_unit(clean)
    out = torch.empty(n.shape[0], 3, 2, max_lag, dtype=torch.float64, device=n.device)
    for k in range(1, max_lag + 1):
        out[:, :, 0, k - 1] = _pearson(n[..., :, : width - k], n[..., :, k:])
        out[:, :, 1, k - 1] = _pearson(n[..., : height - k, :], n[..., k:, :])
    return out


def noise_cross_correlation(noisy: torch.Tensor, clean: torch.Tensor) -> torch.Tensor:
    """Lag-0 correlation of the noise between colour channels, per image.

    The Pearson correlation (see the module docstring) of ``n_i`` and ``n_j`` at the same pixels,
    ``n = noisy − clean``, for the channel pairs :data:`CHANNEL_PAIRS` (R–G, R–B, G–B). Reference value:
    for ``n_j = a·n_i + sqrt(1 − a²)·ε`` with ``ε`` independent of ``n_i`` the correlation is ``a``.

    Args:
        noisy: Noisy images, ``(B, 3, H, W)``, float sRGB in [0, 1] or uint8 levels.
        clean: Clean images, same shape.

    Returns:
        Correlations ``(B, 3)``, float64 in [−1, 1], columns R–G, R–B, G–B. NaN where a channel's noise is
        constant.

    Raises:
        TypeError, ValueError: bad types, shapes or ranges.
    """
    n = noise_of(noisy, clean)
    return torch.stack([_pearson(n[:, i], n[:, j]) for i, j in CHANNEL_PAIRS], dim=1)

"""Second moments of real noise per colour channel and clean-intensity bin, the statistic the baselines fit.

All parametric fits match **second moments about zero**, ``E[(noisy − clean)²]``, not variances about
the mean: the synthesized noise is zero-mean, and for a zero-mean Gaussian model the σ² that
minimizes the forward KL divergence KL(real ‖ model) (the KLD metrics of :mod:`nmflowgan_aug.metrics`)
is exactly the real second moment. Real SIDD sRGB noise is not zero-mean at high ISO (about −5 to
−10 levels at ISO ≥ 3200), which none of the baselines model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["VAR_FLOOR", "BinnedMoments", "binned_moments"]

#: Variance floor in [0, 1]² units: the quantisation noise of an 8-bit image, (1/255)² / 12.
VAR_FLOOR = (1.0 / 255.0) ** 2 / 12.0


@dataclass(frozen=True)
class BinnedMoments:
    """Second moments of the residual per (channel, intensity bin); only bins with enough pixels.

    Attributes:
        channel: ``(M,)`` int, colour channel 0..2 (R, G, B).
        bin: ``(M,)`` int, bin number.
        x: ``(M,)`` mean clean intensity of the bin, [0, 1].
        m2: ``(M,)`` mean of ``(noisy − clean)²``, [0, 1]² units.
        count: ``(M,)`` pixels in the bin (float).
    """

    channel: np.ndarray
    bin: np.ndarray
    x: np.ndarray
    m2: np.ndarray
    count: np.ndarray

    def bin_weights(self, mask: np.ndarray) -> np.ndarray:
        """Pixel counts of the bins selected by ``mask``, normalized to sum to 1."""
        w = self.count[mask]
        return w / w.sum()


def binned_moments(
    clean: np.ndarray, noisy: np.ndarray, n_bins: int = 32, lo: float = 0.02, hi: float = 0.98, min_count: int = 32
) -> BinnedMoments:
    """Average the squared residual ``(noisy − clean)²`` per channel in clean-intensity bins.

    Bins have width ``1 / n_bins``; pixels with clean intensity outside ``[lo, hi]`` are dropped
    (clipping at 0 and 1 shrinks the real noise there), and so are bins with fewer than ``min_count``
    pixels.

    Args:
        clean: float ``(H, W, 3)`` sRGB in [0, 1].
        noisy: float ``(H, W, 3)`` sRGB in [0, 1], same shape.
        n_bins: number of clean-intensity bins over [0, 1].
        lo: lowest clean intensity kept.
        hi: highest clean intensity kept.
        min_count: bins with fewer pixels than this are dropped.
    """
    ch, bins, xs, m2, cnt = [], [], [], [], []
    for c in range(3):
        x = clean[..., c].ravel()
        e2 = (noisy[..., c].ravel() - x) ** 2
        keep = (x >= lo) & (x <= hi)
        x, e2 = x[keep], e2[keep]
        idx = np.minimum((x * n_bins).astype(np.int64), n_bins - 1)
        n = np.bincount(idx, minlength=n_bins)
        sx = np.bincount(idx, weights=x, minlength=n_bins)
        se = np.bincount(idx, weights=e2, minlength=n_bins)
        ok = n >= min_count
        ch.append(np.full(ok.sum(), c))
        bins.append(np.flatnonzero(ok))
        xs.append(sx[ok] / n[ok])
        m2.append(se[ok] / n[ok])
        cnt.append(n[ok])
    return BinnedMoments(
        np.concatenate(ch), np.concatenate(bins), np.concatenate(xs), np.concatenate(m2),
        np.concatenate(cnt).astype(float),
    )

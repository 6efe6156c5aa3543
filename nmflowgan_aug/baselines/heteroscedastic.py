"""Zero-mean Gaussian noise whose variance is linear in the clean intensity: ``var = β1·x + β2`` per channel."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..vocab import ISO_REF
from .base import Condition, NoiseBaseline
from .log_iso_law import LogIsoLaw, log_iso_design, training_isos
from .moments import VAR_FLOOR, binned_moments
from .pairs import load_training_pairs

__all__ = ["HeteroscedasticGaussianNoiseModel", "fit_two_component_law"]

#: Per image: ``(camera, iso, f1, f2, m, w)``, see :func:`fit_two_component_law`.
TwoComponentItem = tuple[str, float, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def fit_two_component_law(items: Sequence[TwoComponentItem], names: tuple[str, str], ridge: float = 1e-2) -> LogIsoLaw:
    """Fit ``m ≈ exp(θ1·z)·f1 + exp(θ2·z)·f2`` jointly over all images, ``z = [onehot(camera) | log ISO/100]``.

    Args:
        items: per image ``(camera, iso, f1, f2, m, w)`` with per-bin features ``f1, f2 >= 0``, observed
            second moments ``m > 0`` and weights ``w`` (summing to 1 per image, so every image counts
            equally).
        names: names of the two components (e.g. ``("var0_R", "var1_R")``).
        ridge: weight of the penalty ``ridge·(θ1[camera] − θ2[camera])`` per camera.

    Residuals are ``sqrt(w)·(log model − log m)`` (relative errors, so high and low ISO weigh alike),
    plus the weak ridge pulling the two components of a camera together when the data cannot tell them
    apart (e.g. a camera seen only in dark images says little about the variance at white).

    Returns:
        A :class:`LogIsoLaw` of the two components (``exp(θ·z)``).

    Raises:
        ValueError: no camera seen at two ISO values.
    """
    from scipy.optimize import least_squares

    cameras = [it[0] for it in items]
    isos = [it[1] for it in items]
    train_isos = training_isos(cameras, isos)
    cams, z_img = log_iso_design(cameras, isos, ISO_REF)
    n_cam = len(cams)
    z = np.concatenate([np.repeat(z_img[i : i + 1], len(it[4]), axis=0) for i, it in enumerate(items)])
    f1 = np.concatenate([it[2] for it in items])
    f2 = np.concatenate([it[3] for it in items])
    m = np.concatenate([it[4] for it in items])
    sw = np.sqrt(np.concatenate([it[5] for it in items]))
    log_m = np.log(np.maximum(m, VAR_FLOOR))

    def unpack(theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return theta[: n_cam + 1], theta[n_cam + 1 :]

    def residuals(theta: np.ndarray) -> np.ndarray:
        t1, t2 = unpack(theta)
        model = np.exp(np.clip(z @ t1, -60, 60)) * f1 + np.exp(np.clip(z @ t2, -60, 60)) * f2
        fit = sw * (np.log(np.maximum(model, 1e-300)) - log_m)
        return np.concatenate([fit, ridge * (t1[:n_cam] - t2[:n_cam])])

    # start: a flat law (both components equal) fitted on the mean moment per image
    level = np.array([np.average(it[4], weights=it[5]) / max(np.average(it[2] + it[3], weights=it[5]), 1e-300)
                      for it in items])
    coef, *_ = np.linalg.lstsq(z_img, np.log(np.maximum(level, 1e-300)), rcond=None)
    sol = least_squares(residuals, np.concatenate([coef, coef]), method="trf", x_scale="jac", max_nfev=2000)
    t1, t2 = unpack(sol.x)
    per_img_rms = []
    fit = residuals(sol.x)[: len(m)] / np.maximum(sw, 1e-12)
    start = 0
    for it in items:
        k = len(it[4])
        per_img_rms.append(np.sqrt(np.average(fit[start : start + k] ** 2, weights=it[5])))
        start += k
    rms = float(np.sqrt(np.mean(np.square(per_img_rms))))
    return LogIsoLaw(
        cameras=cams,
        offsets=tuple((float(t1[i]), float(t2[i])) for i in range(n_cam)),
        slopes=(float(t1[-1]), float(t2[-1])),
        train_isos=tuple(train_isos[c] for c in cams),
        names=names,
        iso_ref=ISO_REF,
        residual_rms=(rms, rms),
    )


@dataclass(frozen=True)
class HeteroscedasticGaussianNoiseModel(NoiseBaseline):
    """Zero-mean Gaussian noise with variance linear in the clean intensity, per channel.

    ``var_c(x) = β1_c·x + β2_c`` (x the clean intensity of channel c in [0, 1], variance in [0, 1]²
    units), clamped to at least :data:`~nmflowgan_aug.baselines.VAR_FLOOR` (8-bit quantisation noise),
    then ``noisy = clip(clean + sqrt(var)·N(0, 1), 0, 1)``. Sampling: see :meth:`NoiseBaseline.sample`.

    Fit. In sRGB the noise variance usually *decreases* with intensity (the tone curve compresses
    bright values), so ``β1`` is often negative and cannot be put on a log scale. The line is
    therefore parametrized by its end points, ``v0 = var(0) = β2`` and ``v1 = var(1) = β1 + β2``
    (both positive, so the variance is positive on all of [0, 1]), and each end point follows the
    :class:`LogIsoLaw` (per channel: camera offsets, one shared log-ISO slope). All training images are
    fitted jointly (:func:`fit_two_component_law`): per image and channel the squared residuals are
    averaged in 32 intensity bins (:func:`~nmflowgan_aug.baselines.moments.binned_moments`: pixels with
    clean < 0.02 or > 0.98 are dropped, where clipping shrinks the real noise; bins with fewer than 32
    pixels too), and ``log(v0·(1−x) + v1·x)`` is matched to the log of the binned second moments by
    weighted nonlinear least squares (bin weight ∝ pixels, every image weighs the same), with a weak
    ridge pulling ``log v0`` and ``log v1`` of a camera together where the data say nothing about one
    end (a camera seen only in dark images).

    Attributes:
        law: law of ``(v0_R, v1_R, v0_G, v1_G, v0_B, v1_B)`` (names ``var0_R`` ... ``var1_B``).
    """

    law: LogIsoLaw

    @classmethod
    def fit(cls, pairs: Iterable[Any], *, max_size: int | None = None) -> HeteroscedasticGaussianNoiseModel:
        """Fit on training pairs (``ImagePair`` objects or ``(clean, noisy, camera, iso)`` tuples).

        Args:
            pairs: training pairs with known camera and ISO (see :func:`~.pairs.load_training_pairs`).
            max_size: centre-crop each image to at most this many pixels per side first.

        Raises:
            ValueError: no pairs, unknown metadata, an image channel with fewer than two usable
                intensity bins, or no camera with two ISO values.
        """
        data = load_training_pairs(pairs, max_size)
        moments = [binned_moments(p.clean, p.noisy) for p in data]
        laws = []
        for c, ch in enumerate("RGB"):
            items = []
            for p, mom in zip(data, moments):
                mask = mom.channel == c
                if mask.sum() < 2:
                    raise ValueError(
                        f"training pair {p.name!r}, channel {ch}: fewer than 2 intensity bins with enough pixels "
                        "in [0.02, 0.98]; a variance line needs a range of intensities"
                    )
                x = mom.x[mask]
                items.append((p.camera, p.iso, 1.0 - x, x, mom.m2[mask], mom.bin_weights(mask)))
            laws.append(fit_two_component_law(items, (f"var0_{ch}", f"var1_{ch}")))
        first = laws[0]
        law = LogIsoLaw(
            cameras=first.cameras,
            offsets=tuple(tuple(v for lw in laws for v in lw.offsets[i]) for i in range(len(first.cameras))),
            slopes=tuple(v for lw in laws for v in lw.slopes),
            train_isos=first.train_isos,
            names=tuple(n for lw in laws for n in lw.names),
            iso_ref=ISO_REF,
            residual_rms=tuple(v for lw in laws for v in lw.residual_rms),
        )
        return cls(law)

    def coefficients(self, camera: str, iso: float) -> tuple[np.ndarray, np.ndarray]:
        """``(β1, β2)``, each ``(3,)`` per channel in [0, 1]² units: ``var = β1·x + β2``.

        Raises:
            UnknownCameraError: a camera without training pairs.
        """
        v = self.law(camera, iso).reshape(3, 2)
        return v[:, 1] - v[:, 0], v[:, 0]

    def add_noise(
        self, x: torch.Tensor, conditions: Sequence[Condition], generator: torch.Generator | None
    ) -> torch.Tensor:
        """``x + sqrt(max(β1·x + β2, VAR_FLOOR)) · N(0, 1)`` per image and channel."""
        coef = [self.coefficients(c, i) for c, i in conditions]
        b1 = torch.tensor(np.stack([c[0] for c in coef]), dtype=x.dtype, device=x.device)[:, :, None, None]
        b2 = torch.tensor(np.stack([c[1] for c in coef]), dtype=x.dtype, device=x.device)[:, :, None, None]
        var = (b1 * x + b2).clamp(min=VAR_FLOOR)
        z = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
        return x + var.sqrt() * z

    def describe(self) -> dict[str, Any]:
        """Fitted parameters as plain JSON (variances in [0, 1]² units)."""
        return {
            "model": "heteroscedastic Gaussian, var = beta1*x + beta2 per channel, var0 = beta2, var1 = beta1 + beta2",
            "law": self.law.to_dict(),
        }

"""I.i.d. zero-mean Gaussian noise with one σ per colour channel and (camera, ISO)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from .base import Condition, NoiseBaseline
from .log_iso_law import LogIsoLaw, fit_log_iso_law
from .moments import VAR_FLOOR
from .pairs import load_training_pairs

__all__ = ["GaussianNoiseModel"]


@dataclass(frozen=True)
class GaussianNoiseModel(NoiseBaseline):
    """I.i.d. zero-mean Gaussian noise with one σ per colour channel and (camera, ISO).

    ``noisy = clip(clean + σ_c · N(0, 1), 0, 1)``, σ_c in [0, 1] units. σ_c follows the
    :class:`~nmflowgan_aug.baselines.LogIsoLaw` fitted on the per-image, per-channel RMS of
    ``noisy − clean`` (all pixels). Sampling: see :meth:`NoiseBaseline.sample`.

    Attributes:
        law: the fitted law of ``(sigma_R, sigma_G, sigma_B)``.
        per_image: per training image ``(name, camera, ISO, (σ_R, σ_G, σ_B))``, for reports.

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> pairs = [(c, np.clip(c + rng.normal(0, 0.01 * iso / 100, c.shape), 0, 1), "A", iso)
        ...          for iso in (100, 400) for c in [rng.uniform(0.3, 0.7, (32, 32, 3))]]
        >>> model = GaussianNoiseModel.fit(pairs)
        >>> round(float(model.sigma("A", 200)[0]), 3)
        0.02
    """

    law: LogIsoLaw
    per_image: tuple[tuple[str, str, float, tuple[float, float, float]], ...] = field(default=(), repr=False)

    @classmethod
    def fit(cls, pairs: Iterable[Any], *, max_size: int | None = None) -> GaussianNoiseModel:
        """Fit on training pairs (``ImagePair`` objects or ``(clean, noisy, camera, iso)`` tuples).

        Args:
            pairs: training pairs with known camera and ISO (see :func:`~.pairs.load_training_pairs`).
            max_size: centre-crop each image to at most this many pixels per side first.

        Raises:
            ValueError: no pairs, unknown metadata, or no camera with two ISO values.
        """
        data = load_training_pairs(pairs, max_size)
        sig = np.array([np.sqrt(((p.noisy - p.clean) ** 2).mean(axis=(0, 1))) for p in data])
        sig = np.maximum(sig, math.sqrt(VAR_FLOOR))
        law = fit_log_iso_law([p.camera for p in data], [p.iso for p in data], sig, ("sigma_R", "sigma_G", "sigma_B"))
        per_image = tuple((p.name, p.camera, p.iso, tuple(float(v) for v in s)) for p, s in zip(data, sig))
        return cls(law, per_image)

    def sigma(self, camera: str, iso: float) -> np.ndarray:
        """Noise σ per channel ``(3,)`` in [0, 1] units at ``(camera, iso)``."""
        return self.law(camera, iso)

    def add_noise(
        self, x: torch.Tensor, conditions: Sequence[Condition], generator: torch.Generator | None
    ) -> torch.Tensor:
        """``x + σ_c · N(0, 1)`` per image and channel."""
        sig = torch.tensor(np.stack([self.law(c, i) for c, i in conditions]), dtype=x.dtype, device=x.device)
        z = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
        return x + sig[:, :, None, None] * z

    def describe(self) -> dict[str, Any]:
        """Fitted parameters as plain JSON (σ in [0, 1] units)."""
        return {"model": "iid Gaussian, sigma per channel", "law": self.law.to_dict()}

"""Which camera, ISO and noise strength to synthesize when a sample has none: :class:`ConditionSampler`.

Draws are made on the CPU (torch's global RNG, or a CPU ``torch.Generator``) and return validated
:class:`~nmflowgan_aug.vocab.Conditions`; the noise itself is drawn elsewhere, from its own generator,
so drawing conditions never shifts the noise stream. :func:`strength_values` validates a given strength.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Union

import numpy as np
import torch

from .vocab import CameraLike, Conditions, ConditionVocabulary, IsoLike

__all__ = ["ConditionSampler", "StrengthLike", "strength_values"]

#: A noise strength: one factor for the batch, one per sample (sequence, tensor or numpy array).
StrengthLike = Union[float, Sequence[float], torch.Tensor, np.ndarray]


def strength_values(strength: StrengthLike, batch: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """Validate noise strengths and return them as float32 ``(batch,)`` on ``device``.

    The strength scales the synthesized noise: ``noisy = clean + strength · (model noise)`` before
    clipping (1 = the model's noise, 0 = none), as Real-ESRGAN/BasicSR scale their synthetic noise.

    Args:
        strength: one non-negative number for the batch, or ``batch`` numbers (sequence, tensor or
            numpy array, 0-D or ``(batch,)``).
        batch: batch size B.
        device: device of the result.

    Raises:
        TypeError: ``None``, a string, or a boolean/complex value.
        ValueError: a negative, NaN or infinite value, or a length different from ``batch``.
    """
    if strength is None or isinstance(strength, (str, bool)):
        raise TypeError(f"strength must be a non-negative number, or one per sample ({batch}), got {strength!r}")
    try:
        values = torch.as_tensor(np.asarray(strength) if not isinstance(strength, torch.Tensor) else strength)
    except (TypeError, ValueError) as err:
        raise TypeError(f"strength must be a non-negative number, or one per sample ({batch}), got {strength!r}") from err
    if values.dtype == torch.bool or values.is_complex():
        raise TypeError(f"strength must be real numbers, got dtype {values.dtype}")
    if values.ndim == 0:
        values = values.expand(batch)
    elif values.ndim != 1 or values.shape[0] != batch:
        raise ValueError(f"got strength of shape {tuple(values.shape)} for a batch of {batch}; give one number or {batch}")
    bad = ~torch.isfinite(values.double()) | (values < 0)
    if bad.any():
        raise ValueError(f"strength must be finite and >= 0, got {values[bad][0].item()!r}")
    return values.to(device=device, dtype=torch.float32)


@dataclass(frozen=True)
class ConditionSampler:
    """Distribution of camera, ISO and noise strength drawn when a sample has none.

    Cameras are drawn with probabilities ``weights`` (uniform by default). ISO is drawn uniformly in
    log-space over ``[lo, hi]`` (``iso_range``, or the smallest and largest allowed ISO) and snapped to
    the nearest allowed ISO value (in log-space), so every allowed value gets the share of the log-ISO
    axis closest to it. The allowed ISO values are the model's vocabulary, restricted to ``isos`` and
    ``iso_range`` when given. The noise strength (see :func:`strength_values`) is ``strength`` when it is
    a number (nothing drawn) or uniform in ``[lo, hi]`` when it is a range (like BasicSR's ``noise_range``).

    Args:
        cameras: camera names (or codes) to draw from; ``None`` = every camera of the model.
        isos: ISO values to draw from (ISO units, each in the model's vocabulary); ``None`` = all.
        iso_range: ``(lo, hi)`` in ISO units; only allowed values inside it are drawn.
        weights: one non-negative weight per camera of ``cameras`` (or of the model's cameras).
        strength: noise strength, a number >= 0 (default 1: the model's noise) or a range ``(lo, hi)``.

    Raises:
        ValueError: negative or all-zero weights, ``lo > hi`` or a non-positive bound, a negative or
            non-finite strength or a strength range with ``lo > hi`` (here), and at
            draw time cameras/ISOs outside the model's vocabulary, no allowed ISO inside
            ``iso_range``, or a ``weights`` length different from the number of cameras.

    Example:
        >>> from nmflowgan_aug import OFFICIAL_VOCABULARY
        >>> s = ConditionSampler(cameras=("GP", "S6"), iso_range=(400, 1600))
        >>> cams, isos = s.sample(OFFICIAL_VOCABULARY, 4, torch.Generator().manual_seed(0))
        >>> cams.shape, bool(((isos >= 400) & (isos <= 1600)).all())
        (torch.Size([4]), True)
    """

    cameras: Sequence[str | int] | None = None
    isos: Sequence[int] | None = None
    iso_range: tuple[float, float] | None = None
    weights: Sequence[float] | None = None
    strength: float | tuple[float, float] = 1.0

    def __post_init__(self) -> None:
        for name in ("cameras", "isos", "weights"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, tuple(getattr(self, name)))
        if isinstance(self.strength, (int, float)) and not isinstance(self.strength, bool):
            strength_values(self.strength, 1)
        else:
            bounds = tuple(self.strength) if isinstance(self.strength, (tuple, list)) else ()
            if len(bounds) != 2:
                raise ValueError(f"strength must be a number or a range (lo, hi), got {self.strength!r}")
            lo, hi = strength_values(bounds, 2).tolist()
            if lo > hi:
                raise ValueError(f"strength range must be (lo, hi) with 0 <= lo <= hi, got {self.strength!r}")
            object.__setattr__(self, "strength", bounds)
        if self.weights is not None and (min(self.weights) < 0 or sum(self.weights) <= 0):
            raise ValueError(f"weights must be non-negative with a positive sum, got {self.weights}")
        if self.iso_range is not None:
            lo, hi = self.iso_range
            if not 0 < lo <= hi:
                raise ValueError(f"iso_range must be (lo, hi) with 0 < lo <= hi, got {self.iso_range}")

    def allowed(self, vocabulary: ConditionVocabulary) -> tuple[torch.Tensor, torch.Tensor]:
        """Camera codes and ISO values this sampler may draw for ``vocabulary`` (LongTensors, CPU)."""
        cameras, iso_list = list(self.cameras or vocabulary.cameras), list(self.isos or vocabulary.isos)
        cams = vocabulary.camera_codes(cameras, len(cameras))
        isos = vocabulary.iso_values(iso_list, len(iso_list))
        if self.iso_range is not None:
            isos = isos[(isos >= self.iso_range[0]) & (isos <= self.iso_range[1])]
            if isos.numel() == 0:
                raise ValueError(f"no allowed ISO inside iso_range {self.iso_range}; allowed: {list(vocabulary.isos)}")
        if self.weights is not None and len(self.weights) != len(cams):
            raise ValueError(f"got {len(self.weights)} weights for {len(cams)} cameras")
        return cams, isos.unique()

    def sample(
        self, vocabulary: ConditionVocabulary, batch: int, generator: torch.Generator | None = None
    ) -> Conditions:
        """Draw ``batch`` (camera code, ISO) pairs.

        Consumes ``2 * batch`` float64 uniforms from ``generator`` (or torch's global CPU RNG).

        Args:
            vocabulary: the noise model's vocabulary (codes index ``vocabulary.cameras``).
            batch: number of pairs B.
            generator: optional CPU ``torch.Generator``.

        Returns:
            :class:`~nmflowgan_aug.vocab.Conditions`: LongTensors ``(batch,)`` on the CPU.

        Raises:
            ValueError: a generator on another device than the CPU, or a distribution that does not fit
                ``vocabulary`` (see the class).
        """
        if generator is not None and generator.device.type != "cpu":
            raise ValueError(
                f"ConditionSampler draws on the CPU; got a generator on {generator.device}, pass a CPU torch.Generator"
            )
        cams, isos = self.allowed(vocabulary)
        u = torch.rand(2, batch, generator=generator, dtype=torch.float64)
        w = torch.tensor(self.weights if self.weights is not None else [1.0] * len(cams), dtype=torch.float64)
        cdf = torch.cumsum(w, 0) / w.sum()
        cam_idx = torch.searchsorted(cdf, u[0], right=True).clamp_max(len(cams) - 1)
        log_isos = torch.log(isos.double())
        lo, hi = (math.log(b) for b in self.iso_range) if self.iso_range else (log_isos[0], log_isos[-1])
        t = lo + (hi - lo) * u[1]
        iso_idx = (t[:, None] - log_isos[None]).abs().argmin(dim=1)
        return Conditions(cams[cam_idx], isos[iso_idx])

    def sample_strength(self, batch: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``batch`` noise strengths, float32 ``(batch,)`` on the CPU.

        A fixed strength draws nothing; a range consumes ``batch`` float64 uniforms from ``generator``
        (or torch's global CPU RNG).
        """
        if not isinstance(self.strength, tuple):
            return torch.full((batch,), float(self.strength))
        lo, hi = self.strength
        return (lo + (hi - lo) * torch.rand(batch, generator=generator, dtype=torch.float64)).float()

    def fill_strength(self, strength: StrengthLike | None, batch: int) -> StrengthLike:
        """``strength`` as given, or :meth:`sample_strength` (torch's global CPU RNG) when it is ``None``."""
        return self.sample_strength(batch) if strength is None else strength

    def fill_missing(
        self, vocabulary: ConditionVocabulary, camera: CameraLike | None, iso: IsoLike | None, batch: int
    ) -> tuple[CameraLike, IsoLike]:
        """``(camera, iso)`` with whichever is ``None`` drawn by :meth:`sample` (torch's global CPU RNG).

        Nothing is drawn when both are given; given values are returned as they are, for
        :meth:`~nmflowgan_aug.vocab.ConditionVocabulary.conditions` to validate.
        """
        if camera is not None and iso is not None:
            return camera, iso
        drawn = self.sample(vocabulary, batch)
        return (drawn.camera_codes if camera is None else camera, drawn.iso_values if iso is None else iso)

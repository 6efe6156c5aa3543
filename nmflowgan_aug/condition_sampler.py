"""Which camera and ISO to synthesize when a sample has none: :class:`ConditionSampler`.

Draws are made on the CPU (torch's global RNG, or a CPU ``torch.Generator``) and return validated
:class:`~nmflowgan_aug.vocab.Conditions`; the noise itself is drawn elsewhere, from its own generator,
so drawing conditions never shifts the noise stream.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from .vocab import CameraLike, Conditions, ConditionVocabulary, IsoLike

__all__ = ["ConditionSampler"]


@dataclass(frozen=True)
class ConditionSampler:
    """Distribution of camera and ISO drawn when a sample has none.

    Cameras are drawn with probabilities ``weights`` (uniform by default). ISO is drawn uniformly in
    log-space over ``[lo, hi]`` (``iso_range``, or the smallest and largest allowed ISO) and snapped to
    the nearest allowed ISO value (in log-space), so every allowed value gets the share of the log-ISO
    axis closest to it. The allowed ISO values are the model's vocabulary, restricted to ``isos`` and
    ``iso_range`` when given.

    Args:
        cameras: camera names (or codes) to draw from; ``None`` = every camera of the model.
        isos: ISO values to draw from (ISO units, each in the model's vocabulary); ``None`` = all.
        iso_range: ``(lo, hi)`` in ISO units; only allowed values inside it are drawn.
        weights: one non-negative weight per camera of ``cameras`` (or of the model's cameras).

    Raises:
        ValueError: negative or all-zero weights, ``lo > hi`` or a non-positive bound (here), and at
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

    def __post_init__(self) -> None:
        for name in ("cameras", "isos", "weights"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, tuple(getattr(self, name)))
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

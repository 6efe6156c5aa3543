"""The real noise of *another* pair with the same camera and ISO: a reference, not a noise model."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from .base import CameraArg, Condition, IsoArg, NoiseBaseline, check_iso, clip_to_output
from .pairs import load_training_pairs

__all__ = ["NoDonorError", "NoiseDonor", "RealNoiseReference"]


class NoDonorError(ValueError):
    """:class:`RealNoiseReference` holds no other pair with the requested camera and ISO."""


@dataclass(frozen=True, eq=False)
class NoiseDonor:
    """Real noise of one pair: ``residual`` = ``noisy − clean`` in 8-bit levels, int16 ``(3, H, W)``."""

    name: str
    camera: str
    iso: float
    scene: str | None
    residual: torch.Tensor = field(repr=False)


def _crop_or_tile(
    r: torch.Tensor, h: int, w: int, generator: torch.Generator | None, device: torch.device
) -> torch.Tensor:
    """A random ``h × w`` window of ``r`` ``(3, H, W)``, mirror-tiling ``r`` first where it is smaller."""
    while r.shape[-2] < h:
        r = torch.cat([r, r.flip(-2)], dim=-2)
    while r.shape[-1] < w:
        r = torch.cat([r, r.flip(-1)], dim=-1)
    top = int(torch.randint(r.shape[-2] - h + 1, (1,), generator=generator, device=device).item())
    left = int(torch.randint(r.shape[-1] - w + 1, (1,), generator=generator, device=device).item())
    return r[:, top : top + h, left : left + w]


class RealNoiseReference(NoiseBaseline):
    """Real noise of *another* pair with the same camera and ISO, added to the clean image.

    ``noisy = clip(clean + r / 255, 0, 1)`` where ``r`` is the residual ``noisy − clean`` (8-bit
    levels) of a donor pair with the same (camera, ISO), not the pair being synthesized. A donor
    larger than the target is cropped at a random position; a smaller one is tiled by mirroring.
    Donors from another scene instance are preferred; when only pairs of the same scene exist (e.g.
    two blocks of one SIDD validation image) they are used, and :meth:`sample_with_donors` reports
    which donor was taken so that callers can flag it. Where no donor exists the reference is
    undefined and :class:`NoDonorError` is raised: there is no fallback to a nearby condition.

    Not a noise model: it needs real noisy/clean pairs of exactly the requested condition. It
    estimates how close "real noise of the same camera and ISO, different content" gets on a metric.

    Args:
        donors: the stored residuals; names must be unique.

    Raises:
        ValueError: duplicate donor names.
    """

    def __init__(self, donors: Sequence[NoiseDonor]) -> None:
        names = [d.name for d in donors]
        if len(set(names)) != len(names):
            raise ValueError("donor names must be unique")
        self.donors: tuple[NoiseDonor, ...] = tuple(donors)

    @classmethod
    def fit(cls, pairs: Iterable[Any], *, max_size: int | None = 1024) -> RealNoiseReference:
        """Store the residuals of ``pairs`` (``ImagePair`` objects or 4-tuples with known metadata).

        Args:
            pairs: donor pairs; names must be unique (tuples are named ``pair0``, ``pair1``, ...).
            max_size: centre-crop each residual to at most this many pixels per side (memory).
        """
        donors = []
        for p in load_training_pairs(pairs, max_size):
            r = np.round((p.noisy - p.clean) * 255.0).astype(np.int16).transpose(2, 0, 1)
            donors.append(NoiseDonor(p.name, p.camera, p.iso, p.scene, torch.from_numpy(np.ascontiguousarray(r))))
        return cls(donors)

    def candidates(
        self, camera: str, iso: float, *, exclude: Iterable[str] = (), scene: str | None = None
    ) -> tuple[list[NoiseDonor], bool]:
        """Donors for ``(camera, iso)`` other than ``exclude``: ``(donors, same_scene)``.

        With ``scene`` given, donors of other (or unknown) scenes are returned if any exist
        (``same_scene`` False); otherwise the same-scene donors (``same_scene`` True). An empty list
        means no donor.
        """
        excluded = set(exclude)
        iso = check_iso(iso)
        pool = [d for d in self.donors if d.camera == camera and math.isclose(d.iso, iso) and d.name not in excluded]
        if scene is None:
            return pool, False
        other = [d for d in pool if d.scene is None or d.scene != str(scene)]
        return (other, False) if other else (pool, bool(pool))

    def _add_donor_noise(
        self,
        x: torch.Tensor,
        conditions: Sequence[Condition],
        generator: torch.Generator | None,
        exclude: Sequence[str],
        scenes: Sequence[str | None],
    ) -> tuple[torch.Tensor, list[tuple[str, bool]]]:
        """``x`` plus a donor's residual per image, and per image ``(donor name, same_scene)``."""
        _, _, h, w = x.shape
        out, used = [], []
        for k, ((cam, i), sc) in enumerate(zip(conditions, scenes)):
            pool, same = self.candidates(cam, i, exclude=exclude, scene=sc)
            if not pool:
                raise NoDonorError(
                    f"no real-noise donor for camera {cam!r} at ISO {i:g} (excluding {list(exclude)}); "
                    f"conditions with donors: {sorted({(d.camera, d.iso) for d in self.donors})}"
                )
            d = pool[int(torch.randint(len(pool), (1,), generator=generator, device=x.device).item())]
            r = _crop_or_tile(d.residual, h, w, generator, x.device)
            out.append(x[k] + r.to(device=x.device, dtype=x.dtype) / 255.0)
            used.append((d.name, same))
        return torch.stack(out), used

    def add_noise(
        self, x: torch.Tensor, conditions: Sequence[Condition], generator: torch.Generator | None
    ) -> torch.Tensor:
        """``x`` plus the residual of a donor with the same condition, per image (any scene, none excluded)."""
        return self._add_donor_noise(x, conditions, generator, (), [None] * len(conditions))[0]

    def sample_with_donors(
        self,
        clean: torch.Tensor,
        camera: CameraArg,
        iso: IsoArg,
        generator: torch.Generator | None = None,
        *,
        exclude: Iterable[str] = (),
        scene: str | Sequence[str | None] | None = None,
        quantize: bool = False,
    ) -> tuple[torch.Tensor, list[tuple[str, bool]]]:
        """Like :meth:`sample`, also returning per image ``(donor name, same_scene)``."""
        x, conditions = self.prepare(clean, camera, iso)
        scenes = [scene] * len(conditions) if scene is None or isinstance(scene, str) else list(scene)
        noisy, used = self._add_donor_noise(x, conditions, generator, tuple(exclude), scenes)
        return clip_to_output(noisy, clean.dtype, quantize), used

    def sample(
        self,
        clean: torch.Tensor,
        camera: CameraArg,
        iso: IsoArg,
        generator: torch.Generator | None = None,
        *,
        exclude: Iterable[str] = (),
        scene: str | Sequence[str | None] | None = None,
        quantize: bool = False,
    ) -> torch.Tensor:
        """Clean plus the real noise of a donor with the same camera and ISO, ``(B, 3, H, W)`` in [0, 1].

        Args:
            clean: float sRGB in [0, 1], ``(B, 3, H, W)``.
            camera: one condition for the batch or B of them.
            iso: one condition for the batch or B of them; the ISO must match a donor exactly.
            generator: optional ``torch.Generator`` on ``clean.device`` (donor choice and crop offset).
            exclude: donor names never to use (e.g. the pair being synthesized).
            scene: scene instance of the target(s); donors of other scenes are preferred.
            quantize: round to 8-bit levels (a no-op for 8-bit clean images: residuals are integers).

        Raises:
            NoDonorError: no donor for a requested condition (a ``ValueError``).
            TypeError, ValueError: bad image or conditions.
        """
        return self.sample_with_donors(
            clean, camera, iso, generator, exclude=exclude, scene=scene, quantize=quantize
        )[0]

    def describe(self) -> dict[str, Any]:
        """Donors as plain JSON."""
        return {
            "model": "real residual (noisy - clean) of another pair with the same camera and ISO",
            "donors": [{"name": d.name, "camera": d.camera, "iso": d.iso, "scene": d.scene,
                        "size": list(d.residual.shape[-2:])} for d in self.donors],
        }

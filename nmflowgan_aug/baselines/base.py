"""What every noise source offers (:class:`NoiseModel`) and the shared sampling steps of the baselines.

:class:`NoiseModel` is the one interface the benchmarks need from a noise source: ``sample(clean,
camera, iso, generator=None)``. :class:`nmflowgan_aug.NMFlowGAN` and every baseline satisfy it, so
benchmarks treat trained models and baselines alike.

:class:`NoiseBaseline` holds the steps that every baseline's ``sample`` shares: check the clean
batch, turn ``camera``/``iso`` into one condition per image, let the subclass add its noise
(:meth:`NoiseBaseline.add_noise`), then clip to [0, 1], optionally round to 8-bit levels and return
the input dtype.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Sequence
from typing import Any, Protocol, Union, runtime_checkable

import torch

from ..srgb import check_srgb_batch, quantize_8bit

__all__ = [
    "CameraArg",
    "Condition",
    "IsoArg",
    "NoiseBaseline",
    "NoiseModel",
    "batch_conditions",
    "check_iso",
    "clip_to_output",
    "in_compute_dtype",
]

CameraArg = Union[str, Sequence[str]]
IsoArg = Union[int, float, Sequence[Union[int, float]], torch.Tensor]
#: One image's condition: ``(camera name, ISO)``.
Condition = tuple[str, float]


@runtime_checkable
class NoiseModel(Protocol):
    """A synthetic noise source: anything with this ``sample`` (NM-FlowGAN models and the baselines)."""

    def sample(
        self, clean: torch.Tensor, camera: Any, iso: Any, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Noisy sRGB in [0, 1], same shape as ``clean`` ``(B, 3, H, W)``; one camera/ISO or one per image."""
        ...


def check_iso(iso: Any) -> float:
    """``iso`` as a float; raises ValueError unless it is a finite positive number (ISO units)."""
    value = float(iso)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"ISO must be a positive number, got {iso!r}")
    return value


def batch_conditions(camera: CameraArg, iso: IsoArg, batch: int) -> list[Condition]:
    """One ``(camera, ISO)`` per image of a batch of ``batch`` images.

    Args:
        camera: one camera name for the batch or ``batch`` names.
        iso: one ISO for the batch or ``batch`` values (sequence or 0-/1-D tensor); any positive ISO.
        batch: number of images B.

    Raises:
        ValueError: a length other than ``batch``, or a non-positive ISO.
        TypeError: a camera that is not a name (str).
    """
    if isinstance(iso, torch.Tensor):
        iso = iso.item() if iso.ndim == 0 else iso.tolist()
    cams = [camera] * batch if isinstance(camera, str) else list(camera)
    isos = [iso] * batch if isinstance(iso, (int, float)) else list(iso)
    if len(cams) != batch or len(isos) != batch:
        raise ValueError(f"got {len(cams)} cameras and {len(isos)} ISO values for a batch of {batch}")
    for cam in cams:
        if not isinstance(cam, str):
            raise TypeError(f"camera must be a name (str), got {type(cam).__name__}")
    return [(c, check_iso(i)) for c, i in zip(cams, isos)]


def in_compute_dtype(clean: torch.Tensor) -> torch.Tensor:
    """``clean`` in the dtype the noise is computed in: float32 for half-precision input, else unchanged."""
    return clean.to(torch.float32) if clean.dtype in (torch.float16, torch.bfloat16) else clean


def clip_to_output(noisy: torch.Tensor, dtype: torch.dtype, quantize: bool) -> torch.Tensor:
    """Clip a noisy batch to sRGB [0, 1], round it to 8-bit levels when ``quantize``, cast to ``dtype``."""
    out = noisy.clamp(0.0, 1.0)
    if quantize:
        out = quantize_8bit(out)
    return out.to(dtype)


class NoiseBaseline(abc.ABC):
    """A fitted noise baseline: the shared ``sample`` steps; subclasses implement :meth:`add_noise`.

    ``sample`` follows :meth:`nmflowgan_aug.NMFlowGAN.sample`: ``clean`` is float sRGB
    ``(B, 3, H, W)`` in [0, 1]; the result has the same shape, dtype and device, is clipped to [0, 1]
    and is not rounded to 8-bit levels unless ``quantize=True``. A ``torch.Generator`` on
    ``clean.device`` makes the draw reproducible.
    """

    def sample(
        self,
        clean: torch.Tensor,
        camera: CameraArg,
        iso: IsoArg,
        generator: torch.Generator | None = None,
        *,
        quantize: bool = False,
    ) -> torch.Tensor:
        """Noisy sRGB ``(B, 3, H, W)`` in [0, 1].

        Args:
            clean: float sRGB in [0, 1], ``(B, 3, H, W)``.
            camera: one camera name for the batch or B names.
            iso: one ISO for the batch or B values (any positive ISO).
            generator: optional ``torch.Generator`` on ``clean.device``.
            quantize: round the result to 8-bit levels ``k / 255``.

        Raises:
            UnknownCameraError: a camera without training pairs (a ``ValueError``).
            TypeError, ValueError: bad image or conditions.
        """
        x, conditions = self.prepare(clean, camera, iso)
        return clip_to_output(self.add_noise(x, conditions, generator), clean.dtype, quantize)

    @staticmethod
    def prepare(clean: torch.Tensor, camera: CameraArg, iso: IsoArg) -> tuple[torch.Tensor, list[Condition]]:
        """Check ``clean`` (sRGB batch) and return it in the compute dtype with one condition per image."""
        check_srgb_batch(clean, "clean")
        x = in_compute_dtype(clean)
        return x, batch_conditions(camera, iso, x.shape[0])

    @abc.abstractmethod
    def add_noise(
        self, x: torch.Tensor, conditions: Sequence[Condition], generator: torch.Generator | None
    ) -> torch.Tensor:
        """``x`` ``(B, 3, H, W)`` (checked, compute dtype) plus this baseline's noise, not yet clipped."""

    @abc.abstractmethod
    def describe(self) -> dict[str, Any]:
        """Fitted parameters as plain JSON."""

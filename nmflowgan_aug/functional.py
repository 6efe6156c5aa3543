"""Functional core of the augmentation wrappers: add realistic camera noise to clean sRGB images.

:func:`add_camera_noise` is the one place where images are validated, camera/ISO conditions are
drawn or checked, and the noise model is run. The torchvision transform, the kornia augmentation and
the BasicSR model (``nmflowgan_aug.integrations``) are thin shells over it.

Images are sRGB, RGB channel order, channels first: float in [0, 1] or uint8 in [0, 255]. ISO is the
sensor gain in ISO units (e.g. 800). Cameras are names of the model's vocabulary (SIDD tokens ``IP``,
``GP``, ``S6``, ``N6``, ``G4``) or their integer codes.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Union

import torch

from .devices import check_worker_device
from .model import NMFlowGAN
from .pretrained import list_pretrained
from .srgb import check_srgb_batch
from .vocab import CameraLike, ConditionVocabulary, IsoLike

__all__ = [
    "DEFAULT_MODEL",
    "ConditionSampler",
    "ModelLike",
    "add_camera_noise",
    "load_model",
]

#: Name of the shipped model used when no model is given.
DEFAULT_MODEL = "sidd"

ModelLike = Union[NMFlowGAN, str, os.PathLike]


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
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Draw ``batch`` (camera code, ISO) pairs.

        Always consumes ``2 * batch`` uniforms from ``generator`` (or the global RNG), on the
        generator's device.

        Returns:
            ``(camera_codes, iso_values)``: LongTensors ``(batch,)`` on the CPU.
        """
        cams, isos = self.allowed(vocabulary)
        u = _uniforms(batch, generator)
        w = torch.tensor(self.weights if self.weights is not None else [1.0] * len(cams), dtype=torch.float64)
        cdf = torch.cumsum(w, 0) / w.sum()
        cam_idx = torch.searchsorted(cdf, u[0], right=True).clamp_max(len(cams) - 1)
        log_isos = torch.log(isos.double())
        lo, hi = (math.log(b) for b in self.iso_range) if self.iso_range else (log_isos[0], log_isos[-1])
        t = lo + (hi - lo) * u[1]
        iso_idx = (t[:, None] - log_isos[None]).abs().argmin(dim=1)
        return cams[cam_idx], isos[iso_idx]


def _uniforms(batch: int, generator: torch.Generator | None) -> torch.Tensor:
    device = generator.device if generator is not None else "cpu"
    return torch.rand(2, batch, generator=generator, device=device, dtype=torch.float64).cpu()


# ------------------------------------------------------------------------------------------ models
_MODEL_CACHE: dict[tuple[str, str], NMFlowGAN] = {}


def load_model(model: ModelLike, device: torch.device | str = "cpu") -> NMFlowGAN:
    """A fresh noise model on ``device``, in eval mode without gradients, or ``model`` itself.

    Args:
        model: an :class:`NMFlowGAN` (returned unchanged), a shipped name (``"sidd"``) or a folder
            written by :meth:`NMFlowGAN.save_pretrained`.
        device: where to load the weights.

    Raises:
        FileNotFoundError: an unknown name or folder (the message lists the shipped names).
    """
    if isinstance(model, NMFlowGAN):
        return model
    if str(model) == DEFAULT_MODEL and DEFAULT_MODEL not in list_pretrained():
        raise FileNotFoundError(
            f"the shipped {DEFAULT_MODEL!r} noise model is not available in this installation "
            f"(shipped models: {list_pretrained()}); pass model=<folder written by NMFlowGAN.save_pretrained>"
        )
    return NMFlowGAN.from_pretrained(model, map_location=device).requires_grad_(False)


def _cached_model(model: str | os.PathLike, device: torch.device) -> NMFlowGAN:
    key = (str(model), str(device))
    if key not in _MODEL_CACHE:
        _MODEL_CACHE[key] = load_model(model, device)
    return _MODEL_CACHE[key]


def _model_device(model: NMFlowGAN) -> torch.device:
    return next(model.parameters()).device


# ------------------------------------------------------------------------------------------- noise
def add_camera_noise(
    images: torch.Tensor,
    camera: CameraLike | None = None,
    iso: IsoLike | None = None,
    *,
    model: ModelLike | None = None,
    generator: torch.Generator | None = None,
    camera_iso_sampler: ConditionSampler | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Synthesize realistic camera noise on clean sRGB images with an NM-FlowGAN model.

    The generator first draws the camera/ISO uniforms (always, even when camera and ISO are given)
    and then the noise, so calling again with the returned camera/ISO and an identically seeded
    generator reproduces the output exactly.

    Args:
        images: clean sRGB, ``(B, 3, H, W)`` or ``(3, H, W)``, float in [0, 1] or uint8 in [0, 255].
        camera: camera name (``"GP"``) or code for the whole batch, a sequence of B names/codes, a
            LongTensor ``(B,)``, or ``None`` to draw from ``camera_iso_sampler``.
        iso: ISO value (ISO units, e.g. ``800``), a sequence or tensor of B values, or ``None`` to draw.
        model: an :class:`NMFlowGAN` on ``images.device``, a saved-model folder or shipped name, or
            ``None`` for the shipped ``"sidd"`` model (names and folders are loaded once per device
            and cached).
        generator: optional ``torch.Generator`` on ``images.device`` (seeded calls reproduce exactly).
        camera_iso_sampler: distribution of missing camera/ISO; default :class:`ConditionSampler()`
            (cameras uniform, ISO log-uniform over the model's ISO values).

    Returns:
        ``(noisy, camera_codes, iso_values)``: noisy images with the shape, dtype and device of
        ``images`` (uint8 input: noise added in float, then rounded to 8-bit levels; float input is
        not re-quantized, see :func:`quantize_8bit`); the camera codes and ISO values used, LongTensors
        ``(B,)`` on ``images.device`` (0-D for a single ``(3, H, W)`` image).

    Raises:
        TypeError: not a tensor, or a dtype other than floating point or uint8.
        ValueError: wrong number of dimensions, not 3 channels (grayscale, RGBA), float values outside
            [0, 1], NaN/Inf, unknown camera, unsupported ISO, per-sample metadata whose length is not
            B, a model or generator on another device than ``images``.
        RuntimeError: CUDA requested inside a forked DataLoader worker (see :func:`check_worker_device`).
        FileNotFoundError: no model given and the shipped model is not installed.
    """
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"images must be a torch.Tensor, got {type(images).__name__}")
    single = images.ndim == 3
    batch = images.unsqueeze(0) if single else images
    check_srgb_batch(batch, "images", allow_uint8=True)
    check_worker_device(batch.device)
    if model is None or not isinstance(model, NMFlowGAN):
        model = _cached_model(DEFAULT_MODEL if model is None else model, batch.device)
    check_worker_device(_model_device(model))
    _check_same_device(batch, model, generator)

    b = batch.shape[0]
    drawn_cams, drawn_isos = (camera_iso_sampler or ConditionSampler()).sample(model.vocabulary, b, generator)
    cams, isos = model.encode_conditions(
        drawn_cams if camera is None else camera, drawn_isos if iso is None else iso, b, batch.device
    )
    clean = batch.float() / 255 if batch.dtype == torch.uint8 else batch
    noisy = model.sample(clean, cams, isos, generator=generator).clone()  # clone: a normal (non-inference) tensor
    if batch.dtype == torch.uint8:
        noisy = torch.round(noisy.clamp(0, 1) * 255).to(torch.uint8)
    if single:
        return noisy[0], cams[0], isos[0]
    return noisy, cams, isos


def _check_same_device(images: torch.Tensor, model: NMFlowGAN, generator: torch.Generator | None) -> None:
    model_device = _model_device(model)
    if model_device.type != images.device.type or (
        model_device.index is not None and images.device.index is not None and model_device.index != images.device.index
    ):
        raise ValueError(
            f"the noise model is on {model_device} but the images are on {images.device}; "
            f"move one of them, e.g. model.to({str(images.device)!r})"
        )
    if generator is not None and generator.device.type != images.device.type:
        raise ValueError(
            f"generator is on {generator.device} but the images are on {images.device}; "
            f"use torch.Generator(device={str(images.device)!r})"
        )

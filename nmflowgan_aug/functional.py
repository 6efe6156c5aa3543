"""Add realistic camera noise to clean sRGB images: :func:`add_camera_noise`.

The torchvision transform, the kornia augmentation and the BasicSR model (``nmflowgan_aug.integrations``)
are thin shells over it: they draw camera/ISO themselves (where a sample has none) and pass what they
drew, so each value is drawn once and validated once, here.

Images are sRGB, RGB channel order, channels first: float in [0, 1] or uint8 in [0, 255]. ISO is the
sensor gain in ISO units (e.g. 800). Cameras are names of the model's vocabulary (SIDD tokens ``IP``,
``GP``, ``S6``, ``N6``, ``G4``) or their integer codes.
"""

from __future__ import annotations

import torch

from .condition_sampler import ConditionSampler
from .devices import check_worker_device
from .model import NMFlowGAN
from .pretrained import DEFAULT_MODEL
from .pretrained._loading import ModelLike, cached_model
from .srgb import check_srgb_batch
from .vocab import CameraLike, IsoLike

__all__ = ["add_camera_noise"]


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

    A missing camera or ISO is drawn from ``camera_iso_sampler`` with torch's global CPU RNG (seed it
    with ``torch.manual_seed``); the noise is drawn from ``generator`` alone. So calling again with the
    returned camera/ISO and an identically seeded generator reproduces the output exactly.

    Args:
        images: clean sRGB, ``(B, 3, H, W)`` or ``(3, H, W)``, float in [0, 1] or uint8 in [0, 255].
        camera: camera name (``"GP"``) or code for the whole batch, a sequence of B names/codes, an
            integer tensor ``(B,)``, or ``None`` to draw from ``camera_iso_sampler``.
        iso: ISO value (ISO units, e.g. ``800``), a sequence or tensor of B values, or ``None`` to draw.
        model: an :class:`NMFlowGAN` on ``images.device``, a saved-model folder or shipped name, or
            ``None`` for the shipped ``"sidd"`` model (names and folders are loaded once per device
            and cached).
        generator: optional ``torch.Generator`` on ``images.device`` for the noise (seeded calls with
            the same camera/ISO reproduce exactly).
        camera_iso_sampler: distribution of missing camera/ISO; default :class:`ConditionSampler()`
            (cameras uniform, ISO log-uniform over the model's ISO values).

    Returns:
        ``(noisy, camera_codes, iso_values)``: noisy images with the shape, dtype and device of
        ``images`` (uint8 input: noise added in float, then rounded to 8-bit levels; float input is
        not re-quantized, see :func:`~nmflowgan_aug.srgb.quantize_8bit`); the camera codes and ISO
        values used, LongTensors ``(B,)`` on ``images.device`` (0-D for a single ``(3, H, W)`` image).

    Raises:
        TypeError: not a tensor, a dtype other than floating point or uint8, or a camera that is
            neither a name nor an integer code.
        ValueError: wrong number of dimensions, not 3 channels (grayscale, RGBA), float values outside
            [0, 1], NaN/Inf, a 1-pixel image, unknown camera, unsupported ISO, per-sample camera/ISO
            whose length is not B, a model or generator on another device than ``images``.
        RuntimeError: CUDA requested inside a forked DataLoader worker (see
            :func:`~nmflowgan_aug.devices.check_worker_device`).
        FileNotFoundError: ``model`` is neither a saved-model folder nor a shipped name (e.g. no model
            given and the shipped model is not installed).
    """
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"images must be a torch.Tensor, got {type(images).__name__}")
    single = images.ndim == 3
    batch = images.unsqueeze(0) if single else images
    check_srgb_batch(batch, "images", allow_uint8=True)
    check_worker_device(batch.device)
    if not isinstance(model, NMFlowGAN):
        model = cached_model(DEFAULT_MODEL if model is None else model, batch.device)
    model_device = next(model.parameters()).device
    check_worker_device(model_device)
    _check_same_device(batch, model_device, generator)

    b = batch.shape[0]
    camera, iso = (camera_iso_sampler or ConditionSampler()).fill_missing(model.vocabulary, camera, iso, b)
    conditions = model.encode_conditions(camera, iso, b, batch.device)
    clean = batch.float() / 255 if batch.dtype == torch.uint8 else batch
    noisy = model.sample_conditioned(clean, conditions, generator).clone()  # clone: a normal (non-inference) tensor
    if batch.dtype == torch.uint8:
        noisy = torch.round(noisy.clamp(0, 1) * 255).to(torch.uint8)
    cams, isos = conditions
    if single:
        return noisy[0], cams[0], isos[0]
    return noisy, cams, isos


def _check_same_device(images: torch.Tensor, model_device: torch.device, generator: torch.Generator | None) -> None:
    """Raise ValueError when the model or the generator is not on the images' device."""
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

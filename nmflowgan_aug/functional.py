"""Add realistic camera noise to clean sRGB images: :func:`add_camera_noise`.

The torchvision transform, the kornia augmentation and the BasicSR model (``nmflowgan_aug.integrations``)
are thin shells over it: they draw camera/ISO/strength themselves (where a sample has none) and pass
what they drew, so each value is drawn once and validated once, here.

Images are sRGB, RGB channel order, channels first: float in [0, 1] or uint8 in [0, 255]. ISO is the
sensor gain in ISO units (e.g. 800). Cameras are names of the model's vocabulary (SIDD tokens ``IP``,
``GP``, ``S6``, ``N6``, ``G4``) or their integer codes.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from .condition_sampler import ConditionSampler, StrengthLike, strength_values
from .devices import check_worker_device
from .model import NMFlowGAN
from .pretrained import DEFAULT_MODEL
from .pretrained._loading import ModelLike, cached_model
from .srgb import check_srgb_batch, quantize_8bit
from .vocab import CameraLike, IsoLike

__all__ = ["CameraNoise", "add_camera_noise"]


class CameraNoise(NamedTuple):
    """What :func:`add_camera_noise` returns: the noisy images and every parameter needed to replay them.

    Attributes:
        noisy: noisy sRGB images, the shape, dtype and device of the input.
        camera: LongTensor ``(B,)`` of camera codes (``model.vocabulary.cameras[code]``), 0-D for one image.
        iso: LongTensor ``(B,)`` of ISO values (ISO units), 0-D for one image.
        strength: float32 ``(B,)`` noise strengths, 0-D for one image.
    """

    noisy: torch.Tensor
    camera: torch.Tensor
    iso: torch.Tensor
    strength: torch.Tensor


def add_camera_noise(
    images: torch.Tensor,
    camera: CameraLike | None = None,
    iso: IsoLike | None = None,
    *,
    strength: StrengthLike | None = None,
    model: ModelLike | None = None,
    generator: torch.Generator | None = None,
    camera_iso_sampler: ConditionSampler | None = None,
    quantize: bool = True,
    clip: bool = False,
) -> CameraNoise:
    """Synthesize realistic camera noise on clean sRGB images with an NM-FlowGAN model.

    A missing camera, ISO or strength is drawn from ``camera_iso_sampler`` with torch's global CPU RNG
    (seed it with ``torch.manual_seed``); the noise is drawn from ``generator`` alone. So calling again
    with the returned camera/ISO/strength and an identically seeded generator reproduces the output
    exactly.

    ``quantize`` (default on) rounds float output to the 256 8-bit levels: real noisy sRGB images are
    8-bit files, the noise model's likelihood is defined on 8-bit levels (reference §1.6), and a
    denoiser trained on unrounded noise sees a signal no camera produces. uint8 input gives uint8
    output in any case (noise added in float, then rounded).

    Args:
        images: clean sRGB, ``(B, 3, H, W)`` or ``(3, H, W)``, float in [0, 1] or uint8 in [0, 255].
        camera: camera name (``"GP"``) or code for the whole batch, a sequence of B names/codes, an
            integer tensor or numpy array ``(B,)``, or ``None`` to draw from ``camera_iso_sampler``.
        iso: ISO value (ISO units, e.g. ``800``, ``np.int64(800)`` or ``"800"``), a sequence, tensor or
            numpy array of B values, or ``None`` to draw. A log-ISO model (the shipped ones) accepts any
            whole ISO in its trained range; a one-hot model only its table values.
        strength: factor on the synthesized noise (1 = the model's noise, 0.5 = half of it, 0 = none),
            one number or B numbers; ``None`` draws it from ``camera_iso_sampler`` (default 1).
        model: an :class:`NMFlowGAN` on ``images.device``, a saved-model folder or shipped name, or
            ``None`` for the shipped ``"sidd"`` model (names and folders are loaded once per device
            and cached).
        generator: optional ``torch.Generator`` on ``images.device`` for the noise (seeded calls with
            the same camera/ISO/strength reproduce exactly).
        camera_iso_sampler: distribution of missing camera/ISO/strength; default
            :class:`ConditionSampler()` (cameras uniform, ISO log-uniform over the model's ISO values,
            strength 1).
        quantize: round float output to 8-bit levels (default True, see above).
        clip: clamp float input to [0, 1] first (for resized images that overshoot slightly, e.g.
            bicubic's −0.02…1.02); default False: values outside [0, 1] raise. NaN/Inf always raise.

    Returns:
        :class:`CameraNoise` ``(noisy, camera, iso, strength)``: noisy images with the shape, dtype and
        device of ``images``, and the camera codes, ISO values and strengths used, on ``images.device``.

    Raises:
        TypeError: not a tensor, a dtype other than floating point or uint8, a camera that is neither a
            name nor an integer code, or a non-numeric ISO or strength.
        ValueError: wrong number of dimensions, not 3 channels (grayscale, RGBA), float values outside
            [0, 1] (without ``clip``), NaN/Inf, a 1-pixel image, unknown camera, unsupported ISO, a
            negative strength, per-sample values whose length is not B, a model or generator on another
            device than ``images``.
        RuntimeError: CUDA requested inside a forked DataLoader worker (see
            :func:`~nmflowgan_aug.devices.check_worker_device`).
        FileNotFoundError: ``model`` is neither a saved-model folder nor a shipped name (e.g. no model
            given and the shipped model is not installed).
    """
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"images must be a torch.Tensor, got {type(images).__name__}")
    single = images.ndim == 3
    batch = images.unsqueeze(0) if single else images
    if clip and batch.is_floating_point():
        if not torch.isfinite(batch).all():
            raise ValueError("images contains NaN or Inf values (clip=True clamps only finite values)")
        batch = batch.clamp(0, 1)
    check_srgb_batch(batch, "images", allow_uint8=True)
    check_worker_device(batch.device)
    if not isinstance(model, NMFlowGAN):
        model = cached_model(DEFAULT_MODEL if model is None else model, batch.device)
    model_device = next(model.parameters()).device
    check_worker_device(model_device)
    _check_same_device(batch, model_device, generator)

    b = batch.shape[0]
    sampler = camera_iso_sampler or ConditionSampler()
    camera, iso = sampler.fill_missing(model.vocabulary, camera, iso, b)
    conditions = model.encode_conditions(camera, iso, b, batch.device)
    factors = strength_values(sampler.fill_strength(strength, b), b, batch.device)
    clean = batch.float() / 255 if batch.dtype == torch.uint8 else batch
    noisy = model.sample_conditioned(clean, conditions, generator, factors)
    if batch.dtype == torch.uint8:
        noisy = torch.round(noisy.clamp(0, 1) * 255).to(torch.uint8)
    elif quantize:
        noisy = quantize_8bit(noisy)
    result = CameraNoise(noisy, *conditions, factors)
    return CameraNoise(*(t[0] for t in result)) if single else result


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

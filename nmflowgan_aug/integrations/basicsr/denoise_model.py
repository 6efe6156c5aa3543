"""``NMFlowGANDenoiseModel``: a BasicSR ``SRModel`` whose training inputs get NM-FlowGAN noise on the fly."""

from __future__ import annotations

from typing import Any

import torch
from basicsr.models.sr_model import SRModel
from basicsr.utils.registry import MODEL_REGISTRY

from ...condition_sampler import ConditionSampler
from ...functional import add_camera_noise
from ...pretrained import DEFAULT_MODEL
from ...pretrained._loading import frozen_model
from ...vocab import ConditionVocabulary
from ._compat import register_once
from .gt_dataset import UNKNOWN_CAMERA, UNKNOWN_ISO

__all__ = ["NMFlowGANDenoiseModel"]

_SAMPLER_KEYS = {
    "cameras": "cameras", "isos": "isos", "iso_range": "iso_range", "camera_weights": "weights", "strength": "strength"
}
_OPTION_KEYS = {"model", "quantize", "clip", *_SAMPLER_KEYS}


@register_once(MODEL_REGISTRY)
class NMFlowGANDenoiseModel(SRModel):
    """Denoiser training (``scale: 1``) with the noisy input synthesized on the model's device.

    Top-level option block ``nmflowgan`` (all optional):
        model (str): shipped name (default ``sidd``) or folder written by ``NMFlowGAN.save_pretrained``.
        quantize (bool): round the noisy input to 8-bit levels like a real sRGB capture (default true).
        clip (bool): clamp ``gt`` to [0, 1] first (default true: resized crops overshoot slightly).
        cameras, isos, iso_range, camera_weights: distribution of camera/ISO for batches or images
            without them (see :class:`~nmflowgan_aug.condition_sampler.ConditionSampler`), e.g.
            ``iso_range: [800, 3200]``.
        strength: noise strength, a number (default 1) or a range ``[lo, hi]`` drawn per sample, like
            Real-ESRGAN's ``noise_range``.

    ``feed_data``: while training, a batch without ``lq`` gets ``lq = noise(gt, camera, iso, strength)``
    under ``torch.no_grad()`` (``gt`` float ``(B, 3, H, W)`` in [0, 1]; ``camera``: B camera names as
    ``NMFlowGANGTDataset`` emits them (or codes), mapped with the noise model's own vocabulary; ``iso``:
    ``(B,)`` ISO values). What is absent from the batch, and the rows the dataset marks unknown
    (camera ``""``, ISO ``0``), are drawn from the distribution above. Batches that carry ``lq``
    (validation on real noisy/clean pairs, e.g. ``PairedImageDataset``) are used as given.

    Several GPUs (``torchrun --nproc_per_node N -m nmflowgan_aug.integrations.basicsr.train -opt ... --launcher
    pytorch``): each process loads the noise model on its own GPU (:attr:`noise_device`, ``cuda:<rank's
    device>``) and draws its own camera/ISO/strength and noise, since BasicSR seeds every process with
    ``manual_seed + rank``.

    Raises:
        ValueError: unknown keys in the ``nmflowgan`` block, or a distribution that does not fit the
            noise model (checked at construction).
    """

    def __init__(self, opt: dict) -> None:
        super().__init__(opt)
        options = dict(opt.get("nmflowgan") or {})
        unknown = sorted(set(options) - _OPTION_KEYS)
        if unknown:
            raise ValueError(f"unknown nmflowgan option(s) {unknown}; allowed: {sorted(_OPTION_KEYS)}")
        #: This process's device: BasicSR's ``cuda`` resolved to the GPU this rank was given (``torch.cuda.set_device``).
        self.noise_device = _rank_device(self.device)
        self.noise_model = frozen_model(options.get("model", DEFAULT_MODEL), self.noise_device)
        self.noise_quantize = bool(options.get("quantize", True))
        self.noise_clip = bool(options.get("clip", True))
        self.noise_sampler = ConditionSampler(**{v: options[k] for k, v in _SAMPLER_KEYS.items() if k in options})
        self.noise_sampler.allowed(self.noise_model.vocabulary)  # a bad distribution fails now, not mid-training

    @torch.no_grad()
    def feed_data(self, data: dict) -> None:
        """Set ``self.gt`` and ``self.lq``; in training, ``lq`` is ``gt`` with NM-FlowGAN noise added.

        Without ``is_train``, or for a batch that already holds ``lq``, BasicSR's ``feed_data`` takes the batch
        as is. Otherwise ``data["gt"]`` (float ``(B, 3, H, W)`` sRGB in [0, 1]) moves to ``self.noise_device``
        and gets the noise of its ``camera``/``iso`` (rows the dataset marks unknown are drawn from the sampler).
        """
        if not self.is_train or "lq" in data:
            super().feed_data(data)
            return
        self.gt = data["gt"].to(self.noise_device)
        camera, iso = _fill_unknown(self.noise_sampler, self.noise_model.vocabulary, data.get("camera"), data.get("iso"))
        self.lq = add_camera_noise(
            self.gt, camera, iso, model=self.noise_model, camera_iso_sampler=self.noise_sampler,
            quantize=self.noise_quantize, clip=self.noise_clip,
        ).noisy


def _rank_device(device: torch.device) -> torch.device:
    """``device`` with its index: plain ``cuda`` becomes ``cuda:<current device>`` (each BasicSR rank's own GPU)."""
    if device.type == "cuda" and device.index is None:
        return torch.device("cuda", torch.cuda.current_device())
    return device


def _fill_unknown(sampler: ConditionSampler, vocabulary: ConditionVocabulary, camera: Any, iso: Any) -> tuple[Any, Any]:
    """Replace the rows the dataset marks unknown (camera ``""``, ISO ``0``) with one draw from ``sampler``.

    The draw uses torch's global CPU RNG; nothing is drawn when no row is unknown.
    """
    unknown_camera = isinstance(camera, (list, tuple)) and UNKNOWN_CAMERA in camera
    unknown_iso = isinstance(iso, torch.Tensor) and bool((iso == UNKNOWN_ISO).any())
    if not (unknown_camera or unknown_iso):
        return camera, iso
    drawn = sampler.sample(vocabulary, len(camera) if unknown_camera else len(iso))
    if unknown_camera:
        camera = [vocabulary.cameras[int(d)] if c == UNKNOWN_CAMERA else c for c, d in zip(camera, drawn.camera_codes)]
    if unknown_iso:
        iso = torch.where(iso.cpu() == UNKNOWN_ISO, drawn.iso_values, iso.cpu())
    return camera, iso

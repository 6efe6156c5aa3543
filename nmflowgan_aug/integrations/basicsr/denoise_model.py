"""``NMFlowGANDenoiseModel``: a BasicSR ``SRModel`` whose training inputs get NM-FlowGAN noise on the fly."""

from __future__ import annotations

import torch
from basicsr.models.sr_model import SRModel
from basicsr.utils.registry import MODEL_REGISTRY

from ...condition_sampler import ConditionSampler
from ...functional import add_camera_noise
from ...pretrained import DEFAULT_MODEL
from ...pretrained._loading import frozen_model
from ...srgb import quantize_8bit
from ._compat import register_once

__all__ = ["NMFlowGANDenoiseModel"]

_SAMPLER_KEYS = {"cameras": "cameras", "isos": "isos", "iso_range": "iso_range", "camera_weights": "weights"}
_OPTION_KEYS = {"model", "quantize", *_SAMPLER_KEYS}


@register_once(MODEL_REGISTRY)
class NMFlowGANDenoiseModel(SRModel):
    """Denoiser training (``scale: 1``) with the noisy input synthesized on the model's device.

    Top-level option block ``nmflowgan`` (all optional):
        model (str): shipped name (default ``sidd``) or folder written by ``NMFlowGAN.save_pretrained``.
        quantize (bool): round the noisy input to 8-bit levels like a real sRGB capture (default true).
        cameras, isos, iso_range, camera_weights: distribution of camera/ISO for batches without
            ``camera``/``iso`` entries (see :class:`~nmflowgan_aug.condition_sampler.ConditionSampler`).

    ``feed_data``: while training, a batch without ``lq`` gets ``lq = noise(gt, camera, iso)`` under
    ``torch.no_grad()`` (``gt`` float ``(B, 3, H, W)`` in [0, 1]; ``camera``: B camera names as
    ``NMFlowGANGTDataset`` emits them (or codes), mapped with the noise model's own vocabulary; ``iso``:
    ``(B,)`` ISO values; both drawn when absent). Batches that carry ``lq`` (validation on real
    noisy/clean pairs, e.g. ``PairedImageDataset``) are used as given.

    Raises:
        ValueError: unknown keys in the ``nmflowgan`` block.
    """

    def __init__(self, opt: dict) -> None:
        super().__init__(opt)
        options = dict(opt.get("nmflowgan") or {})
        unknown = sorted(set(options) - _OPTION_KEYS)
        if unknown:
            raise ValueError(f"unknown nmflowgan option(s) {unknown}; allowed: {sorted(_OPTION_KEYS)}")
        self.noise_model = frozen_model(options.get("model", DEFAULT_MODEL), self.device)
        self.noise_quantize = bool(options.get("quantize", True))
        self.noise_sampler = ConditionSampler(**{v: options[k] for k, v in _SAMPLER_KEYS.items() if k in options})

    @torch.no_grad()
    def feed_data(self, data: dict) -> None:
        if not self.is_train or "lq" in data:
            super().feed_data(data)
            return
        self.gt = data["gt"].to(self.device)
        noisy, _, _ = add_camera_noise(
            self.gt, data.get("camera"), data.get("iso"), model=self.noise_model, camera_iso_sampler=self.noise_sampler
        )
        self.lq = quantize_8bit(noisy) if self.noise_quantize else noisy

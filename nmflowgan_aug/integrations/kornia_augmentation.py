"""kornia augmentation wrapper of :func:`nmflowgan_aug.functional.add_camera_noise`."""

from __future__ import annotations

from typing import Any

import torch
from kornia.augmentation import IntensityAugmentationBase2D
from kornia.augmentation.random_generator import RandomGeneratorBase

from ..condition_sampler import ConditionSampler
from ..functional import add_camera_noise
from ..pretrained import DEFAULT_MODEL
from ..pretrained._loading import ModelLike, frozen_model
from ..vocab import ConditionVocabulary

__all__ = ["NMFlowGANParamGenerator", "RandomNMFlowGANNoise"]


class NMFlowGANParamGenerator(RandomGeneratorBase):
    """Draws ``camera`` (codes), ``iso`` (ISO units) and ``seed``, int64 tensors ``(B,)``.

    Conditions come from ``sampler`` over ``vocabulary``; one seed is drawn per call (repeated per
    row), and the noise of the whole batch is drawn from a generator seeded with it. All draws use
    torch's global CPU RNG, so ``torch.manual_seed`` makes them reproducible.
    """

    def __init__(self, vocabulary: ConditionVocabulary, sampler: ConditionSampler) -> None:
        super().__init__()
        self.vocabulary = vocabulary
        self.sampler = sampler

    def make_samplers(self, device: torch.device, dtype: torch.dtype) -> None:
        """Nothing to build: draws happen on the CPU in :meth:`forward`."""

    def forward(self, batch_shape: tuple[int, ...], same_on_batch: bool = False) -> dict[str, torch.Tensor]:
        batch = batch_shape[0]
        cams, isos = self.sampler.sample(self.vocabulary, 1 if same_on_batch else batch)
        seed = torch.randint(0, 2**62, (1,))
        return {"camera": cams.expand(batch), "iso": isos.expand(batch), "seed": seed.expand(batch)}

    def extra_repr(self) -> str:
        return f"sampler={self.sampler}"


class RandomNMFlowGANNoise(IntensityAugmentationBase2D):
    """Add realistic NM-FlowGAN camera noise to clean sRGB images (a kornia augmentation).

    Input float sRGB in [0, 1], ``(B, 3, H, W)`` or ``(3, H, W)``, any device (move the module with
    ``.to(device)``); output the same dtype, noise not re-quantized. Masks, boxes and keypoints pass
    through. ``aug(x, params=aug._params)`` replays a call exactly; ``aug(x, camera=..., iso=...)``
    overrides the drawn camera/ISO (a name/code/value for the batch, or one per sample). Only the rows
    selected by ``p`` are computed, with :func:`~nmflowgan_aug.functional.add_camera_noise` on the
    params as drawn (nothing is drawn twice).

    Args:
        model: shipped name (default ``"sidd"``), saved-model folder, or an :class:`NMFlowGAN`.
        sampler: camera/ISO distribution (default :class:`ConditionSampler`: uniform cameras,
            log-uniform ISO).
        same_on_batch: one camera/ISO for the whole batch.
        p: probability to noise each sample (default 1.0: a denoiser pair always needs noise).
        keepdim: return ``(3, H, W)`` for ``(3, H, W)`` input.

    Raises:
        TypeError, ValueError: see :func:`~nmflowgan_aug.functional.add_camera_noise`; kornia itself
            rejects non-float input with TypeError.
    """

    def __init__(
        self,
        model: ModelLike = DEFAULT_MODEL,
        *,
        sampler: ConditionSampler | None = None,
        same_on_batch: bool = False,
        p: float = 1.0,
        keepdim: bool = False,
    ) -> None:
        super().__init__(p=p, same_on_batch=same_on_batch, keepdim=keepdim)
        self.noise_model = frozen_model(model)
        self._param_generator = NMFlowGANParamGenerator(self.noise_model.vocabulary, sampler or ConditionSampler())

    def apply_transform(
        self, input: torch.Tensor, params: dict[str, Any], flags: dict[str, Any], transform: torch.Tensor | None = None
    ) -> torch.Tensor:
        batch = input.shape[0]
        rows = torch.arange(batch)
        if not (self.p == 1.0 and self.p_batch == 1.0):  # kornia's own fast path ignores batch_prob then
            rows = rows[torch.as_tensor(params["batch_prob"]).cpu().reshape(-1) > 0.5]
        if rows.numel() == 0:
            return input
        seed = int(torch.as_tensor(params["seed"]).reshape(-1)[0])
        generator = torch.Generator(device=input.device).manual_seed(seed)
        camera, iso = (_rows(params[k], rows, batch, k) for k in ("camera", "iso"))
        index = rows.to(input.device)
        noisy, _, _ = add_camera_noise(input[index], camera, iso, model=self.noise_model, generator=generator)
        out = input.clone()
        out[index] = noisy
        return out


def _rows(value: Any, rows: torch.Tensor, batch: int, name: str) -> Any:
    """The entries of a per-sample ``value`` at ``rows`` (a tensor is indexed on its own device); a single
    name/code/value is kept as is."""
    if isinstance(value, (str, int, float)) or (isinstance(value, torch.Tensor) and value.ndim == 0):
        return value
    if len(value) != batch:
        raise ValueError(f"got {len(value)} {name} values for a batch of {batch}")
    if isinstance(value, torch.Tensor):
        return value[rows.to(value.device)]
    return [value[i] for i in rows.tolist()]

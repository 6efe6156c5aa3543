"""kornia augmentation wrapper of :func:`nmflowgan_aug.functional.add_camera_noise`."""

from __future__ import annotations

from typing import Any

import torch
from kornia.augmentation import IntensityAugmentationBase2D
from kornia.augmentation.random_generator import RandomGeneratorBase

from ..condition_sampler import ConditionSampler, strength_values
from ..functional import add_camera_noise
from ..pretrained import DEFAULT_MODEL
from ..pretrained._loading import ModelLike, frozen_model
from ..vocab import ConditionVocabulary

__all__ = ["NMFlowGANParamGenerator", "RandomNMFlowGANNoise"]


class NMFlowGANParamGenerator(RandomGeneratorBase):
    """Draws the parameters of :class:`RandomNMFlowGANNoise`.

    ``camera`` (codes), ``iso`` (ISO units) and ``seed``, int64 tensors ``(B,)``, and ``strength``,
    float32 ``(B,)``.

    Conditions and strength come from ``sampler`` over ``vocabulary``; one seed is drawn per call
    (repeated per row), and the noise of the whole batch is drawn from a generator seeded with it. All
    draws use torch's global CPU RNG, so ``torch.manual_seed`` makes them reproducible.
    """

    def __init__(self, vocabulary: ConditionVocabulary, sampler: ConditionSampler) -> None:
        super().__init__()
        self.vocabulary = vocabulary
        self.sampler = sampler

    def make_samplers(self, device: torch.device, dtype: torch.dtype) -> None:
        """Nothing to build: draws happen on the CPU in :meth:`forward`."""

    def forward(self, batch_shape: tuple[int, ...], same_on_batch: bool = False) -> dict[str, torch.Tensor]:
        """Draw ``camera``, ``iso``, ``strength`` and ``seed`` for ``batch_shape[0]`` images, ``(B,)`` each.

        With ``same_on_batch`` one condition and strength is drawn and repeated for every row.
        """
        batch = batch_shape[0]
        n = 1 if same_on_batch else batch
        cams, isos = self.sampler.sample(self.vocabulary, n)
        strength = self.sampler.sample_strength(n)
        seed = torch.randint(0, 2**62, (1,))
        return {
            "camera": cams.expand(batch), "iso": isos.expand(batch), "strength": strength.expand(batch),
            "seed": seed.expand(batch),
        }

    def extra_repr(self) -> str:
        """The sampler, for the module's repr."""
        return f"sampler={self.sampler}"


class RandomNMFlowGANNoise(IntensityAugmentationBase2D):
    """Add realistic NM-FlowGAN camera noise to clean sRGB images (a kornia augmentation).

    Input float sRGB in [0, 1], ``(B, 3, H, W)`` or ``(3, H, W)``, any device (move the module with
    ``.to(device)``); output the same dtype, rounded to 8-bit levels unless ``quantize=False``. Masks,
    boxes and keypoints pass through. ``aug(x, params=aug._params)`` replays a call exactly;
    ``aug(x, camera=..., iso=..., strength=...)`` overrides the drawn values (one for the batch, or one
    per sample; names, numpy values and ISO strings are accepted). ``aug._params`` always holds the same
    types, whatever their source: ``camera``/``iso``/``seed`` int64 ``(B,)``, ``strength`` float32
    ``(B,)``. Only the rows selected by ``p`` are computed, with
    :func:`~nmflowgan_aug.functional.add_camera_noise` on the params as drawn (nothing is drawn twice).

    Args:
        model: shipped name (default ``"sidd"``), saved-model folder, or an :class:`NMFlowGAN`.
        sampler: camera/ISO/strength distribution (default :class:`ConditionSampler`: uniform cameras,
            log-uniform ISO, strength 1).
        same_on_batch: one camera/ISO for the whole batch.
        p: probability to noise each sample (default 1.0: a denoiser pair always needs noise).
        keepdim: return ``(3, H, W)`` for ``(3, H, W)`` input.
        quantize: round the output to 8-bit levels (default True: real noisy sRGB images are 8-bit).
        clip: clamp the input to [0, 1] first (default True: resized images overshoot slightly).

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
        quantize: bool = True,
        clip: bool = True,
    ) -> None:
        super().__init__(p=p, same_on_batch=same_on_batch, keepdim=keepdim)
        self.noise_model = frozen_model(model)
        self._param_generator = NMFlowGANParamGenerator(self.noise_model.vocabulary, sampler or ConditionSampler())
        self.flags = {"quantize": quantize, "clip": clip}

    def forward(self, input: torch.Tensor, params: dict[str, Any] | None = None, **kwargs: Any) -> torch.Tensor:
        """Run the augmentation.

        ``camera``/``iso``/``strength`` given in ``params`` or as keyword arguments are validated and stored
        as tensors first, so ``_params`` has one type per key.
        """
        batch = input.shape[0] if input.ndim == 4 else 1
        vocabulary = self.noise_model.vocabulary
        normalize = {
            "camera": lambda v: vocabulary.camera_codes(v, batch),
            "iso": lambda v: vocabulary.iso_values(v, batch),
            "strength": lambda v: strength_values(v, batch),
        }
        kwargs = {k: normalize[k](v) if k in normalize else v for k, v in kwargs.items()}
        if params is not None:
            params = {k: normalize[k](v) if k in normalize else v for k, v in params.items()}
        return super().forward(input, params=params, **kwargs)

    def apply_transform(
        self, input: torch.Tensor, params: dict[str, Any], flags: dict[str, Any], transform: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Add noise to the rows of ``input`` ``(B, 3, H, W)`` that kornia selected (``batch_prob``).

        The noise of the batch comes from a generator seeded with ``params["seed"]``; the other rows are
        returned unchanged, in a copy of ``input``.
        """
        batch = input.shape[0]
        rows = torch.arange(batch)
        if not (self.p == 1.0 and self.p_batch == 1.0):  # kornia's own fast path ignores batch_prob then
            rows = rows[torch.as_tensor(params["batch_prob"]).cpu().reshape(-1) > 0.5]
        if rows.numel() == 0:
            return input
        seed = int(torch.as_tensor(params["seed"]).reshape(-1)[0])
        generator = torch.Generator(device=input.device).manual_seed(seed)
        camera, iso, strength = (params[k][rows.to(params[k].device)] for k in ("camera", "iso", "strength"))
        index = rows.to(input.device)
        noisy = add_camera_noise(
            input[index], camera, iso, strength=strength, model=self.noise_model, generator=generator,
            quantize=flags["quantize"], clip=flags["clip"],
        ).noisy
        out = input.clone()
        out[index] = noisy
        return out

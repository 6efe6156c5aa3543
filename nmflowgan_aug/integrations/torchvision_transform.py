"""torchvision ``transforms.v2`` wrapper of :func:`nmflowgan_aug.functional.add_camera_noise`.

Needs torchvision >= 0.21 (public ``make_params``/``transform``): ``pip install nmflowgan_aug[torchvision]``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Union

import numpy as np
import PIL.Image
import torch
from torchvision import tv_tensors
from torchvision.transforms import v2
from torchvision.transforms.v2.functional import is_pure_tensor

from ..condition_sampler import ConditionSampler
from ..functional import add_camera_noise
from ..model import NMFlowGAN
from ..pretrained import DEFAULT_MODEL
from ..pretrained._loading import ModelLike, frozen_model

__all__ = ["NMFlowGANNoise", "default_condition_getter"]

ConditionGetter = Union[str, Callable[[Any], tuple[Any, Any]], None]


def default_condition_getter(sample: Any) -> tuple[Any, Any]:
    """``(camera, iso)`` of a sample; ``None`` for what is missing.

    Read from the keys ``camera``/``iso`` (any case) of a dict sample or of the dict in an ``(image, dict)``
    tuple.
    """
    if isinstance(sample, (tuple, list)) and len(sample) == 2 and isinstance(sample[1], Mapping):
        sample = sample[1]
    if not isinstance(sample, Mapping):
        return None, None
    keys = {str(k).lower(): k for k in sample}
    return tuple(sample[keys[name]] if name in keys else None for name in ("camera", "iso"))


class NMFlowGANNoise(v2.Transform):
    """Add realistic NM-FlowGAN camera noise to clean sRGB images (a ``transforms.v2`` transform).

    Transforms ``tv_tensors.Image`` and plain tensors (torchvision's rule: the first plain tensor, only
    when the sample has no Image), ``(3, H, W)`` or batched ``(B, 3, H, W)``, float in [0, 1] or uint8
    in [0, 255], keeping type, dtype and device; boxes, masks, labels and other leaves pass through.
    Camera and ISO come from the sample (``condition_getter``) or are drawn from ``sampler`` (torch's
    global CPU RNG, only what the sample lacks), and so does the noise strength (``sampler.strength``);
    all images of one call share them and one noise ``seed`` (params ``camera``, ``iso``, ``strength``,
    ``seed``), and ``transform(x, params)`` replays exactly. With ``params_key`` the values used are
    returned in the sample.

    Fastest use: ``NMFlowGANNoise(path).to("cuda")`` on the batch after the DataLoader. Inside CPU
    DataLoader workers it also works (pickles without weights; each process reloads them on the CPU).

    Args:
        model: shipped name (default ``"sidd"``), saved-model folder, or an :class:`NMFlowGAN`
            (an in-memory model is pickled with its weights).
        sampler: distribution of camera/ISO missing from the sample and of the noise strength (default
            :class:`ConditionSampler`: strength 1; ``ConditionSampler(strength=(0.5, 1.5))`` for a range).
        condition_getter: ``"default"`` (:func:`default_condition_getter`), a picklable callable
            ``sample -> (camera, iso)`` (``None`` for what is missing), or ``None`` to always draw.
        pair_key: ``None`` returns the input structure with noisy images. A key such as ``"lq"``
            returns the clean sample plus the noisy image under that key for dict samples, and
            ``(noisy, clean)`` for a single image; put the transform last in a ``v2.Compose``.
        params_key: ``None``, or a key such as ``"noise_params"`` under which a dict sample gets the
            values used: ``{"camera": LongTensor codes, "iso": LongTensor ISO, "strength": float32
            tensor, "seed": int}`` (0-D for one image, ``(B,)`` for a batch; ``model.vocabulary.cameras
            [code]`` is the name), so they survive collation and can be logged or replayed.
        quantize: round float output to 8-bit levels (default True: real noisy sRGB images are 8-bit).
        clip: clamp float input to [0, 1] first (default True, as ``v2.GaussianNoise(clip=True)``):
            resized images overshoot slightly.

    Raises:
        TypeError: PIL or numpy input (convert with ``v2.ToImage()`` first), wrong dtype, a bad
            ``condition_getter``, or ``params_key`` with a sample that is not a dict.
        ValueError: see :func:`~nmflowgan_aug.functional.add_camera_noise`; a sample with no image; in
            pair mode a dict without exactly one transformed image, or one that already holds
            ``pair_key``; a sample that already holds ``params_key``.
    """

    _transformed_types = (is_pure_tensor, tv_tensors.Image, PIL.Image.Image, np.ndarray)

    def __init__(
        self,
        model: ModelLike = DEFAULT_MODEL,
        *,
        sampler: ConditionSampler | None = None,
        condition_getter: ConditionGetter = "default",
        pair_key: str | None = None,
        params_key: str | None = None,
        quantize: bool = True,
        clip: bool = True,
    ) -> None:
        super().__init__()
        if not (condition_getter in ("default", None) or callable(condition_getter)):
            raise TypeError(f"condition_getter must be 'default', a callable or None, got {condition_getter!r}")
        self.model_source = None if isinstance(model, NMFlowGAN) else str(model)
        self.noise_model = frozen_model(model)
        self.sampler = sampler or ConditionSampler()
        self.condition_getter = condition_getter
        self.pair_key = pair_key
        self.params_key = params_key
        self.quantize = quantize
        self.clip = clip
        self._sample_conditions: tuple[Any, Any] = (None, None)
        self._used: dict[str, Any] = {}

    @property
    def model(self) -> NMFlowGAN:
        """The noise model; loaded on the CPU on first use after unpickling."""
        if self._modules.get("noise_model") is None:
            self.noise_model = frozen_model(self.model_source)
        return self._modules["noise_model"]

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        if self.model_source is not None:
            state["_modules"] = {k: v for k, v in state["_modules"].items() if k != "noise_model"}
        return state

    def __repr__(self) -> str:  # compact: no child-module dump of the network
        source = self.model_source or "<in-memory NMFlowGAN>"
        return (
            f"{type(self).__name__}(model={source!r}, sampler={self.sampler}, "
            f"condition_getter={self.condition_getter!r}, pair_key={self.pair_key!r}, params_key={self.params_key!r}, "
            f"quantize={self.quantize}, clip={self.clip})"
        )

    def check_inputs(self, flat_inputs: list[Any]) -> None:
        """Refuse PIL images and numpy arrays with a ``TypeError`` that says how to convert them to tensors."""
        for x in flat_inputs:
            if isinstance(x, (PIL.Image.Image, np.ndarray)):
                kind = "PIL images" if isinstance(x, PIL.Image.Image) else f"numpy arrays (got one of shape {x.shape})"
                raise TypeError(
                    f"NMFlowGANNoise takes tensors, not {kind}; convert first with "
                    "v2.Compose([v2.ToImage(), v2.ToDtype(torch.float32, scale=True), ...])"
                )

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        """The parameters of one call: ``camera``, ``iso``, ``strength`` and the noise ``seed``.

        ``camera``/``iso`` come from the sample as given, else are drawn for B images (CPU LongTensors); the
        ``strength`` is float32 ``(B,)``, from ``sampler``; the noise ``seed`` is an int.

        Raises:
            ValueError: the sample holds no image to add noise to.
        """
        if not flat_inputs:
            raise ValueError(
                "the sample holds no image to add noise to (a tv_tensors.Image, or a plain tensor when there is no "
                "Image); NMFlowGANNoise would return it unchanged"
            )
        first = flat_inputs[0]
        batch = first.shape[0] if first.ndim == 4 else 1
        camera, iso = self.sampler.fill_missing(self.model.vocabulary, *self._sample_conditions, batch)
        strength = self.sampler.sample_strength(batch)
        return {"camera": camera, "iso": iso, "strength": strength, "seed": int(torch.randint(0, 2**62, ()))}

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        """Noisy copy of one image leaf (same type, dtype, device); ``params`` replay exactly."""
        x = inpt.as_subclass(torch.Tensor)
        generator = torch.Generator(device=x.device).manual_seed(params["seed"])
        strength = params["strength"] if x.ndim == 4 else params["strength"][0]
        out = add_camera_noise(
            x, params["camera"], params["iso"], strength=strength, model=self.model, generator=generator,
            quantize=self.quantize, clip=self.clip,
        )
        self._used = {"camera": out.camera, "iso": out.iso, "strength": out.strength, "seed": params["seed"]}
        return tv_tensors.wrap(out.noisy, like=inpt) if isinstance(inpt, tv_tensors.TVTensor) else out.noisy

    def forward(self, *inputs: Any) -> Any:
        """Read camera/ISO with ``condition_getter``, run the v2 machinery, then build the pair if asked."""
        sample = inputs if len(inputs) > 1 else inputs[0]
        getter = default_condition_getter if self.condition_getter == "default" else self.condition_getter
        self._sample_conditions = (None, None) if getter is None else tuple(getter(sample))
        if self.params_key is not None:
            if not isinstance(sample, Mapping):
                raise TypeError(
                    f"params_key needs a dict sample, got {type(sample).__name__}; for tensors call "
                    "nmflowgan_aug.add_camera_noise, which returns the values it used"
                )
            if self.params_key in sample:
                raise ValueError(f"the sample already has a {self.params_key!r} entry; choose another params_key")
        try:
            out = super().forward(*inputs)
        finally:
            self._sample_conditions = (None, None)
        out = out if self.pair_key is None else _pair(sample, out, self.pair_key)
        return out if self.params_key is None else {**out, self.params_key: self._used}


def _pair(clean: Any, noisy: Any, key: str) -> Any:
    if isinstance(clean, torch.Tensor):
        return noisy, clean
    if not isinstance(clean, Mapping):
        raise TypeError(f"pair_key mode needs a dict sample or a single image, got {type(clean).__name__}")
    if key in clean:
        raise ValueError(f"the sample already has a {key!r} entry; choose another pair_key")
    changed = [k for k, v in clean.items() if isinstance(v, torch.Tensor) and noisy[k] is not v]
    if len(changed) != 1:
        raise ValueError(f"pair_key mode needs exactly one image in the dict sample, found {changed}")
    return {**clean, key: noisy[changed[0]]}

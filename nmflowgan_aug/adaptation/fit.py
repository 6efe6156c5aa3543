"""Fine-tune a new camera on a few noisy/clean pairs: only the numbers that camera owns are trained.

:func:`adapt_camera` adds the camera to the model's vocabulary (:func:`~.new_camera.add_camera`), starting it
from the existing camera whose noise is closest on the given pairs (lowest NLL on patches of the pairs, each at
its own ISO), and then minimises the NLL of the flow (reference §1.6, as in training) on random patches of the
pairs, over the camera's :func:`~.new_camera.camera_slots` only: its input columns of the SAL meta encoders and
its CL2 rows. Every other weight is frozen, so the other cameras keep their noise bit for bit; the shared
spatial-correlation kernel can be trained as well (``train_spatial``), which changes every camera's noise.

The whole model stays in eval mode while it is fine-tuned, so the BatchNorm layers of the meta encoders use
their running statistics and do not update them: every patch of an adaptation batch carries the same camera
(and one or a few ISOs), so batch statistics of the embedding would be degenerate (zero variance across the
batch erases the camera from it), and updated running statistics would change the noise of every camera.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch
from tqdm.auto import tqdm

from ..data.sidd import ImagePair
from ..model import NMFlowGAN
from ..model.flow import standard_normal_log_prob
from .new_camera import CameraSlot, add_camera, camera_slots, check_adaptable

__all__ = ["AdaptationResult", "AdaptationSettings", "adapt_camera"]

#: Values of ``AdaptationSettings.init_from`` besides an existing camera's name.
INIT_CHOICES = ("closest", "mean")


def _check_int(value: object, key: str, low: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise ValueError(f"{key} must be an int >= {low}, got {value!r}")


@dataclass(frozen=True)
class AdaptationSettings:
    """How a new camera is fine-tuned.

    Attributes:
        steps: optimiser steps (Adam, learning rate decayed to 0 along a cosine), an int >= 1.
        patch_size: side of the square training and evaluation patches in pixels, an int >= 16 and at most the
            smallest pair (the shipped models were trained on 96×96 patches).
        batch_size: patches per step, an int >= 1.
        lr: Adam learning rate, a finite number > 0.
        init_from: ``"closest"`` (the existing camera with the lowest NLL on the adaptation patches, each at its
            own ISO), ``"mean"`` (the mean of every existing camera's entries) or an existing camera's name.
        train_spatial: also train the spatial-correlation kernel (a model with ``spatial_kernel > 0`` only).
            It is shared by all cameras: training it changes the noise of every camera.
        eval_patches: how many fixed patches of the pairs measure the adaptation-set NLL (before/after and for
            ``"closest"``), an int >= 1; a grid of non-overlapping patches, evenly thinned to this count.
        seed: seed of the patch draws and of the dequantization noise.

    Raises:
        ValueError: a value of the wrong type or outside its range (the message names the field).
    """

    steps: int = 200
    patch_size: int = 64
    batch_size: int = 8
    lr: float = 0.05
    init_from: str = "closest"
    train_spatial: bool = False
    eval_patches: int = 32
    seed: int = 0

    def __post_init__(self) -> None:
        _check_int(self.steps, "steps", 1)
        _check_int(self.patch_size, "patch_size", 16)
        _check_int(self.batch_size, "batch_size", 1)
        _check_int(self.eval_patches, "eval_patches", 1)
        _check_int(self.seed, "seed", 0)
        number = isinstance(self.lr, (int, float)) and not isinstance(self.lr, bool)
        if not (number and math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a finite number > 0, got {self.lr!r}")
        if not isinstance(self.init_from, str) or not self.init_from:
            choices = " or ".join(map(repr, INIT_CHOICES))
            raise ValueError(f"init_from must be {choices} or a camera name, got {self.init_from!r}")
        if not isinstance(self.train_spatial, bool):
            raise ValueError(f"train_spatial must be True or False, got {self.train_spatial!r}")


@dataclass
class AdaptationResult:
    """A fine-tuned model with a new camera, and what was done to make it.

    Attributes:
        model: the model with the new camera (last in its vocabulary), in eval mode.
        camera: the new camera's name.
        init_cameras: the existing cameras whose entries the new camera started from.
        camera_nll: NLL on the adaptation patches of each existing camera, bits per dimension (lower is better):
            how well the base model already explains the pairs (the ``"closest"`` choice is its minimum).
        nll_before, nll_after: NLL of the new camera on the same patches (same dequantization noise) before and
            after fine-tuning, bits per dimension.
        nll_patches: how many patches these NLLs are measured on.
        pairs: ``(name, ISO)`` of the adaptation pairs.
        trained: the trained entries, as ``parameter[positions]`` descriptions.
        settings: the settings used.
        seconds: wall-clock time of the fine-tuning steps.
    """

    model: NMFlowGAN
    camera: str
    init_cameras: tuple[str, ...]
    camera_nll: dict[str, float]
    nll_before: float
    nll_after: float
    nll_patches: int
    pairs: tuple[tuple[str, int], ...]
    trained: tuple[str, ...]
    settings: AdaptationSettings
    seconds: float

    @property
    def closest_camera(self) -> str:
        """The existing camera with the lowest adaptation-set NLL (the best base camera for these pairs)."""
        return min(self.camera_nll, key=self.camera_nll.get)

    def to_dict(self) -> dict:
        """Everything but the model, as JSON-ready values (saved in the adapted model's ``config.json``)."""
        return {
            "camera": self.camera, "init_cameras": list(self.init_cameras), "camera_nll_bpd": self.camera_nll,
            "nll_before_bpd": self.nll_before, "nll_after_bpd": self.nll_after, "nll_patches": self.nll_patches,
            "pairs": [{"name": name, "iso": iso} for name, iso in self.pairs], "trained": list(self.trained),
            "settings": asdict(self.settings), "seconds": self.seconds,
        }  # fmt: skip


@dataclass(frozen=True)
class _Pairs:
    """Adaptation pairs in memory: uint8 ``(3, H, W)`` clean and noisy images and their ISO values."""

    clean: list[torch.Tensor]
    noisy: list[torch.Tensor]
    isos: list[int]


def _load_pairs(pairs: Sequence[ImagePair], camera: str, model: NMFlowGAN, patch_size: int) -> _Pairs:
    """Check the pairs' metadata against ``camera`` and the model's ISO range, then read their pixels.

    Raises:
        ValueError: no pairs; a pair whose camera is not ``camera`` (the manifest's camera column must name the
            new camera on every row); a pair without ISO or with an ISO the model does not accept (the message
            gives the trained range); a pair smaller than ``patch_size`` (checked after reading).
        FileNotFoundError: a missing image file.
    """
    if not pairs:
        raise ValueError("no adaptation pairs given; at least one noisy/clean pair of the new camera is needed")
    for pair in pairs:
        if pair.camera != camera:
            raise ValueError(f"pair {pair.name!r} has camera {pair.camera!r}, but the camera being added is "
                             f"{camera!r}; every pair must be of that camera (the manifest's camera column)")
        if pair.iso is None:
            raise ValueError(f"pair {pair.name!r} has no ISO; every adaptation pair needs one (manifest column iso)")
        try:
            model.vocabulary.iso_values(pair.iso, 1)
        except ValueError as err:
            raise ValueError(f"pair {pair.name!r}: {err}") from None
    clean, noisy = [], []
    for pair in pairs:
        c, n = (torch.from_numpy(a.copy()).permute(2, 0, 1).contiguous() for a in pair.load())
        if min(c.shape[1:]) < patch_size:
            raise ValueError(f"pair {pair.name!r} is {c.shape[1]}×{c.shape[2]} pixels, smaller than the patch size "
                             f"{patch_size}; use a smaller patch size")
        clean.append(c)
        noisy.append(n)
    return _Pairs(clean, noisy, [int(p.iso) for p in pairs])


def _patch_batch(data: _Pairs, where: list[tuple[int, int, int]], size: int, device: torch.device):
    """Clean and noisy patches in 8-bit levels (float) ``(B, 3, size, size)`` and their ISOs ``(B,)``."""
    clean = torch.stack([data.clean[i][:, y : y + size, x : x + size] for i, y, x in where]).to(device).float()
    noisy = torch.stack([data.noisy[i][:, y : y + size, x : x + size] for i, y, x in where]).to(device).float()
    isos = torch.tensor([data.isos[i] for i, _, _ in where], device=device)
    return clean, noisy, isos


def _grid(data: _Pairs, size: int, count: int) -> list[tuple[int, int, int]]:
    """``count`` evenly spread positions ``(pair, y, x)`` of the non-overlapping ``size`` grid of every pair."""
    cells = [(i, y, x) for i, img in enumerate(data.clean)
             for y in range(0, img.shape[1] - size + 1, size)
             for x in range(0, img.shape[2] - size + 1, size)]  # fmt: skip
    if len(cells) <= count:
        return cells
    return [cells[int(j)] for j in torch.linspace(0, len(cells) - 1, count).round().long()]


def _random_positions(data: _Pairs, size: int, batch: int, generator: torch.Generator) -> list[tuple[int, int, int]]:
    where = []
    for i in torch.randint(len(data.clean), (batch,), generator=generator).tolist():
        h, w = data.clean[i].shape[1:]
        y, x = (int(torch.randint(n - size + 1, (1,), generator=generator)) for n in (h, w))
        where.append((i, y, x))
    return where


@torch.no_grad()
def _nll_bpd(model: NMFlowGAN, data: _Pairs, where, code: int, settings: AdaptationSettings) -> float:
    """Mean NLL of the patches at ``where`` as camera ``code``, bits per dimension; fixed dequantization noise."""
    device = next(model.parameters()).device
    generator = torch.Generator(device).manual_seed(settings.seed)
    total = 0.0
    for start in range(0, len(where), settings.batch_size):
        clean, noisy, isos = _patch_batch(data, where[start : start + settings.batch_size], settings.patch_size, device)
        cams = torch.full_like(isos, code)
        total += float(model.log_prob_levels(noisy, clean, cams, isos, generator).sum())
    return -total / (len(where) * 3 * settings.patch_size**2 * math.log(2.0))


def _spatial_slot(model: NMFlowGAN) -> CameraSlot:
    spatial = model.flow.spatial
    if spatial is None:
        raise ValueError("train_spatial needs a model with a spatial-correlation layer (spatial_kernel > 0); "
                         f"this model has spatial_kernel={model.config.spatial_kernel}")
    name = next(n for n, m in model.flow.named_modules() if m is spatial)
    return CameraSlot(f"{name}.weight", 0, tuple(range(spatial.weight.shape[0])))


def _fit(model: NMFlowGAN, slots: list[CameraSlot], data: _Pairs, code: int, settings: AdaptationSettings,
         progress: bool) -> None:
    """Fine-tune the entries of ``slots`` only, then write them back into the model.

    Adam with a cosine learning-rate decay to 0 over the steps; the flow runs with functional overrides of its
    frozen parameters in which only the slot entries are trainable tensors.
    """
    flow = model.flow
    device = next(model.parameters()).device
    params = dict(flow.named_parameters())
    index = {s.name: torch.tensor(s.index, device=device) for s in slots}
    leaves = {s.name: params[s.name].detach().index_select(s.dim, index[s.name]).clone().requires_grad_()
              for s in slots}
    optimizer = torch.optim.Adam(leaves.values(), lr=settings.lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, settings.steps)
    positions = torch.Generator().manual_seed(settings.seed)
    dequantization = torch.Generator(device).manual_seed(settings.seed + 1)
    flow.requires_grad_(False)  # gradients reach the leaves only (no backward through the frozen subnetworks)
    bar = tqdm(range(settings.steps), desc="adapting", disable=not progress, leave=False)
    for _ in bar:
        where = _random_positions(data, settings.patch_size, settings.batch_size, positions)
        clean, noisy, isos = _patch_batch(data, where, settings.patch_size, device)
        overrides = {s.name: params[s.name].detach().index_copy(s.dim, index[s.name], leaves[s.name]) for s in slots}
        cond = model.condition(clean, torch.full_like(isos, code), isos, dequantization)
        z, log_det = torch.func.functional_call(flow, overrides, (noisy, cond, dequantization))
        nll = -(standard_normal_log_prob(z) + log_det).mean()
        optimizer.zero_grad(set_to_none=True)
        nll.backward()
        optimizer.step()
        schedule.step()
        bar.set_postfix(nll_bpd=f"{float(nll.detach()) / (z[0].numel() * math.log(2.0)):.4f}")
    flow.requires_grad_(True)
    with torch.no_grad():
        for s in slots:
            params[s.name].index_copy_(s.dim, index[s.name], leaves[s.name])


def _describe(slot: CameraSlot, model: NMFlowGAN) -> str:
    """``flow.<name> rows [6] (3 values)``, or ``flow.<name> (all 75 values)`` for a whole parameter."""
    shape = dict(model.flow.named_parameters())[slot.name].shape
    if slot.size == shape[slot.dim]:
        return f"flow.{slot.name} (all {math.prod(shape)} values)"
    what = "columns" if slot.dim == 1 else "rows"
    return f"flow.{slot.name} {what} {list(slot.index)} ({slot.size * math.prod(shape) // shape[slot.dim]} values)"


def adapt_camera(
    model: NMFlowGAN,
    pairs: Sequence[ImagePair],
    camera: str,
    settings: AdaptationSettings | None = None,
    *,
    progress: bool = True,
) -> AdaptationResult:
    """Add ``camera`` to ``model`` and fine-tune it on a few noisy/clean pairs of that camera (module docstring).

    Every check (camera name, encoding, pairs, ISO range, image sizes) runs before any fine-tuning.

    Args:
        model: the base model (``log`` or ``log_camera`` ISO encoding, with or without a U-Net); not changed.
        pairs: noisy/clean sRGB pairs of the new camera (:class:`~nmflowgan_aug.data.sidd.ImagePair`, e.g. from
            :func:`~nmflowgan_aug.data.sidd.read_pairs_manifest`), each with its ISO; camera ``camera``.
        camera: the new camera's name (not in the model's vocabulary).
        settings: see :class:`AdaptationSettings` (default: its defaults).
        progress: show a tqdm progress bar of the steps.

    Returns:
        The adapted model (on ``model``'s device, eval mode) and the record of the adaptation.

    Raises:
        ValueError: a one-hot ISO model, a camera name already in the vocabulary, a bad ``init_from``, a pair of
            another camera, without ISO or with an ISO outside the model's trained range, a pair smaller than
            the patch size, or ``train_spatial`` without a spatial layer.
        FileNotFoundError: a missing image file.
    """
    settings = settings or AdaptationSettings()
    pairs = list(pairs)
    check_adaptable(model)
    model.vocabulary.with_camera(camera)  # validates the name
    cameras = model.vocabulary.cameras
    if settings.init_from not in (*INIT_CHOICES, *cameras):
        raise ValueError(f"init_from must be one of {list(INIT_CHOICES)} or an existing camera {list(cameras)}, "
                         f"got {settings.init_from!r}")
    if settings.train_spatial:
        _spatial_slot(model)
    data = _load_pairs(pairs, camera, model, settings.patch_size)
    was_training = model.training
    model.eval()
    try:
        where = _grid(data, settings.patch_size, settings.eval_patches)
        camera_nll = {name: _nll_bpd(model, data, where, code, settings) for code, name in enumerate(cameras)}
    finally:
        model.train(was_training)
    if settings.init_from == "closest":
        init = (min(camera_nll, key=camera_nll.get),)
    else:
        init = cameras if settings.init_from == "mean" else (settings.init_from,)
    adapted = add_camera(model, camera, init).eval()
    code = len(cameras)
    slots = camera_slots(adapted, camera) + ([_spatial_slot(adapted)] if settings.train_spatial else [])
    nll_before = _nll_bpd(adapted, data, where, code, settings)
    start = time.monotonic()
    _fit(adapted, slots, data, code, settings, progress)
    seconds = time.monotonic() - start
    return AdaptationResult(
        model=adapted, camera=camera, init_cameras=tuple(init), camera_nll=camera_nll, nll_before=nll_before,
        nll_after=_nll_bpd(adapted, data, where, code, settings), nll_patches=len(where),
        pairs=tuple((p.name, int(p.iso)) for p in pairs),
        trained=tuple(_describe(s, adapted) for s in slots), settings=settings, seconds=seconds,
    )  # fmt: skip

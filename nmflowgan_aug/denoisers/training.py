"""Training a DnCNN on noisy inputs synthesized on the fly (or on real noisy pairs), and denoising with it.

The NM-FlowGAN denoising protocol (reference §5.3): DnCNN, L2 loss, Adam, clean patches whose noisy
inputs a noise model synthesizes for each step, a step learning-rate schedule. With the same settings
and seed, every noise source sees the same clean patches in the same order and the same DnCNN
initialisation, so that trained denoisers differ only by the noise.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..baselines.base import NoiseModel
from ..srgb import quantize_8bit
from .dncnn import DnCNN
from .patch_sampler import PatchSampler, TrainImages

__all__ = ["DnCNNTrainingSettings", "denoise_blocks", "step_lr", "train_dncnn"]


@dataclass(frozen=True)
class DnCNNTrainingSettings:
    """Settings of :func:`train_dncnn` (defaults: the official protocol, for a GPU).

    Attributes:
        layers: DnCNN convolution layers (official 18).
        features: DnCNN hidden channels (official 64).
        batch_size: patches per iteration (official 128).
        patch_size: square patch side in pixels (official 96).
        iters: training iterations.
        lr: Adam learning rate (official 1e-4).
        lr_halvings: halve the lr this many times at evenly spaced points (:func:`step_lr`; official 5,
            i.e. every 5 of 30 epochs).
        augment: random flips and 90° rotations of the patches (off in the official protocol).
        seed: seed of the DnCNN initialisation, the patch sequence and the noise generator (``seed + 1``).
        quantize: round synthetic noisy inputs to 8-bit levels like real captures (default False: the
            official protocol feeds the unrounded float output; the benchmark CLI quantizes by default).
        time_synthesis: synchronize the device after each synthesis so that its reported time is exact.

    Raises:
        ValueError: a size or count below 1, ``lr <= 0`` or ``lr_halvings < 0`` (the message names it).
    """

    layers: int = 18
    features: int = 64
    batch_size: int = 128
    patch_size: int = 96
    iters: int = 60000
    lr: float = 1e-4
    lr_halvings: int = 5
    augment: bool = False
    seed: int = 0
    quantize: bool = False
    time_synthesis: bool = False

    def __post_init__(self) -> None:
        for key in ("layers", "features", "batch_size", "patch_size", "iters"):
            if getattr(self, key) < 1:
                raise ValueError(f"{key} must be >= 1, got {getattr(self, key)}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if self.lr_halvings < 0:
            raise ValueError(f"lr_halvings must be >= 0, got {self.lr_halvings}")


def step_lr(iteration: int, lr: float, halvings: int, iters: int) -> float:
    """Learning rate at ``iteration`` of ``iters``: ``lr`` halved ``halvings`` times at evenly spaced points.

    The run is cut into ``halvings + 1`` equal phases; phase ``k`` uses ``lr / 2**k``.
    """
    if halvings <= 0:
        return lr
    phase = min(halvings, iteration * (halvings + 1) // max(iters, 1))
    return lr * 0.5**phase


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _to_unit(x: torch.Tensor, device: torch.device) -> torch.Tensor:
    return x.to(device, non_blocking=True).float().div_(255.0)


def train_dncnn(
    images: TrainImages,
    settings: DnCNNTrainingSettings,
    device: torch.device,
    noise_model: NoiseModel | None = None,
    conditions: Sequence[tuple[str, int]] | None = None,
    *,
    checkpoints: Sequence[int] = (),
    on_checkpoint: Callable[[int, DnCNN], None] | None = None,
    desc: str = "train DnCNN",
    progress: bool = True,
) -> tuple[DnCNN, dict]:
    """Train one DnCNN (L2 loss, Adam) on patches of ``images``.

    Args:
        images: training images (uint8 clean, and real noisy unless a noise model synthesizes the inputs).
        settings: sizes, schedule and seed.
        device: where to train (CPU or CUDA).
        noise_model: a :class:`~nmflowgan_aug.baselines.NoiseModel` that synthesizes the noisy inputs
            from the clean patches (sRGB in [0, 1]); None trains on the real noisy patches.
        conditions: ``(camera, ISO)`` per image to synthesize with (e.g. mapped into a model's
            vocabulary); default ``images.conditions``.
        checkpoints: iterations (1..``settings.iters``) after which ``on_checkpoint`` is called.
        on_checkpoint: ``on_checkpoint(iteration, model)`` with the model in eval mode (e.g. to score it); the
            training continues afterwards, unchanged.
        desc: label of the progress bar.
        progress: show a tqdm bar.

    Returns:
        The trained DnCNN (eval mode) and ``{"train_seconds", "synthesis_seconds", "final_loss"}``
        (final loss: mean of the last 10 % of the iterations; the times leave out the checkpoints).

    Raises:
        ValueError: ``conditions`` of another length than ``images``, real noisy inputs requested from
            clean-only images, or a checkpoint outside 1..iters.
    """
    conditions = images.conditions if conditions is None else list(conditions)
    if len(conditions) != len(images.clean):
        raise ValueError(f"got {len(conditions)} conditions for {len(images.clean)} training images")
    if noise_model is None and images.noisy is None:
        raise ValueError("training on real noisy inputs needs images with noisy partners; these are clean only")
    bad = [c for c in checkpoints if not 1 <= c <= settings.iters]
    if bad:
        raise ValueError(f"checkpoints must be iterations in 1..{settings.iters}, got {bad}")
    torch.manual_seed(settings.seed)
    model = DnCNN(3, settings.layers, settings.features).to(device)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=settings.lr, betas=(0.9, 0.999))
    sampler = PatchSampler(images, settings.patch_size, settings.augment, settings.seed)
    noise_gen = torch.Generator(device=device).manual_seed(settings.seed + 1)
    losses: list[float] = []
    synth_s = checkpoint_s = 0.0
    _sync(device)
    t0 = time.perf_counter()
    bar = tqdm(range(settings.iters), desc=desc, disable=None if progress else True)
    for it in bar:
        for g in opt.param_groups:
            g["lr"] = step_lr(it, settings.lr, settings.lr_halvings, settings.iters)
        clean_u8, noisy_u8, idx = sampler.batch(settings.batch_size)
        clean = _to_unit(clean_u8, device)
        if noise_model is None:
            noisy = _to_unit(noisy_u8, device)
        else:
            ts = time.perf_counter()
            cams = [conditions[i][0] for i in idx]
            isos = [conditions[i][1] for i in idx]
            with torch.inference_mode():
                noisy = noise_model.sample(clean, cams, isos, generator=noise_gen).clamp(0.0, 1.0)
                if settings.quantize:
                    noisy = quantize_8bit(noisy)
            noisy = noisy.clone()  # a normal tensor (inference tensors cannot be saved for backward)
            if settings.time_synthesis:
                _sync(device)
            synth_s += time.perf_counter() - ts
        loss = F.mse_loss(model(noisy), clean)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
        if it % 10 == 0:
            bar.set_postfix(loss=f"{np.mean(losses[-10:]):.2e}")
        if it + 1 in checkpoints and on_checkpoint is not None:
            tc = time.perf_counter()
            on_checkpoint(it + 1, model.eval())
            model.train()
            checkpoint_s += time.perf_counter() - tc
    _sync(device)
    train_s = time.perf_counter() - t0 - checkpoint_s
    tail = losses[-max(1, len(losses) // 10) :]
    info = {
        "train_seconds": round(train_s, 2),
        "synthesis_seconds": round(synth_s, 2) if noise_model is not None else 0.0,
        "final_loss": float(np.mean(tail)) if tail else float("nan"),
    }
    return model.eval(), info


@torch.inference_mode()
def denoise_blocks(
    model: torch.nn.Module, blocks: np.ndarray, device: torch.device, batch: int, desc: str = "denoise",
    progress: bool = True,
) -> np.ndarray:
    """Denoise uint8 ``(N, H, W, 3)`` sRGB blocks; returns uint8 of the same shape (clipped, rounded to 8 bits).

    Args:
        model: a denoiser mapping float sRGB ``(B, 3, H, W)`` in [0, 1] to its estimate.
        blocks: noisy blocks, 8-bit levels.
        device: where to run the model.
        batch: blocks per forward pass.
        desc: label of the progress bar.
        progress: show a tqdm bar.
    """
    model.eval()
    out = np.empty_like(blocks)
    for s in tqdm(range(0, len(blocks), batch), desc=desc, leave=False, disable=None if progress else True):
        x = torch.from_numpy(blocks[s : s + batch]).permute(0, 3, 1, 2).to(device).float() / 255.0
        y = model(x).clamp_(0.0, 1.0).mul_(255.0).round_().to(torch.uint8)
        out[s : s + batch] = y.permute(0, 2, 3, 1).cpu().numpy()
    return out

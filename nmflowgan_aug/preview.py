"""See the noise before training with it: :func:`preview_noise` and :func:`write_preview`.

One clean image across cameras and ISOs, as a grid: the noisy image, an enlarged crop of it, and the
noise alone (amplified around mid-grey), so a user can judge the model on their own images. Console
script: ``nmflowgan-preview`` (:mod:`nmflowgan_aug.cli.preview`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from .model import NMFlowGAN
from .tiling import synthesize_tiled

__all__ = ["PreviewRow", "preview_noise", "write_preview"]


@dataclass(frozen=True)
class PreviewRow:
    """One (camera, ISO) of a preview: float sRGB images ``(3, h, w)`` in [0, 1].

    Attributes:
        camera, iso: the condition (camera name, ISO units).
        noisy: the whole noisy image.
        crop: the crop of ``noisy``.
        noise: the crop's noise ``noisy − clean``, shown as ``0.5 + gain · noise``.
    """

    camera: str
    iso: int
    noisy: torch.Tensor
    crop: torch.Tensor
    noise: torch.Tensor


def _crop_box(h: int, w: int, crop: tuple[int, int, int] | None) -> tuple[int, int, int]:
    """``(top, left, size)``: the given crop, or a centred square of a quarter of the shorter side (>= 32 px)."""
    if crop is None:
        size = min(h, w, max(32, min(h, w) // 4))
        return (h - size) // 2, (w - size) // 2, size
    top, left, size = crop
    if size < 1 or top < 0 or left < 0 or top + size > h or left + size > w:
        raise ValueError(f"crop (top={top}, left={left}, size={size}) does not fit in the {h}×{w} image")
    return top, left, size


def preview_noise(
    model: NMFlowGAN,
    image: torch.Tensor,
    cameras: Sequence[str],
    isos: Sequence[int],
    *,
    strength: float = 1.0,
    crop: tuple[int, int, int] | None = None,
    gain: float = 4.0,
    seed: int = 0,
    tile: int = 512,
) -> list[PreviewRow]:
    """Noisy versions of ``image`` for every (camera, ISO), with a crop and the amplified noise.

    Args:
        model: the noise model (its device is used).
        image: clean sRGB in [0, 1], float ``(3, H, W)``, any size (tiled, see
            :func:`~nmflowgan_aug.tiling.synthesize_tiled`).
        cameras: camera names, each allowed by the model.
        isos: ISO values (ISO units), each allowed by the model.
        strength: noise strength (1 = the model's noise).
        crop: ``(top, left, size)`` in pixels; default a centred square.
        gain: the noise is shown as ``0.5 + gain · noise`` (clipped to [0, 1]).
        seed: noise seed (the same for every row, so rows differ only by camera and ISO).
        tile: tile size for large images.

    Returns:
        One :class:`PreviewRow` per (camera, ISO), cameras outermost.

    Raises:
        ValueError, TypeError: an empty camera/ISO list, a crop outside the image, or what
            :func:`~nmflowgan_aug.tiling.synthesize_tiled` raises (unknown camera, unsupported ISO, ...).
    """
    if not cameras or not isos:
        raise ValueError(f"give at least one camera and one ISO, got cameras={list(cameras)}, isos={list(isos)}")
    top, left, size = _crop_box(image.shape[-2], image.shape[-1], crop)
    for camera in cameras:  # validate every condition before any noise is made
        model.encode_conditions(camera, list(isos), len(isos), torch.device("cpu"))
    device = next(model.parameters()).device
    clean = image.to(device)
    rows = []
    for camera in cameras:
        for iso in isos:
            noisy = synthesize_tiled(model, clean, camera, iso, strength=strength, tile=tile,
                                     generator=torch.Generator(device).manual_seed(seed)).cpu()
            window = (..., slice(top, top + size), slice(left, left + size))
            noise = noisy[window] - image[window].cpu()
            rows.append(PreviewRow(camera, int(iso), noisy, noisy[window], (0.5 + gain * noise).clamp(0, 1)))
    return rows


def write_preview(
    path: str | os.PathLike,
    model: NMFlowGAN,
    image: torch.Tensor,
    cameras: Sequence[str],
    isos: Sequence[int],
    *,
    title: str = "",
    **kwargs,
) -> Path:
    """Draw :func:`preview_noise` as a grid and save it (PNG, PDF, ... by suffix).

    First row: the clean image and crop; then one row per camera/ISO: noisy image, enlarged crop,
    amplified noise.

    ``kwargs`` go to :func:`preview_noise`. Needs matplotlib.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = preview_noise(model, image, cameras, isos, **kwargs)
    gain = kwargs.get("gain", 4.0)
    top, left, size = _crop_box(image.shape[-2], image.shape[-1], kwargs.get("crop"))
    fig, axes = plt.subplots(len(rows) + 1, 3, figsize=(9, 3 * (len(rows) + 1)), squeeze=False)

    def show(ax, img, label):
        ax.imshow(img.permute(1, 2, 0).clamp(0, 1).numpy(), interpolation="nearest")
        ax.set_title(label, fontsize=9)
        ax.axis("off")

    show(axes[0][0], image.cpu(), "clean")
    show(axes[0][1], image.cpu()[..., top : top + size, left : left + size], f"clean crop ({size}×{size} px)")
    axes[0][2].axis("off")
    for ax_row, row in zip(axes[1:], rows):
        show(ax_row[0], row.noisy, f"{row.camera}, ISO {row.iso}")
        show(ax_row[1], row.crop, "noisy crop")
        show(ax_row[2], row.noise, f"noise ×{gain:g} around grey")
    fig.suptitle(title or "NM-FlowGAN noise preview")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path

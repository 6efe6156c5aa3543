"""Noise for images of any size with bounded memory: :func:`synthesize_tiled`.

The model's noise at a pixel depends on a neighbourhood of the clean image (the SAL layer sees 9×9
pixels, the SDL normalises over the image it is given) and the U-Net spreads it further. Cutting an
image into independent tiles would leave seams: different normalisation statistics and, worse, no
spatial correlation across a border. So the two stages are tiled differently:

1. **Flow.** Each tile is sampled with a context margin of clean pixels around it and only its centre
   is kept; the margin gives every kept pixel its full SAL neighbourhood and SDL statistics over a wide
   window. The flow's latent ``z`` is drawn once for the whole image and each tile takes its window of
   it, so a flow with a spatial-correlation layer (a k×k convolution of ``z``, k ≤ 2·margin + 1)
   correlates pixels across a tile border exactly as inside a tile.
2. **U-Net (spatial correlation).** It runs on the assembled noise map of the *whole* image, tile by
   tile with a wide margin (a multiple of the U-Net's pooling grid, so tiles share the untiled grid),
   keeping centres. Correlation is therefore added to one continuous noise field, across borders
   as inside tiles (tested: ``tests/test_tiling.py``).

Memory is that of one tile plus margins, plus three float maps of the image.
"""

from __future__ import annotations

import torch

from .condition_sampler import StrengthLike, strength_values
from .model import NMFlowGAN
from .srgb import check_srgb_batch, quantize_8bit
from .vocab import CameraLike, IsoLike

__all__ = ["FLOW_MARGIN", "synthesize_tiled", "tile_windows"]

#: Clean-image context (pixels) around a flow tile: at least the SAL's 4-pixel radius, and a wide SDL window.
FLOW_MARGIN = 16


def tile_windows(size: int, tile: int, margin: int) -> list[tuple[int, int, int, int]]:
    """Windows along one axis of ``size`` pixels: ``(start, stop, keep_start, keep_stop)``.

    ``[start, stop)`` is the computed window (the kept part ``[keep_start, keep_stop)`` plus up to
    ``margin`` pixels of context on each side, clipped to the image); kept parts cover the axis once.
    """
    windows = []
    for keep_start in range(0, size, tile):
        keep_stop = min(keep_start + tile, size)
        windows.append((max(0, keep_start - margin), min(size, keep_stop + margin), keep_start, keep_stop))
    return windows


def _unet_tiled(model: NMFlowGAN, noise: torch.Tensor, tile: int, margin: int) -> torch.Tensor:
    """The U-Net's output on a whole noise map ``(1, 3, H, W)``, computed tile by tile with ``margin``."""
    correlated = torch.empty_like(noise)
    for ys, ye, ks_y, ke_y in tile_windows(noise.shape[-2], tile, margin):
        for xs, xe, ks_x, ke_x in tile_windows(noise.shape[-1], tile, margin):
            window = noise[..., ys:ye, xs:xe].contiguous(memory_format=torch.channels_last)
            out = model.add_spatial_correlation(window).to(noise.dtype)
            correlated[..., ks_y:ke_y, ks_x:ke_x] = out[..., ks_y - ys : ke_y - ys, ks_x - xs : ke_x - xs]
    return correlated


def synthesize_tiled(
    model: NMFlowGAN,
    image: torch.Tensor,
    camera: CameraLike,
    iso: IsoLike,
    *,
    strength: StrengthLike = 1.0,
    generator: torch.Generator | None = None,
    tile: int = 512,
    unet_margin: int | None = None,
    quantize: bool = True,
) -> torch.Tensor:
    """Noisy version of one clean sRGB image of any size, computed tile by tile.

    Args:
        model: the noise model, on ``image.device``.
        image: clean sRGB in [0, 1], float, ``(3, H, W)``.
        camera: one camera name or code, as for :func:`~nmflowgan_aug.functional.add_camera_noise`.
        iso: one ISO value (ISO units), as for :func:`~nmflowgan_aug.functional.add_camera_noise`.
        strength: factor on the synthesized noise (default 1).
        generator: optional ``torch.Generator`` on ``image.device``; the tiles draw from it in raster
            order, so a seed and a tile size reproduce the output exactly.
        tile: kept tile size in pixels; rounded up to a multiple of the U-Net's pooling grid.
        unet_margin: context around each U-Net tile (default: 8 pooling cells, 64 px for a depth-4
            U-Net); rounded up to a multiple of the pooling grid; unused by a model without a U-Net (such as
            the shipped ``sidd``).
        quantize: round the output to 8-bit levels (default True).

    Returns:
        Noisy sRGB in [0, 1], ``(3, H, W)``, the dtype and device of ``image``.

    Raises:
        TypeError, ValueError: a bad image, camera, ISO or strength (as ``add_camera_noise``), or a
            ``tile`` smaller than 16 pixels.
    """
    if image.ndim != 3:
        raise ValueError(f"image must have shape (3, H, W), got {tuple(image.shape)}")
    check_srgb_batch(image.unsqueeze(0), "image")
    if tile < 16:
        raise ValueError(f"tile must be at least 16 pixels, got {tile}")
    grid = 1 if model.unet is None else model.unet.multiple
    tile = -(-tile // grid) * grid
    unet_margin = -(-(8 * grid if unet_margin is None else unet_margin) // grid) * grid
    conditions = model.encode_conditions(camera, iso, 1, image.device)
    factor = strength_values(strength, 1, image.device)
    _, h, w = image.shape
    dtype = next(model.flow.parameters()).dtype
    clean_scaled = image.to(dtype).unsqueeze(0) * model.max_level
    clean_levels = torch.round(clean_scaled)
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            latent = torch.randn(clean_levels.shape, generator=generator, device=image.device, dtype=dtype)
            noise = torch.empty_like(clean_levels)
            for ys, ye, ks_y, ke_y in tile_windows(h, tile, FLOW_MARGIN):
                for xs, xe, ks_x, ke_x in tile_windows(w, tile, FLOW_MARGIN):
                    window = clean_levels[..., ys:ye, xs:xe].contiguous(memory_format=torch.channels_last)
                    with torch.autocast(image.device.type, enabled=False):
                        noisy = model.sample_pixelwise_levels(
                            window, *conditions, generator, latent=latent[..., ys:ye, xs:xe]
                        )
                    part = (noisy - window)[..., ks_y - ys : ke_y - ys, ks_x - xs : ke_x - xs]
                    noise[..., ks_y:ke_y, ks_x:ke_x] = part
            correlated = noise if model.unet is None else _unet_tiled(model, noise, tile, unet_margin)
            levels = (clean_scaled + correlated * factor.view(-1, 1, 1, 1)).clamp(0, model.max_level)
    finally:
        model.train(was_training)
    noisy = torch.empty_like(image).copy_(levels[0] / model.max_level)
    return quantize_8bit(noisy) if quantize else noisy

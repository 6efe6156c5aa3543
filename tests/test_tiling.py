"""synthesize_tiled: any image size with bounded memory, and no seams in the noise statistics."""

from __future__ import annotations

import pytest
import torch

from nmflowgan_aug import SIDD_VOCABULARY, NMFlowGAN, NMFlowGANConfig
from nmflowgan_aug.model.flow_layers import ConditionalLinearTable
from nmflowgan_aug.model.spatial import SpatialCorrelation
from nmflowgan_aug.tiling import synthesize_tiled, tile_windows

pytestmark = pytest.mark.usefixtures("one_thread")  # small tensors: see tests/conftest.py

TILE = 64


@pytest.fixture(scope="module")
def correlating_model() -> NMFlowGAN:
    """A small model whose U-Net adds clear spatial correlation (random head), so seams would show."""
    torch.manual_seed(0)
    config = NMFlowGANConfig(cameras=SIDD_VOCABULARY.cameras, isos=SIDD_VOCABULARY.isos, iso_encoding="log",
                             flow_features=4, unet_depth=3, unet_width=8)
    model = NMFlowGAN(config).eval().requires_grad_(False)
    with torch.no_grad():
        for layer in model.flow.bijectors:
            if isinstance(layer, ConditionalLinearTable):
                layer.log_scale.fill_(1.2)  # about 5 8-bit levels of pixel-wise noise, far from the clip
        gen = torch.Generator().manual_seed(1)
        for module in model.unet.modules():  # He-initialised convs without biases: features keep the noise's scale,
            if isinstance(module, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)):  # and nothing but the noise
                fan_in = module.weight[0].numel() if isinstance(module, torch.nn.Conv2d) else module.weight[:, 0].numel()
                module.weight.normal_(0, (2 / fan_in) ** 0.5, generator=gen)  # correlates neighbours
                module.bias.zero_()
    return model


@pytest.fixture(scope="module")
def spatial_flow_model() -> NMFlowGAN:
    """A flow-only model (no U-Net) whose spatial-correlation layer correlates neighbours strongly."""
    torch.manual_seed(0)
    config = NMFlowGANConfig(cameras=SIDD_VOCABULARY.cameras, isos=SIDD_VOCABULARY.isos, iso_encoding="log",
                             flow_features=4, unet_depth=0, spatial_kernel=5)
    model = NMFlowGAN(config).eval().requires_grad_(False)
    with torch.no_grad():
        for layer in model.flow.bijectors:
            if isinstance(layer, ConditionalLinearTable):
                layer.log_scale.fill_(1.2)
            if isinstance(layer, SpatialCorrelation):
                layer.weight[range(3), range(3), 2, 1:4] = 0.8  # a horizontal 3-tap average of z, per channel
                layer.weight[range(3), range(3), 1:4, 2] = 0.8
    return model


def _noise(model, size=256, seed=0, tile=TILE):
    clean = torch.full((3, size, size), 0.5)
    noisy = synthesize_tiled(model, clean, "GP", 3200, generator=torch.Generator().manual_seed(seed), tile=tile,
                             quantize=False)
    return (noisy - clean) * 255


def _border_and_inside_lag1(noise: torch.Tensor, tile: int) -> tuple[float, float]:
    """Horizontal lag-1 correlation of pixel pairs that straddle a vertical tile border, and of all other pairs."""
    left, right = noise[..., :-1], noise[..., 1:]
    straddle = torch.zeros(noise.shape[-1] - 1, dtype=torch.bool)
    straddle[tile - 1 :: tile] = True

    def corr(mask):
        a, b = left[..., mask].flatten(), right[..., mask].flatten()
        return float(torch.corrcoef(torch.stack([a, b]))[0, 1])

    return corr(straddle), corr(~straddle)


def test_tile_windows_cover_each_pixel_once():
    windows = tile_windows(150, 64, 16)
    assert [(k0, k1) for _, _, k0, k1 in windows] == [(0, 64), (64, 128), (128, 150)]
    assert windows[1][:2] == (48, 144) and windows[0][0] == 0 and windows[-1][1] == 150


def test_one_tile_is_the_untiled_model(correlating_model):
    clean = torch.rand(3, 40, 56, generator=torch.Generator().manual_seed(2))
    tiled = synthesize_tiled(correlating_model, clean, "S6", 800, generator=torch.Generator().manual_seed(3),
                             quantize=False)
    untiled = correlating_model.sample(clean[None], "S6", 800, generator=torch.Generator().manual_seed(3))[0]
    torch.testing.assert_close(tiled, untiled, rtol=0, atol=1e-6)


def test_no_seams_in_noise_std_or_correlation(correlating_model):
    noise = torch.cat([_noise(correlating_model, seed=s) for s in range(3)], dim=0)
    border, inside = _border_and_inside_lag1(noise, TILE)
    assert inside > 0.1  # the U-Net correlates neighbours: a seam would be visible
    assert border == pytest.approx(inside, abs=0.03)
    columns = noise.std(dim=(0, 1))  # per-column std: the columns beside a border look like the others
    at_border = torch.cat([columns[TILE - 1 :: TILE], columns[TILE::TILE]])
    assert float(at_border.mean()) == pytest.approx(float(columns.mean()), rel=0.05)


def test_a_flow_spatial_layer_correlates_across_tile_borders_too(spatial_flow_model):
    noise = torch.cat([_noise(spatial_flow_model, seed=s) for s in range(3)], dim=0)
    border, inside = _border_and_inside_lag1(noise, TILE)
    assert inside > 0.3
    assert border == pytest.approx(inside, abs=0.03)
    clean = torch.rand(3, 40, 56, generator=torch.Generator().manual_seed(2))
    tiled = synthesize_tiled(spatial_flow_model, clean, "S6", 800, generator=torch.Generator().manual_seed(3),
                             quantize=False)
    untiled = spatial_flow_model.sample(clean[None], "S6", 800, generator=torch.Generator().manual_seed(3))[0]
    torch.testing.assert_close(tiled, untiled, rtol=0, atol=1e-5)  # one tile: the untiled model


def test_the_seam_test_detects_independent_tiles(correlating_model):
    """Naive tiling (each tile sampled on its own) fails the same check: the test above can fail."""
    clean = torch.full((1, 3, 256, 256), 0.5)
    gen = torch.Generator().manual_seed(0)
    noisy = torch.cat([torch.cat([correlating_model.sample(clean[..., y:y + TILE, x:x + TILE], "GP", 3200, generator=gen)
                                  for x in range(0, 256, TILE)], dim=-1) for y in range(0, 256, TILE)], dim=-2)
    border, inside = _border_and_inside_lag1((noisy - clean) * 255, TILE)
    assert inside > 0.1 and abs(border - inside) > 0.08


def test_tiled_output_is_reproducible_and_in_range(correlating_model):
    clean = torch.rand(3, 70, 90, generator=torch.Generator().manual_seed(4))
    a = synthesize_tiled(correlating_model, clean, "IP", 100, strength=0.5, generator=torch.Generator().manual_seed(5),
                         tile=32)
    b = synthesize_tiled(correlating_model, clean, "IP", 100, strength=0.5, generator=torch.Generator().manual_seed(5),
                         tile=32)
    assert torch.equal(a, b) and a.shape == clean.shape and 0 <= float(a.min()) and float(a.max()) <= 1
    assert torch.equal(a * 255, torch.round(a * 255))


@pytest.mark.parametrize("kwargs, error, match", [
    ({"tile": 8}, ValueError, "at least 16"),
    ({"iso": 12800}, ValueError, "trained range"),
    ({"strength": -1.0}, ValueError, "strength"),
])
def test_bad_arguments(correlating_model, kwargs, error, match):
    args = {"camera": "GP", "iso": 800, **kwargs}
    with pytest.raises(error, match=match):
        synthesize_tiled(correlating_model, torch.rand(3, 32, 32), **args)

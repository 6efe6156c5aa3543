import math

import pytest
import torch

from nmflowgan_aug import NMFlowGAN, NMFlowGANConfig
from nmflowgan_aug.vocab import SIDD_VOCABULARY


def _patches(iso_exponent=0.5, n=24):
    """Gaussian noise whose std follows std = k_camera · ISO**iso_exponent (8-bit levels)."""
    g = torch.Generator().manual_seed(0)
    cams = torch.tensor([0, 1, 2] * (n // 3))
    isos = torch.tensor([100, 400, 1600, 800, 3200, 200] * (n // 6))
    k = torch.tensor([0.3, 0.5, 0.4])[cams]
    std = k * isos.double().pow(iso_exponent)
    clean = torch.round(torch.rand(n, 3, 16, 16, generator=g) * 150 + 50)
    noisy = torch.round(clean + torch.randn(n, 3, 16, 16, generator=g) * std.view(-1, 1, 1, 1).float())
    return noisy, clean, cams, isos, std


@pytest.mark.parametrize("vocab", ["official", "sidd"])
def test_standardize_latent_gives_unit_latents_per_condition(vocab):
    torch.manual_seed(0)
    kw = {} if vocab == "official" else dict(cameras=SIDD_VOCABULARY.cameras, isos=SIDD_VOCABULARY.isos, iso_encoding="log")
    model = NMFlowGAN(NMFlowGANConfig(unet_depth=2, unet_width=4, **kw)).eval()
    noisy, clean, cams, isos, _ = _patches()
    if vocab == "official":
        isos = torch.tensor([100, 400, 1600, 800, 3200, 400] * 4)
        noisy, clean = noisy.clamp(0, 255), clean
    model.standardize_latent_(noisy, clean, cams, isos)
    with torch.no_grad():
        z, _ = model.flow(noisy, model.condition(clean, cams, isos))
    # Per patch: the scale follows the condition (tolerance: noisy 16x16 estimates, quantization, clipping).
    per_patch = z.std((1, 2, 3))
    assert float(per_patch.mean()) == pytest.approx(1.0, abs=0.15)
    assert per_patch.std() < 0.3
    assert torch.allclose(z.mean((0, 2, 3)), torch.zeros(3), atol=0.15)


def test_log_iso_init_recovers_the_iso_exponent():
    torch.manual_seed(0)
    v = SIDD_VOCABULARY
    model = NMFlowGAN(NMFlowGANConfig(cameras=v.cameras, isos=v.isos, iso_encoding="log", unet_depth=2, unet_width=4))
    model.eval()
    noisy, clean, cams, isos, _ = _patches(iso_exponent=0.5, n=48)
    before = model.flow.bijectors[-1].log_scale[0].clone()
    model.standardize_latent_(noisy, clean, cams, isos)
    slope = model.flow.bijectors[-1].log_scale[0] - before  # d(log scale)/dt, t = log2(ISO/100)/7
    # std ∝ ISO**0.5  ⇒  log std = 0.5·ln2·7·t + const, and the scale is its negative.
    assert torch.allclose(slope, torch.full((3,), -0.5 * math.log(2) * 7), atol=0.35)

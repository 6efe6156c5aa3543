import pytest
import torch

from nmflowgan_aug import NMFlowGAN, NMFlowGANConfig
from nmflowgan_aug.vocab import SIDD_VOCABULARY


@pytest.mark.parametrize("vocab", ["official", "sidd"])
def test_standardize_latent_gives_unit_latents_on_the_batch(vocab):
    torch.manual_seed(0)
    kw = {} if vocab == "official" else dict(cameras=SIDD_VOCABULARY.cameras, isos=SIDD_VOCABULARY.isos, iso_encoding="log")
    model = NMFlowGAN(NMFlowGANConfig(unet_depth=2, unet_width=4, **kw)).train()
    clean = torch.round(torch.rand(4, 3, 16, 16) * 200 + 20)
    noisy = (clean + torch.round(torch.randn(4, 3, 16, 16) * torch.tensor([3.0, 6.0, 9.0]).view(1, 3, 1, 1) + 2)).clamp(0, 255)
    cams = torch.tensor([0, 1, 2, 3])
    isos = torch.tensor([100, 400, 800, 1600])
    model.standardize_latent_(noisy, clean, cams, isos)
    # The dequantization noise is redrawn, so the moments are close to, not exactly, (0, 1).
    z, _ = model.flow(noisy, model.condition(clean, cams, isos))
    assert torch.allclose(z.mean((0, 2, 3)), torch.zeros(3), atol=0.15)
    assert torch.allclose(z.std((0, 2, 3)), torch.ones(3), atol=0.1)

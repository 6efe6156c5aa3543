"""The shipped 'sidd' model's noise level and spatial correlation match real SIDD noise.

Checked on the real validation blocks (none of them trained on), scored on 8-bit output as real noisy
images are.

Measured when the model was shipped (seed 0; std of noisy − clean per channel R/G/B, model/real; lag-1
correlation ρ per channel, mean of horizontal and vertical, real → model):

- 00 G4/400: std 1.12/1.04/0.98; ρ 0.54/0.37/0.51 → 0.54/0.34/0.48 (G4 trained natively at ISO 800 only)
- 01 GP/6400: std 1.01/0.92/0.82; ρ 0.44/0.29/0.53 → 0.53/0.33/0.47 (the largest ρ error, R +0.09)
- 02 S6/3200: std 0.99/0.89/0.89; ρ 0.48/0.33/0.48 → 0.52/0.32/0.46
- 03 GP/10000: std 0.90/0.87/0.83; ρ 0.48/0.27/0.46 → 0.52/0.34/0.47 (ISO above GP's native training ISO)
- 04 GP/10000: std 0.84/0.88/0.85; ρ 0.52/0.26/0.44 → 0.52/0.33/0.46

The bounds are issue 10's target for the level (0.75–1.33 on every block and channel) and ±0.10 for ρ: the
target is ±0.08, which the model misses on block 01 (see the README); the bound guards what was shipped. The model
shipped before this one had ρ ≈ 0.00 and std ratios up to 1.63: it fails both.
"""

import pytest
import torch

from nmflowgan_aug import NMFlowGAN, list_pretrained
from nmflowgan_aug.data.sidd import read_pairs_manifest
from nmflowgan_aug.metrics.noise_correlation import noise_autocorrelation
from nmflowgan_aug.srgb import quantize_8bit

pytestmark = pytest.mark.skipif("sidd" not in list_pretrained(), reason="shipped 'sidd' weights not installed")


@pytest.fixture(scope="module")
def model():
    return NMFlowGAN.from_pretrained("sidd")


@pytest.mark.parametrize("block", ["00", "01", "02", "03", "04"])
def test_noise_level_and_lag1_correlation_match_real_noise(shared_data, model, block):
    pair = {p.name: p for p in read_pairs_manifest(shared_data / "sidd_native" / "pairs.csv")}[block]
    clean, noisy = (torch.from_numpy(a.copy()).permute(2, 0, 1).float().div(255)[None] for a in pair.load())
    fake = quantize_8bit(model.sample(clean, pair.camera, pair.iso, generator=torch.Generator().manual_seed(0)))
    ratio = ((fake - clean) * 255).std((0, 2, 3)) / ((noisy - clean) * 255).std((0, 2, 3))
    assert ((ratio > 0.75) & (ratio < 1.33)).all(), f"model/real std per channel: {ratio.tolist()}"
    rho_real, rho_fake = (noise_autocorrelation(x, clean, max_lag=1)[0, :, :, 0].mean(1) for x in (noisy, fake))
    error = (rho_fake - rho_real).abs()
    assert (error < 0.10).all(), f"lag-1 ρ per channel: real {rho_real.tolist()}, model {rho_fake.tolist()}"

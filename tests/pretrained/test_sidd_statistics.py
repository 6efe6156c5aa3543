"""The shipped 'sidd' model's noise level matches real SIDD noise on the real validation blocks.

Measured when the model was shipped (seed 0, std of noisy - clean per channel, model/real):
block 01 GP/6400 0.95/0.93/0.98, block 02 S6/3200 0.97/0.91/0.94 (camera/ISO seen in training);
block 03 GP/10000 0.77/0.88/1.07 (ISO extrapolated from 6400); block 00 G4/400 1.32/1.41/1.63 (G4 was
only trained at ISO 800: the known weak spot, see the model card), not asserted here.
"""

import pytest
import torch

from nmflowgan_aug import NMFlowGAN, list_pretrained
from nmflowgan_aug.data.sidd import read_pairs_manifest

pytestmark = pytest.mark.skipif("sidd" not in list_pretrained(), reason="shipped 'sidd' weights not installed")


@pytest.mark.parametrize("block, tolerance", [("01", 0.15), ("02", 0.15), ("03", 0.30)])
def test_noise_std_per_channel_is_close_to_real(shared_data, block, tolerance):
    pair = {p.name: p for p in read_pairs_manifest(shared_data / "sidd_native" / "pairs.csv")}[block]
    clean, noisy = (torch.from_numpy(a.copy()).permute(2, 0, 1).float().div(255)[None] for a in pair.load())
    model = NMFlowGAN.from_pretrained("sidd")
    fake = model.sample(clean, pair.camera, pair.iso, generator=torch.Generator().manual_seed(0))
    real_std = ((noisy - clean) * 255).std((0, 2, 3))
    fake_std = ((fake - clean) * 255).std((0, 2, 3))
    ratio = fake_std / real_std
    assert ((ratio > 1 - tolerance) & (ratio < 1 + tolerance)).all(), f"model/real std per channel: {ratio.tolist()}"

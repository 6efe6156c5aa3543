"""I.i.d. Gaussian baseline: σ recovered from synthetic pairs with a known law; sampling contract."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nmflowgan_aug.baselines import GaussianNoiseModel, UnknownCameraError


def _gaussian_pairs(rng, sig100, slope, isos_per_cam, size=96):
    pairs = []
    for cam, isos in isos_per_cam.items():
        for iso in isos:
            clean = rng.uniform(0.3, 0.7, (size, size, 3))
            sigma = np.asarray(sig100[cam]) * (iso / 100.0) ** slope
            noisy = clean + rng.normal(0, 1, clean.shape) * sigma
            assert noisy.min() > 0 and noisy.max() < 1  # no clipping: exact law
            pairs.append((clean, noisy, cam, iso))
    return pairs


def test_gaussian_recovers_log_linear_sigma():
    rng = np.random.default_rng(0)
    sig100 = {"A": (0.01, 0.008, 0.012), "B": (0.02, 0.015, 0.018)}
    pairs = _gaussian_pairs(rng, sig100, 0.5, {"A": (100, 400, 1600), "B": (200, 800)})
    model = GaussianNoiseModel.fit(pairs)
    assert np.allclose(model.law.slopes, 0.5, atol=0.01)
    for cam in ("A", "B"):
        for iso in (100, 300, 3200):  # seen, interpolated/extrapolated, extrapolated
            expected = np.asarray(sig100[cam]) * (iso / 100.0) ** 0.5
            np.testing.assert_allclose(model.sigma(cam, iso), expected, rtol=0.02)
    assert model.law.support("B", 3200) == "extrapolated"
    assert len(model.per_image) == 5


def test_gaussian_sampling_contract_and_reproducibility():
    rng = np.random.default_rng(1)
    model = GaussianNoiseModel.fit(_gaussian_pairs(rng, {"A": (0.005,) * 3}, 1.0, {"A": (100, 800)}, size=32))
    clean = torch.rand(2, 3, 40, 24)
    out1 = model.sample(clean, "A", 400, generator=torch.Generator().manual_seed(3))
    out2 = model.sample(clean, "A", 400, generator=torch.Generator().manual_seed(3))
    out3 = model.sample(clean, "A", 400, generator=torch.Generator().manual_seed(4))
    assert out1.shape == clean.shape and out1.dtype == clean.dtype
    assert float(out1.min()) >= 0 and float(out1.max()) <= 1
    assert torch.equal(out1, out2) and not torch.equal(out1, out3)
    # std of the noise where no clipping happens: 0.005 * 400/100
    mid = (clean > 0.2) & (clean < 0.8)
    assert float((out1 - clean)[mid].std()) == pytest.approx(0.02, rel=0.1)
    # per-sample conditions, quantization, float64 kept
    out = model.sample(clean.double(), ["A", "A"], torch.tensor([100, 800]), quantize=True)
    assert out.dtype == torch.float64
    assert torch.allclose(out * 255, torch.round(out * 255), atol=1e-9)
    with pytest.raises(UnknownCameraError):
        model.sample(clean, "GP", 400)
    with pytest.raises(ValueError, match="batch of 2"):
        model.sample(clean, ["A"], 400)
    with pytest.raises(ValueError):
        model.sample(clean * 2, "A", 400)

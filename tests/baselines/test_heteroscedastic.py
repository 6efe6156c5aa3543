"""Heteroscedastic Gaussian baseline: β1, β2 recovered from synthetic pairs; variance line; variance floor."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from nmflowgan_aug.baselines import VAR_FLOOR, HeteroscedasticGaussianNoiseModel, LogIsoLaw, UnknownCameraError


def test_heteroscedastic_recovers_beta1_beta2():
    rng = np.random.default_rng(3)
    # exact law for the end points var(0) = v0, var(1) = v1 per channel: R increasing, G decreasing, B flat-ish
    v0_100 = {"A": np.array([1e-5, 1e-4, 3e-5]), "B": np.array([1.5e-5, 1.5e-4, 4e-5])}
    v1_100 = {"A": np.array([1e-4, 2e-5, 2.5e-5]), "B": np.array([1.5e-4, 3e-5, 4.5e-5])}
    s0, s1 = np.array([1.0, 0.6, 0.8]), np.array([0.8, 1.0, 0.7])
    isos = {"A": (100, 400, 800), "B": (200, 800)}

    def truth(cam, iso):
        r = math.log(iso / 100.0)
        v0 = v0_100[cam] * np.exp(s0 * r)
        v1 = v1_100[cam] * np.exp(s1 * r)
        return v1 - v0, v0  # beta1, beta2

    pairs = []
    for cam, cam_isos in isos.items():
        for iso in cam_isos:
            clean = rng.uniform(0.1, 0.9, (160, 160, 3))
            b1, b2 = truth(cam, iso)
            noisy = clean + rng.normal(0, 1, clean.shape) * np.sqrt(b1 * clean + b2)
            assert np.mean((noisy < 0) | (noisy > 1)) < 1e-3  # clipping negligible: an exact law
            pairs.append((clean, np.clip(noisy, 0, 1), cam, iso))
    model = HeteroscedasticGaussianNoiseModel.fit(pairs)
    np.testing.assert_allclose(model.law.slopes[0::2], s0, atol=0.05)
    np.testing.assert_allclose(model.law.slopes[1::2], s1, atol=0.05)
    for cam, iso in (("A", 100), ("A", 800), ("B", 800), ("B", 400)):
        b1, b2 = truth(cam, iso)
        f1, f2 = model.coefficients(cam, iso)
        # compare the variance line at x = 0, 0.5, 1 (beta1 alone can be a small difference of two)
        for x in (0.0, 0.5, 1.0):
            np.testing.assert_allclose(f1 * x + f2, b1 * x + b2, rtol=0.06)
        np.testing.assert_allclose(f2, b2, rtol=0.06)
        np.testing.assert_allclose(f1, b1, atol=0.08 * np.abs(b2 + b1).max())


def test_heteroscedastic_sampling_follows_variance_line():
    rng = np.random.default_rng(4)
    pairs = []
    for iso in (100, 400):
        clean = rng.uniform(0.1, 0.9, (96, 96, 3))
        var = (iso / 100) * (2e-4 * clean + 1e-4)
        pairs.append((clean, np.clip(clean + rng.normal(0, 1, clean.shape) * np.sqrt(var), 0, 1), "A", iso))
    model = HeteroscedasticGaussianNoiseModel.fit(pairs)
    clean = torch.cat([torch.full((1, 3, 64, 64), 0.2), torch.full((1, 3, 64, 64), 0.7)])
    out = model.sample(clean, "A", 200, generator=torch.Generator().manual_seed(0))
    for k, x in enumerate((0.2, 0.7)):
        assert float((out[k] - clean[k]).var()) == pytest.approx(2 * (2e-4 * x + 1e-4), rel=0.12)
    with pytest.raises(UnknownCameraError):
        model.coefficients("B", 100)


def test_heteroscedastic_variance_floor():
    law = LogIsoLaw(("A",), ((math.log(1e-4), math.log(1e-12)) * 3,), (0.0,) * 6, ((100, 200),),
                    tuple(f"v{k}" for k in range(6)))
    model = HeteroscedasticGaussianNoiseModel(law)
    b1, b2 = model.coefficients("A", 100)
    assert np.all(b1 < 0)  # decreasing line, nearly zero at white
    out = model.sample(torch.ones(1, 3, 16, 16) * 0.999, "A", 100, generator=torch.Generator().manual_seed(0))
    assert float((out - 0.999).abs().max()) > 0  # floor keeps a little noise
    assert VAR_FLOOR == pytest.approx((1 / 255) ** 2 / 12)

"""Noise correlation: AR(1) fields with known lag correlations, a known channel mixing, exact small cases."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nmflowgan_aug.metrics import CHANNEL_PAIRS, noise_autocorrelation, noise_cross_correlation

pytestmark = pytest.mark.usefixtures("one_thread")


def _ar1(x: np.ndarray, rho: float, axis: int) -> np.ndarray:
    """Stationary unit-variance AR(1) filter of white noise ``x`` along ``axis``: correlation rho^k at lag k."""
    x = np.moveaxis(x.copy(), axis, -1)
    scale = np.sqrt(1.0 - rho**2)
    for t in range(1, x.shape[-1]):
        x[..., t] = rho * x[..., t - 1] + scale * x[..., t]
    return np.moveaxis(x, -1, axis)


def _images(noise: np.ndarray, sigma: float = 0.02) -> tuple[torch.Tensor, torch.Tensor]:
    clean = np.full(noise.shape, 0.5)
    return torch.from_numpy(clean + sigma * noise), torch.from_numpy(clean)


def test_separable_ar1_field_has_rho_to_the_k():
    rng = np.random.default_rng(0)
    rho_h = np.array([0.5, 0.35, 0.5])[None, :, None, None]  # per channel R, G, B, like SIDD sRGB noise
    rho_v = 0.3
    white = rng.standard_normal((2, 3, 256, 256))
    field = np.stack([_ar1(white[:, c], float(rho_h[0, c, 0, 0]), axis=-1) for c in range(3)], axis=1)
    field = _ar1(field, rho_v, axis=-2)
    got = noise_autocorrelation(*_images(field), max_lag=3)
    assert got.shape == (2, 3, 2, 3) and got.dtype == torch.float64
    lags = np.arange(1, 4)
    expected_h = np.broadcast_to(rho_h[..., 0] ** lags, (2, 3, 3))  # (B, C, lag)
    np.testing.assert_allclose(got[:, :, 0].numpy(), expected_h, atol=0.025)
    np.testing.assert_allclose(got[:, :, 1].numpy(), np.broadcast_to(rho_v**lags, (2, 3, 3)), atol=0.025)


def test_white_noise_is_uncorrelated_and_uint8_equals_float():
    rng = np.random.default_rng(1)
    clean = rng.integers(40, 200, (1, 3, 128, 128))
    noisy = clean + rng.integers(-9, 10, clean.shape)
    got = noise_autocorrelation(torch.from_numpy(noisy.astype(np.uint8)), torch.from_numpy(clean.astype(np.uint8)))
    np.testing.assert_allclose(got.numpy(), 0.0, atol=0.03)
    as_float = noise_autocorrelation(torch.from_numpy(noisy / 255.0), torch.from_numpy(clean / 255.0))
    np.testing.assert_allclose(got.numpy(), as_float.numpy(), rtol=1e-10, atol=1e-12)


def test_estimator_is_pearson_of_the_shifted_pairs():
    rng = np.random.default_rng(2)
    noise = rng.standard_normal((1, 3, 5, 7))
    noisy, clean = _images(noise)
    got = noise_autocorrelation(noisy, clean, max_lag=4)
    n = (noisy - clean).numpy()[0]
    for c in range(3):
        for k in range(1, 5):
            h = np.corrcoef(n[c, :, :-k].ravel(), n[c, :, k:].ravel())[0, 1]
            v = np.corrcoef(n[c, :-k, :].ravel(), n[c, k:, :].ravel())[0, 1]
            assert got[0, c, 0, k - 1] == pytest.approx(h, abs=1e-12)
            assert got[0, c, 1, k - 1] == pytest.approx(v, abs=1e-12)


def test_exact_small_case_and_constant_noise():
    # noise rows [1, 2, 3] and [3, 2, 1] in every channel: horizontal lag-1 pairs (1,2), (2,3), (3,2), (2,1):
    # a = [1, 2, 3, 2], b = [2, 3, 2, 1], both mean 2: r = (−1·0 + 0·1 + 1·0 + 0·−1) / 2 = 0
    # vertical lag-1 pairs (1,3), (2,2), (3,1): r = −1
    noise = np.tile(np.array([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]]), (1, 3, 1, 1))
    got = noise_autocorrelation(*_images(noise, sigma=0.01), max_lag=1)
    np.testing.assert_allclose(got[0, :, 0, 0].numpy(), 0.0, atol=1e-12)
    np.testing.assert_allclose(got[0, :, 1, 0].numpy(), -1.0, atol=1e-12)
    constant = noise_autocorrelation(*_images(np.zeros((1, 3, 4, 4))), max_lag=1)
    assert torch.isnan(constant).all()


def test_known_channel_mixing():
    rng = np.random.default_rng(3)
    z = rng.standard_normal((3, 2, 256, 256))
    a, c = 0.25, 0.55  # target R–G and R–B, like SIDD sRGB noise; G–B 0.25 fixes d
    d = (0.25 - a * c) / np.sqrt(1 - a**2)
    e = np.sqrt(1 - c**2 - d**2)
    r = z[0]
    g = a * z[0] + np.sqrt(1 - a**2) * z[1]
    b = c * z[0] + d * z[1] + e * z[2]
    got = noise_cross_correlation(*_images(np.stack([r, g, b], axis=1)))
    assert got.shape == (2, 3) and CHANNEL_PAIRS == ((0, 1), (0, 2), (1, 2))
    np.testing.assert_allclose(got.numpy(), [[0.25, 0.55, 0.25]] * 2, atol=0.01)


def test_bad_lags_and_inputs():
    noisy, clean = _images(np.zeros((1, 3, 4, 6)))
    with pytest.raises(ValueError, match=r"max_lag must be in 1\.\.3 for images of 4×6, got 4"):
        noise_autocorrelation(noisy, clean, max_lag=4)
    with pytest.raises(ValueError, match="got 0"):
        noise_autocorrelation(noisy, clean, max_lag=0)
    with pytest.raises(TypeError, match="max_lag must be an int"):
        noise_autocorrelation(noisy, clean, max_lag=1.0)
    with pytest.raises(ValueError, match="same shape"):
        noise_cross_correlation(noisy, clean[..., :5])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        noise_cross_correlation(noisy + 1.0, clean)

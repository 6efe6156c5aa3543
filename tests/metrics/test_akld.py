"""AKLD: the OpenCV kernel, the blur against scipy, closed forms for scaled noise, uint8 input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import ndimage

from nmflowgan_aug.metrics import akld, cv2_gaussian_kernel1d, local_noise_variance

# OpenCV getGaussianKernel(7, -1): fixed table [2, 7, 14, 18, 14, 7, 2] / 64
CV2_K7 = np.array([2, 7, 14, 18, 14, 7, 2], dtype=np.float64) / 64


def test_cv2_kernel():
    np.testing.assert_array_equal(cv2_gaussian_kernel1d(7).numpy(), CV2_K7)
    np.testing.assert_array_equal(cv2_gaussian_kernel1d(7, -1).numpy(), CV2_K7)
    np.testing.assert_array_equal(cv2_gaussian_kernel1d(3).numpy(), [0.25, 0.5, 0.25])
    # sizes > 7 (or sigma > 0) use a sampled Gaussian with sigma = 0.3*((k-1)/2 - 1) + 0.8
    x = np.arange(9) - 4.0
    g = np.exp(-(x**2) / (2 * 1.7**2))
    np.testing.assert_allclose(cv2_gaussian_kernel1d(9).numpy(), g / g.sum(), rtol=1e-14)
    x7 = np.arange(7) - 3.0
    g7 = np.exp(-(x7**2) / (2 * 1.4**2))
    np.testing.assert_allclose(cv2_gaussian_kernel1d(7, 1.4).numpy(), g7 / g7.sum(), rtol=1e-14)
    with pytest.raises(ValueError, match="odd"):
        cv2_gaussian_kernel1d(6)


def _noise_images(seed: int = 5, shape=(2, 3, 20, 24)):
    """Flat clean images, clean = 0.5; noise of random sign and magnitude in [0.005, 0.01] (never zero)."""
    rng = np.random.default_rng(seed)
    noise = rng.uniform(0.005, 0.01, size=shape) * rng.choice([-1.0, 1.0], size=shape)
    clean = torch.full(shape, 0.5, dtype=torch.float64)
    return clean, torch.from_numpy(noise)


def test_local_variance_matches_scipy_mirror():
    clean, noise = _noise_images()
    noisy = clean + noise
    err2 = noise.numpy() ** 2
    got = local_noise_variance(noisy, clean).numpy()
    ref = ndimage.correlate1d(err2, CV2_K7, axis=-1, mode="mirror")  # mirror = cv2 BORDER_REFLECT_101
    ref = ndimage.correlate1d(ref, CV2_K7, axis=-2, mode="mirror")
    np.testing.assert_allclose(got, ref, rtol=1e-12)
    # with an explicit sigma = 1.4 it is scipy's sampled Gaussian, radius 3
    got14 = local_noise_variance(noisy, clean, sigma=1.4).numpy()
    ref14 = ndimage.gaussian_filter(err2, sigma=(0, 0, 1.4, 1.4), radius=(0, 0, 3, 3), mode="mirror")
    np.testing.assert_allclose(got14, ref14, rtol=1e-12)


def test_akld_identical_is_zero():
    clean, noise = _noise_images()
    out = akld(clean + noise, clean + noise, clean)
    assert out.shape == (2,) and torch.all(out == 0)


@pytest.mark.parametrize(
    ("c", "r"),
    [(2.0, 4.0), (0.5, 0.25), (5.0, 10.0), (0.2, 0.1)],  # r = c^2, clamped to [0.1, 10]
)
def test_akld_scaled_noise_closed_form(c, r):
    clean, noise = _noise_images()
    out = akld(clean + noise, clean + c * noise, clean)
    expected = 0.5 * (math.log(1 / r) + r - 1)
    np.testing.assert_allclose(out.numpy(), [expected, expected], rtol=1e-10)


def test_akld_uint8_equals_float_and_window_check():
    rng = np.random.default_rng(6)
    clean = rng.integers(50, 200, size=(1, 3, 16, 16))
    real = clean + rng.integers(-10, 11, size=clean.shape)
    fake = clean + rng.integers(-20, 21, size=clean.shape)
    as_u8 = [torch.from_numpy(a.astype(np.uint8)) for a in (real, fake, clean)]
    as_f64 = [torch.from_numpy(a / 255.0) for a in (real, fake, clean)]
    np.testing.assert_allclose(akld(*as_u8).numpy(), akld(*as_f64).numpy(), rtol=1e-12)
    with pytest.raises(ValueError, match="window"):
        akld(*[a[..., :3, :3] for a in as_f64])

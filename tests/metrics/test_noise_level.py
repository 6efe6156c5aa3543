"""Noise level: exact per-bin stds of hand-built fields, a heteroscedastic law, synthetic/real ratios and errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from nmflowgan_aug.metrics import NLF_MIN_COUNT, nlf_error, nlf_ratio, noise_level_function, noise_std

pytestmark = pytest.mark.usefixtures("one_thread")


def _bands(levels=(0.15, 0.35, 0.65, 0.95), sigmas=(0.01, 0.02, 0.03, 0.005), size=32):
    """Four horizontal bands of constant clean intensity; noise ±sigma in a checkerboard (std exactly sigma)."""
    h = size * len(levels)
    clean = np.repeat(np.array(levels), size)[:, None] * np.ones((h, size))
    sign = np.where((np.arange(h)[:, None] + np.arange(size)[None, :]) % 2 == 0, 1.0, -1.0)
    sigma = np.repeat(np.array(sigmas), size)[:, None]
    noisy = clean + sigma * sign
    to_t = lambda a: torch.from_numpy(np.broadcast_to(a, (1, 3, h, size)).copy())  # noqa: E731
    return to_t(noisy), to_t(clean)


def test_hand_built_bands_give_exact_stds_and_counts():
    noisy, clean = _bands()
    nlf = noise_level_function(noisy, clean, bins=10)  # width 0.1: 0.15 -> bin 1, 0.35 -> 3, 0.65 -> 6, 0.95 -> 9
    assert nlf.std.shape == (1, 3, 10) and nlf.counts.dtype == torch.int64
    np.testing.assert_allclose(nlf.bin_edges.numpy(), np.linspace(0, 1, 11), rtol=1e-15)
    expected = {1: 0.01, 3: 0.02, 6: 0.03, 9: 0.005}
    for k in range(10):
        if k in expected:
            assert nlf.counts[0, 0, k] == 32 * 32
            np.testing.assert_allclose(nlf.std[0, :, k].numpy(), expected[k], rtol=1e-9)
        else:
            assert nlf.counts[0, 0, k] == 0 and torch.isnan(nlf.std[0, :, k]).all()
    # edges given explicitly; pixels outside them are not counted
    part = noise_level_function(noisy, clean, bins=[0.2, 0.5, 0.7])
    assert part.counts[0, 0].tolist() == [32 * 32, 32 * 32]
    np.testing.assert_allclose(part.std[0, 2].numpy(), [0.02, 0.03], rtol=1e-9)


def test_std_is_about_the_bin_mean():
    noisy, clean = _bands()
    shifted = (noisy - 0.004).clamp(0, 1)  # a mean offset (as real SIDD noise at high ISO) is not spread
    np.testing.assert_allclose(noise_level_function(shifted, clean, 10).std.numpy(),
                               noise_level_function(noisy, clean, 10).std.numpy(), rtol=1e-9)
    overall = np.sqrt(np.mean(np.array([0.01, 0.02, 0.03, 0.005]) ** 2))  # equal pixels per band, zero mean
    np.testing.assert_allclose(noise_std(noisy, clean).numpy(), [[overall] * 3], rtol=1e-9)


def test_heteroscedastic_field_has_the_law_per_bin():
    rng = np.random.default_rng(0)
    x = rng.uniform(0.1, 0.9, (2, 3, 256, 256))
    sigma = np.sqrt(1e-4 + 4e-4 * x)  # var = β2 + β1·x
    noisy = np.clip(x + sigma * rng.standard_normal(x.shape), 0, 1)
    nlf = noise_level_function(torch.from_numpy(noisy), torch.from_numpy(x), bins=8)
    centres = (np.arange(8) + 0.5) / 8
    inner = slice(1, 7)  # bins fully inside [0.1, 0.9]: the variance of a bin is the law at its centre (linear)
    expected = np.broadcast_to(np.sqrt(1e-4 + 4e-4 * centres[inner]), (2, 3, 6))
    np.testing.assert_allclose(nlf.std[..., inner].numpy(), expected, rtol=0.03)  # ~8000 pixels per bin: 0.8 % error


def test_ratio_and_error_of_a_scaled_copy():
    noisy, clean = _bands()
    fake = clean + 1.5 * (noisy - clean)
    ratio = nlf_ratio(noisy, fake, clean, bins=10, min_count=NLF_MIN_COUNT)
    counted = [1, 3, 6, 9]
    np.testing.assert_allclose(ratio[..., counted].numpy(), 1.5, rtol=1e-9)
    assert torch.isnan(ratio[..., [0, 2, 4, 5, 7, 8]]).all()
    np.testing.assert_allclose(nlf_error(noisy, fake, clean, bins=10).numpy(), [math.log(1.5)], rtol=1e-9)
    # bins below min_count are not counted (each band holds 32·32 pixels)
    assert torch.isnan(nlf_ratio(noisy, fake, clean, bins=10, min_count=32 * 32 + 1)).all()
    assert nlf_error(noisy, noisy, clean, bins=10).item() == 0.0
    # a synthetic band twice as noisy and the others exact: RMS of ln over 4 bins × 3 channels
    half = clean + (noisy - clean) * torch.where(clean == 0.35, 2.0, 1.0)
    np.testing.assert_allclose(nlf_error(noisy, half, clean, bins=10).numpy(), [math.log(2) / 2], rtol=1e-9)


def test_two_realizations_of_one_law_score_near_zero():
    rng = np.random.default_rng(1)
    x = torch.from_numpy(rng.uniform(0.05, 0.95, (1, 3, 256, 256)))
    draw = lambda: (x + torch.from_numpy(0.02 * rng.standard_normal(x.shape))).clamp(0, 1)  # noqa: E731
    err = nlf_error(draw(), draw(), x).item()
    assert 0.0 < err < 0.05


def test_errors_name_the_bad_value():
    noisy, clean = _bands()
    with pytest.raises(ValueError, match="bins must be >= 1, got 0"):
        noise_level_function(noisy, clean, bins=0)
    with pytest.raises(ValueError, match="strictly increasing"):
        noise_level_function(noisy, clean, bins=[0.5, 0.2])
    with pytest.raises(ValueError, match="min_count must be an int >= 2, got 1"):
        nlf_ratio(noisy, noisy, clean, min_count=1)
    with pytest.raises(ValueError, match=r"image\(s\) \[0\] have no intensity bin with at least min_count=5000"):
        nlf_error(noisy, noisy, clean, bins=10, min_count=5000)

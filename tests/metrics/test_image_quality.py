"""PSNR/SSIM per image against skimage, identity and input checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from nmflowgan_aug.metrics import psnr, ssim


def _image_pairs(seed: int = 7, shape=(3, 3, 32, 40)):
    rng = np.random.default_rng(seed)
    target = rng.uniform(0.1, 0.9, size=shape)
    target = ndimage.uniform_filter(target, size=(1, 1, 5, 5))  # some structure
    pred = np.clip(target + rng.normal(0, [[[[0.01]]], [[[0.05]]], [[[0.1]]]], size=shape), 0, 1)
    return torch.from_numpy(pred), torch.from_numpy(target)


def test_psnr_per_image_matches_skimage():
    pred, target = _image_pairs()
    got = psnr(pred, target)
    assert got.shape == (3,)
    ref = [peak_signal_noise_ratio(target[i].numpy(), pred[i].numpy(), data_range=1.0) for i in range(3)]
    np.testing.assert_allclose(got.numpy(), ref, rtol=1e-7)  # torchmetrics uses a float32 10/ln(10)
    assert len(set(np.round(got.numpy(), 6))) == 3  # per image, not pooled over the batch


def test_ssim_gaussian_matches_skimage():
    pred, target = _image_pairs()
    got = ssim(pred, target)
    ref = [
        structural_similarity(
            target[i].permute(1, 2, 0).numpy(),
            pred[i].permute(1, 2, 0).numpy(),
            channel_axis=-1,
            data_range=1.0,
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
        )
        for i in range(3)
    ]
    np.testing.assert_allclose(got.numpy(), ref, rtol=1e-10)


def test_ssim_uniform_matches_skimage_defaults():
    pred, target = _image_pairs(8)
    got = ssim(pred, target, window="uniform")
    ref = [
        structural_similarity(
            target[i].permute(1, 2, 0).numpy(), pred[i].permute(1, 2, 0).numpy(), channel_axis=-1, data_range=1.0
        )
        for i in range(3)
    ]
    np.testing.assert_allclose(got.numpy(), ref, rtol=1e-10)


def test_psnr_ssim_identity_and_validation():
    _, target = _image_pairs()
    assert torch.allclose(ssim(target, target), torch.ones(3, dtype=torch.float64))
    assert torch.all(torch.isinf(psnr(target, target)))
    with pytest.raises(ValueError, match="window"):
        ssim(target, target, window="box")
    with pytest.raises(ValueError, match="same shape"):
        psnr(target, target[:, :, :-1])
    with pytest.raises(ValueError, match=">= 11"):
        ssim(target[..., :8, :8], target[..., :8, :8])

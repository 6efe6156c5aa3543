"""Histogram KLD: hand-counted values, both protocols against numpy references, input checks."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from nmflowgan_aug.metrics import BLOCK_BIN_EDGES, OFFICIAL_BIN_EDGES, kld_block, kld_histogram, kld_official


def _levels_to_unit(levels: np.ndarray) -> torch.Tensor:
    """8-bit levels as float32 images in [0, 1] (the usual k/255 representation)."""
    return torch.from_numpy(levels.astype(np.float32) / np.float32(255.0))


def _np_kld(real: np.ndarray, fake: np.ndarray, edges: np.ndarray, a: float) -> float:
    """Reference: numpy.histogram, (h + a)/(N + aK), sum over bins with p > 0 and q > 0."""
    k = len(edges) - 1
    p = (np.histogram(real, edges)[0] + a) / (real.size + a * k)
    q = (np.histogram(fake, edges)[0] + a) / (fake.size + a * k)
    m = (p > 0) & (q > 0)
    return float(np.sum(p[m] * np.log(p[m] / q[m])))


# ------------------------------------------------------------------------------------------------ bins


def test_bin_edges():
    assert OFFICIAL_BIN_EDGES.numel() == 131 and OFFICIAL_BIN_EDGES[0] == -260 and OFFICIAL_BIN_EDGES[-1] == 260
    assert torch.equal(OFFICIAL_BIN_EDGES, torch.from_numpy(np.arange(-260, 261, 4).astype(np.float64)))
    assert BLOCK_BIN_EDGES.numel() == 257
    assert torch.equal(BLOCK_BIN_EDGES, torch.from_numpy(np.arange(-1.0, 1.0 + 1 / 128, 1 / 128)))


# ------------------------------------------------------------------------------------------------ kld_histogram


def test_kld_histogram_hand_counted():
    edges = [0.0, 1.0, 2.0, 3.0]
    real = np.array([0.0, 0.5, 1.0, 2.0])  # counts 2, 1, 1
    fake = np.array([0.2, 1.0, 1.5, 1.9])  # counts 1, 3, 0
    # +1 smoothing: p = (3, 2, 2)/7, q = (2, 4, 1)/7
    expected = 3 / 7 * math.log(3 / 2) + 2 / 7 * math.log(2 / 4) + 2 / 7 * math.log(2 / 1)
    assert float(kld_histogram(real, fake, bin_edges=edges)) == pytest.approx(expected, abs=1e-14)
    # no smoothing: p = (.5, .25, .25), q = (.25, .75, 0): the bin with q = 0 is dropped
    expected0 = 0.5 * math.log(2) + 0.25 * math.log(1 / 3)
    assert float(kld_histogram(real, fake, bin_edges=edges, pseudo_count=0)) == pytest.approx(expected0, abs=1e-14)


def test_kld_histogram_edge_rules():
    edges = [0.0, 1.0, 2.0, 3.0]
    # the last edge belongs to the last bin
    assert float(kld_histogram(torch.tensor([3.0]), torch.tensor([2.5]), bin_edges=edges)) == 0.0
    # out-of-range values count in N but in no bin: p = (1,1,2)/4, q = (1,1,1)/4
    out = float(kld_histogram(torch.tensor([3.0]), torch.tensor([3.5]), bin_edges=edges))
    assert out == pytest.approx(0.5 * math.log(2), abs=1e-14)


def test_kld_histogram_identical_is_zero_and_matches_numpy():
    rng = np.random.default_rng(0)
    x = rng.normal(0, 10, size=5000)
    assert float(kld_histogram(x, x.copy(), bin_edges=np.arange(-40, 41, 4))) == 0.0
    y = rng.normal(1, 12, size=3000)  # sizes may differ
    edges = np.arange(-40, 41, 4)
    for a in (1.0, 0.0, 0.5):
        got = float(kld_histogram(torch.from_numpy(x), torch.from_numpy(y), bin_edges=edges, pseudo_count=a))
        assert got == pytest.approx(_np_kld(x, y, edges, a), rel=1e-12)


def test_kld_histogram_validation():
    with pytest.raises(ValueError, match="strictly increasing"):
        kld_histogram(np.zeros(3), np.zeros(3), bin_edges=[0, 2, 1])
    with pytest.raises(ValueError, match="at least 2"):
        kld_histogram(np.zeros(3), np.zeros(3), bin_edges=[0])
    with pytest.raises(ValueError, match="pseudo_count"):
        kld_histogram(np.zeros(3), np.zeros(3), bin_edges=[0, 1], pseudo_count=-1)
    with pytest.raises(ValueError, match="NaN"):
        kld_histogram(np.array([np.nan]), np.zeros(3), bin_edges=[0, 1])
    with pytest.raises(ValueError, match="empty"):
        kld_histogram(np.zeros(0), np.zeros(3), bin_edges=[0, 1])
    with pytest.raises(TypeError):
        kld_histogram([0.0], np.zeros(3), bin_edges=[0, 1])


# ------------------------------------------------------------------------------------------------ kld_official


def test_kld_official_identical_is_exactly_zero():
    rng = np.random.default_rng(1)
    clean = rng.integers(20, 236, size=(3, 3, 16, 16))
    noisy = clean + rng.integers(-15, 16, size=clean.shape)
    n, c = _levels_to_unit(noisy), _levels_to_unit(clean)
    out = kld_official(n, n.clone(), c)
    assert out.shape == (3,) and out.dtype == torch.float64
    assert torch.all(out == 0)


def test_kld_official_hand_counted():
    # one patch, N = 12 values; clean = 100 everywhere
    clean = np.full((1, 3, 2, 2), 100)
    real = clean.copy()  # noise 0 -> bin [0, 4)
    fake = clean.copy()
    fake[0, :, 0, :] += 4  # 6 values of noise +4 -> bin [4, 8), 6 values stay in [0, 4)
    got = float(kld_official(_levels_to_unit(real), _levels_to_unit(fake), _levels_to_unit(clean)))
    # p: 13/142 in [0,4), 1/142 elsewhere; q: 7/142 in [0,4) and [4,8), 1/142 elsewhere
    expected = (13 * math.log(13 / 7) + math.log(1 / 7)) / 142
    assert got == pytest.approx(expected, abs=1e-14)
    # unrounded fake noise stays in its bin: +3.9 is still in [0, 4) -> KLD 0
    fake_float = torch.full((1, 3, 2, 2), 103.9 / 255, dtype=torch.float64)
    assert float(kld_official(_levels_to_unit(real), fake_float, _levels_to_unit(clean))) == 0.0
    # -0.1 falls in [-4, 0): all 12 values move one bin down
    fake_neg = torch.full((1, 3, 2, 2), 99.9 / 255, dtype=torch.float64)
    expected_shift = 13 / 142 * math.log(13) + 1 / 142 * math.log(1 / 13)
    got_shift = float(kld_official(_levels_to_unit(real), fake_neg, _levels_to_unit(clean)))
    assert got_shift == pytest.approx(expected_shift, abs=1e-14)


def test_kld_official_matches_numpy_protocol_and_uint8():
    rng = np.random.default_rng(2)
    clean = rng.integers(30, 226, size=(4, 3, 24, 24))
    real = clean + rng.integers(-25, 26, size=clean.shape)
    fake_levels = np.clip(clean + rng.normal(0, 9, size=clean.shape), 0, 256)  # unrounded, official clip
    fake = torch.from_numpy(fake_levels / 255.0)
    got = kld_official(_levels_to_unit(real), fake, _levels_to_unit(clean))
    edges = np.arange(-260, 261, 4)
    ref = [_np_kld((real - clean)[i], (fake_levels - clean)[i], edges, 1.0) for i in range(4)]
    np.testing.assert_allclose(got.numpy(), ref, rtol=1e-12)
    got_u8 = kld_official(torch.from_numpy(real.astype(np.uint8)), fake, torch.from_numpy(clean.astype(np.uint8)))
    np.testing.assert_allclose(got_u8.numpy(), ref, rtol=1e-12)


def test_kld_official_depends_on_patch_size():
    # the documented caveat: the same noise law scores differently on 32x32 and 96x96 patches
    rng = np.random.default_rng(3)
    clean = np.full((1, 3, 96, 96), 128)
    real = clean + rng.integers(-8, 9, size=clean.shape)
    fake = clean + rng.integers(-8, 9, size=clean.shape)
    args = [_levels_to_unit(a) for a in (real, fake, clean)]
    big = float(kld_official(*args))
    small = float(kld_official(*[a[..., :32, :32] for a in args]))
    assert small != pytest.approx(big, rel=0.05)


def test_kld_official_validation():
    x = torch.rand(2, 3, 8, 8)
    with pytest.raises(ValueError, match="same shape"):
        kld_official(x, x, torch.rand(2, 3, 8, 9))
    with pytest.raises(ValueError, match="channels"):
        kld_official(x[:, :1], x[:, :1], x[:, :1])
    with pytest.raises(TypeError):
        kld_official(x, x, (x * 255).to(torch.int32))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        kld_official(x + 1, x, x)
    kld_official(x, torch.full_like(x, 256 / 255), x)  # the official fake may reach 256 levels
    with pytest.raises(ValueError, match="noisy_fake"):
        kld_official(x, x + 1.1, x)


# ------------------------------------------------------------------------------------------------ kld_block


def test_kld_block_hand_counted():
    clean = torch.full((1, 3, 4, 4), 0.5, dtype=torch.float64)
    real = clean.clone()  # all noise 0 -> bin [0, 1/128)
    fake = clean.clone()
    fake[0, :, :2] += 2 / 128  # half of the values -> bin [2/128, 3/128)
    # p = 1 in one bin, q = 0.5 there
    assert float(kld_block(real, fake, clean)) == pytest.approx(math.log(2), abs=1e-14)
    # reversed: the real mass the fake misses is dropped, so the value is negative
    assert float(kld_block(fake, real, clean)) == pytest.approx(0.5 * math.log(0.5), abs=1e-14)
    assert float(kld_block(real, real.clone(), clean)) == 0.0


def test_kld_block_matches_numpy_protocol():
    rng = np.random.default_rng(4)
    clean = rng.integers(40, 216, size=(3, 3, 32, 32))
    real = np.clip(clean + rng.integers(-30, 31, size=clean.shape), 0, 255)
    fake = np.clip(clean + rng.normal(0, 10, size=clean.shape), 0, 255)
    r, f, c = _levels_to_unit(real), torch.from_numpy(fake / 255), _levels_to_unit(clean)
    got = kld_block(r, f, c)
    edges = np.arange(-1.0, 1.0 + 1 / 128, 1 / 128)
    rn, fn, cn = r.numpy().astype(np.float64), f.numpy(), c.numpy().astype(np.float64)
    ref = [_np_kld(rn[i] - cn[i], fn[i] - cn[i], edges, 0.0) for i in range(3)]
    np.testing.assert_allclose(got.numpy(), ref, rtol=1e-12)
    # uint8 input equals float64 k/255 input (float32 k/255 may move a continuous fake value across an edge)
    got_u8 = kld_block(torch.from_numpy(real.astype(np.uint8)), f, torch.from_numpy(clean.astype(np.uint8)))
    got_f64 = kld_block(torch.from_numpy(real / 255.0), f, torch.from_numpy(clean / 255.0))
    np.testing.assert_allclose(got_u8.numpy(), got_f64.numpy(), rtol=1e-12)


def test_kld_block_requires_unit_range():
    x = torch.rand(1, 3, 8, 8)
    with pytest.raises(ValueError, match="noisy_fake"):
        kld_block(x, x * 1.01 + 0.01, x)

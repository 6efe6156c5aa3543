"""Tests of the physics-based camera simulator and the embedded simulated dataset (CPU, a few seconds)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nmflowgan_aug.data.camera_sim import (
    EMBEDDED_PHOTOS,
    SIMULATED_PROFILES,
    SIMULATED_VOCABULARY,
    SimulatedCameraProfile,
    embedded_pairs,
    get_profile,
    poisson_gaussian_noise,
    process,
    simulate_noisy,
    simulate_pair,
    unprocess,
)

PROFILE_IDS = [p.name for p in SIMULATED_PROFILES]


def _smooth_image(h: int = 64, w: int = 64) -> torch.Tensor:
    """Smooth colour image with values in [0.1, 0.9] (away from clipping), (1, 3, h, w)."""
    yy, xx = torch.meshgrid(torch.linspace(0.1, 0.9, h), torch.linspace(0.1, 0.9, w), indexing="ij")
    return torch.stack([yy, xx, 0.5 + 0.3 * torch.sin(3 * (xx + yy))], 0).unsqueeze(0)


def _residual(profile, iso, level=0.4, size=256, seed=0) -> np.ndarray:
    """The residual noisy - clean_processed on a flat patch, float64 (3, size, size), in 8-bit levels."""
    flat = torch.full((1, 3, size, size), level)
    clean, noisy = simulate_pair(flat, profile, iso, generator=torch.Generator().manual_seed(seed))
    return ((noisy - clean) * 255.0).double().numpy()[0]


def _lag1_corr(r: np.ndarray) -> float:
    """Mean of horizontal and vertical lag-1 autocorrelation of one 2-D residual."""
    h = np.corrcoef(r[:, :-1].ravel(), r[:, 1:].ravel())[0, 1]
    v = np.corrcoef(r[:-1, :].ravel(), r[1:, :].ravel())[0, 1]
    return float((h + v) / 2)


# ------------------------------------------------------------------------------------------------- profiles


def test_profiles_and_vocabulary():
    assert len(SIMULATED_PROFILES) == 3
    assert SIMULATED_VOCABULARY.cameras == tuple(PROFILE_IDS)
    assert SIMULATED_VOCABULARY.isos == (100, 400, 800, 1600, 3200)
    assert SIMULATED_VOCABULARY.iso_encoding == "onehot"
    assert len({p.cfa for p in SIMULATED_PROFILES}) == 3
    for p in SIMULATED_PROFILES:
        m = np.asarray(p.rgb_to_cam)
        np.testing.assert_allclose(m.sum(1), 1.0, atol=1e-12)
        np.testing.assert_allclose(np.asarray(p.cam_to_rgb) @ m, np.eye(3), atol=1e-9)
        assert get_profile(p.name) is p


def test_noise_params_formula():
    p = SIMULATED_PROFILES[0]
    a1, b1 = p.noise_params(p.base_iso)
    assert a1 == pytest.approx(p.shot_gain_at_base)
    assert b1 == pytest.approx(p.read_var_at_base + p.read_var_floor)
    a4, b4 = p.noise_params(4 * p.base_iso)
    assert a4 == pytest.approx(4 * a1)
    assert b4 == pytest.approx(16 * p.read_var_at_base + p.read_var_floor)
    assert p.shot_gain_per_iso * 800 == pytest.approx(p.noise_params(800)[0])


def test_profile_validation():
    good = dict(name="X", cfa="RGGB", rgb_to_cam=((1, 0, 0), (0, 1, 0), (0, 0, 1)), wb_gains=(2.0, 1.5),
                base_iso=100, shot_gain_at_base=1e-4, read_var_at_base=1e-8, read_var_floor=1e-7)
    SimulatedCameraProfile(**good)
    with pytest.raises(ValueError, match="Bayer"):
        SimulatedCameraProfile(**{**good, "cfa": "RGBG"})
    with pytest.raises(ValueError, match="non-negative"):
        SimulatedCameraProfile(**{**good, "rgb_to_cam": ((1, -0.1, 0), (0, 1, 0), (0, 0, 1))})
    with pytest.raises(ValueError, match="wb_gains"):
        SimulatedCameraProfile(**{**good, "wb_gains": (0.5, 1.5)})
    with pytest.raises(ValueError, match="unknown simulated camera"):
        get_profile("IP")
    with pytest.raises(TypeError):
        get_profile(3)


# ------------------------------------------------------------------------------------------------- pipeline


@pytest.mark.parametrize("profile", SIMULATED_PROFILES, ids=PROFILE_IDS)
def test_noise_free_round_trip_is_near_identity(profile):
    img = _smooth_image()
    raw = unprocess(img, profile)
    assert raw.shape == (1, 1, 64, 64) and 0.0 <= float(raw.min()) and float(raw.max()) <= 1.0
    out = process(raw, profile, quantize=False)
    err = (out - img).abs() * 255.0
    # Inside the 2-pixel border only the bilinear-demosaicing error of a smooth image remains (< 1 level);
    # kornia's replicate padding at the border costs a few levels on this steep (3 levels / pixel) ramp.
    assert float(err[..., 2:-2, 2:-2].max()) < 2.0
    assert float(err.mean()) < 0.5
    clean, _ = simulate_pair(img, profile, 100, generator=torch.Generator().manual_seed(0))
    assert float(((clean - img).abs() * 255.0)[..., 2:-2, 2:-2].max()) <= 2.5  # + half a level of rounding


@pytest.mark.parametrize("profile", SIMULATED_PROFILES, ids=PROFILE_IDS)
def test_noise_std_grows_with_iso(profile):
    stds = [_residual(profile, iso, level=0.5, size=128).std() for iso in SIMULATED_VOCABULARY.isos]
    assert all(s1 < s2 for s1, s2 in zip(stds, stds[1:])), stds
    assert 1.0 < stds[0] < 6.0 and 8.0 < stds[-1] < 35.0, stds  # a few levels at ISO 100, heavy at 3200


def test_noise_is_nearly_zero_mean_around_processed_clean():
    r = _residual(SIMULATED_PROFILES[0], 800, level=0.5)
    # The concave sRGB curve biases the mean by about -0.5 level at this noise level (Jensen); no clipping here.
    assert abs(r.mean()) < 1.0


def test_residual_has_spatial_and_cross_channel_correlation():
    r = _residual(SIMULATED_PROFILES[0], 1600, level=0.4)
    r = r - r.mean(axis=(1, 2), keepdims=True)
    # Bilinear demosaicing fills 3 of 4 red/blue pixels and 1 of 2 green pixels with averages of neighbouring
    # samples, so neighbours share noise: the lag-1 correlation is about 0.4 (green) to 0.65 (red/blue), for a
    # white-noise image it is 0 +- 0.004 (1/sqrt(65536)). 0.2 leaves a wide margin for the CCM mixing.
    lag1 = [_lag1_corr(r[c]) for c in range(3)]
    assert min(lag1) > 0.2, lag1
    # The colour-correction matrix has off-diagonal terms of -0.2 ... -0.5, so neighbouring channels become
    # negatively correlated (measured about -0.35 for R-G and -0.43 for G-B); require |rho| > 0.15.
    cc = np.corrcoef(r.reshape(3, -1))
    assert abs(cc[0, 1]) > 0.15 and abs(cc[1, 2]) > 0.15, cc
    # I.i.d. Gaussian baseline of the same size: no correlation of either kind.
    g = np.random.default_rng(0).normal(size=r.shape)
    assert max(abs(_lag1_corr(g[c])) for c in range(3)) < 0.03
    cg = np.corrcoef(g.reshape(3, -1))
    assert abs(cg[0, 1]) < 0.03 and abs(cg[1, 2]) < 0.03


def test_poisson_gaussian_raw_variance_matches_model():
    levels = torch.tensor([0.02, 0.1, 0.3, 0.6, 0.9]).view(5, 1, 1, 1)
    raw = levels.expand(5, 1, 200, 200).contiguous()
    a = torch.tensor([1e-3, 4e-3, 1e-2, 1e-2, 2e-3]).view(5, 1, 1, 1)
    b = torch.tensor([1e-6, 2e-5, 1e-4, 5e-5, 0.0]).view(5, 1, 1, 1)
    y = poisson_gaussian_noise(raw, a, b, generator=torch.Generator().manual_seed(0)).double()
    mean, var = y.mean(dim=(1, 2, 3)), y.var(dim=(1, 2, 3))
    expected = (a * levels + b).double().flatten()
    # 40,000 samples each: relative std of a variance estimate ~ sqrt(2/40000) = 0.7 %, so 5 % is > 6 sigma.
    np.testing.assert_allclose(var.numpy(), expected.numpy(), rtol=0.05)
    np.testing.assert_allclose(mean.numpy(), levels.flatten().double().numpy(), atol=2e-3)
    assert poisson_gaussian_noise(raw, 1e-3, 1e-6).dtype == raw.dtype
    with pytest.raises(ValueError):
        poisson_gaussian_noise(raw, 0.0, 1e-6)
    with pytest.raises(ValueError):
        poisson_gaussian_noise(raw - 1.0, 1e-3, 1e-6)


def test_seeded_reproducibility():
    img = _smooth_image(32, 32)
    p = SIMULATED_PROFILES[1]
    n1 = simulate_noisy(img, p, 800, generator=torch.Generator().manual_seed(7))
    n2 = simulate_noisy(img, p, 800, generator=torch.Generator().manual_seed(7))
    n3 = simulate_noisy(img, p, 800, generator=torch.Generator().manual_seed(8))
    assert torch.equal(n1, n2)
    assert not torch.equal(n1, n3)


def test_output_dtype_range_and_quantisation(device):
    device = torch.device(device)  # conftest parametrizes directly, so its skip never runs: check here
    if device.type == "cuda" and not torch.cuda.is_available():
        pytest.skip("CUDA is not available on this machine")
    img = _smooth_image(32, 32).repeat(2, 1, 1, 1).to(device)
    gen = torch.Generator(device=device).manual_seed(0)
    clean, noisy = simulate_pair(img, "SimCam-C", [100, 3200], generator=gen)
    for t in (clean, noisy):
        assert t.shape == img.shape and t.dtype == torch.float32 and t.device == img.device
        assert float(t.min()) >= 0.0 and float(t.max()) <= 1.0
        k = t * 255.0
        assert float((k - k.round()).abs().max()) < 1e-4
    # per-sample ISO: the ISO 3200 image is noisier than the ISO 100 one
    r = (noisy - clean).float()
    assert float(r[1].std()) > 2 * float(r[0].std())
    d = simulate_noisy(img.double(), "SimCam-C", 400, generator=torch.Generator(device=device).manual_seed(0))
    assert d.dtype == torch.float64


def test_input_errors():
    img = _smooth_image(32, 32)
    with pytest.raises(ValueError, match="even"):
        simulate_noisy(img[..., :31, :], "SimCam-A", 100)
    with pytest.raises(ValueError, match="even"):
        simulate_pair(img[..., :, :31], "SimCam-A", 100)
    with pytest.raises(ValueError, match="supported ISO"):
        simulate_noisy(img, "SimCam-A", 200)
    with pytest.raises(ValueError, match="supported cameras"):
        simulate_noisy(img, "GP", 100)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        simulate_noisy(img * 2.0, "SimCam-A", 100)
    with pytest.raises(TypeError):
        simulate_noisy((img * 255).to(torch.uint8), "SimCam-A", 100)
    with pytest.raises(ValueError, match="channels"):
        simulate_noisy(img[:, :2], "SimCam-A", 100)
    with pytest.raises(ValueError, match="batch"):
        simulate_noisy(img, "SimCam-A", [100, 400])


# ------------------------------------------------------------------------------------------------- dataset


def test_embedded_pairs_deterministic_and_protocol():
    a = embedded_pairs(size=64, n_images=15, seed=3)
    b = embedded_pairs(size=64, n_images=15, seed=3)
    assert [p.name for p in a] == [p.name for p in b]
    assert len({p.name for p in a}) == 15
    for pa, pb in zip(a, b):
        ca, na = pa.load()
        cb, nb = pb.load()
        assert np.array_equal(ca, cb) and np.array_equal(na, nb)
        assert ca.shape == na.shape == (64, 64, 3) and ca.dtype == na.dtype == np.uint8
        assert pa.scene is None and pa.camera in SIMULATED_VOCABULARY.cameras and pa.iso in SIMULATED_VOCABULARY.isos
        assert not np.array_equal(ca, na)
    # balanced: 15 pairs cover every (camera, ISO) condition once
    assert {(p.camera, p.iso) for p in a} == {(c, i) for c in SIMULATED_VOCABULARY.cameras for i in SIMULATED_VOCABULARY.isos}
    c = embedded_pairs(size=64, n_images=15, seed=4)
    assert any(not np.array_equal(pa.noisy, pc.noisy) for pa, pc in zip(a, c))


def test_embedded_pairs_train_val_disjoint():
    train = embedded_pairs(size=64, seed=0, split="train")
    val = embedded_pairs(size=64, seed=0, split="val")
    assert len(train) == 45 and len(val) == 15
    photo = lambda p: p.name.split("-")[3]  # noqa: E731
    assert {photo(p) for p in train} <= set(EMBEDDED_PHOTOS["train"])
    assert {photo(p) for p in val} <= set(EMBEDDED_PHOTOS["val"])
    assert not set(EMBEDDED_PHOTOS["train"]) & set(EMBEDDED_PHOTOS["val"])
    train_tiles = {p.clean.tobytes() for p in train}
    assert not any(p.clean.tobytes() in train_tiles for p in val)
    with pytest.raises(ValueError, match="split"):
        embedded_pairs(split="test")
    with pytest.raises(ValueError, match="even"):
        embedded_pairs(size=63)

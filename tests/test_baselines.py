"""Noise baselines: parameter recovery on synthetic pairs with known laws, the log-ISO law, sampling contracts."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from nmflowgan_aug.baselines import (
    VAR_FLOOR,
    GaussianNoiseModel,
    HeteroscedasticGaussianNoiseModel,
    LogIsoLaw,
    NoDonorError,
    RealNoiseReference,
    SimulatedCameraNoiseModel,
    UnknownCameraError,
    fit_log_iso_law,
    read_variance,
)
from nmflowgan_aug.data.sidd import PairRecord


def _smooth_clean(rng: np.random.Generator, size: int, lo: float = 0.05, hi: float = 0.95) -> np.ndarray:
    """Piecewise-constant image (8×8 tiles) with intensities spread over [lo, hi], (H, W, 3) float64."""
    tiles = rng.uniform(lo, hi, (size // 8, size // 8, 3))
    return np.kron(tiles, np.ones((8, 8, 1)))


# --------------------------------------------------------------------------------------------------
# log-ISO law


def test_log_iso_law_hand_checked_interpolation_and_extrapolation():
    # camera A: sigma 1 at ISO 100, 4 at ISO 400 -> slope 1 in log-log; camera B: 3 at ISO 200
    law = fit_log_iso_law(["A", "A", "B"], [100, 400, 200], [1.0, 4.0, 3.0], ["sigma"])
    assert law.slopes[0] == pytest.approx(1.0)
    assert law(("A"), 200)[0] == pytest.approx(2.0)  # interpolated: 1 * 200/100
    assert law("B", 800)[0] == pytest.approx(12.0)  # extrapolated along the shared slope: 3 * 800/200
    assert law("B", 100)[0] == pytest.approx(1.5)
    assert law.support("A", 400) == "seen"
    assert law.support("A", 200) == "interpolated"
    assert law.support("B", 800) == "extrapolated"
    assert law.residual_rms[0] == pytest.approx(0.0, abs=1e-12)
    d = law.to_dict()
    assert d["train_isos"] == {"A": [100, 400], "B": [200]}


def test_log_iso_law_least_squares_offsets_and_slope():
    # noisy law: slope is the pooled within-camera slope
    law = fit_log_iso_law(["A", "A", "B", "B"], [100, 400, 100, 1600], [1.0, 2.0, 5.0, 5.0 * 16**0.5], ["s"])
    assert law.slopes[0] == pytest.approx(0.5)
    assert math.exp(law.offsets[0][0]) == pytest.approx(1.0)
    assert math.exp(law.offsets[1][0]) == pytest.approx(5.0)


def test_log_iso_law_errors():
    with pytest.raises(ValueError, match="slope cannot be fitted"):
        fit_log_iso_law(["A", "B"], [100, 400], [1.0, 2.0])
    with pytest.raises(ValueError, match="positive"):
        fit_log_iso_law(["A", "A"], [100, 400], [1.0, 0.0])
    law = fit_log_iso_law(["A", "A"], [100, 400], [1.0, 2.0])
    with pytest.raises(UnknownCameraError, match="'Z' has no training pairs.*'A'"):
        law("Z", 100)
    assert issubclass(UnknownCameraError, ValueError)
    with pytest.raises(ValueError, match="ISO must be a positive"):
        law("A", -5)


# --------------------------------------------------------------------------------------------------
# Gaussian


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


def test_fit_rejects_pairs_without_metadata(tmp_path):
    rng = np.random.default_rng(2)
    clean = rng.uniform(0.2, 0.8, (16, 16, 3))
    with pytest.raises(ValueError, match="unknown camera/ISO"):
        GaussianNoiseModel.fit([(clean, clean, None, 100)])
    with pytest.raises(ValueError, match="no training pairs"):
        GaussianNoiseModel.fit([])
    # ImagePair records are read through load()
    from PIL import Image

    u8 = (clean * 255).astype(np.uint8)
    for name, img in (("c.png", u8), ("n.png", np.clip(u8.astype(int) + 3, 0, 255).astype(np.uint8))):
        Image.fromarray(img).save(tmp_path / name)
    recs = [PairRecord(f"r{i}", tmp_path / "c.png", tmp_path / "n.png", "A", iso) for i, iso in enumerate((100, 200))]
    model = GaussianNoiseModel.fit(recs)
    assert model.sigma("A", 100)[0] == pytest.approx(3 / 255, rel=0.05)


# --------------------------------------------------------------------------------------------------
# heteroscedastic


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


# --------------------------------------------------------------------------------------------------
# camera simulator


def test_simulated_camera_recovers_shot_gain():
    rng = np.random.default_rng(5)
    # ground truth: the simulator itself with an exact law a = a100[cam] * (ISO/100)^0.8
    truth = LogIsoLaw(("A", "B"), ((math.log(4e-4),), (math.log(1e-3),)), (0.8,), ((100, 800), (400,)), ("shot_gain",))
    gen_model = SimulatedCameraNoiseModel(truth)
    pairs = []
    for cam, iso in (("A", 100), ("A", 800), ("B", 400)):
        clean = _smooth_clean(rng, 128)
        t = torch.from_numpy(clean.transpose(2, 0, 1)).unsqueeze(0).float()
        noisy = gen_model.sample(t, cam, iso, generator=torch.Generator().manual_seed(iso))
        pairs.append((clean, noisy[0].double().numpy().transpose(1, 2, 0), cam, iso))
    fitted = SimulatedCameraNoiseModel.fit(pairs, max_size=128)
    assert fitted.law.slopes[0] == pytest.approx(0.8, abs=0.1)
    for cam, iso in (("A", 100), ("A", 800), ("B", 400), ("B", 3200)):
        a_true, b_true = gen_model.noise_params(cam, iso)
        a_fit, b_fit = fitted.noise_params(cam, iso)
        assert a_fit == pytest.approx(a_true, rel=0.15)
        assert b_fit == pytest.approx(read_variance(a_fit))
    assert b_true == pytest.approx(math.exp(2.18 * math.log(a_true) + 1.20))


def test_simulated_camera_sampling_contract():
    law = LogIsoLaw(("A",), ((math.log(1e-3),),), (1.0,), ((100, 400),), ("shot_gain",))
    model = SimulatedCameraNoiseModel(law)
    clean = torch.rand(2, 3, 33, 18)  # odd height: padded for the Bayer mosaic and cropped back
    g = lambda s: torch.Generator().manual_seed(s)  # noqa: E731
    out1, out2 = model.sample(clean, "A", 800, generator=g(0)), model.sample(clean, "A", 800, generator=g(0))
    assert out1.shape == clean.shape and out1.dtype == torch.float32
    assert torch.equal(out1, out2)
    assert float(out1.min()) >= 0 and float(out1.max()) <= 1
    # more ISO, more noise; noise is centred on the clean image (residual mode)
    low = model.sample(clean, "A", 100, generator=g(1)) - clean
    high = model.sample(clean, "A", 3200, generator=g(1)) - clean
    assert float(high.std()) > 2 * float(low.std())
    assert abs(float(low.mean())) < 0.01
    with pytest.raises(UnknownCameraError):
        model.sample(clean, "B", 100)


# --------------------------------------------------------------------------------------------------
# real noise reference


def _pair(rng, level, size=32):
    clean = rng.integers(60, 190, (size, size, 3), dtype=np.uint8)
    noisy = np.clip(clean.astype(int) + rng.integers(-level, level + 1, clean.shape), 0, 255).astype(np.uint8)
    return clean, noisy


class _Rec:
    def __init__(self, name, camera, iso, scene, clean, noisy):
        self.name, self.camera, self.iso, self.scene = name, camera, iso, scene
        self._c, self._n = clean, noisy

    def load(self):
        return self._c, self._n


def test_real_noise_reference_uses_another_pair():
    rng = np.random.default_rng(6)
    a, b, c, d = (_pair(rng, k) for k in (5, 9, 3, 7))
    ref = RealNoiseReference.fit([
        _Rec("a", "GP", 6400, "s1", *a), _Rec("b", "GP", 6400, "s2", *b),
        _Rec("c", "GP", 6400, "s1", *c), _Rec("d", "S6", 3200, "s3", *d),
    ])
    clean = torch.from_numpy(a[0]).permute(2, 0, 1).unsqueeze(0).float() / 255
    # target "a" of scene s1: the other-scene donor "b" is preferred over same-scene "c"
    out, used = ref.sample_with_donors(clean, "GP", 6400, exclude=("a",), scene="s1")
    assert used == [("b", False)]
    resid_b = torch.from_numpy(b[1].astype(np.int16) - b[0].astype(np.int16)).permute(2, 0, 1).float()
    expected = (clean[0] + resid_b / 255).clamp(0, 1)
    assert torch.allclose(out[0], expected, atol=1e-6)
    # only same-scene donors left: used and flagged
    _, used = ref.sample_with_donors(clean, "GP", 6400, exclude=("a", "b"), scene="s1")
    assert used == [("c", True)]
    with pytest.raises(NoDonorError, match="no real-noise donor"):
        ref.sample(clean, "G4", 400)
    with pytest.raises(NoDonorError):
        ref.sample(clean, "S6", 3200, exclude=("d",))
    assert ref.candidates("S6", 3200) == ([ref.donors[3]], False)


def test_real_noise_reference_crops_and_tiles():
    rng = np.random.default_rng(7)
    ref = RealNoiseReference.fit([_Rec("big", "IP", 100, None, *_pair(rng, 4, size=48))])
    g = lambda s: torch.Generator().manual_seed(s)  # noqa: E731
    small = torch.full((1, 3, 16, 20), 128 / 255)
    big = torch.full((2, 3, 100, 70), 0.5)  # larger than the donor: mirror-tiled
    out_s = ref.sample(small, "IP", 100, generator=g(0))
    out_b = ref.sample(big, "IP", 100, generator=g(0))
    assert out_s.shape == small.shape and out_b.shape == big.shape
    assert torch.equal(out_s, ref.sample(small, "IP", 100, generator=g(0)))
    assert float((out_b - 0.5).abs().max()) > 0
    # 8-bit clean + integer residual stays on the 8-bit grid
    assert torch.allclose(out_s * 255, torch.round(out_s * 255), atol=1e-4)

"""Camera-simulator baseline: shot gain recovered from its own samples; sampling contract."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from nmflowgan_aug.baselines import LogIsoLaw, SimulatedCameraNoiseModel, UnknownCameraError, read_variance


def _smooth_clean(rng: np.random.Generator, size: int, lo: float = 0.05, hi: float = 0.95) -> np.ndarray:
    """Piecewise-constant image (8×8 tiles) with intensities spread over [lo, hi], (H, W, 3) float64."""
    tiles = rng.uniform(lo, hi, (size // 8, size // 8, 3))
    return np.kron(tiles, np.ones((8, 8, 1)))


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

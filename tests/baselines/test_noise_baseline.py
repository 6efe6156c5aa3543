"""The shared sampling steps of the baselines (check → conditions → add noise → clip) and the NoiseModel protocol."""

from __future__ import annotations

import math

import pytest
import torch

from nmflowgan_aug import NMFlowGAN, NMFlowGANConfig
from nmflowgan_aug.baselines import (
    GaussianNoiseModel,
    HeteroscedasticGaussianNoiseModel,
    LogIsoLaw,
    NoiseBaseline,
    NoiseModel,
    RealNoiseReference,
    SimulatedCameraNoiseModel,
)
from nmflowgan_aug.baselines.base import batch_conditions, check_iso


class _Offset(NoiseBaseline):
    """Adds ``iso / 1000`` to every pixel and records what ``add_noise`` received."""

    def __init__(self):
        self.calls = []

    def add_noise(self, x, conditions, generator):
        self.calls.append((x.dtype, list(conditions)))
        return x + torch.tensor([iso / 1000 for _, iso in conditions], dtype=x.dtype).view(-1, 1, 1, 1)

    def describe(self):
        return {}


def test_sample_clips_quantizes_and_keeps_dtype():
    model = _Offset()
    clean = torch.full((2, 3, 4, 5), 0.5)
    out = model.sample(clean, ["A", "B"], torch.tensor([100, 800]))
    assert model.calls[-1] == (torch.float32, [("A", 100.0), ("B", 800.0)])
    assert torch.allclose(out[0], torch.full((3, 4, 5), 0.6)) and torch.equal(out[1], torch.ones(3, 4, 5))  # clipped
    q = model.sample(clean, "A", 101, quantize=True)
    assert torch.equal(q, torch.full_like(clean, round(0.601 * 255) / 255))
    half = model.sample(clean.half(), "A", 100)
    assert half.dtype == torch.float16 and model.calls[-1][0] == torch.float32  # computed in float32


def test_sample_checks_input_before_adding_noise():
    model = _Offset()
    with pytest.raises(ValueError, match=r"sRGB in \[0, 1\]"):
        model.sample(torch.full((1, 3, 4, 4), 2.0), "A", 100)
    with pytest.raises(ValueError, match="batch of 2"):
        model.sample(torch.rand(2, 3, 4, 4), ["A"], 100)
    with pytest.raises(TypeError, match="camera must be a name"):
        model.sample(torch.rand(1, 3, 4, 4), [3], 100)
    with pytest.raises(ValueError, match="ISO must be a positive number, got -1"):
        model.sample(torch.rand(1, 3, 4, 4), "A", -1)
    assert model.calls == []


def test_batch_conditions_and_iso_check():
    assert batch_conditions("GP", 800, 2) == [("GP", 800.0), ("GP", 800.0)]
    assert batch_conditions(["GP", "IP"], torch.tensor(400), 2) == [("GP", 400.0), ("IP", 400.0)]
    assert check_iso("3200") == 3200.0
    for bad in (0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="ISO must be a positive number"):
            check_iso(bad)


def test_models_and_baselines_share_the_noise_model_protocol():
    law = LogIsoLaw(("A",), ((math.log(0.01),) * 3,), (0.5,) * 3, ((100, 400),), ("s0", "s1", "s2"))
    shot = LogIsoLaw(("A",), ((math.log(1e-3),),), (1.0,), ((100, 400),), ("shot_gain",))
    hetero = LogIsoLaw(("A",), ((math.log(1e-4),) * 6,), (1.0,) * 6, ((100, 400),), tuple(f"v{k}" for k in range(6)))
    sources = [GaussianNoiseModel(law), HeteroscedasticGaussianNoiseModel(hetero), SimulatedCameraNoiseModel(shot),
               RealNoiseReference([]), NMFlowGAN(NMFlowGANConfig(unet_depth=1, unet_width=4))]
    assert all(isinstance(s, NoiseModel) for s in sources)
    assert not isinstance(object(), NoiseModel)
    clean = torch.rand(1, 3, 8, 8)
    for s in sources[:3]:
        assert s.sample(clean, "A", 200, generator=torch.Generator().manual_seed(0)).shape == clean.shape

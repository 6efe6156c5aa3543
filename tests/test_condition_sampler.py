"""ConditionSampler: the camera/ISO distribution, its restrictions, and drawing only what is missing."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from nmflowgan_aug import SIDD_VOCABULARY, ConditionSampler, ConditionVocabulary
from nmflowgan_aug.vocab import Conditions


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_sampler_default_is_uniform_cameras_log_uniform_iso():
    vocab = ConditionVocabulary(("IP", "GP"), (100, 1000, 10000))
    cams, isos = ConditionSampler().sample(vocab, 20000, _gen(1))
    assert abs(float((cams == 0).double().mean()) - 0.5) < 0.02
    # log-uniform over [100, 10000], snapped to the nearest allowed ISO in log space: 1/4, 1/2, 1/4
    shares = [float((isos == v).double().mean()) for v in (100, 1000, 10000)]
    assert shares == pytest.approx([0.25, 0.5, 0.25], abs=0.02)


def test_sampler_restrictions_and_weights():
    sampler = ConditionSampler(cameras=("GP", "S6", "G4"), iso_range=(400, 1600), weights=(1, 0, 3))
    cams, isos = sampler.sample(SIDD_VOCABULARY, 4000, _gen(2))
    assert set(cams.tolist()) == {1, 4} and abs(float((cams == 4).double().mean()) - 0.75) < 0.03
    assert set(isos.tolist()) <= {400, 500, 640, 800, 1000, 1250, 1600}
    cams, isos = ConditionSampler(isos=(100, 3200)).sample(SIDD_VOCABULARY, 100, _gen(3))
    assert set(isos.tolist()) <= {100, 3200}


def test_sampler_is_reproducible_and_returns_conditions_on_the_cpu():
    a = ConditionSampler().sample(SIDD_VOCABULARY, 5, _gen(4))
    b = ConditionSampler().sample(SIDD_VOCABULARY, 5, _gen(4))
    assert isinstance(a, Conditions) and a.camera_codes.device.type == "cpu"
    assert a.camera_codes.dtype == a.iso_values.dtype == torch.long and a.camera_codes.shape == (5,)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    torch.manual_seed(3)  # without a generator: torch's global CPU RNG
    c = ConditionSampler().sample(SIDD_VOCABULARY, 5)
    assert all(torch.equal(x, y) for x, y in zip(c, ConditionSampler().sample(SIDD_VOCABULARY, 5, _gen(3))))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"weights": (1, -1)}, "non-negative"),
        ({"weights": (0, 0)}, "positive sum"),
        ({"iso_range": (800, 100)}, "lo <= hi"),
    ],
)
def test_sampler_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ConditionSampler(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"cameras": ("D800",)}, "unknown camera"),
        ({"isos": (12800,)}, "unsupported ISO"),
        ({"iso_range": (4000, 5000)}, "no allowed ISO"),
        ({"weights": (1, 2)}, "2 weights for 5 cameras"),
    ],
)
def test_sampler_not_matching_the_vocabulary(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ConditionSampler(**kwargs).sample(SIDD_VOCABULARY, 1)


def test_sampler_refuses_a_generator_off_the_cpu():
    cuda_generator = SimpleNamespace(device=torch.device("cuda"))  # stands in for torch.Generator("cuda")
    with pytest.raises(ValueError, match="draws on the CPU; got a generator on cuda"):
        ConditionSampler().sample(SIDD_VOCABULARY, 1, cuda_generator)


def test_fill_missing_draws_only_what_is_missing():
    sampler = ConditionSampler()
    state = torch.get_rng_state()
    assert sampler.fill_missing(SIDD_VOCABULARY, "GP", [800, 100], 2) == ("GP", [800, 100])  # given: as is
    assert torch.equal(torch.get_rng_state(), state)  # nothing drawn
    torch.manual_seed(5)
    camera, iso = sampler.fill_missing(SIDD_VOCABULARY, None, 3200, 4)
    torch.manual_seed(5)
    assert torch.equal(camera, sampler.sample(SIDD_VOCABULARY, 4).camera_codes) and iso == 3200
    torch.manual_seed(6)
    camera, iso = sampler.fill_missing(SIDD_VOCABULARY, None, None, 4)
    torch.manual_seed(6)
    assert all(torch.equal(x, y) for x, y in zip((camera, iso), sampler.sample(SIDD_VOCABULARY, 4)))


def test_strength_fixed_draws_nothing_and_a_range_draws_uniformly():
    state = torch.get_rng_state()
    assert ConditionSampler().sample_strength(3).tolist() == [1.0, 1.0, 1.0]
    assert ConditionSampler(strength=0.25).fill_strength(None, 2).tolist() == [0.25, 0.25]
    assert torch.equal(torch.get_rng_state(), state)
    drawn = ConditionSampler(strength=(0.5, 1.5)).sample_strength(20000, _gen(1))
    assert drawn.dtype == torch.float32 and 0.5 <= float(drawn.min()) and float(drawn.max()) <= 1.5
    assert float(drawn.mean()) == pytest.approx(1.0, abs=0.01) and float(drawn.std()) == pytest.approx(1 / 12**0.5, abs=0.01)
    assert ConditionSampler(strength=(0.5, 1.5)).fill_strength([2.0, 3.0], 2) == [2.0, 3.0]  # given: as is


@pytest.mark.parametrize(
    ("strength", "error", "match"),
    [(-0.1, ValueError, ">= 0"), ((2, 1), ValueError, "lo <= hi"), ((1, 2, 3), ValueError, "a number or a range"),
     (float("inf"), ValueError, "finite"), ("x", ValueError, "a number or a range")],
)
def test_bad_strength(strength, error, match):
    with pytest.raises(error, match=match):
        ConditionSampler(strength=strength)


def test_strength_values_accepts_numbers_sequences_tensors_and_numpy():
    import numpy as np

    from nmflowgan_aug.condition_sampler import strength_values

    for value in (0.5, np.float64(0.5), [0.5, 0.5], torch.tensor([0.5, 0.5]), np.array([0.5, 0.5]), torch.tensor(0.5)):
        assert strength_values(value, 2).tolist() == [0.5, 0.5], value
    with pytest.raises(TypeError, match="strength"):
        strength_values(None, 2)
    with pytest.raises(TypeError, match="real numbers"):
        strength_values(torch.tensor([True, False]), 2)

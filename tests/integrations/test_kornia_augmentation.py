"""RandomNMFlowGANNoise, the kornia wrapper: replay, p / same_on_batch / keepdim, containers, overrides."""

from __future__ import annotations

import kornia.augmentation as K
import pytest
import torch

from nmflowgan_aug import ConditionSampler, add_camera_noise
from nmflowgan_aug.integrations.kornia_augmentation import RandomNMFlowGANNoise


@pytest.fixture(scope="module")
def aug(tiny_model_dir) -> RandomNMFlowGANNoise:
    return RandomNMFlowGANNoise(tiny_model_dir)


def _expected(aug, x, rows, camera, iso):
    """What the augmentation must output: add_camera_noise on the selected rows with the drawn seed."""
    seed = int(aug._params["seed"][0])
    noisy, _, _, _ = add_camera_noise(
        x[rows], camera, iso, model=aug.noise_model, generator=torch.Generator(device=x.device).manual_seed(seed)
    )
    return noisy


def test_alone_and_replay(aug, device):
    aug.to(device)
    try:
        x = torch.rand(3, 3, 16, 16, device=device)
        out = aug(x)
        assert out.shape == x.shape and out.dtype == x.dtype and out.device == x.device
        assert set(aug._params) >= {"camera", "iso", "seed", "batch_prob"} and aug._params["camera"].shape == (3,)
        assert torch.equal(aug(x, params=aug._params), out)
        assert torch.equal(out, _expected(aug, x, slice(None), aug._params["camera"], aug._params["iso"]))
        assert not torch.equal(aug(x), out)  # a fresh draw
    finally:
        aug.to("cpu")


def test_p_computes_only_selected_rows(tiny_model_dir):
    aug = RandomNMFlowGANNoise(tiny_model_dir, p=0.5)
    x = torch.rand(8, 3, 16, 16)
    for seed in range(20):  # find a draw that mixes applied and skipped rows
        torch.manual_seed(seed)
        out = aug(x)
        applied = aug._params["batch_prob"] > 0.5
        if 0 < int(applied.sum()) < 8:
            break
    assert torch.equal(out[~applied], x[~applied])
    rows = applied.nonzero().flatten()
    cams, isos = aug._params["camera"][rows], aug._params["iso"][rows]
    assert torch.equal(out[applied], _expected(aug, x, rows, cams, isos))
    assert torch.equal(aug(x, params=aug._params), out)
    assert torch.equal(RandomNMFlowGANNoise(tiny_model_dir, p=0.0)(x), x)


def test_default_p_is_one(aug):
    assert aug.p == 1.0


def test_same_on_batch(tiny_model_dir):
    aug = RandomNMFlowGANNoise(tiny_model_dir, same_on_batch=True)
    aug(torch.rand(4, 3, 8, 8))
    assert len(set(aug._params["camera"].tolist())) == 1 and len(set(aug._params["iso"].tolist())) == 1


def test_keepdim(tiny_model_dir, aug):
    x = torch.rand(3, 8, 8)
    assert RandomNMFlowGANNoise(tiny_model_dir, keepdim=True)(x).shape == (3, 8, 8)
    assert aug(x).shape == (1, 3, 8, 8)


def test_in_augmentation_sequential_with_replay(aug):
    seq = K.AugmentationSequential(K.RandomHorizontalFlip(p=0.5), aug, data_keys=["input", "mask"])
    x, mask = torch.rand(4, 3, 16, 16), torch.rand(4, 1, 16, 16)
    out, out_mask = seq(x, mask)
    flipped = seq._params[0].data["batch_prob"] > 0.5
    assert torch.equal(out_mask[flipped], mask[flipped].flip(-1)) and torch.equal(out_mask[~flipped], mask[~flipped])
    assert not torch.equal(out, torch.where(flipped[:, None, None, None], x.flip(-1), x))  # noised
    again, again_mask = seq(x, mask, params=seq._params)
    assert torch.equal(again, out) and torch.equal(again_mask, out_mask)


def test_kwargs_override_params(aug):
    x = torch.rand(3, 3, 16, 16)
    out = aug(x, camera=["GP", "S6", "G4"], iso=800)
    assert torch.equal(out, _expected(aug, x, slice(None), ["GP", "S6", "G4"], 800))
    out = aug(x, camera=torch.tensor([0, 1, 2]), iso=torch.tensor([100, 200, 400]))
    assert torch.equal(out, _expected(aug, x, slice(None), [0, 1, 2], [100, 200, 400]))


def test_params_hold_one_type_whatever_the_source(aug):
    """Issue 12 item 6: names, lists, numpy values and ISO strings given as overrides are stored as tensors."""
    import numpy as np

    x = torch.rand(2, 3, 8, 8)
    aug(x)
    drawn = {k: (v.dtype, v.shape) for k, v in aug._params.items() if k in ("camera", "iso", "strength", "seed")}
    assert drawn == {"camera": (torch.long, (2,)), "iso": (torch.long, (2,)), "strength": (torch.float32, (2,)),
                     "seed": (torch.long, (2,))}
    out = aug(x, camera=["GP", "S6"], iso=np.array([800, 1600]), strength=0.5)
    given = {k: (v.dtype, v.shape) for k, v in aug._params.items() if k in drawn}
    assert given == drawn
    assert aug._params["camera"].tolist() == [1, 2] and aug._params["iso"].tolist() == [800, 1600]
    assert aug._params["strength"].tolist() == [0.5, 0.5]
    assert torch.equal(aug(x, params=aug._params), out)
    aug(x, iso="3200")
    assert aug._params["iso"].tolist() == [3200, 3200]


def test_strength_range_clip_and_quantize(tiny_model_dir):
    """Issue 12 item 3 (strength drawn per sample), issue 9 item 16 (clip) and issue 10 (8-bit output)."""
    aug = RandomNMFlowGANNoise(tiny_model_dir, sampler=ConditionSampler(strength=(0.1, 0.3)))
    x = torch.rand(4, 3, 8, 8) * 1.04 - 0.02
    out = aug(x)
    strength = aug._params["strength"]
    assert ((strength >= 0.1) & (strength <= 0.3)).all() and len(set(strength.tolist())) == 4
    assert torch.equal(out * 255, torch.round(out * 255))
    expected = add_camera_noise(x.clamp(0, 1), aug._params["camera"], aug._params["iso"], strength=strength,
                                model=aug.noise_model, generator=torch.Generator().manual_seed(int(aug._params["seed"][0])))
    assert torch.equal(out, expected.noisy)
    raw = RandomNMFlowGANNoise(tiny_model_dir, quantize=False, clip=False)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        raw(x)
    assert not torch.equal(raw(x.clamp(0, 1)) * 255, torch.round(raw(x.clamp(0, 1)) * 255))


def test_sampler_restricts_the_draw(tiny_model_dir):
    aug = RandomNMFlowGANNoise(tiny_model_dir, sampler=ConditionSampler(cameras=("IP",), iso_range=(3200, 3200)))
    aug(torch.rand(2, 3, 8, 8))
    assert aug._params["camera"].tolist() == [0, 0] and aug._params["iso"].tolist() == [3200, 3200]
    assert "iso_range=(3200, 3200)" in repr(aug)


@pytest.mark.parametrize(
    ("x", "kwargs", "error", "match"),
    [
        (torch.randint(0, 255, (1, 3, 8, 8), dtype=torch.uint8), {}, TypeError, "uint8"),  # kornia: float only
        (torch.rand(1, 1, 8, 8), {}, ValueError, "3 \\(RGB\\) channels"),
        (torch.full((1, 3, 8, 8), float("nan")), {}, ValueError, "NaN"),  # out of [0, 1] is clipped by default
        (torch.rand(2, 3, 8, 8), {"camera": "D800"}, ValueError, "unknown camera"),
        (torch.rand(2, 3, 8, 8), {"camera": ["GP"]}, ValueError, "1 camera values for a batch of 2"),
        (torch.rand(2, 3, 8, 8), {"iso": 12800}, ValueError, "unsupported ISO"),
    ],
)
def test_bad_inputs(aug, x, kwargs, error, match):
    with pytest.raises(error, match=match):
        aug(x, **kwargs)

"""Training images in memory and the patch sampler: crops, seeded sequence, the dataset's flips/rotations."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nmflowgan_aug.data.hdf5_patches import random_flip_rot
from nmflowgan_aug.denoisers import PatchSampler, load_clean_images, load_train_images


class _Pair:
    def __init__(self, name, h, w, seed, camera="GP", iso=800):
        rng = np.random.default_rng(seed)
        self.name, self.camera, self.iso = name, camera, iso
        self.clean = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        self.noisy = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)

    def load(self):
        return self.clean, self.noisy


def _dihedral(x: np.ndarray) -> list[np.ndarray]:
    """The 8 flip/rotation variants of a CHW array, indexed flip * 4 + k."""
    return [np.rot90(x[:, :, ::-1] if flip else x, k, axes=(1, 2)) for flip in (0, 1) for k in range(4)]


def test_load_whole_images_and_crops():
    pairs = [_Pair("a", 20, 30, 0), _Pair("b", 16, 16, 1, "IP", 100)]
    whole = load_train_images(pairs, 16, 0, seed=0, progress=False)
    assert whole.names == ["a", "b"] and whole.conditions == [("GP", 800), ("IP", 100)]
    np.testing.assert_array_equal(whole.clean[0], pairs[0].clean.transpose(2, 0, 1))
    crops = load_train_images(pairs, 8, 3, seed=0, progress=False)
    assert crops.names == ["a#0", "a#1", "a#2", "b#0", "b#1", "b#2"] and crops.isos == [800] * 3 + [100] * 3
    for c, n, name in zip(crops.clean, crops.noisy, crops.names):
        src = pairs[0] if name.startswith("a") else pairs[1]
        hits = [(y, x) for y in range(src.clean.shape[0] - 7) for x in range(src.clean.shape[1] - 7)
                if np.array_equal(src.clean[y : y + 8, x : x + 8].transpose(2, 0, 1), c)]
        assert hits and np.array_equal(src.noisy[hits[0][0] : hits[0][0] + 8, hits[0][1] : hits[0][1] + 8]
                                       .transpose(2, 0, 1), n)
    with pytest.raises(ValueError, match="smaller than the patch size 32"):
        load_train_images(pairs, 32, 0, seed=0, progress=False)


def test_sampler_is_seeded_and_weights_by_crop_positions():
    images = load_train_images([_Pair("a", 12, 12, 0), _Pair("b", 40, 40, 1)], 8, 0, seed=0, progress=False)
    s1, s2, s3 = (PatchSampler(images, 8, False, seed) for seed in (5, 5, 6))
    assert s1.weights.tolist() == [25.0, 33.0 * 33.0]
    b1, b2, b3 = s1.batch(64), s2.batch(64), s3.batch(64)
    assert all(torch.equal(u, v) for u, v in zip(b1[:2], b2[:2])) and b1[2] == b2[2]
    assert not torch.equal(b1[0], b3[0])
    assert b1[0].shape == (64, 3, 8, 8) and b1[0].dtype == torch.uint8
    draws = s3.batch(2000)[2]
    assert 25 < draws.count(0) < 70  # image a holds 25 of 1114 crop positions: expected 45 of 2000
    for k, i in enumerate(b1[2][:8]):  # every clean crop comes with the noisy crop of the same window
        c, n = images.clean[i], images.noisy[i]
        hits = [(y, x) for y in range(c.shape[1] - 7) for x in range(c.shape[2] - 7)
                if np.array_equal(c[:, y : y + 8, x : x + 8], b1[0][k].numpy())]
        assert any(np.array_equal(n[:, y : y + 8, x : x + 8], b1[1][k].numpy()) for y, x in hits)


def test_augmentation_is_the_datasets_flip_rot():
    images = load_train_images([_Pair("a", 8, 8, 0)], 8, 0, seed=0, progress=False)
    variants_c, variants_n = _dihedral(images.clean[0]), _dihedral(images.noisy[0])
    sampler = PatchSampler(images, 8, True, seed=0)
    replay = torch.Generator().manual_seed(0)
    torch.multinomial(sampler.weights, 1, replacement=True, generator=replay)  # same draws as batch(1) before the flip
    seen = set()
    for _ in range(48):
        clean, noisy, _ = sampler.batch(1)
        hit = [v for v, ref in enumerate(variants_c) if np.array_equal(ref, clean[0].numpy())]
        assert len(hit) == 1 and np.array_equal(variants_n[hit[0]], noisy[0].numpy())
        seen.add(hit[0])
    assert len(seen) == 8


def test_random_flip_rot_with_a_generator_is_reproducible_and_leaves_the_global_rng_alone():
    c = np.arange(2 * 3 * 5, dtype=np.uint8).reshape(2, 3, 5)
    torch.manual_seed(0)
    state = torch.get_rng_state()
    a = [random_flip_rot(c, c + 1, torch.Generator().manual_seed(s)) for s in range(16)]
    b = [random_flip_rot(c, c + 1, torch.Generator().manual_seed(s)) for s in range(16)]
    assert torch.equal(state, torch.get_rng_state())
    assert all(np.array_equal(x[0], y[0]) and np.array_equal(x[1], y[1]) for x, y in zip(a, b))
    assert all(np.array_equal(x[0] + 1, x[1]) and x[0].flags["C_CONTIGUOUS"] for x in a)
    assert {x[0].shape for x in a} == {(2, 3, 5), (2, 5, 3)}


def test_clean_only_images_and_their_conditions():
    rng = np.random.default_rng(3)
    named = [("x", rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)),
             ("y", rng.integers(0, 256, (16, 16, 3), dtype=np.uint8))]
    images = load_clean_images(named, 16, 0, seed=0)
    assert images.noisy is None and images.names == ["x", "y"]
    np.testing.assert_array_equal(images.clean[0], named[0][1].transpose(2, 0, 1))
    crops = load_clean_images(named, 8, 2, seed=0)
    assert crops.names == ["x#0", "x#1", "y#0", "y#1"] and crops.clean[0].shape == (3, 8, 8)
    with_cond = images.with_conditions([("GP", 800), ("S6", 3200)])
    assert with_cond.conditions == [("GP", 800), ("S6", 3200)] and with_cond.clean is images.clean
    clean, noisy, idx = PatchSampler(with_cond, 8, True, 0).batch(4)
    assert noisy is None and clean.shape == (4, 3, 8, 8) and set(idx) <= {0, 1}
    with pytest.raises(ValueError, match="got 1 conditions for 2 training images"):
        images.with_conditions([("GP", 800)])
    with pytest.raises(ValueError, match="smaller than the patch size 32"):
        load_clean_images(named, 32, 0, seed=0)
    with pytest.raises(ValueError, match=r"must be uint8 \(H, W, 3\)"):
        load_clean_images([("g", np.zeros((16, 16), np.uint8))], 8, 0, seed=0)

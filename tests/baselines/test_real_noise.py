"""Real-noise reference: another pair's residual (other scene preferred), cropping and mirror tiling."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nmflowgan_aug.baselines import NoDonorError, RealNoiseReference


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

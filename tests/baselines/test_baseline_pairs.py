"""Training pairs of the baselines: metadata required, ImagePair records read through load()."""

from __future__ import annotations

import numpy as np
import pytest

from nmflowgan_aug.baselines import GaussianNoiseModel
from nmflowgan_aug.data.sidd import PairRecord


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

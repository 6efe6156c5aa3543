"""Several training sources as one dataset: flags per patch and batch shares by weight."""

import pytest
import torch

from nmflowgan_aug.training.config import DataSourceConfig
from nmflowgan_aug.training.sources import TrainingPatches


class Numbers(torch.utils.data.Dataset):
    def __init__(self, n, offset):
        self.n, self.offset = n, offset

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return {"value": torch.tensor(self.offset + i)}


def test_patches_carry_their_source_flag_in_source_order():
    patches = TrainingPatches([Numbers(3, 0), Numbers(2, 100)], [DataSourceConfig("a"), DataSourceConfig("b", resampled=True)])
    assert len(patches) == 5
    assert [int(patches[i]["value"]) for i in range(5)] == [0, 1, 2, 100, 101]
    assert [bool(patches[i]["resampled"]) for i in range(5)] == [False, False, False, True, True]


def test_a_single_source_is_shuffled_plainly():
    assert TrainingPatches([Numbers(3, 0)], [DataSourceConfig("a")]).sampler(torch.Generator()) is None


def test_batches_draw_each_source_by_its_weight_whatever_its_size():
    """100 patches of weight 3 and 900 of weight 1: 3/4 of the draws come from the small source."""
    patches = TrainingPatches([Numbers(100, 0), Numbers(900, 1000)], [DataSourceConfig("a", weight=3.0), DataSourceConfig("b")])
    draws = torch.tensor(list(patches.sampler(torch.Generator().manual_seed(0))))
    assert len(draws) == 1000
    assert (draws < 100).float().mean().item() == pytest.approx(0.75, abs=0.04)
    again = torch.tensor(list(patches.sampler(torch.Generator().manual_seed(0))))
    assert torch.equal(draws, again)  # seeded per epoch: a resumed run sees the same batches


def test_mismatched_or_empty_sources_are_refused():
    with pytest.raises(ValueError, match="one dataset per training source"):
        TrainingPatches([Numbers(3, 0)], [DataSourceConfig("a"), DataSourceConfig("b")])
    with pytest.raises(ValueError, match=r"without patches: \['b'\]"):
        TrainingPatches([Numbers(3, 0), Numbers(0, 0)], [DataSourceConfig("a"), DataSourceConfig("b")])

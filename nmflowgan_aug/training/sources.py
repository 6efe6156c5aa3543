"""Several training sources as one dataset.

Each patch carries its source's ``resampled`` flag, and batches draw from the sources by their ``weight``
(:class:`~nmflowgan_aug.training.config.DataSourceConfig`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.utils.data import ConcatDataset, Dataset, Sampler, WeightedRandomSampler

from .config import DataSourceConfig

__all__ = ["TrainingPatches"]


class TrainingPatches(Dataset):
    """The patches of every training source, in source order.

    Each sample is the source dataset's dict plus ``"resampled"``, a bool tensor (the source's flag).

    Args:
        datasets: one patch dataset per source (e.g. :class:`~nmflowgan_aug.data.hdf5_patches.PatchDataset`).
        sources: the sources' configs, same order.

    Raises:
        ValueError: different numbers of datasets and sources, or an empty dataset.
    """

    def __init__(self, datasets: Sequence[Dataset], sources: Sequence[DataSourceConfig]) -> None:
        if len(datasets) != len(sources) or not datasets:
            raise ValueError(f"need one dataset per training source, got {len(datasets)} for {len(sources)}")
        empty = [s.path for d, s in zip(datasets, sources) if len(d) == 0]
        if empty:
            raise ValueError(f"training source(s) without patches: {empty}")
        self.sources = list(sources)
        self.lengths = [len(d) for d in datasets]
        self._all = ConcatDataset(datasets)
        self._flags = torch.cat([torch.full((n,), s.resampled) for n, s in zip(self.lengths, sources)])

    def __len__(self) -> int:
        return len(self._all)

    def __getitem__(self, index: int) -> dict:
        return {**self._all[index], "resampled": self._flags[index]}

    def sampler(self, generator: torch.Generator) -> Sampler | None:
        """A sampler that draws ``len(self)`` patches per epoch with replacement; ``None`` for a single source.

        Each source is drawn with probability ``weight / Σ weight`` and uniformly within it; with a single
        source the loader shuffles plainly.
        """
        if len(self.sources) == 1:
            return None
        per_patch = torch.cat([torch.full((n,), s.weight / n, dtype=torch.float64)
                               for n, s in zip(self.lengths, self.sources)])  # fmt: skip
        return WeightedRandomSampler(per_patch, num_samples=len(self), replacement=True, generator=generator)

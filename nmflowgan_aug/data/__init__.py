"""Data: SIDD pair readers, HDF5 patch files and the patch dataset.

The ``nmflowgan-prepare-sidd`` command lives in :mod:`nmflowgan_aug.data.prepare` (not imported
here, so that ``python -m nmflowgan_aug.data.prepare`` runs cleanly).
"""

from .hdf5_patches import CONFIG_KEYS, PatchDataset, pair_config, patch_positions, prepare_pairs, write_pair_hdf5
from .sidd import (
    BRIGHTNESS_CODES,
    OFFICIAL_SPLITS,
    ImagePair,
    PairRecord,
    SceneName,
    assign_splits,
    known_metadata,
    read_pairs,
    read_pairs_manifest,
    read_sidd_folder,
    scene_of,
)

"""Data: SIDD pair readers, HDF5 patch files and the patch dataset.

The ``nmflowgan-prepare-sidd`` command lives in :mod:`nmflowgan_aug.data.prepare` (not imported
here, so that ``python -m nmflowgan_aug.data.prepare`` runs cleanly).
"""

from .hdf5_patches import (
    ATTRIBUTE_GROUP,
    CAMERA_NAME,
    OFFICIAL_CAMERA_TABLE,
    PAIR_ATTRIBUTES,
    PatchDataset,
    pair_attributes,
    patch_positions,
    prepare_pairs,
    write_pair_hdf5,
)
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

__all__ = [
    "ATTRIBUTE_GROUP",
    "BRIGHTNESS_CODES",
    "CAMERA_NAME",
    "OFFICIAL_CAMERA_TABLE",
    "OFFICIAL_SPLITS",
    "PAIR_ATTRIBUTES",
    "ImagePair",
    "PairRecord",
    "PatchDataset",
    "SceneName",
    "assign_splits",
    "known_metadata",
    "pair_attributes",
    "patch_positions",
    "prepare_pairs",
    "read_pairs",
    "read_pairs_manifest",
    "read_sidd_folder",
    "scene_of",
    "write_pair_hdf5",
]

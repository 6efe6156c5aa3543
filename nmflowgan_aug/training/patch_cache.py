"""The patches of a training run: cut once into ``<run>/patches/<split>/`` and reused on ``--resume``.

Beside the HDF5 patch files, ``source.json`` records what they were cut from (the data source's
path, ids and scenes, the split, patch size, stride and the camera names whose index is stored as
``smartphone-code``) and the names of the files. It is written after the last patch file, so a folder
without it is an incomplete cut. A resumed run reuses the files only if the recorded source equals the
run's; any difference is an error, so patches of two data configurations are never mixed.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict
from pathlib import Path

from .._io import atomic_write
from ..data.camera_sim import embedded_pairs
from ..data.hdf5_patches import PatchDataset, list_patch_files, prepare_pairs
from ..data.sidd import ImagePair, known_metadata, read_pairs
from ..vocab import ConditionVocabulary
from .config import DataConfig, DataSourceConfig

__all__ = ["CACHE_RECORD", "build_patch_set", "patch_source", "read_patch_cache", "write_patch_cache"]

log = logging.getLogger(__name__)

#: File in a patch-cache folder that records the source and the files of the cut.
CACHE_RECORD = "source.json"


def patch_source(source: DataSourceConfig, data: DataConfig, vocabulary: ConditionVocabulary, split: str) -> dict:
    """Everything the patch files of a cut depend on, as a JSON-ready mapping."""
    return {
        "source": asdict(source),
        "split": split,
        "patch_size": data.patch_size,
        "stride": data.stride,
        "cameras": list(vocabulary.cameras),
    }


def read_patch_cache(folder: Path, source: dict) -> list[Path] | None:
    """The patch files cached in ``folder`` for ``source`` (see :func:`patch_source`).

    Returns:
        The files in cut order, or ``None`` when ``folder`` holds no complete cut (no :data:`CACHE_RECORD`).

    Raises:
        ValueError: the cache was cut from another source (the message names each differing key with
            both values), or its record is unreadable.
        FileNotFoundError: a recorded patch file is missing.
    """
    record_path = Path(folder) / CACHE_RECORD
    if not record_path.is_file():
        return None
    try:
        record = json.loads(record_path.read_text())
        cut_from, names = record["source"], record["files"]
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise ValueError(f"unreadable patch-cache record {record_path}: {err}") from err
    differences = [
        f"{key}: cached {cut_from.get(key)!r}, this run {source.get(key)!r}"
        for key in sorted(cut_from.keys() | source.keys())
        if cut_from.get(key) != source.get(key)
    ]
    if differences:
        raise ValueError(
            f"the patch cache {folder} was cut from another data source ({'; '.join(differences)}); "
            "resume with the data config the run started with, or start the run over with --overwrite"
        )
    files = [Path(folder) / name for name in names]
    missing = [f for f in files if not f.is_file()]
    if missing:
        raise FileNotFoundError(f"the patch cache {folder} lacks {len(missing)} recorded file(s), e.g. {missing[0]}")
    return files


def write_patch_cache(
    pairs: list[ImagePair], folder: Path, source: dict, vocabulary: ConditionVocabulary, data: DataConfig
) -> list[Path]:
    """Cut ``pairs`` into patch files in ``folder`` (replacing earlier ones), then record ``source``.

    Returns:
        The written files, in input order.
    """
    folder = Path(folder)
    (folder / CACHE_RECORD).unlink(missing_ok=True)  # an interrupted cut must not pass for a complete one
    files = prepare_pairs(pairs, folder, data.patch_size, data.stride, vocabulary=vocabulary, overwrite=True)
    record = {"source": source, "files": [f.name for f in files]}
    atomic_write(folder / CACHE_RECORD, lambda p: Path(p).write_text(json.dumps(record, indent=2) + "\n"))
    return files


def _select_pairs(source: DataSourceConfig, split: str) -> list[ImagePair]:
    if source.path == "embedded":
        return embedded_pairs(split=split)
    pairs = read_pairs(Path(source.path))
    if source.ids is not None:
        pairs = [p for p in pairs if p.name in set(source.ids)]
    if source.scenes is not None:
        pairs = [p for p in pairs if p.scene is not None and p.scene.scene_instance in set(source.scenes)]
    pairs, dropped = known_metadata(pairs)
    for p in dropped:
        log.warning("leaving out %s: camera or ISO unknown (camera=%s, iso=%s)", p.name, p.camera, p.iso)
    return pairs


def build_patch_set(
    source: DataSourceConfig,
    data: DataConfig,
    vocabulary: ConditionVocabulary,
    cache_dir: Path,
    split: str,
    reuse: bool = False,
) -> PatchDataset:
    """Turn a data source into a patch dataset (``data.patch_size``, official 96×96).

    A folder of HDF5 patch files is used as it is. Other sources (``embedded``, a SIDD folder, a pairs
    manifest CSV) are cut into ``cache_dir/<split>/``; with ``reuse`` (a resumed run) a complete cut
    already there is used instead, after checking it was cut from the same source.

    Args:
        source: the data source of this split.
        data: patch size, stride and augmentation.
        vocabulary: the model's cameras (their index is stored as ``smartphone-code``) and ISOs.
        cache_dir: the run's patch folder.
        split: ``train`` (augmented, embedded training photos) or ``val``.
        reuse: use the cached cut if there is one (it is cut again, with a logged warning, if there is none).

    Raises:
        ValueError: an empty selection, cameras/ISOs outside the model vocabulary, or a cache cut from
            another source.
        FileNotFoundError: a missing data path, or a missing file of the cache.
    """
    augment = data.augment and split == "train"
    path = Path(source.path)
    if files := list_patch_files(path):
        return PatchDataset(files, augment=augment)
    folder = Path(cache_dir) / split
    spec = patch_source(source, data, vocabulary, split)
    if reuse:
        cached = read_patch_cache(folder, spec)
        if cached is not None:
            log.info("reusing the %d patch files of %s", len(cached), folder)
            return PatchDataset(cached, augment=augment)
        log.warning("no complete patch cache in %s: cutting the %s patches again", folder, split)
    if source.path != "embedded" and not path.exists():
        raise FileNotFoundError(f"data path not found: {path}")
    pairs = _select_pairs(source, split)
    if not pairs:
        raise ValueError(f"no image pairs selected from {source.path} (ids={source.ids}, scenes={source.scenes})")
    for p in pairs:
        vocabulary.camera_codes(p.camera, 1)
        vocabulary.iso_values(p.iso, 1)
    return PatchDataset(write_patch_cache(pairs, folder, spec, vocabulary, data), augment=augment)

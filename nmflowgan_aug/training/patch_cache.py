"""The patches of a training run: cut once into ``<run>/patches/<split>/`` and reused on ``--resume``.

Beside the HDF5 patch files, ``source.json`` records what they were cut from (the data source's
path, ids and scenes, the split, patch size, stride and the camera names whose index is stored as
``smartphone-code``) and the names of the files. A cut is written into a temporary folder and then
takes the place of ``<split>/`` as a whole, so the folder holds either a complete cut with its record
or nothing. A resumed run reuses the files only if the recorded source equals the run's; any
difference is an error, so patches of two data configurations are never mixed.

Planning (:func:`plan_patch_set`) checks a source completely without writing anything; the cut happens
in :meth:`PatchSetPlan.build`, so a run checks both splits before it cuts either.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from .._io import atomic_write, write_folder
from ..data.camera_sim import embedded_pairs
from ..data.hdf5_patches import PatchDataset, list_patch_files, prepare_pairs
from ..data.sidd import ImagePair, known_metadata, read_pairs
from ..vocab import ConditionVocabulary
from .config import ConfigError, DataConfig, DataSourceConfig

__all__ = ["CACHE_RECORD", "PatchSetPlan", "patch_source", "plan_patch_set", "read_patch_cache", "write_patch_cache"]

log = logging.getLogger(__name__)

#: File in a patch-cache folder that records the source and the files of the cut.
CACHE_RECORD = "source.json"


def patch_source(source: DataSourceConfig, data: DataConfig, vocabulary: ConditionVocabulary, split: str) -> dict:
    """Everything the patch files of a cut depend on, as a JSON-ready mapping."""
    return {
        # How batches weigh a source and whether its noise was resampled do not change its patches.
        "source": {k: v for k, v in asdict(source).items() if k not in ("weight", "resampled")},
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
    """Cut ``pairs`` into patch files with a record of ``source``, replacing ``folder`` as a whole.

    Returns:
        The written files, in input order.
    """
    folder = Path(folder)
    names: list[str] = []

    def write(tmp: Path) -> None:
        files = prepare_pairs(pairs, tmp, data.patch_size, data.stride, vocabulary=vocabulary)
        names.extend(f.name for f in files)
        record = {"source": source, "files": names}
        atomic_write(tmp / CACHE_RECORD, lambda p: Path(p).write_text(json.dumps(record, indent=2) + "\n"))

    write_folder(folder, write)
    return [folder / name for name in names]


def _select_pairs(source: DataSourceConfig, split: str) -> list[ImagePair]:
    if source.path == "embedded":
        return embedded_pairs(split=split)
    pairs = read_pairs(Path(source.path))
    if source.ids is not None:
        unknown = sorted(set(source.ids) - {p.name for p in pairs})
        if unknown:
            raise ValueError(f"ids {unknown} are not in {source.path}; its ids: {[p.name for p in pairs]}")
        pairs = [p for p in pairs if p.name in set(source.ids)]
    if source.scenes is not None:
        present = {p.scene.scene_instance for p in pairs if p.scene is not None}
        absent = sorted(set(source.scenes) - present)
        if absent:
            raise ValueError(f"scenes {absent} are not in {source.path}; its scene instances: {sorted(present)}")
        pairs = [p for p in pairs if p.scene is not None and p.scene.scene_instance in set(source.scenes)]
    if source.exclude_scenes is not None:
        present = {p.scene.scene_instance for p in pairs if p.scene is not None}
        absent = sorted(set(source.exclude_scenes) - present)
        if absent:
            raise ValueError(f"exclude_scenes {absent} are not in {source.path}; its scene instances: {sorted(present)}")
        pairs = [p for p in pairs if p.scene is None or p.scene.scene_instance not in set(source.exclude_scenes)]
    pairs, dropped = known_metadata(pairs)
    for p in dropped:
        log.warning("leaving out %s: camera or ISO unknown (camera=%s, iso=%s)", p.name, p.camera, p.iso)
    return pairs


def _check_in_vocabulary(pairs: list[ImagePair], vocabulary: ConditionVocabulary, where: str) -> None:
    for p in pairs:
        if p.camera not in vocabulary.cameras:
            raise ValueError(f"pair {p.name!r} of {where}: camera {p.camera!r} is not one of the model's cameras "
                             f"{list(vocabulary.cameras)}")  # fmt: skip
        if p.iso not in vocabulary.isos:
            raise ValueError(f"pair {p.name!r} of {where}: ISO {p.iso} is not one of the model's ISOs "
                             f"{list(vocabulary.isos)}")  # fmt: skip


def _patch_folder(
    files: list[Path], source: DataSourceConfig, augment: bool, vocabulary: ConditionVocabulary
) -> PatchDataset:
    """The patch files of a folder source, restricted to ``source.scenes`` (by ``scene-instance-number``)."""
    if source.ids is not None:
        raise ConfigError(
            f"ids select rows of a pairs manifest, but {source.path} is a folder of patch files; select its "
            "files by SIDD scene instance with scenes, or remove ids"
        )
    dataset = PatchDataset(files, augment=augment, vocabulary=vocabulary, camera_table=source.camera_table)
    if source.scenes is None and source.exclude_scenes is None:
        return dataset
    scene_of = dict(zip(dataset.files, (a.get("scene-instance-number") for a in dataset.pair_attributes)))
    present = sorted({s for s in scene_of.values() if s is not None and s >= 0})
    kept = list(dataset.files)
    for key, selected in (("scenes", source.scenes), ("exclude_scenes", source.exclude_scenes)):
        if selected is None:
            continue
        absent = sorted(set(selected) - set(scene_of.values()))
        if absent:
            raise ValueError(f"{key} {absent} are not in the patch files of {source.path}; their scene instances: {present}")
        keep = set(selected) if key == "scenes" else set(scene_of.values()) - set(selected)
        kept = [f for f in kept if scene_of[f] in keep]
    return PatchDataset(kept, augment=augment, vocabulary=vocabulary, camera_table=source.camera_table)


@dataclass
class PatchSetPlan:
    """The checked patches of one split: a ready dataset, or pairs still to be cut into ``folder``.

    Attributes:
        dataset: the patch dataset when nothing needs cutting (a folder of patch files, or a reused cut).
        pairs: the pairs to cut (when ``dataset`` is None), each with a camera and ISO of the model.
        folder: the split's patch-cache folder.
        source: what the cut depends on (:func:`patch_source`).
        vocabulary: the model's cameras and ISOs.
        data: patch size and stride.
        augment: flip/rotate training patches.
    """

    dataset: PatchDataset | None
    pairs: list[ImagePair]
    folder: Path
    source: dict
    vocabulary: ConditionVocabulary
    data: DataConfig
    augment: bool

    def build(self) -> PatchDataset:
        """The patch dataset; cuts the pairs into :attr:`folder` first when needed (the only step that writes)."""
        if self.dataset is not None:
            return self.dataset
        files = write_patch_cache(self.pairs, self.folder, self.source, self.vocabulary, self.data)
        return PatchDataset(files, augment=self.augment, vocabulary=self.vocabulary)


def plan_patch_set(
    source: DataSourceConfig,
    data: DataConfig,
    vocabulary: ConditionVocabulary,
    cache_dir: Path,
    split: str,
    reuse: bool = False,
) -> PatchSetPlan:
    """Check a data source and plan its patch dataset (``data.patch_size``, official 96×96), writing nothing.

    A folder of HDF5 patch files is used as it is (every file checked, see :class:`PatchDataset`; ``scenes``
    keeps the files of those SIDD scene instances). Other
    sources (``embedded``, a SIDD folder, a pairs manifest CSV) are cut into ``cache_dir/<split>/`` by
    :meth:`PatchSetPlan.build`; with ``reuse`` (a resumed run) a complete cut already there is used
    instead, after checking it was cut from the same source.

    Args:
        source: the data source of this split.
        data: patch size, stride and augmentation.
        vocabulary: the model's cameras (their index is stored as ``smartphone-code``) and ISOs.
        cache_dir: the run's patch folder.
        split: ``train`` (augmented, embedded training photos) or ``val``.
        reuse: use the cached cut if there is one (it is cut again, with a logged warning, if there is none).

    Raises:
        ValueError: an empty selection, ids or scenes that are not in the data, cameras/ISOs outside the
            model vocabulary, patch files that are not ``data.patch_size`` square or lack camera names
            without ``source.camera_table``, or a cache cut from another source.
        ConfigError: ``camera_table`` given for a source that is not a folder of patch files, or ``ids`` for one
            that is.
        FileNotFoundError: a missing data path, or a missing file of the cache.
    """
    augment = data.augment and split == "train"
    path = Path(source.path)
    plan = PatchSetPlan(None, [], Path(cache_dir) / split, patch_source(source, data, vocabulary, split), vocabulary,
                        data, augment)  # fmt: skip
    if files := list_patch_files(path):
        dataset = _patch_folder(files, source, augment, vocabulary)
        if dataset.patch_shape[1:] != (data.patch_size, data.patch_size):
            raise ValueError(
                f"the patch files in {path} hold {dataset.patch_shape[1]}×{dataset.patch_shape[2]} patches; "
                f"data.patch_size is {data.patch_size}"
            )
        return replace(plan, dataset=dataset)
    if source.camera_table is not None:
        raise ConfigError(
            f"camera_table names the camera codes of patch files, but {source.path} is not a folder of "
            ".hdf5/.h5 patch files; remove camera_table"
        )
    if reuse:
        cached = read_patch_cache(plan.folder, plan.source)
        if cached is not None:
            log.info("reusing the %d patch files of %s", len(cached), plan.folder)
            return replace(plan, dataset=PatchDataset(cached, augment=augment, vocabulary=vocabulary))
        log.warning("no complete patch cache in %s: cutting the %s patches again", plan.folder, split)
    if source.path != "embedded" and not path.exists():
        raise FileNotFoundError(f"data path not found: {path}")
    pairs = _select_pairs(source, split)
    if not pairs:
        raise ValueError(f"no image pairs selected from {source.path} (ids={source.ids}, scenes={source.scenes})")
    _check_in_vocabulary(pairs, vocabulary, source.path)
    return replace(plan, pairs=pairs)

"""Patch files in the official NM-FlowGAN HDF5 layout, and a PyTorch dataset over them.

One HDF5 file holds the patches of one image pair:

- datasets ``clean/<i>`` and ``noisy/<i>`` for ``i = 0 .. N-1``: uint8, shape ``(3, P, P)``, RGB, CHW,
  values 0..255; patch ``i`` is the ``i``-th crop in row-major order over the positions of
  :func:`patch_positions`;
- group ``config`` (:data:`ATTRIBUTE_GROUP`) with seven integer attributes that describe the pair
  (:data:`PAIR_ATTRIBUTES`); ``-1`` marks a value that is unknown (pairs without a SIDD scene name).

The group keeps its official name ``config`` although it holds the pair's attributes, not a
configuration: the official NM-FlowGAN training code reads ``f['config'].attrs``, and every patch
file written so far (official ones and our runs' patch caches) has that group; a new name would
break both.
"""

from __future__ import annotations

import bisect
import os
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Union

import h5py
import numpy as np
import torch
from tqdm import tqdm

from .._io import atomic_write, refuse_overwrite
from ..vocab import OFFICIAL_VOCABULARY, ConditionVocabulary
from .sidd import ImagePair, scene_of

__all__ = [
    "ATTRIBUTE_GROUP",
    "PAIR_ATTRIBUTES",
    "PatchDataset",
    "pair_attributes",
    "patch_positions",
    "prepare_pairs",
    "random_flip_rot",
    "list_patch_files",
    "write_pair_hdf5",
]

PathLike = Union[str, Path]

#: Name of the HDF5 group that holds :data:`PAIR_ATTRIBUTES` (the official name, see the module docstring).
ATTRIBUTE_GROUP = "config"

#: Integer attributes of a pair (stored on :data:`ATTRIBUTE_GROUP`), in the official order.
PAIR_ATTRIBUTES = (
    "scene-instance-number",
    "scene-number",
    "smartphone-code",
    "ISO-level",
    "shutter-speed",
    "illuminant-temperature",
    "illuminant-brightness-code",
)
_REQUIRED_KEYS = ("smartphone-code", "ISO-level")
UNKNOWN = -1


def patch_positions(size: int, patch: int = 96, stride: int = 48) -> list[int]:
    """Start offsets of the patches along one image axis (official NM-FlowGAN rule).

    Candidates are ``0, stride, 2*stride, ...`` while ``< size``; each is clamped to
    ``size - patch`` so that every patch lies inside the image. Clamping can produce the same
    offset more than once (e.g. size 200 gives ``[0, 48, 96, 104, 104]``); duplicates are kept as
    in the official code, so an axis always has ``ceil(size / stride)`` positions.

    Args:
        size: image height or width in pixels.
        patch: patch side in pixels.
        stride: step between candidate offsets in pixels.

    Raises:
        ValueError: ``patch`` or ``stride`` is not positive, or ``size < patch``.
    """
    if patch <= 0 or stride <= 0:
        raise ValueError(f"patch and stride must be positive, got patch={patch}, stride={stride}")
    if size < patch:
        raise ValueError(f"image size {size} is smaller than the patch size {patch}")
    return [min(start, size - patch) for start in range(0, size, stride)]


def _check_pair_arrays(clean: np.ndarray, noisy: np.ndarray) -> None:
    for name, array in (("clean", clean), ("noisy", noisy)):
        if not isinstance(array, np.ndarray) or array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] != 3:
            desc = f"{array.dtype} {array.shape}" if isinstance(array, np.ndarray) else type(array).__name__
            raise ValueError(f"{name} must be a uint8 array of shape (H, W, 3), got {desc}")
    if clean.shape != noisy.shape:
        raise ValueError(f"clean and noisy must have the same shape, got {clean.shape} and {noisy.shape}")


def _all_attributes(attributes: Mapping[str, int]) -> dict[str, int]:
    unknown_keys = sorted(set(attributes) - set(PAIR_ATTRIBUTES))
    if unknown_keys:
        raise ValueError(f"unknown pair attribute(s) {unknown_keys}; allowed: {list(PAIR_ATTRIBUTES)}")
    for key in _REQUIRED_KEYS:
        value = attributes.get(key)
        if not isinstance(value, (int, np.integer)) or value < 0:
            raise ValueError(f"pair attributes need a non-negative integer {key!r}, got {value!r}")
    return {key: int(attributes.get(key, UNKNOWN)) for key in PAIR_ATTRIBUTES}


def write_pair_hdf5(
    path: PathLike,
    clean: np.ndarray,
    noisy: np.ndarray,
    attributes: Mapping[str, int],
    patch: int = 96,
    stride: int = 48,
    overwrite: bool = False,
) -> int:
    """Cut a pair into patches and write them as one HDF5 file in the official layout.

    The file is written to a temporary name in the same folder and then renamed, so an
    interrupted run never leaves a partial file under ``path``.

    Args:
        path: output file; its folder must exist.
        clean: uint8 ``(H, W, 3)`` RGB, values 0..255.
        noisy: uint8 ``(H, W, 3)`` RGB, same shape as ``clean``.
        attributes: the pair's attributes (keys from :data:`PAIR_ATTRIBUTES`, see :func:`pair_attributes`);
            ``smartphone-code`` and ``ISO-level`` are required, missing keys are stored as ``-1``.
        patch: patch side in pixels.
        stride: step between patches in pixels (see :func:`patch_positions`).
        overwrite: replace an existing file.

    Returns:
        The number of patches written.

    Raises:
        FileExistsError: ``path`` exists and ``overwrite`` is False.
        ValueError: bad arrays or attributes, or an image smaller than ``patch`` (the message names ``path``).
    """
    path = Path(path)
    refuse_overwrite(path, overwrite)
    _check_pair_arrays(clean, noisy)
    stored = _all_attributes(attributes)
    height, width = clean.shape[:2]
    try:
        rows, cols = patch_positions(height, patch, stride), patch_positions(width, patch, stride)
    except ValueError as err:
        raise ValueError(f"cannot cut patches for {path}: {err}") from err
    index = 0

    def write(tmp: str) -> None:
        nonlocal index
        with h5py.File(tmp, "w") as f:
            for y in rows:
                for x in cols:
                    f.create_dataset(f"clean/{index}", data=clean[y : y + patch, x : x + patch].transpose(2, 0, 1))
                    f.create_dataset(f"noisy/{index}", data=noisy[y : y + patch, x : x + patch].transpose(2, 0, 1))
                    index += 1
            group = f.create_group(ATTRIBUTE_GROUP)
            for key, value in stored.items():
                group.attrs[key] = value

    atomic_write(path, write)
    return index


def pair_attributes(pair: ImagePair, vocabulary: ConditionVocabulary = OFFICIAL_VOCABULARY) -> dict[str, int]:
    """The attributes stored with a pair's patches (:data:`PAIR_ATTRIBUTES`).

    The camera code is the index of ``pair.camera`` in ``vocabulary.cameras``; the ISO is stored as
    is (it is not checked against the vocabulary). Without a SIDD scene name the five other
    attributes are ``-1``.

    Raises:
        ValueError: unknown or missing camera, or missing/non-positive ISO.
    """
    if pair.camera not in vocabulary.cameras:
        raise ValueError(
            f"pair {pair.name!r}: unknown camera {pair.camera!r}; supported cameras: {list(vocabulary.cameras)}"
        )
    if not isinstance(pair.iso, (int, np.integer)) or pair.iso <= 0:
        raise ValueError(f"pair {pair.name!r}: ISO must be a positive int, got {pair.iso!r}")
    attributes = {"smartphone-code": vocabulary.cameras.index(pair.camera), "ISO-level": int(pair.iso)}
    scene = scene_of(pair)
    if scene is not None:
        attributes.update(
            {
                "scene-instance-number": scene.scene_instance,
                "scene-number": scene.scene,
                "shutter-speed": scene.shutter,
                "illuminant-temperature": scene.illuminant_k,
                "illuminant-brightness-code": scene.brightness_code,
            }
        )
    return attributes


def _file_stem(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "pair"


def prepare_pairs(
    records: Iterable[ImagePair],
    out_dir: PathLike,
    patch: int = 96,
    stride: int = 48,
    overwrite: bool = False,
    progress: bool = True,
    vocabulary: ConditionVocabulary = OFFICIAL_VOCABULARY,
) -> list[Path]:
    """Write one patch file per pair into ``out_dir`` (created if needed).

    Files are named ``%04d_<name>.hdf5`` where the number is the pair's position in ``records``
    and ``<name>`` is ``pair.name`` with characters other than letters, digits, ``.``, ``_`` and
    ``-`` replaced by ``_``.

    Args:
        records: pairs with known camera and ISO (see :func:`~nmflowgan_aug.data.sidd.known_metadata`).
        out_dir: output folder.
        patch: patch side in pixels.
        stride: step between patches in pixels.
        overwrite: replace existing files.
        progress: show a tqdm progress bar.
        vocabulary: maps camera tokens to ``smartphone-code`` (default: the official IP=0 ... G4=4).

    Returns:
        The written files, in input order.

    Raises:
        ValueError: a pair with an unknown camera or ISO, unreadable images, or an image smaller than ``patch``.
        FileNotFoundError: a missing image file.
        FileExistsError: an output file exists and ``overwrite`` is False (checked before writing).
    """
    records = list(records)
    out_dir = Path(out_dir)
    attributes = [pair_attributes(pair, vocabulary) for pair in records]  # metadata errors before any writing
    paths = [out_dir / f"{index:04d}_{_file_stem(pair.name)}.hdf5" for index, pair in enumerate(records)]
    existing = [p for p in paths if p.exists()]
    if existing and not overwrite:
        raise FileExistsError(
            f"{len(existing)} output file(s) already exist, e.g. {existing[0]} "
            "(use overwrite=True / --overwrite to replace them)"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    jobs = tqdm(list(zip(records, attributes, paths)), desc=f"patches -> {out_dir}", unit="pair", disable=not progress)
    for pair, stored, path in jobs:
        clean, noisy = pair.load()
        write_pair_hdf5(path, clean, noisy, stored, patch=patch, stride=stride, overwrite=overwrite)
    return paths


def list_patch_files(folder: PathLike) -> list[Path]:
    """The ``*.hdf5``/``*.h5`` files of a folder, sorted by name (empty for a missing folder or a file)."""
    root = Path(folder)
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_file() and p.suffix.lower() in (".hdf5", ".h5"))


def _list_files(files: PathLike | Sequence[PathLike]) -> list[Path]:
    if isinstance(files, (str, Path)):
        root = Path(files)
        if root.is_dir():
            found = list_patch_files(root)
            if not found:
                raise ValueError(f"no .hdf5/.h5 files in {root}")
            return found
        files = [root]
    paths = [Path(p) for p in files]
    if not paths:
        raise ValueError("PatchDataset needs at least one HDF5 file")
    for p in paths:
        if not p.is_file():
            raise FileNotFoundError(f"HDF5 patch file not found: {p}")
    return paths


def _scan(path: Path) -> tuple[int, dict[str, int]]:
    """Number of patches and the pair attributes of one file."""
    try:
        with h5py.File(path, "r") as f:
            if "clean" not in f or "noisy" not in f or ATTRIBUTE_GROUP not in f:
                raise ValueError(
                    f"{path} is not a patch file: needs 'clean', 'noisy' and {ATTRIBUTE_GROUP!r}, has {sorted(f)}"
                )
            count = len(f["clean"])
            if len(f["noisy"]) != count:
                raise ValueError(f"{path}: {count} clean patches but {len(f['noisy'])} noisy patches")
            attrs = f[ATTRIBUTE_GROUP].attrs
            missing = [k for k in _REQUIRED_KEYS if k not in attrs]
            if missing:
                raise ValueError(f"{path}: group {ATTRIBUTE_GROUP!r} lacks attribute(s) {missing}")
            attributes = {key: int(attrs[key]) for key in PAIR_ATTRIBUTES if key in attrs}
    except OSError as err:
        raise ValueError(f"cannot read HDF5 patch file {path}: {err}") from err
    return count, attributes


class PatchDataset(torch.utils.data.Dataset):
    """All patches of a set of HDF5 patch files.

    Files are opened lazily, once per process, so the dataset works with DataLoader workers
    (each worker opens its own handles).

    Args:
        files: a folder (its ``*.hdf5``/``*.h5`` files, sorted by name), one file, or a list of files.
        augment: apply the same random horizontal flip and rotation by ``k * 90`` degrees
            (``k`` uniform in 0..3) to the clean and the noisy patch. The randomness comes from
            torch's global RNG, which DataLoader seeds differently in each worker.

    Attributes:
        files: the files, in index order.
        lengths: number of patches per file.
        pair_attributes: the pair attributes (:data:`PAIR_ATTRIBUTES`) of each file.

    Raises:
        FileNotFoundError: a listed file does not exist.
        ValueError: a folder without HDF5 files, an empty list, or a file that is not a readable
            patch file (the message names it).
    """

    def __init__(self, files: PathLike | Sequence[PathLike], augment: bool = False) -> None:
        self.files = _list_files(files)
        self.augment = augment
        scans = [_scan(path) for path in self.files]
        self.lengths = [count for count, _ in scans]
        self.pair_attributes = [attributes for _, attributes in scans]
        self._ends = np.cumsum(self.lengths).tolist()
        self._handles: dict[int, h5py.File] = {}
        self._pid = os.getpid()

    @property
    def cameras(self) -> list[int]:
        """Camera code (``smartphone-code``) per file."""
        return [a["smartphone-code"] for a in self.pair_attributes]

    @property
    def isos(self) -> list[int]:
        """ISO level per file."""
        return [a["ISO-level"] for a in self.pair_attributes]

    def conditions(self) -> Counter[tuple[int, int]]:
        """Number of patches per ``(camera code, ISO)``."""
        counts: Counter[tuple[int, int]] = Counter()
        for camera, iso, length in zip(self.cameras, self.isos, self.lengths):
            counts[(camera, iso)] += length
        return counts

    def __len__(self) -> int:
        return self._ends[-1]

    def _handle(self, file_index: int) -> h5py.File:
        if self._pid != os.getpid():  # forked worker: handles of the parent must not be reused
            self._handles = {}
            self._pid = os.getpid()
        if file_index not in self._handles:
            self._handles[file_index] = h5py.File(self.files[file_index], "r")
        return self._handles[file_index]

    def __getitem__(self, index: int) -> dict[str, torch.Tensor | int]:
        """One patch pair.

        Returns:
            ``{"clean": float32 (3, P, P) in [0, 1], "noisy": float32 (3, P, P) in [0, 1],
            "camera": int camera code, "iso": int ISO}``; pixel values are ``level / 255``.

        Raises:
            IndexError: ``index`` out of range.
        """
        if not -len(self) <= index < len(self):
            raise IndexError(f"patch index {index} out of range for {len(self)} patches")
        index %= len(self)
        file_index = bisect.bisect_right(self._ends, index)
        local = index - (self._ends[file_index - 1] if file_index else 0)
        f = self._handle(file_index)
        clean, noisy = f["clean"][str(local)][()], f["noisy"][str(local)][()]
        if self.augment:
            clean, noisy = random_flip_rot(clean, noisy)
        return {
            "clean": torch.from_numpy(clean.astype(np.float32) / 255.0),
            "noisy": torch.from_numpy(noisy.astype(np.float32) / 255.0),
            "camera": self.pair_attributes[file_index]["smartphone-code"],
            "iso": self.pair_attributes[file_index]["ISO-level"],
        }

    def close(self) -> None:
        """Close the open file handles of this process."""
        for handle in self._handles.values():
            handle.close()
        self._handles = {}

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_handles"] = {}
        return state


def random_flip_rot(
    clean: np.ndarray, noisy: np.ndarray, generator: torch.Generator | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Apply the same random horizontal flip (p = 0.5) and rotation by ``k · 90°`` (k uniform in 0..3) to a pair.

    The augmentation of :class:`PatchDataset` and of the DnCNN patch sampler
    (:class:`nmflowgan_aug.denoisers.PatchSampler`): the 8 flips/rotations are equally likely.

    Args:
        clean: ``(C, H, W)`` array (e.g. uint8 RGB).
        noisy: ``(C, H, W)`` array of the same shape.
        generator: torch generator of the two draws (flip, then k); torch's global RNG when None.

    Returns:
        The transformed ``(clean, noisy)``, C-contiguous (``(C, W, H)`` for odd k).
    """
    flip = bool(torch.randint(0, 2, (), generator=generator).item())
    k = int(torch.randint(0, 4, (), generator=generator).item())
    out = []
    for array in (clean, noisy):
        if flip:
            array = array[:, :, ::-1]
        out.append(np.ascontiguousarray(np.rot90(array, k, axes=(1, 2))))
    return out[0], out[1]

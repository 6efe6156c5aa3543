"""Patch files in the official NM-FlowGAN HDF5 layout, and a PyTorch dataset over them.

One HDF5 file holds the patches of one image pair:

- datasets ``clean/<i>`` and ``noisy/<i>`` for ``i = 0 .. N-1``: uint8, shape ``(3, P, P)``, RGB, CHW,
  values 0..255; patch ``i`` is the ``i``-th crop in row-major order over the positions of
  :func:`patch_positions`;
- group ``config`` (:data:`ATTRIBUTE_GROUP`) with seven integer attributes that describe the pair
  (:data:`PAIR_ATTRIBUTES`); ``-1`` marks a value that is unknown (pairs without a SIDD scene name);
- in files written here, also the string attribute ``camera-name`` (:data:`CAMERA_NAME`) on the same group.

The group keeps its official name ``config`` although it holds the pair's attributes, not a
configuration: the official NM-FlowGAN training code reads ``f['config'].attrs``, and every patch
file written so far (official ones and our runs' patch caches) has that group; a new name would
break both.

``smartphone-code`` is an index into whatever camera list the writer used, so a code alone does not
say which camera took the patches. :class:`PatchDataset` therefore labels patches with the camera
*name*: the ``camera-name`` attribute, or, for files without it (written by the official code), the
entry of an explicit code -> name table the caller gives (:data:`OFFICIAL_CAMERA_TABLE` for official
files). Given a model vocabulary, it refuses files whose camera or ISO the model does not know.
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

from .._io import atomic_write, check_replaceable, refuse_overwrite, write_folder
from ..vocab import OFFICIAL_VOCABULARY, ConditionVocabulary
from .sidd import ImagePair, scene_of

__all__ = [
    "ATTRIBUTE_GROUP",
    "CAMERA_NAME",
    "OFFICIAL_CAMERA_TABLE",
    "PAIR_ATTRIBUTES",
    "PatchDataset",
    "is_patch_file",
    "list_patch_files",
    "pair_attributes",
    "patch_positions",
    "prepare_pairs",
    "random_flip_rot",
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
#: String attribute (on :data:`ATTRIBUTE_GROUP`) with the name of the pair's camera, e.g. ``"S6"``; files
#: written by the official code lack it.
CAMERA_NAME = "camera-name"
#: The official code -> camera table (``smartphone-code`` 0..4 of official NM-FlowGAN files: IP, GP, S6, N6, G4).
OFFICIAL_CAMERA_TABLE = OFFICIAL_VOCABULARY.cameras
_REQUIRED_KEYS = ("smartphone-code", "ISO-level")
UNKNOWN = -1
_PATCH_SUFFIXES = (".hdf5", ".h5")


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


def _all_attributes(attributes: Mapping[str, int | str]) -> dict[str, int | str]:
    allowed = [*PAIR_ATTRIBUTES, CAMERA_NAME]
    unknown_keys = sorted(set(attributes) - set(allowed))
    if unknown_keys:
        raise ValueError(f"unknown pair attribute(s) {unknown_keys}; allowed: {allowed}")
    for key in _REQUIRED_KEYS:
        value = attributes.get(key)
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 0:
            raise ValueError(f"pair attributes need a non-negative integer {key!r}, got {value!r}")
    camera = attributes.get(CAMERA_NAME)
    if not isinstance(camera, str) or not camera:
        raise ValueError(f"pair attributes need the camera's name {CAMERA_NAME!r} (a non-empty str), got {camera!r}")
    return {**{key: int(attributes.get(key, UNKNOWN)) for key in PAIR_ATTRIBUTES}, CAMERA_NAME: camera}


def write_pair_hdf5(
    path: PathLike,
    clean: np.ndarray,
    noisy: np.ndarray,
    attributes: Mapping[str, int | str],
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
        attributes: the pair's attributes (keys from :data:`PAIR_ATTRIBUTES` and :data:`CAMERA_NAME`, see
            :func:`pair_attributes`); ``smartphone-code``, ``ISO-level`` (ints) and ``camera-name`` (str) are
            required, missing integer attributes are stored as ``-1``.
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


def pair_attributes(
    pair: ImagePair, vocabulary: ConditionVocabulary = OFFICIAL_VOCABULARY
) -> dict[str, int | str]:
    """The attributes stored with a pair's patches (:data:`PAIR_ATTRIBUTES` and :data:`CAMERA_NAME`).

    The camera code is the index of ``pair.camera`` in ``vocabulary.cameras`` and the camera name is
    ``pair.camera``; the ISO is stored as is (it is not checked against the vocabulary). Without a
    SIDD scene name the five other attributes are ``-1``.

    Raises:
        ValueError: unknown or missing camera, or missing/non-positive ISO.
    """
    if pair.camera not in vocabulary.cameras:
        raise ValueError(
            f"pair {pair.name!r}: unknown camera {pair.camera!r}; supported cameras: {list(vocabulary.cameras)}"
        )
    if not isinstance(pair.iso, (int, np.integer)) or isinstance(pair.iso, bool) or pair.iso <= 0:
        raise ValueError(f"pair {pair.name!r}: ISO must be a positive int, got {pair.iso!r}")
    attributes: dict[str, int | str] = {
        "smartphone-code": vocabulary.cameras.index(pair.camera),
        "ISO-level": int(pair.iso),
        CAMERA_NAME: pair.camera,
    }
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


def is_patch_file(path: PathLike) -> bool:
    """Whether a file name has a patch-file suffix (``.hdf5``/``.h5``, any case)."""
    return Path(path).suffix.lower() in _PATCH_SUFFIXES


def prepare_pairs(
    records: Iterable[ImagePair],
    out_dir: PathLike,
    patch: int = 96,
    stride: int = 48,
    overwrite: bool = False,
    progress: bool = True,
    vocabulary: ConditionVocabulary = OFFICIAL_VOCABULARY,
) -> list[Path]:
    """Write one patch file per pair into the folder ``out_dir``, as one unit.

    Files are named ``%04d_<name>.hdf5`` where the number is the pair's position in ``records``
    and ``<name>`` is ``pair.name`` with characters other than letters, digits, ``.``, ``_`` and
    ``-`` replaced by ``_``. They are written into a temporary folder beside ``out_dir`` that then
    takes its place (see :func:`~nmflowgan_aug._io.write_folder`), so ``out_dir`` never holds a mix
    of old and new files or a part of the pairs.

    Args:
        records: pairs with known camera and ISO (see :func:`~nmflowgan_aug.data.sidd.known_metadata`).
        out_dir: output folder; it must be missing or empty unless ``overwrite``.
        patch: patch side in pixels.
        stride: step between patches in pixels.
        overwrite: replace the contents of a non-empty ``out_dir``; it may hold only patch files.
        progress: show a tqdm progress bar.
        vocabulary: maps camera names to ``smartphone-code`` (default: the official IP=0 ... G4=4).

    Returns:
        The written files, in input order.

    Raises:
        ValueError: a pair with an unknown camera or ISO, unreadable images, or an image smaller than ``patch``.
        FileNotFoundError: a missing image file.
        FileExistsError: ``out_dir`` is not empty and ``overwrite`` is False, or it holds other files than
            patch files (checked before writing).
    """
    records = list(records)
    out_dir = Path(out_dir)
    attributes = [pair_attributes(pair, vocabulary) for pair in records]  # metadata errors before any writing
    names = [f"{index:04d}_{_file_stem(pair.name)}.hdf5" for index, pair in enumerate(records)]
    check_replaceable(out_dir, overwrite, is_patch_file, "prepare_pairs")

    def write(folder: Path) -> None:
        jobs = tqdm(list(zip(records, attributes, names)), desc=f"patches -> {out_dir}", unit="pair",
                    disable=not progress)  # fmt: skip
        for pair, stored, name in jobs:
            clean, noisy = pair.load()
            write_pair_hdf5(folder / name, clean, noisy, stored, patch=patch, stride=stride)

    write_folder(out_dir, write)
    return [out_dir / name for name in names]


def list_patch_files(folder: PathLike) -> list[Path]:
    """The ``*.hdf5``/``*.h5`` files of a folder, sorted by name (empty for a missing folder or a file)."""
    root = Path(folder)
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_file() and is_patch_file(p))


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


def _patch_shape(path: Path, group: str, index: int, array: h5py.Dataset | np.ndarray) -> tuple[int, ...]:
    """The shape of one stored patch, checked to be uint8 ``(3, H, W)``."""
    if array.dtype != np.uint8 or len(array.shape) != 3 or array.shape[0] != 3:
        raise ValueError(
            f"{path}: patch {group}/{index} is {array.dtype} {tuple(array.shape)}; patches must be uint8 (3, H, W) "
            "(RGB, CHW, 8-bit levels)"
        )
    return tuple(array.shape)


def _camera_name(path: Path, attrs: h5py.AttributeManager, camera_table: Sequence[str] | None) -> str:
    """The file's camera name: its :data:`CAMERA_NAME` attribute, or ``camera_table[smartphone-code]``."""
    if CAMERA_NAME in attrs:
        name = attrs[CAMERA_NAME]
        name = name.decode() if isinstance(name, bytes) else name
        if not isinstance(name, str) or not name:
            raise ValueError(f"{path}: attribute {CAMERA_NAME!r} must be a non-empty string, got {name!r}")
        return name
    code = int(attrs["smartphone-code"])
    if camera_table is None:
        raise ValueError(
            f"{path} stores only the camera code (smartphone-code={code}, no {CAMERA_NAME!r} attribute, as in files "
            "written by the official NM-FlowGAN code); give the code -> camera table, e.g. "
            f"camera_table={list(OFFICIAL_CAMERA_TABLE)} (data.<split>.camera_table) for official files"
        )
    if not 0 <= code < len(camera_table):
        raise ValueError(
            f"{path}: smartphone-code {code} is not in the camera table {dict(enumerate(camera_table))}"
        )
    return camera_table[code]


def _scan(path: Path, camera_table: Sequence[str] | None) -> tuple[int, dict[str, int], str, tuple[int, ...]]:
    """Number of patches, integer pair attributes, camera name and patch shape of one file, all checked."""
    try:
        with h5py.File(path, "r") as f:
            if "clean" not in f or "noisy" not in f or ATTRIBUTE_GROUP not in f:
                raise ValueError(
                    f"{path} is not a patch file: needs 'clean', 'noisy' and {ATTRIBUTE_GROUP!r}, has {sorted(f)}"
                )
            count = len(f["clean"])
            if len(f["noisy"]) != count:
                raise ValueError(f"{path}: {count} clean patches but {len(f['noisy'])} noisy patches")
            if count == 0:
                raise ValueError(f"{path} holds no patches")
            expected = {str(i) for i in range(count)}
            for group in ("clean", "noisy"):
                if set(f[group]) != expected:
                    odd = sorted(set(f[group]) - expected)
                    raise ValueError(f"{path}: {group}/ must hold patches named 0..{count - 1}, has {odd[:3]}")
            shape = _patch_shape(path, "clean", 0, f["clean/0"])
            if _patch_shape(path, "noisy", 0, f["noisy/0"]) != shape:
                raise ValueError(f"{path}: clean patches are {shape} but noisy patches {f['noisy/0'].shape}")
            attrs = f[ATTRIBUTE_GROUP].attrs
            missing = [k for k in _REQUIRED_KEYS if k not in attrs]
            if missing:
                raise ValueError(f"{path}: group {ATTRIBUTE_GROUP!r} lacks attribute(s) {missing}")
            attributes = {key: int(attrs[key]) for key in PAIR_ATTRIBUTES if key in attrs}
            if attributes["ISO-level"] <= 0:
                raise ValueError(f"{path}: ISO-level must be a positive ISO, got {attributes['ISO-level']}")
            camera = _camera_name(path, attrs, camera_table)
    except OSError as err:
        raise ValueError(f"cannot read HDF5 patch file {path}: {err}") from err
    return count, attributes, camera, shape


class PatchDataset(torch.utils.data.Dataset):
    """All patches of a set of HDF5 patch files.

    Every file is checked when the dataset is made: its layout (patches ``0..N-1`` in ``clean/`` and
    ``noisy/``), the first clean and noisy patch (uint8 ``(3, H, W)``, one shape for all files), the
    pair attributes and the camera name; every patch read later is checked against that shape.

    Files are opened lazily, once per process, so the dataset works with DataLoader workers
    (each worker opens its own handles).

    Args:
        files: a folder (its ``*.hdf5``/``*.h5`` files, sorted by name), one file, or a list of files.
        augment: apply the same random horizontal flip and rotation by ``k * 90`` degrees
            (``k`` uniform in 0..3) to the clean and the noisy patch. The randomness comes from
            torch's global RNG, which DataLoader seeds differently in each worker.
        vocabulary: refuse files whose camera or ISO is not in it (the model the patches are for).
        camera_table: camera names of the codes ``0, 1, ...``, used only for files without a
            ``camera-name`` attribute (:data:`OFFICIAL_CAMERA_TABLE` for official NM-FlowGAN files).

    Attributes:
        files: the files, in index order.
        lengths: number of patches per file.
        pair_attributes: the integer pair attributes (:data:`PAIR_ATTRIBUTES`) of each file.
        cameras: the camera name of each file.
        patch_shape: ``(3, P, P)``, the shape of every patch.

    Raises:
        FileNotFoundError: a listed file does not exist.
        ValueError: a folder without HDF5 files, an empty list, a file that is not a readable patch
            file or holds patches that are not uint8 ``(3, H, W)`` of one shape, a file without a camera
            name when no ``camera_table`` is given, or a camera or ISO outside ``vocabulary`` (each
            message names the file).
    """

    def __init__(
        self,
        files: PathLike | Sequence[PathLike],
        augment: bool = False,
        *,
        vocabulary: ConditionVocabulary | None = None,
        camera_table: Sequence[str] | None = None,
    ) -> None:
        self.files = _list_files(files)
        self.augment = augment
        scans = [_scan(path, camera_table) for path in self.files]
        shapes = {shape for *_, shape in scans}
        if len(shapes) > 1:
            first = next(path for path, (*_, shape) in zip(self.files, scans) if shape != scans[0][3])
            raise ValueError(f"patch files hold patches of different shapes {sorted(shapes)}, e.g. {first}")
        self.patch_shape = scans[0][3]
        self.lengths = [count for count, *_ in scans]
        self.pair_attributes = [attributes for _, attributes, *_ in scans]
        self.cameras = [camera for _, _, camera, _ in scans]
        if vocabulary is not None:
            for path, camera, iso in zip(self.files, self.cameras, self.isos):
                if camera not in vocabulary.cameras:
                    raise ValueError(f"{path}: camera {camera!r} is not one of the model's cameras "
                                     f"{list(vocabulary.cameras)}")  # fmt: skip
                if iso not in vocabulary.isos:
                    raise ValueError(f"{path}: ISO {iso} is not one of the model's ISOs {list(vocabulary.isos)}")
        self._ends = np.cumsum(self.lengths).tolist()
        self._handles: dict[int, h5py.File] = {}
        self._pid = os.getpid()

    @property
    def isos(self) -> list[int]:
        """ISO level per file."""
        return [a["ISO-level"] for a in self.pair_attributes]

    def conditions(self) -> Counter[tuple[str, int]]:
        """Number of patches per ``(camera name, ISO)``."""
        counts: Counter[tuple[str, int]] = Counter()
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

    def _read(self, file_index: int, group: str, local: int) -> np.ndarray:
        array = self._handle(file_index)[group][str(local)][()]
        if _patch_shape(self.files[file_index], group, local, array) != self.patch_shape:
            raise ValueError(
                f"{self.files[file_index]}: patch {group}/{local} has shape {array.shape}, "
                f"the other patches {self.patch_shape}"
            )
        return array

    def __getitem__(self, index: int) -> dict[str, torch.Tensor | int | str]:
        """One patch pair.

        Returns:
            ``{"clean": float32 (3, P, P) in [0, 1], "noisy": float32 (3, P, P) in [0, 1],
            "camera": str camera name, "iso": int ISO}``; pixel values are ``level / 255``.

        Raises:
            IndexError: ``index`` out of range.
            ValueError: a stored patch that is not uint8 of the dataset's patch shape.
        """
        if not -len(self) <= index < len(self):
            raise IndexError(f"patch index {index} out of range for {len(self)} patches")
        index %= len(self)
        file_index = bisect.bisect_right(self._ends, index)
        local = index - (self._ends[file_index - 1] if file_index else 0)
        clean, noisy = self._read(file_index, "clean", local), self._read(file_index, "noisy", local)
        if self.augment:
            clean, noisy = random_flip_rot(clean, noisy)
        return {
            "clean": torch.from_numpy(clean.astype(np.float32) / 255.0),
            "noisy": torch.from_numpy(noisy.astype(np.float32) / 255.0),
            "camera": self.cameras[file_index],
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

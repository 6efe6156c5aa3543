"""SIDD benchmark ``.mat`` files: the 40 × 32 block arrays and the sRGB submission file.

The SIDD Validation and Benchmark sets ship as MATLAB files holding one uint8 array of shape
``(40, 32, 256, 256, 3)``: 40 images × 32 blocks of 256×256 RGB pixels.

=================================  =============================  =====================
file                               variable                       content
=================================  =============================  =====================
``ValidationNoisyBlocksSrgb.mat``  ``ValidationNoisyBlocksSrgb``  noisy validation blocks
``ValidationGtBlocksSrgb.mat``     ``ValidationGtBlocksSrgb``     ground truth (clean)
``BenchmarkNoisyBlocksSrgb.mat``   ``BenchmarkNoisyBlocksSrgb``   noisy benchmark blocks
=================================  =============================  =====================

Both MATLAB v5 files (read with :func:`scipy.io.loadmat`) and v7.3 files (HDF5 with a 512-byte
MATLAB header, read with :mod:`h5py`) are supported. MATLAB stores arrays column-major, so in a v7.3
file the dataset appears to h5py with its axes reversed, ``(3, 256, 256, 32, 40)``; the loader
transposes it back.

Benchmark results are submitted as ``SubmitSrgb.mat`` holding ``DenoisedBlocksSrgb``, a 40 × 32
MATLAB cell array of 256×256×3 blocks, and ``TimeMP``, the denoising time in seconds per megapixel
(the official MATLAB template computes ``total_seconds · 1024² / total_pixels``).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple, Optional, Union

import h5py
import numpy as np
import scipy.io

from .._io import atomic_write, refuse_overwrite

__all__ = [
    "SIDD_BLOCKS_SHAPE",
    "SIDD_BLOCK_KEYS",
    "SIDD_VALIDATION_SCENES",
    "SUBMISSION_FILENAME",
    "SiddSubmission",
    "iter_blocks",
    "load_sidd_blocks",
    "load_sidd_submission",
    "mat_file_version",
    "write_sidd_submission",
]

PathLike = Union[str, os.PathLike]
ShapeSpec = Optional[Sequence[Optional[int]]]

#: Shape of every SIDD sRGB block file: (images, blocks per image, height, width, RGB).
SIDD_BLOCKS_SHAPE: tuple[int, int, int, int, int] = (40, 32, 256, 256, 3)

#: Variable names of the SIDD sRGB block files (each equals its file stem).
SIDD_BLOCK_KEYS = ("ValidationNoisyBlocksSrgb", "ValidationGtBlocksSrgb", "BenchmarkNoisyBlocksSrgb")

#: Scene instance of each image of the SIDD Validation and Benchmark block files: image ``i`` (0-based) is the
#: ``i``-th of the 40 scene instances held out of SIDD-Medium, sorted (``../shared/data/PROVENANCE.md``, "SIDD
#: validation image index"). The names follow :class:`nmflowgan_aug.data.sidd.SceneName` and give each image's
#: camera and ISO.
SIDD_VALIDATION_SCENES: tuple[str, ...] = (
    "0009_001_S6_00800_00350_3200_L", "0021_001_GP_10000_05000_5500_N", "0024_001_N6_03200_01500_5500_N",
    "0026_001_G4_00400_00160_5500_L", "0031_001_IP_01600_02000_3200_N", "0037_002_GP_06400_03200_3200_L",
    "0041_002_IP_01600_04000_5500_L", "0046_002_G4_00400_00350_3200_L", "0049_002_N6_00800_00800_5500_L",
    "0053_002_S6_03200_02000_5500_N", "0056_003_N6_03200_04000_5500_N", "0058_003_G4_00400_00500_5500_L",
    "0061_003_S6_00800_00500_4400_L", "0067_003_GP_01600_01500_3200_L", "0071_003_IP_02000_04000_5500_L",
    "0074_004_N6_00400_00040_3200_L", "0079_004_G4_00800_00160_3200_N", "0082_004_S6_03200_00500_4400_L",
    "0085_004_GP_06400_02000_4400_N", "0093_004_IP_01250_00250_3200_L", "0095_005_N6_00400_00200_3200_L",
    "0100_005_G4_00800_00400_3200_N", "0103_005_S6_01600_00800_4400_L", "0109_005_GP_10000_08000_4400_N",
    "0112_005_IP_01000_07500_5500_L", "0119_006_N6_00400_00100_3200_L", "0124_006_G4_00800_00350_3200_N",
    "0128_006_S6_03200_01600_4400_L", "0131_006_GP_01600_01250_4400_N", "0141_006_IP_01600_01620_3200_L",
    "0143_007_N6_00800_00800_4400_N", "0148_007_G4_00400_00400_4400_L", "0153_007_S6_03200_03200_5500_L",
    "0158_007_GP_03200_03200_5500_N", "0162_007_IP_01600_01600_3200_L", "0171_008_N6_03200_01600_4400_L",
    "0174_008_G4_00800_00800_4400_N", "0176_008_S6_00400_00100_5500_L", "0183_008_GP_06400_06400_5500_N",
    "0187_008_IP_01600_01600_3200_L",
)

#: File name the SIDD benchmark server expects for sRGB results.
SUBMISSION_FILENAME = "SubmitSrgb.mat"

_SUBMISSION_KEY = "DenoisedBlocksSrgb"
_TIME_KEYS = ("TimeMP", "TimeMPSrgb")  # the MATLAB templates use both spellings
_HDF5_PRIVATE = ("#refs#", "#subsystem#")


class SiddSubmission(NamedTuple):
    """Content of a submission file: ``blocks`` (N, M, H, W, 3) and ``time_mp`` (s/MP, None if absent)."""

    blocks: np.ndarray
    time_mp: float | None


# --------------------------------------------------------------------------------------------------
# helpers


def _existing_file(path: PathLike) -> Path:
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"MATLAB file not found: {p}")
    if not p.is_file():
        raise FileNotFoundError(f"not a file: {p}")
    return p


def mat_file_version(path: PathLike) -> str:
    """Return ``"7.3"`` for an HDF5-based MAT-file, ``"5"`` for a v5/v7 (Level 5) file, else ``"4"``.

    v7.3 files are HDF5 files behind a 512-byte MATLAB header (detected with :func:`h5py.is_hdf5`);
    Level 5 files start with the text ``MATLAB 5.0 MAT-file``; anything else is left to scipy,
    which also reads headerless v4 files.

    Raises:
        FileNotFoundError: ``path`` does not exist or is not a file.
    """
    p = _existing_file(path)
    if h5py.is_hdf5(p):
        return "7.3"
    with open(p, "rb") as f:
        head = f.read(128)
    return "5" if head.startswith(b"MATLAB 5.0 MAT-file") else "4"


def _check_shape(arr_shape: tuple[int, ...], expected_shape: ShapeSpec, what: str) -> None:
    """``expected_shape`` None means any (N, M, H, W, 3); None entries are wildcards."""
    spec = (None, None, None, None, 3) if expected_shape is None else tuple(expected_shape)
    if len(arr_shape) != len(spec) or any(e is not None and e != a for a, e in zip(arr_shape, spec)):
        raise ValueError(f"{what} must have shape {_shape_text(expected_shape)}, got {tuple(arr_shape)}")


def _check_blocks(arr: np.ndarray, expected_shape: ShapeSpec, what: str) -> None:
    _check_shape(arr.shape, expected_shape, what)
    if arr.dtype != np.uint8:
        raise ValueError(f"{what} must be uint8 of shape {_shape_text(expected_shape)}, got dtype {arr.dtype}")


def _shape_text(expected_shape: ShapeSpec) -> str:
    spec = (None, None, None, None, 3) if expected_shape is None else tuple(expected_shape)
    return "(" + ", ".join("*" if e is None else str(e) for e in spec) + ")"


def _hdf5_variables(f: h5py.File) -> list[str]:
    return sorted(k for k in f.keys() if k not in _HDF5_PRIVATE)


def _v5_variables(p: Path) -> list[str]:
    try:
        return sorted(name for name, _shape, _cls in scipy.io.whosmat(p))
    except Exception as exc:  # scipy raises several types for non-MAT input
        raise ValueError(f"{p} is not a readable MATLAB file: {exc}") from exc


def _pick_key(available: list[str], key: str | None, p: Path) -> str:
    if key is not None:
        if key not in available:
            raise KeyError(f"variable {key!r} not found in {p}; variables present: {available}")
        return key
    inferred = p.stem
    if inferred in available:
        return inferred
    if len(available) == 1:
        return available[0]
    raise KeyError(
        f"cannot infer the variable of {p}: the file stem {inferred!r} is not a variable and the file holds "
        f"{len(available)} variables {available}; pass key= (SIDD names: {list(SIDD_BLOCK_KEYS)})"
    )


class _ShapeProxy:
    """Shape/dtype view of an h5py dataset in MATLAB axis order, to validate before reading the data."""

    def __init__(self, ds: h5py.Dataset) -> None:
        self.shape = tuple(ds.shape[::-1])
        self.dtype = ds.dtype


# --------------------------------------------------------------------------------------------------
# block files


def load_sidd_blocks(
    path: PathLike, key: str | None = None, *, expected_shape: ShapeSpec = SIDD_BLOCKS_SHAPE
) -> np.ndarray:
    """Load a SIDD block file (``ValidationNoisyBlocksSrgb.mat`` etc.) as a uint8 array.

    Args:
        path: The ``.mat`` file, MATLAB v5/v7 or v7.3.
        key: Variable to read. None: the file stem (the SIDD files are named after their variable),
            or the only variable of the file.
        expected_shape: Required shape, default ``(40, 32, 256, 256, 3)``. Entries may be None
            (any size); None accepts any ``(N, M, H, W, 3)``. Small test fixtures pass their own.

    Returns:
        Array of shape ``(N, M, H, W, 3)`` (images, blocks, rows, columns, RGB), uint8, C-contiguous.

    Raises:
        FileNotFoundError: the file does not exist.
        KeyError: the variable is not in the file (the message lists the variables present).
        ValueError: not a MATLAB file, or the variable is not uint8 of the expected shape.
    """
    p = _existing_file(path)
    what = f"variable of {p}"
    if mat_file_version(p) == "7.3":
        with h5py.File(p, "r") as f:
            name = _pick_key(_hdf5_variables(f), key, p)
            obj = f[name]
            if not isinstance(obj, h5py.Dataset) or obj.dtype.kind not in "uif":
                raise ValueError(
                    f"{name!r} in {p} is not a numeric array (MATLAB class {obj.attrs.get('MATLAB_class')!r})"
                )
            what = f"{name!r} in {p}"
            # column-major MATLAB array: h5py sees the axes reversed
            _check_blocks(_ShapeProxy(obj), expected_shape, what)  # before reading the data
            arr = np.ascontiguousarray(obj[()].transpose(tuple(range(obj.ndim))[::-1]))
    else:
        name = _pick_key(_v5_variables(p), key, p)
        what = f"{name!r} in {p}"
        try:
            arr = scipy.io.loadmat(p, variable_names=[name])[name]
        except Exception as exc:
            raise ValueError(f"{p} could not be read as a MATLAB file: {exc}") from exc
        if not isinstance(arr, np.ndarray) or arr.dtype == object or arr.dtype.kind not in "uif":
            raise ValueError(f"{what} is not a numeric array")
        arr = np.ascontiguousarray(arr)
    _check_blocks(arr, expected_shape, what)
    return arr


def iter_blocks(
    noisy: np.ndarray, clean: np.ndarray | None = None
) -> Iterator[tuple[int, int, np.ndarray, np.ndarray | None]]:
    """Yield ``(image_index, block_index, noisy_block, clean_block)`` over ``(N, M, H, W, 3)`` arrays.

    Blocks are views ``(H, W, 3)`` in image-major order (image 0 blocks 0..M-1, image 1, ...), the
    order of the submission cell array. ``clean_block`` is None when ``clean`` is None.

    Raises:
        ValueError: the arrays are not ``(N, M, H, W, 3)`` or their shapes differ.
    """
    _check_shape(np.shape(noisy), None, "noisy")
    if clean is not None and np.shape(clean) != np.shape(noisy):
        raise ValueError(f"noisy and clean must have the same shape, got {np.shape(noisy)} and {np.shape(clean)}")
    n_images, n_blocks = np.shape(noisy)[:2]
    for i in range(n_images):
        for b in range(n_blocks):
            yield i, b, noisy[i, b], (None if clean is None else clean[i, b])


# --------------------------------------------------------------------------------------------------
# submission file


def _submission_path(path: PathLike) -> Path:
    p = Path(path)
    if p.is_dir():
        return p / SUBMISSION_FILENAME
    if p.suffix.lower() != ".mat":
        raise ValueError(f"submission path must be a directory or a .mat file, got {p}")
    return p


def write_sidd_submission(
    path: PathLike,
    denoised_blocks: Any,
    time_mp: float,
    *,
    overwrite: bool = False,
    expected_shape: ShapeSpec = SIDD_BLOCKS_SHAPE,
    optional_data: Mapping[str, Any] | None = None,
) -> Path:
    """Write a SIDD sRGB benchmark submission (``SubmitSrgb.mat``, MATLAB v5).

    The file holds ``DenoisedBlocksSrgb``, an N × M (40 × 32) MATLAB **cell array** whose cells are the
    H×W×3 uint8 blocks, and ``TimeMP``, a double scalar: seconds per megapixel (1024² pixels), as in
    the SIDD MATLAB template. The official MATLAB template stores ``single`` blocks in [0, 1]; uint8
    blocks, as written by the usual Python submission scripts, are written here. The write is atomic
    (temporary file in the target folder, then :func:`os.replace`).

    Args:
        path: A directory (``SubmitSrgb.mat`` is written inside) or a ``.mat`` file path.
        denoised_blocks: uint8 array ``(N, M, H, W, 3)`` (numpy or torch, e.g. from
            :func:`load_sidd_blocks` order), or a numpy object array ``(N, M)`` of ``(H, W, 3)`` uint8 blocks.
        time_mp: Denoising time in seconds per megapixel, finite and >= 0.
        overwrite: Replace an existing file; otherwise an existing file raises FileExistsError.
        expected_shape: Required block-array shape, default ``(40, 32, 256, 256, 3)``; None entries are
            wildcards, None accepts any ``(N, M, H, W, 3)``.
        optional_data: Optional mapping saved as the MATLAB struct ``OptionalData`` (e.g. ``MethodName``,
            ``Authors``), as in the SIDD template.

    Returns:
        The path written.

    Raises:
        FileExistsError: the file exists and ``overwrite`` is False.
        FileNotFoundError: the target folder does not exist.
        TypeError, ValueError: bad block array (type, dtype, shape) or bad ``time_mp``.
    """
    target = _submission_path(path)
    if not target.parent.is_dir():
        raise FileNotFoundError(f"folder for the submission does not exist: {target.parent}")
    refuse_overwrite(target, overwrite)
    blocks = _submission_blocks(denoised_blocks, expected_shape)
    if isinstance(time_mp, bool) or not isinstance(time_mp, (int, float, np.integer, np.floating)):
        raise TypeError(f"time_mp must be a number (seconds per megapixel), got {type(time_mp).__name__}")
    if not math.isfinite(float(time_mp)) or float(time_mp) < 0:
        raise ValueError(f"time_mp must be finite and >= 0 (seconds per megapixel), got {time_mp}")

    cell = np.empty(blocks.shape[:2], dtype=object)
    for i, b, block, _ in iter_blocks(blocks):
        cell[i, b] = np.ascontiguousarray(block)
    content: dict[str, Any] = {_SUBMISSION_KEY: cell, "TimeMP": float(time_mp)}
    if optional_data is not None:
        content["OptionalData"] = dict(optional_data)

    atomic_write(target, lambda tmp: scipy.io.savemat(tmp, content, format="5", oned_as="row"))
    return target


def _submission_blocks(denoised_blocks: Any, expected_shape: ShapeSpec) -> np.ndarray:
    if hasattr(denoised_blocks, "detach") and hasattr(denoised_blocks, "cpu"):  # torch.Tensor
        denoised_blocks = denoised_blocks.detach().cpu().numpy()
    if not isinstance(denoised_blocks, np.ndarray):
        raise TypeError(f"denoised_blocks must be a numpy array or torch tensor, got {type(denoised_blocks).__name__}")
    if denoised_blocks.dtype == object:
        if denoised_blocks.ndim != 2:
            raise ValueError(
                f"a cell (object) array of blocks must be 2-D (images, blocks), got shape {denoised_blocks.shape}"
            )
        cells = [np.asarray(c) for c in denoised_blocks.ravel()]
        shapes = {c.shape for c in cells}
        dtypes = {c.dtype for c in cells}
        if len(shapes) != 1 or dtypes != {np.dtype(np.uint8)}:
            raise ValueError(
                "all cells must be uint8 arrays of one shape (H, W, 3), "
                f"got shapes {sorted(shapes)} and dtypes {sorted(map(str, dtypes))}"
            )
        denoised_blocks = np.stack(cells).reshape(*denoised_blocks.shape, *cells[0].shape)
    _check_blocks(denoised_blocks, expected_shape, "denoised_blocks")
    return denoised_blocks


def load_sidd_submission(path: PathLike, *, expected_shape: ShapeSpec = None) -> SiddSubmission:
    """Read a v5 ``SubmitSrgb.mat`` back (as written by :func:`write_sidd_submission`).

    ``DenoisedBlocksSrgb`` may be a cell array (N, M) of (H, W, 3) blocks or a plain (N, M, H, W, 3)
    array; blocks keep their stored dtype (uint8 here, ``single`` in [0, 1] from the MATLAB template).

    Args:
        path: The submission file, or a directory containing ``SubmitSrgb.mat``.
        expected_shape: Optional required shape of the stacked blocks (None: any ``(N, M, H, W, 3)``).

    Returns:
        :class:`SiddSubmission` with ``blocks`` of shape ``(N, M, H, W, 3)`` and ``time_mp`` (``TimeMP``
        or ``TimeMPSrgb``; None when the file has neither).

    Raises:
        FileNotFoundError: no such file.
        KeyError: no ``DenoisedBlocksSrgb`` variable (the message lists those present).
        ValueError: a v7.3 file, or blocks of inconsistent shape.
    """
    p = Path(path)
    if p.is_dir():
        p = p / SUBMISSION_FILENAME
    p = _existing_file(p)
    if mat_file_version(p) == "7.3":
        raise ValueError(f"{p} is a MATLAB v7.3 file; this loader reads the v5 files written by write_sidd_submission")
    available = _v5_variables(p)
    if _SUBMISSION_KEY not in available:
        raise KeyError(f"variable {_SUBMISSION_KEY!r} not found in {p}; variables present: {available}")
    mat = scipy.io.loadmat(p, variable_names=[_SUBMISSION_KEY, *_TIME_KEYS])
    raw = mat[_SUBMISSION_KEY]
    if raw.dtype == object:
        cells = [np.asarray(c) for c in raw.ravel()]
        shapes = {c.shape for c in cells}
        if len(shapes) != 1:
            raise ValueError(f"cells of {_SUBMISSION_KEY!r} in {p} differ in shape: {sorted(shapes)}")
        blocks = np.stack(cells).reshape(*raw.shape, *cells[0].shape)
    else:
        blocks = np.ascontiguousarray(raw)
    _check_shape(blocks.shape, expected_shape, f"{_SUBMISSION_KEY!r} in {p}")
    time_mp = next((float(np.asarray(mat[k]).ravel()[0]) for k in _TIME_KEYS if k in mat), None)
    return SiddSubmission(blocks, time_mp)

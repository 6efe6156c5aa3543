"""Data-preparation tool: write real noisy/clean pairs as the PNG folders BasicSR's ``PairedImageDataset`` reads.

Installed as the console script ``nmflowgan-paired-folders``. ``PairedImageDataset`` needs
``dataroot_gt`` and ``dataroot_lq`` folders holding files with the same names. This helper writes
``<out>/gt/<name>.png`` (clean) and ``<out>/lq/<name>.png`` (noisy) from

- a pairs manifest CSV or a SIDD folder (``--pairs``, see :func:`nmflowgan_aug.data.sidd.read_pairs`),
  optionally restricted to some ids (``--ids 00 01 02 03 04`` = the SIDD validation blocks of
  ``shared/data/sidd_native``), or
- the SIDD validation block files (``--noisy-mat ValidationNoisyBlocksSrgb.mat --gt-mat
  ValidationGtBlocksSrgb.mat``), one PNG per 256×256 block named ``<image>_<block>.png``.

Every input is checked before anything is written. The output folder must be new or empty; with
``--overwrite`` its contents (only ``gt/*.png`` and ``lq/*.png``) are replaced as one unit.

Usage::

    nmflowgan-paired-folders --pairs ../shared/data/sidd_native/pairs.csv --ids 00 01 02 03 04 --out datasets/SIDD_val
    python -m nmflowgan_aug.data.paired_folders ...   # the same
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from .._io import check_replaceable, remove_stale_temporaries, write_folder
from .hdf5_patches import _check_pair_arrays
from .sidd import read_pairs, read_pairs_manifest
from .sidd_mat import iter_blocks, load_sidd_blocks

__all__ = ["main", "write_paired_folders"]

_TOOL = "nmflowgan-paired-folders"


def _owned(relative: Path) -> bool:
    """Whether a file (relative to the output folder) is one this tool writes: ``gt/*.png`` or ``lq/*.png``."""
    return len(relative.parts) == 2 and relative.parts[0] in ("gt", "lq") and relative.suffix == ".png"


def write_paired_folders(
    pairs: Iterable[tuple[str, np.ndarray, np.ndarray]], out: str | Path, overwrite: bool = False
) -> tuple[Path, Path]:
    """Write ``(name, clean, noisy)`` uint8 ``(H, W, 3)`` RGB arrays as ``out/gt/name.png`` and ``out/lq/name.png``.

    The folder is written as one unit: into a temporary folder beside ``out`` that then takes its
    place, so a refused or failed write leaves ``out`` as it was.

    Args:
        pairs: ``(name, clean, noisy)``; ``name`` is a file stem (no ``/``), unique; the arrays are uint8
            ``(H, W, 3)`` RGB, values 0..255, of the same shape.
        out: output folder; it must be missing or empty unless ``overwrite``.
        overwrite: replace the contents of a non-empty ``out``; it may hold only ``gt/*.png`` and ``lq/*.png``.

    Returns:
        ``(gt_folder, lq_folder)``, for ``dataroot_gt`` and ``dataroot_lq``.

    Raises:
        FileExistsError: ``out`` is not empty and ``overwrite`` is False, or it holds other files (checked
            before writing).
        ValueError: a bad or repeated name, or arrays that are not uint8 ``(H, W, 3)`` of one shape (the
            message names the pair).
    """
    out = Path(out)
    check_replaceable(out, overwrite, _owned, _TOOL)
    remove_stale_temporaries(out.parent, out.name)  # left by a killed run

    def write(tmp: Path) -> None:
        for folder in ("gt", "lq"):
            (tmp / folder).mkdir()
        seen: set[str] = set()
        for name, clean, noisy in pairs:
            if not isinstance(name, str) or not name or "/" in name or name in (".", "..") or name in seen:
                problem = "repeated" if name in seen else "not a file stem"
                raise ValueError(f"pair name {name!r} is {problem}; names must be unique file stems without '/'")
            seen.add(name)
            try:
                _check_pair_arrays(clean, noisy)
            except ValueError as err:
                raise ValueError(f"pair {name!r}: {err}") from None
            for folder, array in (("gt", clean), ("lq", noisy)):
                Image.fromarray(np.ascontiguousarray(array)).save(tmp / folder / f"{name}.png")

    write_folder(out, write)
    return out / "gt", out / "lq"


def _inside(path: Path, folder: Path) -> bool:
    return path.resolve().is_relative_to(folder.resolve())


def _from_pairs(source: str, ids: Sequence[str] | None, out: Path) -> Iterable[tuple[str, np.ndarray, np.ndarray]]:
    """The pairs of a manifest or SIDD folder, after checking that every image file exists (before any writing)."""
    records = read_pairs_manifest(source, ids) if ids else read_pairs(source)
    for record in records:
        for path in (record.clean_path, record.noisy_path):
            if not path.is_file():
                raise FileNotFoundError(f"pair {record.name!r}: image file not found: {path}")
            if _inside(path, out):
                raise ValueError(f"pair {record.name!r}: input {path} is inside the output folder {out}")

    def load() -> Iterable[tuple[str, np.ndarray, np.ndarray]]:
        for record in records:
            clean, noisy = record.load()
            yield record.name, clean, noisy

    return load()


def _from_mat(noisy_mat: str, gt_mat: str) -> Iterable[tuple[str, np.ndarray, np.ndarray]]:
    """The blocks of the two ``.mat`` files, both read (and their shapes checked) before any writing."""
    noisy, clean = load_sidd_blocks(noisy_mat), load_sidd_blocks(gt_mat)
    return ((f"{i:02d}_{b:02d}", c, n) for i, b, n, c in iter_blocks(noisy, clean))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; returns 0 on success, exits with status 1 and a message on bad input."""
    parser = argparse.ArgumentParser(prog=_TOOL, description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", help="pairs manifest (.csv) or SIDD folder")
    parser.add_argument("--ids", nargs="+", help="keep only these manifest ids")
    parser.add_argument("--noisy-mat", help="ValidationNoisyBlocksSrgb.mat")
    parser.add_argument("--gt-mat", help="ValidationGtBlocksSrgb.mat")
    parser.add_argument("--out", required=True, type=Path, help="output folder (gets gt/ and lq/): new or empty")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace the contents of a non-empty output folder (gt/*.png and lq/*.png only)")
    args = parser.parse_args(argv)
    if bool(args.pairs) == bool(args.noisy_mat or args.gt_mat) or bool(args.noisy_mat) != bool(args.gt_mat):
        parser.error("give either --pairs, or both --noisy-mat and --gt-mat")
    try:
        check_replaceable(args.out, args.overwrite, _owned, _TOOL)
        if args.pairs:
            pairs = _from_pairs(args.pairs, args.ids, args.out)
        else:
            pairs = _from_mat(args.noisy_mat, args.gt_mat)
        gt_dir, lq_dir = write_paired_folders(pairs, args.out, overwrite=args.overwrite)
    except (ValueError, OSError, KeyError) as err:
        parser.exit(1, f"{parser.prog}: error: {err}\n")
    print(f"dataroot_gt: {gt_dir}\ndataroot_lq: {lq_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

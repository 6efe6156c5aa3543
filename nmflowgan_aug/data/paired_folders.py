"""Data-preparation tool: write real noisy/clean pairs as the PNG folders BasicSR's ``PairedImageDataset`` reads.

Installed as the console script ``nmflowgan-paired-folders``. ``PairedImageDataset`` needs
``dataroot_gt`` and ``dataroot_lq`` folders holding files with the same names. This helper writes
``<out>/gt/<name>.png`` (clean) and ``<out>/lq/<name>.png`` (noisy) from

- a pairs manifest CSV or a SIDD folder (``--pairs``, see :func:`nmflowgan_aug.data.sidd.read_pairs`),
  optionally restricted to some ids (``--ids 00 01 02 03 04`` = the SIDD validation blocks of
  ``shared/data/sidd_native``), or
- the SIDD validation block files (``--noisy-mat ValidationNoisyBlocksSrgb.mat --gt-mat
  ValidationGtBlocksSrgb.mat``), one PNG per 256×256 block named ``<image>_<block>.png``.

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

from .sidd import read_pairs, read_pairs_manifest
from .sidd_mat import iter_blocks, load_sidd_blocks

__all__ = ["main", "write_paired_folders"]


def write_paired_folders(pairs: Iterable[tuple[str, np.ndarray, np.ndarray]], out: str | Path) -> tuple[Path, Path]:
    """Write ``(name, clean, noisy)`` uint8 ``(H, W, 3)`` RGB arrays as ``out/gt/name.png`` and ``out/lq/name.png``.

    Returns:
        ``(gt_folder, lq_folder)``, for ``dataroot_gt`` and ``dataroot_lq``.

    Raises:
        FileExistsError: a target PNG already exists.
    """
    gt_dir, lq_dir = Path(out) / "gt", Path(out) / "lq"
    gt_dir.mkdir(parents=True, exist_ok=True)
    lq_dir.mkdir(parents=True, exist_ok=True)
    for name, clean, noisy in pairs:
        for folder, array in ((gt_dir, clean), (lq_dir, noisy)):
            target = folder / f"{name}.png"
            if target.exists():
                raise FileExistsError(f"{target} already exists; write into an empty folder")
            Image.fromarray(np.ascontiguousarray(array)).save(target)
    return gt_dir, lq_dir


def _from_pairs(source: str, ids: Sequence[str] | None) -> Iterable[tuple[str, np.ndarray, np.ndarray]]:
    records = read_pairs_manifest(source, ids) if ids else read_pairs(source)
    for record in records:
        clean, noisy = record.load()
        yield record.name, clean, noisy


def _from_mat(noisy_mat: str, gt_mat: str) -> Iterable[tuple[str, np.ndarray, np.ndarray]]:
    for i, b, noisy, clean in iter_blocks(load_sidd_blocks(noisy_mat), load_sidd_blocks(gt_mat)):
        yield f"{i:02d}_{b:02d}", clean, noisy


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="nmflowgan-paired-folders", description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", help="pairs manifest (.csv) or SIDD folder")
    parser.add_argument("--ids", nargs="+", help="keep only these manifest ids")
    parser.add_argument("--noisy-mat", help="ValidationNoisyBlocksSrgb.mat")
    parser.add_argument("--gt-mat", help="ValidationGtBlocksSrgb.mat")
    parser.add_argument("--out", required=True, help="output folder (gets gt/ and lq/)")
    args = parser.parse_args(argv)
    if bool(args.pairs) == bool(args.noisy_mat or args.gt_mat) or bool(args.noisy_mat) != bool(args.gt_mat):
        parser.error("give either --pairs, or both --noisy-mat and --gt-mat")
    pairs = _from_pairs(args.pairs, args.ids) if args.pairs else _from_mat(args.noisy_mat, args.gt_mat)
    gt_dir, lq_dir = write_paired_folders(pairs, args.out)
    print(f"dataroot_gt: {gt_dir}\ndataroot_lq: {lq_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

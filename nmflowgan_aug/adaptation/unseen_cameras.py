"""Noisy/clean pairs of cameras outside SIDD: PolyU and Nam et al.'s CC15, with camera and ISO from file names.

Both sets are 512×512 crops whose "clean" image is the mean of many captures of a static scene. They are
JPEG-derived (PolyU: JPEG files; CC15: crops of JPEG captures saved as PNG) and licensed for non-commercial
use: evaluation only, never shipped (``../shared/data/*/License.txt``). Their "noise" ``noisy − clean``
includes compression effects.

* PolyU (Xu et al., "Real-world Noisy Image Denoising: A New Benchmark", arXiv 1804.02603):
  ``CroppedImages/<Camera>_<aperture>_<shutter>_<ISO>_<scene>_<index>_{real,mean}.JPG``, e.g.
  ``Canon5D2_5_160_3200_chair_11_real.JPG``; cameras Canon5D2, Canon600D, Canon80D, NikonD800, Sony (A7 II).
* CC15 (Nam et al., "A Holistic Approach to Cross-Channel Image Noise Modeling", CVPR 2016):
  ``<folder>/<camera>_iso<ISO>_<index>_{real,mean}.png``, e.g. ``5dmark3_iso3200_1_real.png``; cameras
  5dmark3 (Canon 5D Mark III), d600 and d800 (Nikon).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from ..data.sidd import PairRecord

__all__ = ["cc15_pairs", "polyu_pairs"]

_POLYU_RE = re.compile(r"(?P<camera>[A-Za-z0-9]+)_[^_]+_[^_]+_(?P<iso>\d+)_(?P<scene>.+?)_(?P<index>\d+)_real\.JPG")
_CC15_RE = re.compile(r"(?P<camera>[A-Za-z0-9]+)_iso(?P<iso>\d+)_(?P<index>\d+)_real\.png")


def _pairs(files: list[Path], pattern: re.Pattern, clean_suffix: str, folder: Path, layout: str) -> list[PairRecord]:
    records = []
    for noisy in sorted(files):
        match = pattern.fullmatch(noisy.name)
        if match is None:
            raise ValueError(f"{noisy} does not follow the file-name layout {layout}")
        clean = noisy.with_name(noisy.name[: -len("_real") - len(noisy.suffix)] + clean_suffix)
        if not clean.is_file():
            raise ValueError(f"{noisy} has no clean partner {clean.name}")
        records.append(PairRecord(noisy.name[: -len("_real") - len(noisy.suffix)], clean, noisy,
                                  match["camera"], int(match["iso"])))  # fmt: skip
    if not records:
        raise ValueError(f"no noisy/clean pairs found in {folder} (expected files like {layout})")
    return records


def polyu_pairs(folder: str | os.PathLike) -> list[PairRecord]:
    """The PolyU pairs of ``folder`` (the dataset folder holding ``CroppedImages/``, or that folder itself).

    Returns:
        One :class:`~nmflowgan_aug.data.sidd.PairRecord` per ``*_real.JPG``, sorted by name: ``name`` is the
        file name without ``_real.JPG``, ``camera`` the first token (e.g. ``"Canon5D2"``), ``iso`` the fourth.

    Raises:
        FileNotFoundError: ``folder`` does not exist.
        ValueError: a noisy file whose name does not follow the layout, one without its ``_mean.JPG``
            partner, or no pairs at all.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"PolyU folder not found: {folder}")
    images = folder / "CroppedImages" if (folder / "CroppedImages").is_dir() else folder
    layout = "Camera_aperture_shutter_ISO_scene_index_real.JPG"
    return _pairs(list(images.glob("*_real.JPG")), _POLYU_RE, "_mean.JPG", images, layout)


def cc15_pairs(folder: str | os.PathLike) -> list[PairRecord]:
    """The CC15 pairs under ``folder`` (searched one level deep, e.g. ``nam_cc15/Real_ccnoise_denoised_part``).

    Returns:
        One :class:`~nmflowgan_aug.data.sidd.PairRecord` per ``*_real.png``, sorted by path: ``name`` is the file
        name without ``_real.png``, ``camera`` its first token (``"5dmark3"``, ``"d600"``, ``"d800"``), ``iso`` the
        number after ``iso``.

    Raises:
        FileNotFoundError: ``folder`` does not exist.
        ValueError: a noisy file whose name does not follow the layout, one without its ``_mean.png`` partner,
            or no pairs at all.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"CC15 folder not found: {folder}")
    files = [*folder.glob("*_real.png"), *folder.glob("*/*_real.png")]
    return _pairs(files, _CC15_RE, "_mean.png", folder, "camera_isoISO_index_real.png")

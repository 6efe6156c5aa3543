"""``NMFlowGANGTDataset``: clean sRGB crops with camera/ISO for on-the-fly noise synthesis in BasicSR."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Optional

import numpy as np
import torch
from basicsr.data.transforms import augment
from basicsr.utils.registry import DATASET_REGISTRY

from ...data.sidd import _SCENE_RE, SceneName, _read_rgb, read_pairs_manifest
from ...vocab import SIDD_VOCABULARY, ConditionVocabulary
from ._compat import register_once

__all__ = ["UNKNOWN_CAMERA", "UNKNOWN_ISO", "NMFlowGANGTDataset", "list_clean_images"]

#: What the dataset emits for an image without a known camera / ISO; ``NMFlowGANDenoiseModel`` draws
#: those from the distribution of the option file's ``nmflowgan`` block (one place for it).
UNKNOWN_CAMERA = ""
UNKNOWN_ISO = 0
#: Distribution keys that belong to the top-level ``nmflowgan`` block, not to the dataset.
_MOVED_KEYS = ("iso_range", "camera_weights", "strength")

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")

#: (clean image path, camera token or None, ISO or None)
Entry = tuple[Path, Optional[str], Optional[int]]


def _scene_in_path(path: Path) -> SceneName | None:
    """The last SIDD scene name found in the file name or a parent folder name, if any."""
    for part in reversed(path.parts):
        match = _SCENE_RE.search(part)
        scene = SceneName.try_parse(match.group(0)) if match else None
        if scene is not None:
            return scene
    return None


def list_clean_images(root: str | Path) -> list[Entry]:
    """Clean images under ``root`` (recursive, sorted), with camera/ISO from SIDD scene names in their path.

    Files whose name contains ``NOISY`` (SIDD noisy frames) are skipped, so a SIDD-Medium/Small folder
    (``Data/<scene>/GT_SRGB_010.PNG``) or folders of crops named after their scene both work.

    Raises:
        FileNotFoundError: ``root`` is not a folder.
        ValueError: no image file found.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"dataroot_gt is not a folder: {root}")
    files = sorted(
        p
        for p in root.rglob("*")
        if p.suffix.lower() in IMAGE_SUFFIXES and "noisy" not in p.name.lower() and p.is_file()
    )
    if not files:
        raise ValueError(f"no clean images ({', '.join(IMAGE_SUFFIXES)}) found under {root}")
    scenes = [_scene_in_path(p.relative_to(root)) for p in files]
    return [(p, s.camera if s else None, s.iso if s else None) for p, s in zip(files, scenes)]


@register_once(DATASET_REGISTRY)
class NMFlowGANGTDataset(torch.utils.data.Dataset):
    """Clean sRGB images for BasicSR training with NM-FlowGAN noise added by ``NMFlowGANDenoiseModel``.

    Option keys (``opt``):
        dataroot_gt (str): folder of clean images, see :func:`list_clean_images`; camera/ISO are read
            from SIDD scene names in the paths (e.g. ``0054_003_N6_00100_00160_5500_N``).
        meta_info_file (str, optional): instead of scanning, a CSV manifest with columns ``id``,
            ``camera``, ``iso`` and optionally ``clean`` (path relative to the CSV, default
            ``<id>/clean.png``), e.g. ``shared/data/sidd_native/pairs.csv``; ``unknown`` fields stay unknown.
        meta_info_ids (list[str], optional): keep only these manifest ids.
        cameras (list[str]): camera names the noise model supports (default: the SIDD cameras IP, GP,
            S6, N6, G4); images with a known camera outside them are refused at construction.
        isos (list[int]): ISO values the noise model was trained for, increasing (default: every SIDD
            ISO); a known ISO outside ``[isos[0], isos[-1]]`` is refused at construction.

        The distribution of camera/ISO for images without them (``cameras``, ``isos``, ``iso_range``,
        ``camera_weights``) and the noise ``strength`` are set once, in the option file's top-level
        ``nmflowgan`` block, and drawn by ``NMFlowGANDenoiseModel``; ``iso_range``, ``camera_weights``
        or ``strength`` here raise ValueError saying so.
        gt_size (int): crop size in pixels (train phase); use_hflip, use_rot (bool): flips/rotations.
        phase (str): ``train`` crops and augments; ``val``/``test`` return whole images.

    Returns per item:
        ``gt``: float32 ``(3, H, W)`` RGB in [0, 1]; ``camera``: camera name (str, e.g. ``"GP"``, or
        :data:`UNKNOWN_CAMERA` ``""``); ``iso``: int ISO (or :data:`UNKNOWN_ISO` ``0``); ``gt_path``:
        str. BasicSR's collation makes ``camera`` a list of B names and ``iso`` a LongTensor ``(B,)``.

    Raises:
        ValueError: an image whose known camera/ISO is not in ``cameras``/``isos``, or distribution keys
            that belong to the ``nmflowgan`` block (at construction); an image smaller than ``gt_size``
            or not 8-bit RGB (when read).
    """

    def __init__(self, opt: dict) -> None:
        super().__init__()
        moved = [key for key in _MOVED_KEYS if key in opt]
        if moved:
            raise ValueError(
                f"dataset option(s) {moved} belong to the top-level 'nmflowgan' block of the option file (one camera/ISO/"
                "strength distribution, drawn by NMFlowGANDenoiseModel for images without camera/ISO); move them there"
            )
        self.opt = opt
        if opt.get("meta_info_file"):
            records = read_pairs_manifest(opt["meta_info_file"], opt.get("meta_info_ids"))
            self.entries = [(r.clean_path, r.camera, r.iso) for r in records]
        else:
            self.entries = list_clean_images(opt["dataroot_gt"])
        base = SIDD_VOCABULARY
        self.vocabulary = ConditionVocabulary(
            opt.get("cameras", base.cameras), opt.get("isos", base.isos), base.iso_encoding
        )
        for path, camera, iso in self.entries:
            try:
                self.vocabulary.camera_codes(camera or self.vocabulary.cameras[0], 1)
                self.vocabulary.iso_values(iso or self.vocabulary.isos[0], 1)
            except ValueError as err:
                raise ValueError(
                    f"{path}: {err}; set the dataset's cameras/isos to conditions the noise model supports"
                ) from err

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, index: int) -> dict:
        path, camera, iso = self.entries[index]
        img = _read_rgb(Path(path))
        if self.opt.get("phase", "train") == "train":
            img = _random_crop(img, int(self.opt["gt_size"]), path)
            img = augment(img, self.opt.get("use_hflip", True), self.opt.get("use_rot", True))
        gt = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1))).float() / 255
        camera = UNKNOWN_CAMERA if camera is None else camera
        return {"gt": gt, "camera": camera, "iso": UNKNOWN_ISO if iso is None else int(iso), "gt_path": str(path)}


def _random_crop(img: np.ndarray, size: int, path: Path) -> np.ndarray:
    h, w = img.shape[:2]
    if h < size or w < size:
        raise ValueError(f"{path} is {h}x{w}, smaller than gt_size {size}")
    top, left = random.randint(0, h - size), random.randint(0, w - size)
    return np.ascontiguousarray(img[top : top + size, left : left + size])  # writable: augment flips in place

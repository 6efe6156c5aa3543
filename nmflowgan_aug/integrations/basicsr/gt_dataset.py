"""``NMFlowGANGTDataset``: clean sRGB crops with camera/ISO for on-the-fly noise synthesis in BasicSR."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Optional

import numpy as np
import torch
from basicsr.data.transforms import augment
from basicsr.utils.registry import DATASET_REGISTRY

from ...condition_sampler import ConditionSampler
from ...data.sidd import _SCENE_RE, SceneName, _read_rgb, read_pairs_manifest
from ...vocab import SIDD_VOCABULARY, ConditionVocabulary
from ._compat import register_once

__all__ = ["NMFlowGANGTDataset", "list_clean_images"]

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
            ``<id>/clean.png``), e.g. ``shared/data/sidd_native/pairs.csv``; ``unknown`` fields are drawn.
        meta_info_ids (list[str], optional): keep only these manifest ids.
        cameras (list[str]): camera names this dataset may emit (default: the SIDD cameras IP, GP, S6,
            N6, G4); known cameras outside them are refused, unknown ones are drawn from them. Names
            are emitted, so the order does not matter (the model maps names with its own vocabulary)
            except for ``camera_weights``.
        isos (list[int]): ISO values this dataset may emit, increasing (default: every SIDD ISO).
        iso_range, camera_weights: distribution of the camera/ISO drawn for images without a known
            camera/ISO (see :class:`~nmflowgan_aug.condition_sampler.ConditionSampler`).
        gt_size (int): crop size in pixels (train phase); use_hflip, use_rot (bool): flips/rotations.
        phase (str): ``train`` crops and augments; ``val``/``test`` return whole images.

    Returns per item:
        ``gt``: float32 ``(3, H, W)`` RGB in [0, 1]; ``camera``: camera name (str, e.g. ``"GP"``);
        ``iso``: int ISO; ``gt_path``: str. BasicSR's collation makes ``camera`` a list of B names
        and ``iso`` a LongTensor ``(B,)``.

    Raises:
        ValueError: an image whose known camera/ISO is not in ``cameras``/``isos`` (at construction),
            an image smaller than ``gt_size`` or not 8-bit RGB (when read).
    """

    def __init__(self, opt: dict) -> None:
        super().__init__()
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
        self.sampler = ConditionSampler(iso_range=opt.get("iso_range"), weights=opt.get("camera_weights"))
        self.sampler.allowed(self.vocabulary)  # fail early on a bad distribution
        for path, camera, iso in self.entries:
            try:
                self.vocabulary.camera_codes(camera or self.vocabulary.cameras[0], 1)
                self.vocabulary.iso_values(iso or self.vocabulary.isos[0], 1)
            except ValueError as err:
                raise ValueError(
                    f"{path}: {err}; set the dataset's cameras/isos to conditions the noise model supports"
                ) from err

    def _conditions(self, camera: str | None, iso: int | None) -> tuple[str, int]:
        """Camera name and ISO, drawn from :attr:`sampler` where unknown."""
        if camera is None or iso is None:
            drawn = self.sampler.sample(self.vocabulary, 1)
            camera = self.vocabulary.cameras[int(drawn.camera_codes[0])] if camera is None else camera
            iso = int(drawn.iso_values[0]) if iso is None else iso
        return camera, iso

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, index: int) -> dict:
        path, camera, iso = self.entries[index]
        img = _read_rgb(Path(path))
        if self.opt.get("phase", "train") == "train":
            img = _random_crop(img, int(self.opt["gt_size"]), path)
            img = augment(img, self.opt.get("use_hflip", True), self.opt.get("use_rot", True))
        camera, iso = self._conditions(camera, iso)
        gt = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1))).float() / 255
        return {"gt": gt, "camera": camera, "iso": iso, "gt_path": str(path)}


def _random_crop(img: np.ndarray, size: int, path: Path) -> np.ndarray:
    h, w = img.shape[:2]
    if h < size or w < size:
        raise ValueError(f"{path} is {h}x{w}, smaller than gt_size {size}")
    top, left = random.randint(0, h - size), random.randint(0, w - size)
    return np.ascontiguousarray(img[top : top + size, left : left + size])  # writable: augment flips in place

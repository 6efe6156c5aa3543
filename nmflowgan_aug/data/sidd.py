"""Readers for SIDD sRGB image pairs: scene-name parsing, the SIDD folder layout and CSV manifests.

A *pair* is one clean (ground-truth) image and one noisy capture of the same view. Every reader
returns :class:`PairRecord` objects that only hold paths and metadata; the pixels are read by
:meth:`PairRecord.load`. Any other object with the attributes of :class:`ImagePair` (for example a
simulated pair held in memory) can be used wherever pairs are accepted.

SIDD scene folders encode their metadata in the name, e.g. ``0054_003_N6_00100_00160_5500_N``:
scene instance 54, scene 3, camera N6, ISO 100, shutter 1/160 s, illuminant 5500 K, brightness N.
"""

from __future__ import annotations

import csv
import logging
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, Union, runtime_checkable

import numpy as np
from PIL import Image

from ..vocab import OFFICIAL_VOCABULARY, SIDD_CAMERA_NAMES

__all__ = [
    "BRIGHTNESS_CODES",
    "OFFICIAL_SPLITS",
    "ImagePair",
    "PairRecord",
    "SceneName",
    "assign_splits",
    "known_metadata",
    "read_pairs",
    "read_pairs_manifest",
    "read_sidd_folder",
    "scene_of",
]

logger = logging.getLogger(__name__)

PathLike = Union[str, Path]

#: Illuminant brightness tokens of SIDD scene names and their official codes.
BRIGHTNESS_CODES = {"L": 0, "N": 1, "H": 2}

SCENE_NAME_PATTERN = (
    "<instance:4 digits>_<scene:3 digits>_<camera IP|GP|S6|N6|G4>_<ISO:5 digits>_<shutter:5 digits>_"
    "<kelvin:4 digits>_<brightness L|N|H>, e.g. 0054_003_N6_00100_00160_5500_N"
)
_SCENE_RE = re.compile(r"(\d{4})_(\d{3})_([A-Z0-9]{2})_(\d{5})_(\d{5})_(\d{4})_([A-Z])")

#: SIDD-Medium / SIDD-Small ground-truth sRGB file names: optional ``NNNN_`` prefix, capture index.
_GT_FILE_RE = re.compile(r"(?:\d{4}_)?GT_SRGB_(\d{3})\.png", re.IGNORECASE)
_NOISY_NAME_RE = re.compile(r"GT(?=_SRGB)", re.IGNORECASE)

#: Official NM-FlowGAN scene splits (scene instance numbers of SIDD-Medium), grouped by the
#: ``--split`` choice of the prepare script and then by output sub-folder. The numbers are those
#: of the Noise2NoiseFlow split reused by NM-FlowGAN: noise-model train 56 scenes, test 22 scenes,
#: denoiser training 123 scenes (a superset of the 22 test scenes). All use ISO 100...3200 only.
OFFICIAL_SPLITS: dict[str, dict[str, tuple[int, ...]]] = {
    "noise_gen": {
        "train": (
            4, 11, 13, 17, 18, 20, 22, 23, 25, 27, 28, 29, 30, 34, 35, 39, 40, 42, 43, 44, 45, 47, 81,
            86, 88, 90, 101, 102, 104, 105, 110, 111, 115, 116, 125, 126, 127, 129, 132, 135, 138,
            140, 175, 177, 178, 179, 180, 181, 185, 186, 189, 192, 193, 194, 196, 197,
        ),
        "test": (
            54, 55, 57, 59, 60, 62, 63, 66, 150, 151, 152, 154, 155, 159, 160, 161, 163, 164, 165,
            166, 198, 199,
        ),
    },
    "denoiser": {
        "denoiser": (
            1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 22, 23, 25, 27, 28,
            29, 30, 32, 33, 34, 35, 38, 39, 40, 42, 43, 44, 45, 47, 48, 51, 52, 54, 55, 57, 59, 60,
            62, 63, 66, 75, 77, 81, 86, 87, 88, 90, 94, 98, 101, 102, 104, 105, 110, 111, 113, 114,
            115, 116, 117, 118, 122, 125, 126, 127, 129, 132, 133, 134, 135, 136, 137, 138, 140, 142,
            147, 149, 150, 151, 152, 154, 155, 156, 159, 160, 161, 163, 164, 165, 166, 167, 169, 172,
            175, 177, 178, 179, 180, 181, 184, 185, 186, 188, 189, 190, 191, 192, 193, 194, 195, 196,
            197, 198, 199,
        ),
    },
}


@dataclass(frozen=True)
class SceneName:
    """Metadata encoded in a SIDD scene folder name such as ``0054_003_N6_00100_00160_5500_N``.

    Attributes:
        scene_instance: scene instance number (first token), 0..9999.
        scene: scene number (second token), 0..999.
        camera: camera folder token, one of ``IP``, ``GP``, ``S6``, ``N6``, ``G4``.
        iso: ISO level, e.g. 100.
        shutter: exposure time denominator (the exposure is ``1/shutter`` s).
        illuminant_k: illuminant colour temperature in kelvin.
        brightness: illuminant brightness token ``L`` (low), ``N`` (normal) or ``H`` (high).
    """

    scene_instance: int
    scene: int
    camera: str
    iso: int
    shutter: int
    illuminant_k: int
    brightness: str

    @classmethod
    def parse(cls, text: str) -> SceneName:
        """Parse a scene folder name.

        Raises:
            ValueError: the text does not match :data:`SCENE_NAME_PATTERN`, or has an unknown
                camera token or brightness token. The message names the bad string.
        """
        match = _SCENE_RE.fullmatch(text) if isinstance(text, str) else None
        if match is None:
            raise ValueError(f"{text!r} is not a SIDD scene name; expected {SCENE_NAME_PATTERN}")
        instance, scene, camera, iso, shutter, kelvin, brightness = match.groups()
        if camera not in SIDD_CAMERA_NAMES:
            raise ValueError(
                f"{text!r}: unknown camera token {camera!r}; expected one of {list(SIDD_CAMERA_NAMES)}"
            )
        if brightness not in BRIGHTNESS_CODES:
            raise ValueError(
                f"{text!r}: unknown brightness token {brightness!r}; expected one of {list(BRIGHTNESS_CODES)}"
            )
        return cls(int(instance), int(scene), camera, int(iso), int(shutter), int(kelvin), brightness)

    @classmethod
    def try_parse(cls, text: str) -> SceneName | None:
        """Like :meth:`parse`, but return ``None`` instead of raising."""
        try:
            return cls.parse(text)
        except ValueError:
            return None

    def __str__(self) -> str:
        return (
            f"{self.scene_instance:04d}_{self.scene:03d}_{self.camera}_{self.iso:05d}_"
            f"{self.shutter:05d}_{self.illuminant_k:04d}_{self.brightness}"
        )

    @property
    def camera_code(self) -> int:
        """Official NM-FlowGAN camera code: IP=0, GP=1, S6=2, N6=3, G4=4."""
        return OFFICIAL_VOCABULARY.cameras.index(self.camera)

    @property
    def brightness_code(self) -> int:
        """Official illuminant brightness code: L=0, N=1, H=2."""
        return BRIGHTNESS_CODES[self.brightness]


@runtime_checkable
class ImagePair(Protocol):
    """What the data pipeline needs from a clean/noisy pair.

    Attributes:
        name: short identifier, used in output file names and messages.
        camera: camera token (e.g. ``"N6"``), or ``None`` when unknown.
        iso: ISO level, or ``None`` when unknown.

    A pair may also have a ``scene`` attribute (:class:`SceneName` or ``None``); pairs without
    one (manifest rows without a scene name, simulated pairs) are treated as ``scene=None``, see
    :func:`scene_of`.
    """

    name: str
    camera: str | None
    iso: int | None

    def load(self) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(clean, noisy)``, each uint8 of shape ``(H, W, 3)``, RGB, values 0..255."""
        ...


@dataclass(frozen=True)
class PairRecord:
    """A clean/noisy pair stored as two image files (implements :class:`ImagePair`).

    Attributes:
        name: identifier, e.g. ``0054_003_N6_00100_00160_5500_N_010`` or a manifest id.
        clean_path: ground-truth image file.
        noisy_path: noisy image file.
        camera: camera token, or ``None`` when unknown.
        iso: ISO level, or ``None`` when unknown.
        scene: parsed SIDD scene name, or ``None``.
    """

    name: str
    clean_path: Path
    noisy_path: Path
    camera: str | None
    iso: int | None
    scene: SceneName | None = None

    def load(self) -> tuple[np.ndarray, np.ndarray]:
        """Read both images.

        Returns:
            ``(clean, noisy)``: uint8 arrays of shape ``(H, W, 3)``, RGB, values 0..255.

        Raises:
            FileNotFoundError: an image file does not exist.
            ValueError: a file is not a readable image, is not 8-bit RGB, or the two shapes differ.
        """
        clean = _read_rgb(self.clean_path)
        noisy = _read_rgb(self.noisy_path)
        if clean.shape != noisy.shape:
            raise ValueError(
                f"pair {self.name!r}: clean {self.clean_path} has shape {clean.shape} but noisy "
                f"{self.noisy_path} has shape {noisy.shape}"
            )
        return clean, noisy


def _read_rgb(path: Path) -> np.ndarray:
    """Read an 8-bit RGB image as uint8 ``(H, W, 3)``; raise FileNotFoundError / ValueError naming ``path``."""
    if not path.is_file():
        raise FileNotFoundError(f"image file not found: {path}")
    try:
        with Image.open(path) as image:
            image.load()
            mode = image.mode
            array = np.asarray(image, dtype=np.uint8) if mode == "RGB" else None
    except OSError as err:
        raise ValueError(f"cannot read image {path}: {err}") from err
    if array is None:
        raise ValueError(f"image {path} has mode {mode!r}; expected 8-bit RGB ('RGB')")
    return array


def _data_dir(root: Path) -> Path:
    """The folder holding the scene folders: ``root/Data`` if present, else ``root`` itself."""
    return root / "Data" if (root / "Data").is_dir() else root


def _scene_pairs(scene_dir: Path) -> list[PairRecord]:
    """The GT/NOISY sRGB pairs of one scene folder, sorted by file name."""
    files = {p.name.lower(): p for p in scene_dir.iterdir() if p.is_file()}
    gt_files = sorted(p for p in files.values() if _GT_FILE_RE.fullmatch(p.name))
    if not gt_files:
        return []
    scene = SceneName.parse(scene_dir.name)
    records = []
    for gt in gt_files:
        partner = _NOISY_NAME_RE.sub("NOISY", gt.name, count=1)
        noisy = files.get(partner.lower())
        if noisy is None:
            raise ValueError(f"no NOISY partner for {gt} (expected {partner})")
        capture = _GT_FILE_RE.fullmatch(gt.name).group(1)
        records.append(PairRecord(f"{scene}_{capture}", gt, noisy, scene.camera, scene.iso, scene))
    return records


def read_sidd_folder(root: PathLike) -> list[PairRecord]:
    """List the sRGB pairs of a SIDD-Medium or SIDD-Small folder.

    Layout: ``root/Data/<scene>/[NNNN_]GT_SRGB_<capture>.PNG`` with the partner file named by
    replacing ``GT`` with ``NOISY``. ``root`` may also be the ``Data`` folder itself. The extension
    is matched case-insensitively. Scene folders without sRGB ground truth are ignored.

    Args:
        root: the SIDD folder (containing ``Data``) or its ``Data`` folder.

    Returns:
        One record per pair, sorted by scene folder then file name; ``name`` is
        ``<scene folder>_<capture>``.

    Raises:
        FileNotFoundError: ``root`` is not a folder.
        ValueError: a GT file without NOISY partner, a scene folder with sRGB files whose name is
            not a SIDD scene name, or no pairs at all.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"SIDD folder not found: {root}")
    data = _data_dir(root)
    records = []
    for scene_dir in sorted(p for p in data.iterdir() if p.is_dir() and not p.name.startswith(".")):
        records.extend(_scene_pairs(scene_dir))
    if not records:
        raise ValueError(f"no GT_SRGB/NOISY_SRGB pairs found in {data} (expected <scene>/[NNNN_]GT_SRGB_0xx.PNG)")
    return records


_MANIFEST_COLUMNS = ("id", "camera", "iso")


def _optional_int(text: str) -> int | None:
    """A positive integer, or ``None`` for anything else (``unknown``, empty, ``100 or 400``)."""
    text = text.strip()
    return int(text) if text.isdigit() and int(text) > 0 else None


def _optional_camera(text: str) -> str | None:
    text = text.strip()
    return None if text.lower() in ("", "unknown") else text


def _manifest_record(row: dict[str, str], base: Path) -> PairRecord:
    ident = row["id"].strip()
    clean = (row.get("clean") or "").strip() or f"{ident}/clean.png"
    noisy = (row.get("noisy") or "").strip() or f"{ident}/noisy.png"
    scene = SceneName.try_parse((row.get("scene_instance") or "").strip())
    return PairRecord(
        ident, base / clean, base / noisy, _optional_camera(row["camera"]), _optional_int(row["iso"]), scene
    )


def read_pairs_manifest(csv_path: PathLike, ids: Sequence[str] | None = None) -> list[PairRecord]:
    """List the pairs described by a CSV manifest (e.g. ``shared/data/sidd_native/pairs.csv``).

    Required columns: ``id``, ``camera``, ``iso``. Optional: ``scene_instance`` (parsed when it is
    a valid SIDD scene name, else ``None``), ``clean`` and ``noisy`` (image paths relative to the
    CSV folder; default ``<id>/clean.png`` and ``<id>/noisy.png``). Rows whose camera is
    ``unknown``/empty or whose ISO is not a positive integer are kept with ``None`` there; see
    :func:`known_metadata`.

    Args:
        csv_path: the manifest file.
        ids: keep only these ids (e.g. ``["05", "06"]``); ``None`` keeps every row.

    Returns:
        Records in CSV row order. Image files are not opened.

    Raises:
        FileNotFoundError: the CSV does not exist.
        ValueError: missing required columns, duplicated ids, or an id in ``ids`` not in the CSV.
    """
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise FileNotFoundError(f"pairs manifest not found: {csv_path}")
    with csv_path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = [c for c in _MANIFEST_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{csv_path}: missing column(s) {missing}; required columns are {list(_MANIFEST_COLUMNS)}")
        records = [_manifest_record(row, csv_path.parent) for row in reader]
    names = [r.name for r in records]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise ValueError(f"{csv_path}: duplicated id(s) {duplicated}")
    if ids is None:
        return records
    unknown = [i for i in ids if i not in names]
    if unknown:
        raise ValueError(f"{csv_path}: unknown id(s) {unknown}; available ids: {names}")
    wanted = set(ids)
    return [r for r in records if r.name in wanted]


def known_metadata(records: Iterable[ImagePair]) -> tuple[list[ImagePair], list[ImagePair]]:
    """Split pairs into those with known camera and ISO and those without.

    Logs one warning naming the dropped pairs when there are any.

    Returns:
        ``(kept, dropped)``, each in input order.
    """
    kept: list[ImagePair] = []
    dropped: list[ImagePair] = []
    for record in records:
        (kept if record.camera is not None and record.iso is not None else dropped).append(record)
    if dropped:
        logger.warning(
            "dropping %d pair(s) without known camera/ISO: %s", len(dropped), ", ".join(r.name for r in dropped)
        )
    return kept, dropped


def _is_sidd_folder(path: Path) -> bool:
    return (path / "Data").is_dir() or any(p.is_dir() and SceneName.try_parse(p.name) for p in path.iterdir())


def read_pairs(path: PathLike) -> list[PairRecord]:
    """Read pairs from a CSV manifest or a SIDD folder.

    Args:
        path: a ``.csv`` manifest (see :func:`read_pairs_manifest`), or a SIDD folder that holds
            ``Data/`` or scene-named sub-folders (see :func:`read_sidd_folder`).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: ``path`` is neither of the accepted inputs, or the reader's own errors.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"input not found: {path}")
    if path.is_file() and path.suffix.lower() == ".csv":
        return read_pairs_manifest(path)
    if path.is_dir() and _is_sidd_folder(path):
        return read_sidd_folder(path)
    raise ValueError(
        f"cannot read pairs from {path}; accepted inputs: a .csv pairs manifest, or a SIDD folder "
        "containing Data/ or scene folders named like 0054_003_N6_00100_00160_5500_N"
    )


def assign_splits(
    records: Iterable[ImagePair], splits: Mapping[str, Collection[int]]
) -> dict[str, list[ImagePair]]:
    """Group pairs by split, matching their scene instance number.

    Args:
        records: pairs; those without a scene (see :func:`scene_of`) belong to no split.
        splits: split name -> scene instance numbers (e.g. ``OFFICIAL_SPLITS["noise_gen"]``).

    Returns:
        split name -> the pairs whose scene instance is listed, in input order. A pair listed in
        several splits appears in each of them.
    """
    records = list(records)
    out: dict[str, list[ImagePair]] = {}
    for split, instances in splits.items():
        wanted = set(instances)
        out[split] = [r for r in records if (scene := scene_of(r)) is not None and scene.scene_instance in wanted]
    return out


def scene_of(pair: ImagePair) -> SceneName | None:
    """The pair's ``scene`` attribute, or ``None`` when it has none."""
    return getattr(pair, "scene", None)

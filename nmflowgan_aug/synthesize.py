"""An offline synthetic dataset from a folder of clean images: :func:`synthesize_folder`, :func:`regenerate`.

For users who train with a framework we do not wrap, or want a fixed dataset. Every clean image of a
folder (PNG/JPEG/TIFF, 8 or 16 bits, any size: noise is made by :func:`~nmflowgan_aug.tiling.synthesize_tiled`)
gets ``repeats`` noisy versions, written in the same layout, plus ``manifest.csv``: one row per noisy file
with its source, camera, ISO, strength, seed, tile size, bit depth, device, the model name and checksum,
and the file's SHA-256. :func:`regenerate` rebuilds the files from the manifest bit for bit (same
model, same device type and software). Each file's seed is derived from the run seed and the file's
path, so a resumed run (finished files are skipped) writes exactly what an uninterrupted one would.
Console script: ``nmflowgan-synthesize`` (:mod:`nmflowgan_aug.cli.synthesize`).
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from tqdm.auto import tqdm

from ._io import atomic_write
from .condition_sampler import ConditionSampler
from .image_io import IMAGE_SUFFIXES, NOISY_SUFFIX, read_image, write_image
from .model import NMFlowGAN
from .pretrained import folder_sha256
from .pretrained._loading import weights_folder
from .tiling import synthesize_tiled

__all__ = [
    "MANIFEST_FILE", "SETTINGS_FILE", "ManifestRow", "SynthesisSettings", "file_seed", "list_images",
    "read_conditions_csv", "read_manifest", "regenerate", "synthesize_folder",
]

MANIFEST_FILE = "manifest.csv"
SETTINGS_FILE = "synthesize.json"


@dataclass(frozen=True)
class SynthesisSettings:
    """Everything that decides a run's outputs (saved as ``synthesize.json``; a resumed run must match).

    Attributes:
        model: shipped name or saved-model folder (as given).
        seed: run seed; each file's seed is :func:`file_seed` of it.
        repeats: noisy versions per clean image (K >= 1); K > 1 writes ``r0/``, ``r1/``, ... subfolders.
        bit_depth: 8 (default: real noisy sRGB images are 8-bit; the noise is rounded to 8-bit levels)
            or 16 (unrounded noise stored with 16-bit precision).
        tile: tile size of :func:`~nmflowgan_aug.tiling.synthesize_tiled` (pixels).
        camera, iso: fixed camera name / ISO for every file, or ``None`` (then per file from
            ``conditions``, else drawn from ``sampler``).
        conditions: per-file ``{source: {"camera", "iso"[, "strength"]}}`` (from a CSV), or empty.
        sampler: distribution of what is neither fixed nor in ``conditions`` (camera, ISO, strength).
    """

    model: str
    seed: int = 0
    repeats: int = 1
    bit_depth: int = 8
    tile: int = 512
    camera: str | None = None
    iso: int | None = None
    conditions: Mapping[str, Mapping[str, object]] = field(default_factory=dict)
    sampler: ConditionSampler = field(default_factory=ConditionSampler)

    def __post_init__(self) -> None:
        if self.repeats < 1:
            raise ValueError(f"repeats must be >= 1, got {self.repeats}")
        if self.bit_depth not in (8, 16):
            raise ValueError(f"bit_depth must be 8 or 16, got {self.bit_depth}")
        if self.tile < 16:
            raise ValueError(f"tile must be at least 16 pixels, got {self.tile}")

    def to_json(self) -> dict:
        """The settings as ``synthesize.json`` holds them: plain dicts and lists, as read back."""
        doc = asdict(self)
        doc["sampler"] = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self.sampler).items()}
        doc["conditions"] = {k: dict(v) for k, v in self.conditions.items()}
        return json.loads(json.dumps(doc))  # tuples -> lists, as read back


@dataclass(frozen=True)
class ManifestRow:
    """One noisy file: where it came from and every parameter needed to make it again."""

    file: str
    source: str
    repeat: int
    camera: str
    iso: int
    strength: float
    seed: int
    tile: int
    bit_depth: int
    device: str
    model: str
    model_sha256: str
    sha256: str


def file_seed(seed: int, source: str, repeat: int) -> int:
    """The seed of one noisy file: a hash of the run seed, the source path and the repeat (order-free)."""
    digest = hashlib.sha256(f"{seed}\0{source}\0{repeat}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 2


def list_images(clean_dir: str | os.PathLike) -> list[str]:
    """Image files under ``clean_dir`` (recursive, sorted), as POSIX paths relative to it.

    Raises:
        FileNotFoundError: not a folder.
        ValueError: no image in it.
    """
    root = Path(clean_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"clean image folder not found: {root}")
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*")
                   if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ValueError(f"no images ({', '.join(IMAGE_SUFFIXES)}) under {root}")
    return files


def read_conditions_csv(path: str | os.PathLike, sources: list[str]) -> dict[str, dict[str, object]]:
    """Per-file camera/ISO (and optional strength) from a CSV with columns ``file,camera,iso[,strength]``.

    ``file`` is relative to the clean folder. Every clean image must have a row.

    Raises:
        ValueError: missing columns, a row for a file that is not in the folder, or images without a row.
    """
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        missing = {"file", "camera", "iso"} - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"{path}: missing column(s) {sorted(missing)}; needed: file, camera, iso[, strength]")
        rows = {row["file"]: {k: row[k] for k in ("camera", "iso", "strength") if row.get(k) not in (None, "")}
                for row in reader}
    unknown, uncovered = sorted(set(rows) - set(sources)), sorted(set(sources) - set(rows))
    if unknown or uncovered:
        raise ValueError(f"{path}: rows for files not in the clean folder {unknown[:5]}, "
                         f"clean images without a row {uncovered[:5]}")
    return rows


def read_manifest(path: str | os.PathLike) -> list[ManifestRow]:
    """The rows of a ``manifest.csv``."""
    types = {name: f.type for name, f in ManifestRow.__dataclass_fields__.items()}
    with open(path, newline="") as f:
        return [ManifestRow(**{k: int(v) if types[k] == "int" else float(v) if types[k] == "float" else v
                               for k, v in row.items()}) for row in csv.DictReader(f)]


def _write_manifest(path: Path, rows: list[ManifestRow]) -> None:
    def write(tmp: str) -> None:
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(ManifestRow.__dataclass_fields__))
            writer.writeheader()
            writer.writerows(asdict(r) for r in sorted(rows, key=lambda r: (r.repeat, r.source)))

    atomic_write(path, write)


def _model_checksum(model: str) -> str:
    """:func:`~nmflowgan_aug.pretrained.folder_sha256` of a shipped model's or a saved model's folder."""
    return folder_sha256(weights_folder(model))


def _output_name(source: str, repeat: int, repeats: int) -> str:
    suffix = Path(source).suffix
    name = source[: -len(suffix)] + NOISY_SUFFIX.get(suffix.lower(), suffix)
    return name if repeats == 1 else f"r{repeat}/{name}"


def _conditions(settings: SynthesisSettings, model: NMFlowGAN, source: str, seed: int) -> tuple[str, int, float]:
    """Camera name, ISO and strength of one file.

    Fixed, from the CSV, else drawn with a CPU generator seeded by the file's seed (so they do not depend
    on the order of the run).
    """
    given = dict(settings.conditions.get(source, {}))
    camera = settings.camera if settings.camera is not None else given.get("camera")
    iso = settings.iso if settings.iso is not None else given.get("iso")
    generator = torch.Generator().manual_seed(seed)
    drawn = settings.sampler.sample(model.vocabulary, 1, generator)
    strength = given.get("strength")
    strength = float(settings.sampler.sample_strength(1, generator)[0]) if strength is None else float(strength)
    codes = model.encode_conditions(int(drawn.camera_codes[0]) if camera is None else camera,
                                    int(drawn.iso_values[0]) if iso is None else iso, 1, torch.device("cpu"))
    return model.vocabulary.cameras[int(codes.camera_codes[0])], int(codes.iso_values[0]), strength


def _make(model: NMFlowGAN, clean: torch.Tensor, row: ManifestRow, out_dir: Path) -> str:
    """Synthesize one noisy file for ``row``, write it and return its SHA-256."""
    device = next(model.parameters()).device
    generator = torch.Generator(device=device).manual_seed(row.seed)
    noisy = synthesize_tiled(model, clean.to(device), row.camera, row.iso, strength=row.strength,
                             generator=generator, tile=row.tile, quantize=row.bit_depth == 8)
    path = write_image(out_dir / row.file, noisy, row.bit_depth)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _load(model: str, device: torch.device) -> NMFlowGAN:
    return NMFlowGAN.from_pretrained(model, map_location=device).requires_grad_(False)


def _prepare_output(out_dir: Path, settings: SynthesisSettings, overwrite: bool) -> list[ManifestRow]:
    """The rows already finished in ``out_dir`` (resume), after refusing a non-empty folder of another run."""
    settings_file, manifest = out_dir / SETTINGS_FILE, out_dir / MANIFEST_FILE
    if out_dir.exists() and any(out_dir.iterdir()) and not overwrite:
        if not settings_file.is_file():
            raise FileExistsError(f"{out_dir} is not empty and holds no {SETTINGS_FILE} of an earlier run to resume; "
                                  "choose an empty folder or pass --overwrite")
        previous = json.loads(settings_file.read_text())
        if previous != settings.to_json():
            changed = sorted(k for k in previous if previous[k] != settings.to_json().get(k))
            raise FileExistsError(f"{out_dir} holds a run with other settings (differs in {changed}); resume it with "
                                  "the same options, choose another folder, or pass --overwrite")
        return [r for r in read_manifest(manifest) if (out_dir / r.file).is_file()] if manifest.is_file() else []
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest.unlink(missing_ok=True)
    atomic_write(settings_file, lambda p: Path(p).write_text(json.dumps(settings.to_json(), indent=2) + "\n"))
    return []


def synthesize_folder(
    clean_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    settings: SynthesisSettings,
    *,
    device: torch.device | str = "cpu",
    overwrite: bool = False,
    progress: bool = True,
) -> list[ManifestRow]:
    """Write noisy versions of every clean image under ``clean_dir`` to ``out_dir``, plus ``manifest.csv``.

    Clean images are sRGB (PNG/JPEG/TIFF, 8 or 16 bits); noisy files keep their relative path (JPEG
    sources are written as PNG: JPEG compression would smooth the noise). Camera, ISO and strength are
    checked for every file before any noise is made. A folder holding the same run (``synthesize.json``
    equal to ``settings``) is resumed: finished files are kept.

    Returns:
        The manifest rows, one per noisy file.

    Raises:
        FileExistsError: ``out_dir`` is not empty and is not this run to resume, and ``overwrite`` is False.
        FileNotFoundError, ValueError: a missing folder, no images, an unreadable image, an unknown
            camera or unsupported ISO, a bad strength or a model that cannot be loaded.
    """
    clean_dir, out_dir, device = Path(clean_dir), Path(out_dir), torch.device(device)
    sources = list_images(clean_dir)
    model_sha256 = _model_checksum(settings.model)
    model = _load(settings.model, device)
    jobs = []
    for repeat in range(settings.repeats):
        for source in sources:
            seed = file_seed(settings.seed, source, repeat)
            camera, iso, strength = _conditions(settings, model, source, seed)
            jobs.append(ManifestRow(_output_name(source, repeat, settings.repeats), source, repeat, camera, iso,
                                    strength, seed, settings.tile, settings.bit_depth, device.type, settings.model,
                                    model_sha256, ""))
    done = {r.file: r for r in _prepare_output(out_dir, settings, overwrite)}
    pending = [job for job in jobs if job.file not in done]
    for job in tqdm(pending, desc=f"noisy -> {out_dir}", unit="image", disable=not progress):
        clean, _ = read_image(clean_dir / job.source)
        done[job.file] = ManifestRow(**{**asdict(job), "sha256": _make(model, clean, job, out_dir)})
        _write_manifest(out_dir / MANIFEST_FILE, list(done.values()))
    return [done[job.file] for job in jobs]


def regenerate(
    manifest: str | os.PathLike,
    clean_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    device: torch.device | str | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> list[str]:
    """Rebuild the noisy files of a ``manifest.csv`` from their clean sources and check their SHA-256.

    Args:
        manifest: a manifest written by :func:`synthesize_folder`.
        clean_dir: the clean folder (``source`` paths are relative to it).
        out_dir: where to write; must be empty unless ``overwrite``.
        device: default: the device type the manifest was made on (bit-for-bit needs the same one).
        overwrite: write into a non-empty ``out_dir`` (its files of the same names are replaced).
        progress: show a tqdm bar.

    Returns:
        The files whose SHA-256 differs from the manifest (empty when the dataset was rebuilt bit for
        bit; differences come from another device type, torch version or CPU instruction set).

    Raises:
        FileExistsError: ``out_dir`` is not empty and ``overwrite`` is False.
        ValueError: the model's files do not match the manifest's ``model_sha256``.
    """
    rows, clean_dir, out_dir = read_manifest(manifest), Path(clean_dir), Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()) and not overwrite:
        raise FileExistsError(f"{out_dir} is not empty; choose an empty folder or pass --overwrite")
    models = {}
    for name, sha in sorted({(r.model, r.model_sha256) for r in rows}):
        if _model_checksum(name) != sha:
            raise ValueError(f"model {name!r} does not match the manifest (its files' SHA-256 differs from {sha}); "
                             "the dataset cannot be regenerated bit for bit with it")
        models[name] = _load(name, torch.device(device or rows[0].device))
    differing = []
    for row in tqdm(rows, desc=f"regenerate -> {out_dir}", unit="image", disable=not progress):
        clean, _ = read_image(clean_dir / row.source)
        if _make(models[row.model], clean, row, out_dir) != row.sha256:
            differing.append(row.file)
    _write_manifest(out_dir / MANIFEST_FILE, rows)
    return differing


#!/usr/bin/env python
"""Noise fidelity on real SIDD validation blocks: trained noise models against fitted baselines.

Every method synthesizes noise on the clean SIDD validation blocks (whole 256×256 blocks, for its
camera and ISO) and the synthetic noise is compared with the real noise of the same block:

* ``kld_block``: KLD with the NAFlow/PNG protocol (256 bins over [−1, 1], per 256×256 block);
* ``kld_official``: KLD with the NM-FlowGAN protocol (width-4 bins in 8-bit levels, +1 smoothing),
  per 96×96 patch at the official positions inside the block (``patch_positions``), averaged;
* ``akld``: DANet's AKLD (local 7×7 variance maps), per block.

Methods: the baselines of :mod:`nmflowgan_aug.baselines` fitted on training pairs, and trained
models given as ``--model NAME=DIR`` (``NMFlowGAN.from_pretrained``). Results are averaged over
blocks per camera and overall, for several sampling seeds; the spread over seeds is reported. The
markdown table and a JSON file (with the command line, package version and fitted parameters) are
written to ``--out``; ``--readme`` regenerates a table in a markdown file between markers;
``--plots`` writes diagnostic figures.

Run ``python benchmarks/noise_fidelity.py --help``.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as _dt
import json
import logging
import os
import shlex
import sys
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from tqdm.auto import tqdm  # noqa: E402

import nmflowgan_aug  # noqa: E402
from nmflowgan_aug._io import atomic_write  # noqa: E402
from nmflowgan_aug.baselines import (  # noqa: E402
    GaussianNoiseModel,
    HeteroscedasticGaussianNoiseModel,
    NoDonorError,
    RealNoiseReference,
    SimulatedCameraNoiseModel,
    UnknownCameraError,
)
from nmflowgan_aug.data.hdf5_patches import patch_positions  # noqa: E402
from nmflowgan_aug.data.sidd import SceneName, known_metadata, read_pairs, read_pairs_manifest  # noqa: E402
from nmflowgan_aug.metrics import akld, kld_block, kld_official  # noqa: E402

logger = logging.getLogger("noise_fidelity")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("NMFLOWGAN_SHARED_DATA", REPO.parent / "shared" / "data"))
DEFAULT_MANIFEST = SHARED_DATA / "sidd_native" / "pairs.csv"
DEFAULT_VAL_IDS = ("00", "01", "02", "03", "04")
DEFAULT_TRAIN_IDS = ("05", "06", "07", "08", "09", "10", "11", "12", "13", "14", "15")
DEFAULT_OUT = REPO / "benchmarks" / "results"
RESULT_STEM = "noise_fidelity"

MARK_START = "<!-- fidelity-table:start -->"
MARK_END = "<!-- fidelity-table:end -->"

#: Baselines by name (order = column order of the tables).
BASELINES = ("gaussian", "heteroscedastic", "camera_sim", "real_noise")
BASELINE_TITLES = {
    "gaussian": "i.i.d. Gaussian (σ per channel)",
    "heteroscedastic": "heteroscedastic Gaussian (var = β1·x + β2)",
    "camera_sim": "camera simulator (unprocess → Poisson-Gaussian → process)",
    "real_noise": "real noise of another pair (same camera/ISO)",
}

#: Metrics: key -> (short title, description).
METRICS = {
    "kld_block": ("KLD, NAFlow/PNG protocol", "256 bins over [−1, 1], no smoothing, per 256×256 block"),
    "kld_official": (
        "KLD, NM-FlowGAN protocol",
        "8-bit levels, width-4 bins, +1 smoothing, mean over the 96×96 patches at the official positions of each block",
    ),
    "akld": ("AKLD (DANet)", "7×7 Gaussian-windowed local variance, ratio clamped to [0.1, 10], per block"),
}

#: SIDD validation/benchmark image index -> scene instance (the 40 scene instances held out of
#: SIDD-Medium, sorted; see ../shared/data/PROVENANCE.md, "SIDD validation image index").
SIDD_VALIDATION_SCENES = (
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


class BenchmarkError(Exception):
    """A user-facing problem with the inputs (missing file, unknown method, bad option)."""


# --------------------------------------------------------------------------------------------------
# data


@dataclass(frozen=True, eq=False)
class Block:
    """One validation block: id, camera, ISO, scene instance and images ``(1, 3, H, W)`` float32 in [0, 1]."""

    id: str
    camera: str
    iso: int
    scene: str | None
    clean: torch.Tensor = field(repr=False)
    noisy: torch.Tensor = field(repr=False)

    @property
    def clean_u8(self) -> torch.Tensor:
        """``clean`` as uint8 levels (the blocks are 8-bit images)."""
        return (self.clean.cpu() * 255.0).round().to(torch.uint8)

    @property
    def noisy_u8(self) -> torch.Tensor:
        return (self.noisy.cpu() * 255.0).round().to(torch.uint8)

    @property
    def condition(self) -> str:
        return f"{self.camera}/{self.iso}"

    def load(self) -> tuple[np.ndarray, np.ndarray]:
        """``(clean, noisy)`` uint8 ``(H, W, 3)``, so that a block can serve as a real-noise donor."""
        def to_u8(t: torch.Tensor) -> np.ndarray:
            return (t[0].permute(1, 2, 0) * 255.0).round().to(torch.uint8).numpy()

        return to_u8(self.clean), to_u8(self.noisy)

    @property
    def name(self) -> str:
        return self.id


def _to_tensor(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.array(img, dtype=np.uint8)).permute(2, 0, 1).unsqueeze(0).float() / 255.0


def _existing(path: Path, what: str) -> Path:
    if not path.exists():
        raise BenchmarkError(f"{what} not found: {path}")
    return path


def load_validation_manifest(manifest: Path, ids: Sequence[str]) -> list[Block]:
    """Validation blocks from a pairs manifest (default: rows 00-04 of ``sidd_native``)."""
    _existing(manifest, "validation manifest")
    try:
        records = read_pairs_manifest(manifest, ids=list(ids))
    except ValueError as e:
        raise BenchmarkError(str(e)) from e
    blocks = []
    for r in records:
        if r.camera is None or r.iso is None:
            raise BenchmarkError(f"validation pair {r.name!r} of {manifest} has no camera/ISO; pick other --val-ids")
        try:
            clean, noisy = r.load()
        except (FileNotFoundError, ValueError) as e:
            raise BenchmarkError(str(e)) from e
        blocks.append(Block(r.name, r.camera, int(r.iso), None if r.scene is None else str(r.scene),
                            _to_tensor(clean), _to_tensor(noisy)))
    return blocks


def load_validation_mat(
    noisy_path: Path, gt_path: Path, images: Sequence[int] | None, blocks_per_image: int | None
) -> list[Block]:
    """Validation blocks from ``ValidationNoisyBlocksSrgb.mat`` / ``ValidationGtBlocksSrgb.mat``.

    Camera and ISO of image ``i`` come from :data:`SIDD_VALIDATION_SCENES`. Block ids are
    ``v<image>-<block>`` (0-based, e.g. ``v11-13``).
    """
    from nmflowgan_aug.data.sidd_mat import load_sidd_blocks

    _existing(noisy_path, "--val-mat-noisy file")
    _existing(gt_path, "--val-mat-gt file")
    shape = (len(SIDD_VALIDATION_SCENES), None, None, None, 3)  # the image index fixes camera and ISO
    try:
        noisy = load_sidd_blocks(noisy_path, expected_shape=shape)
        gt = load_sidd_blocks(gt_path, expected_shape=shape)
    except (KeyError, ValueError) as e:
        raise BenchmarkError(str(e)) from e
    if noisy.shape != gt.shape:
        raise BenchmarkError(f"noisy blocks {noisy.shape} and ground-truth blocks {gt.shape} differ in shape")
    n_img, n_blk = noisy.shape[:2]
    chosen = range(n_img) if images is None else images
    blocks = []
    for i in chosen:
        if not 0 <= i < n_img:
            raise BenchmarkError(f"--val-images: image index {i} out of range 0..{n_img - 1}")
        scene = SceneName.parse(SIDD_VALIDATION_SCENES[i])
        for b in range(n_blk if blocks_per_image is None else min(blocks_per_image, n_blk)):
            blocks.append(Block(f"v{i:02d}-{b:02d}", scene.camera, scene.iso, str(scene),
                                _to_tensor(gt[i, b]), _to_tensor(noisy[i, b])))
    return blocks


def load_training(path: Path, ids: Sequence[str] | None) -> tuple[list[Any], list[str]]:
    """Training pairs with known camera/ISO from a manifest or a SIDD folder; returns ``(pairs, dropped names)``."""
    _existing(path, "training data")
    try:
        if path.suffix.lower() == ".csv":
            records = read_pairs_manifest(path, ids=list(ids) if ids else None)
        else:
            if ids:
                raise BenchmarkError("--train-ids only applies to a .csv manifest")
            records = read_pairs(path)
    except ValueError as e:
        raise BenchmarkError(str(e)) from e
    kept, dropped = known_metadata(records)
    if not kept:
        raise BenchmarkError(f"no training pairs with known camera and ISO in {path}")
    return kept, [r.name for r in dropped]


# --------------------------------------------------------------------------------------------------
# methods


class NotAvailable(Exception):
    """A method cannot synthesize a block (condition outside its data or vocabulary)."""


@dataclass
class Method:
    """A named noise synthesizer: ``sample(block, generator) -> (fake (1, 3, H, W), note or None)``."""

    name: str
    kind: str  # "baseline", "reference" or "model"
    title: str
    sample: Callable[[Block, torch.Generator], tuple[torch.Tensor, str | None]]
    params: dict[str, Any]
    support: Callable[[Block], str] | None = None


def _baseline_method(name: str, model: Any, title: str) -> Method:
    def sample(block: Block, gen: torch.Generator) -> tuple[torch.Tensor, str | None]:
        try:
            return model.sample(block.clean, block.camera, block.iso, generator=gen), None
        except UnknownCameraError as e:
            raise NotAvailable(str(e)) from e

    def support(block: Block) -> str:
        try:
            return model.law.support(block.camera, block.iso)
        except UnknownCameraError:
            return "camera not in training data"

    return Method(name, "baseline", title, sample, model.describe(), support)


def _reference_method(ref: RealNoiseReference) -> Method:
    def sample(block: Block, gen: torch.Generator) -> tuple[torch.Tensor, str | None]:
        try:
            fake, used = ref.sample_with_donors(
                block.clean, block.camera, block.iso, generator=gen, exclude=(block.id,), scene=block.scene
            )
        except NoDonorError as e:
            raise NotAvailable(f"no other pair at {block.condition}") from e
        donor, same_scene = used[0]
        return fake, f"donor {donor}" + (" (same scene instance)" if same_scene else "")

    return Method("real_noise", "reference", BASELINE_TITLES["real_noise"], sample, ref.describe())


def _model_method(name: str, directory: str, device: torch.device) -> Method:
    from nmflowgan_aug import NMFlowGAN

    try:
        model = NMFlowGAN.from_pretrained(directory, map_location=device)
    except FileNotFoundError as e:
        raise BenchmarkError(f"--model {name}={directory}: {e}") from e
    except ValueError as e:
        raise BenchmarkError(f"--model {name}={directory}: {e}") from e

    def sample(block: Block, gen: torch.Generator) -> tuple[torch.Tensor, str | None]:
        try:
            model.encode_conditions(block.camera, block.iso, 1, device)
        except ValueError as e:
            raise NotAvailable(str(e)) from e
        return model.sample(block.clean.to(device), block.camera, block.iso, generator=gen), None

    vocab = model.vocabulary
    params = {"directory": str(directory), "vocabulary": vocab.to_dict(), "config": dataclasses.asdict(model.config),
              "metadata": model.metadata}
    return Method(name, "model", f"NMFlowGAN `{directory}`", sample, json.loads(json.dumps(params, default=str)))


def parse_model_specs(specs: Sequence[str]) -> list[tuple[str, str]]:
    """``NAME=DIR`` strings -> ``[(name, dir)]``; names must be unique and differ from the baselines."""
    out: list[tuple[str, str]] = []
    for spec in specs:
        name, sep, directory = spec.partition("=")
        name = name.strip()
        if not sep or not name or not directory:
            raise BenchmarkError(f"--model expects NAME=DIR, got {spec!r}")
        if name in BASELINES or name in [n for n, _ in out]:
            raise BenchmarkError(f"--model name {name!r} is already used (baselines: {list(BASELINES)})")
        out.append((name, directory))
    return out


def build_methods(
    names: Sequence[str],
    train_pairs: Sequence[Any],
    val_blocks: Sequence[Block],
    models: Sequence[tuple[str, str]],
    device: torch.device,
    train_crop: int | None,
    progress: bool = True,
) -> list[Method]:
    """Fit the requested baselines and load the models, in table order."""
    unknown = [n for n in names if n not in BASELINES]
    if unknown:
        raise BenchmarkError(f"unknown method(s) {unknown}; known methods: {list(BASELINES)} (models: --model NAME=DIR)")
    loaded = [_model_method(name, directory, device) for name, directory in models]  # fail early on bad paths
    methods = []
    for name in tqdm([n for n in BASELINES if n in names], desc="fitting baselines", disable=not progress):
        if name == "gaussian":
            methods.append(_baseline_method(name, GaussianNoiseModel.fit(train_pairs, max_size=train_crop),
                                            BASELINE_TITLES[name]))
        elif name == "heteroscedastic":
            methods.append(_baseline_method(
                name, HeteroscedasticGaussianNoiseModel.fit(train_pairs, max_size=train_crop), BASELINE_TITLES[name]))
        elif name == "camera_sim":
            crop = 512 if train_crop is None else min(512, train_crop)
            methods.append(_baseline_method(
                name, SimulatedCameraNoiseModel.fit(train_pairs, max_size=crop), BASELINE_TITLES[name]))
        elif name == "real_noise":
            # donors: the training pairs and the validation blocks (a block never donates to itself)
            methods.append(_reference_method(RealNoiseReference.fit([*train_pairs, *val_blocks], max_size=train_crop)))
    return methods + loaded


# --------------------------------------------------------------------------------------------------
# metrics


def official_patches(x: torch.Tensor, patch: int = 96) -> torch.Tensor:
    """Cut ``(1, 3, H, W)`` into the official 96×96 patches (``patch_positions``, stride 48): ``(P, 3, 96, 96)``."""
    ys = patch_positions(x.shape[-2], patch)
    xs = patch_positions(x.shape[-1], patch)
    return torch.cat([x[..., y : y + patch, x0 : x0 + patch] for y in ys for x0 in xs])


def block_metrics(real: torch.Tensor, fake: torch.Tensor, clean: torch.Tensor) -> dict[str, float]:
    """The three metrics of one block; ``fake`` was sampled on the whole block, patches are cut afterwards.

    ``real`` and ``clean`` may be uint8 (8-bit levels; cheaper to validate), ``fake`` is float in [0, 1].
    """
    real, clean = (t.detach().cpu() for t in (real, clean))
    fake = fake.detach().cpu()
    if fake.dtype not in (torch.float32, torch.float64, torch.uint8):
        fake = fake.float()
    return {
        "kld_block": float(kld_block(real, fake, clean)[0]),
        "kld_official": float(kld_official(official_patches(real), official_patches(fake), official_patches(clean)).mean()),
        "akld": float(akld(real, fake, clean)[0]),
    }


def _seed_for(seed: int, block_id: str) -> int:
    return zlib.crc32(f"{seed}|{block_id}".encode())


# --------------------------------------------------------------------------------------------------
# run


def evaluate(
    methods: Sequence[Method],
    blocks: Sequence[Block],
    seeds: Sequence[int],
    device: torch.device,
    progress: bool = True,
    keep_samples: Callable[[Block], bool] | None = None,
) -> tuple[dict[str, dict[str, Any]], dict[tuple[str, str], torch.Tensor]]:
    """Sample and score every (method, block, seed).

    Returns:
        ``per_block[method][block_id]`` = ``{"kld_block": [per seed], ..., "note": str|None,
        "available": bool}`` and the seed-``seeds[0]`` samples of blocks selected by ``keep_samples``
        (for plots), keyed ``(method, block_id)``.
    """
    per_block: dict[str, dict[str, Any]] = {m.name: {} for m in methods}
    samples: dict[tuple[str, str], torch.Tensor] = {}
    total = len(seeds) * len(blocks) * len(methods)
    u8 = {b.id: (b.noisy_u8, b.clean_u8) for b in blocks}
    with tqdm(total=total, desc="sampling + scoring", unit="sample", disable=not progress) as bar:
        for s_idx, seed in enumerate(seeds):
            for block in blocks:
                for m in methods:
                    entry = per_block[m.name].setdefault(
                        block.id, {"available": True, "note": None, "notes": [], **{k: [] for k in METRICS}}
                    )
                    bar.set_postfix_str(f"seed {seed} block {block.id} {m.name}")
                    if not entry["available"]:
                        bar.update()
                        continue
                    gen = torch.Generator(device=device).manual_seed(_seed_for(seed, block.id))
                    try:
                        fake, note = m.sample(Block(block.id, block.camera, block.iso, block.scene,
                                                    block.clean.to(device), block.noisy), gen)
                    except NotAvailable as e:
                        entry.update(available=False, note=f"n/a: {e}")
                        bar.update()
                        continue
                    if note:
                        entry["notes"].append(note)
                    for k, v in block_metrics(u8[block.id][0], fake, u8[block.id][1]).items():
                        entry[k].append(v)
                    if s_idx == 0 and keep_samples is not None and keep_samples(block):
                        samples[(m.name, block.id)] = fake.detach().to("cpu", torch.float32)
                    bar.update()
    for entries in per_block.values():
        for entry in entries.values():
            notes = sorted(set(entry.pop("notes")))
            if entry["available"] and notes:
                entry["note"] = "; ".join(notes)
    return per_block, samples


def summarize(
    methods: Sequence[Method], blocks: Sequence[Block], per_block: dict[str, dict[str, Any]], n_seeds: int
) -> dict[str, Any]:
    """Mean over blocks per group (each camera and ``all``), per seed; then mean and spread over seeds."""
    groups = {"all": [b.id for b in blocks]}
    for cam in sorted({b.camera for b in blocks}, key=lambda c: [b.camera for b in blocks].index(c)):
        groups[cam] = [b.id for b in blocks if b.camera == cam]
    out: dict[str, Any] = {}
    for m in methods:
        out[m.name] = {}
        for metric in METRICS:
            out[m.name][metric] = {}
            for g, ids in groups.items():
                avail = [i for i in ids if per_block[m.name][i]["available"]]
                if not avail:
                    out[m.name][metric][g] = {"mean": None, "std": None, "n_blocks": 0, "of_blocks": len(ids)}
                    continue
                per_seed = np.array([[per_block[m.name][i][metric][s] for i in avail] for s in range(n_seeds)]).mean(1)
                out[m.name][metric][g] = {
                    "mean": float(per_seed.mean()),
                    "std": float(per_seed.std(ddof=1)) if n_seeds > 1 else None,
                    "per_seed": [float(v) for v in per_seed],
                    "n_blocks": len(avail),
                    "of_blocks": len(ids),
                }
    return {"groups": groups, "methods": out}


# --------------------------------------------------------------------------------------------------
# markdown


def _cell(stat: dict[str, Any]) -> str:
    if stat["mean"] is None:
        return "n/a"
    text = f"{stat['mean']:.4f}" + (f" ± {stat['std']:.4f}" if stat["std"] is not None else "")
    if stat["n_blocks"] < stat["of_blocks"]:
        text += f" ({stat['n_blocks']}/{stat['of_blocks']} blocks)"
    return text


def render_markdown(results: dict[str, Any]) -> str:
    """Markdown tables (per metric: methods × cameras), per-block details and notes."""
    summary = results["summary"]
    groups = summary["groups"]
    methods = results["methods"]
    blocks = results["validation"]["blocks"]
    seeds = results["seeds"]
    lines = [
        "<!-- generated by benchmarks/noise_fidelity.py: do not edit by hand, re-run the command below -->",
        f"Generated by `{results['command_line']}` (nmflowgan_aug {results['version']}, {results['created']}).",
        "",
        f"Validation: {results['validation']['description']}. "
        f"Training data of the baselines: {results['training']['description']}. "
        "Lower is better; each cell is the mean over the blocks of the column, then "
        + (f"mean ± sample std over {len(seeds)} sampling seeds ({', '.join(map(str, seeds))})."
           if len(seeds) > 1 else f"one sampling seed ({seeds[0]}).")
        + " Columns: camera (number of blocks).",
        "",
    ]
    cam_cols = [g for g in groups if g != "all"] + ["all"]
    for metric, (title, desc) in METRICS.items():
        lines += [f"**{title}** ({desc})", ""]
        lines.append("| method | " + " | ".join(f"{g} ({len(groups[g])})" for g in cam_cols) + " |")
        lines.append("|---|" + "---|" * len(cam_cols))
        for name in methods:
            cells = [_cell(summary["methods"][name][metric][g]) for g in cam_cols]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        lines.append("")
    # per block
    lines += ["<details><summary>Per block (mean over seeds)</summary>", ""]
    header = "| block | camera/ISO | scene instance | " + " | ".join(methods) + " |"
    for metric, (title, _) in METRICS.items():
        lines += [f"{title}:", "", header, "|---|---|---|" + "---|" * len(methods)]
        for b in blocks:
            cells = []
            for name in methods:
                e = results["per_block"][name][b["id"]]
                cells.append(f"{np.mean(e[metric]):.4f}" if e["available"] else "n/a")
            lines.append(f"| {b['id']} | {b['camera']}/{b['iso']} | {b['scene'] or '?'} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += ["</details>", ""]
    # notes
    lines += ["Notes:", ""]
    for name, info in methods.items():
        lines.append(f"* `{name}`: {info['title']}.")
    support = results.get("training_support") or {}
    if support:
        parts = [f"{cond}: {how}" for cond, how in support.items()]
        lines.append("* Training coverage of the validation conditions (fitted baselines): " + "; ".join(parts) + ".")
    for name in methods:
        notes = {b["id"]: results["per_block"][name][b["id"]]["note"] for b in blocks}
        notes = {k: v for k, v in notes.items() if v}
        if notes:
            lines.append(f"* `{name}` per block: " + "; ".join(f"{k}: {v}" for k, v in notes.items()) + ".")
    if not any(info["kind"] == "model" for info in methods.values()):
        lines.append("* No trained model in this run: rows of trained NMFlowGAN models appear after training "
                     "(pass `--model NAME=DIR`).")
    lines.append("")
    return "\n".join(lines)


def rewrite_readme(path: Path, table: str) -> None:
    """Replace the text between :data:`MARK_START` and :data:`MARK_END` in ``path`` with ``table`` (atomically)."""
    if not path.is_file():
        raise BenchmarkError(f"--readme file not found: {path}")
    text = path.read_text(encoding="utf-8")
    start, end = text.find(MARK_START), text.find(MARK_END)
    if start < 0 or end < 0 or end < start or text.count(MARK_START) != 1 or text.count(MARK_END) != 1:
        raise BenchmarkError(f"{path} must contain exactly one {MARK_START} followed by one {MARK_END}")
    new = text[: start + len(MARK_START)] + "\n" + table.strip() + "\n" + text[end:]
    atomic_write(path, lambda tmp: Path(tmp).write_text(new, encoding="utf-8"))


# --------------------------------------------------------------------------------------------------
# command line


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="noise_fidelity.py",
        description=(
            "Score noise models and baselines on real SIDD validation blocks: KLD (NAFlow/PNG protocol, per "
            "256x256 block), KLD (NM-FlowGAN protocol, per 96x96 patch) and AKLD (DANet), per camera and "
            "overall, averaged over sampling seeds. Baselines are fitted on training pairs; trained models "
            "are loaded with --model NAME=DIR."
        ),
        epilog=(
            "examples:\n"
            "  python benchmarks/noise_fidelity.py                      # baselines, sidd_native rows 00-04\n"
            "  python benchmarks/noise_fidelity.py --model ours=runs/sidd_native/model --plots\n"
            "  python benchmarks/noise_fidelity.py --val-mat-noisy ValidationNoisyBlocksSrgb.mat \\\n"
            "      --val-mat-gt ValidationGtBlocksSrgb.mat --blocks-per-image 4 --train /data/SIDD_Medium_Srgb\n"
            "  python benchmarks/noise_fidelity.py --readme benchmarks/README.md   # regenerate the README table"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    val = p.add_argument_group("validation data (default: rows 00-04 of ../shared/data/sidd_native)")
    val.add_argument("--val-manifest", type=Path, default=DEFAULT_MANIFEST,
                     help="pairs manifest (.csv) holding the validation blocks (default: %(default)s)")
    val.add_argument("--val-ids", nargs="+", default=list(DEFAULT_VAL_IDS), metavar="ID",
                     help="manifest ids of the validation blocks (default: %(default)s)")
    val.add_argument("--val-mat-noisy", type=Path, metavar="MAT",
                     help="SIDD ValidationNoisyBlocksSrgb.mat; replaces the manifest (needs --val-mat-gt)")
    val.add_argument("--val-mat-gt", type=Path, metavar="MAT", help="SIDD ValidationGtBlocksSrgb.mat")
    val.add_argument("--val-images", nargs="+", type=int, metavar="I",
                     help="with the .mat files: validation image indices 0..39 to use (default: all)")
    val.add_argument("--blocks-per-image", type=int, metavar="N",
                     help="with the .mat files: use the first N of the 32 blocks of each image (default: all)")
    tr = p.add_argument_group("training data of the baselines (default: rows 05-15 of ../shared/data/sidd_native)")
    tr.add_argument("--train", type=Path, default=DEFAULT_MANIFEST,
                    help="pairs manifest (.csv) or SIDD-Medium/Small folder (default: %(default)s)")
    tr.add_argument("--train-ids", nargs="+", metavar="ID",
                    help="manifest ids of the training pairs (default with the default manifest: 05-15; "
                         "otherwise all pairs with known camera and ISO)")
    tr.add_argument("--train-crop", type=int, default=1024, metavar="PX",
                    help="centre-crop training images to at most PX pixels per side for fitting (default: %(default)s)")
    m = p.add_argument_group("methods")
    m.add_argument("--methods", nargs="*", default=list(BASELINES), metavar="NAME",
                   help=f"baselines to run, any of {', '.join(BASELINES)} (default: all; give none to run models only)")
    m.add_argument("--model", action="append", default=[], metavar="NAME=DIR",
                   help="a trained model saved with save_pretrained (or a shipped model name); repeatable")
    m.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2], metavar="S",
                   help="sampling seeds; the spread over seeds is reported (default: %(default)s)")
    m.add_argument("--device", default="cpu", help="torch device for sampling (default: %(default)s)")
    o = p.add_argument_group("output")
    o.add_argument("--out", type=Path, default=DEFAULT_OUT,
                   help=f"output folder for {RESULT_STEM}.md / .json and the plots (default: %(default)s)")
    o.add_argument("--readme", type=Path, metavar="MD", nargs="+",
                   help=f"rewrite the block between {MARK_START} and {MARK_END} of each of these markdown files")
    o.add_argument("--plots", action="store_true", help="also write diagnostic PNGs (see benchmarks/plots.py)")
    o.add_argument("--plot-blocks", type=int, default=2, metavar="N",
                   help="plots use at most N blocks per camera/ISO condition (default: %(default)s)")
    o.add_argument("--no-progress", action="store_true", help="disable the progress bars")
    return p


def _display_path(p: Path) -> str:
    try:
        return os.path.relpath(p, REPO)
    except ValueError:
        return str(p)


def run(args: argparse.Namespace, argv: Sequence[str]) -> dict[str, Any]:
    """Run the benchmark for parsed ``args``; writes the outputs and returns the results dict."""
    progress = not args.no_progress
    device = torch.device(args.device)
    if not args.seeds:
        raise BenchmarkError("--seeds needs at least one seed")
    models = parse_model_specs(args.model)
    unknown = [n for n in args.methods if n not in BASELINES]
    if unknown:
        raise BenchmarkError(f"unknown method(s) {unknown}; known methods: {list(BASELINES)} (models: --model NAME=DIR)")
    if not args.methods and not models:
        raise BenchmarkError("nothing to run: give --methods and/or --model NAME=DIR")

    # validation data
    if (args.val_mat_noisy is None) != (args.val_mat_gt is None):
        raise BenchmarkError("--val-mat-noisy and --val-mat-gt must be given together")
    if args.val_mat_noisy is not None:
        blocks = load_validation_mat(args.val_mat_noisy, args.val_mat_gt, args.val_images, args.blocks_per_image)
        val_desc = (f"{len(blocks)} SIDD validation blocks from `{args.val_mat_noisy.name}` "
                    f"(camera/ISO from the SIDD validation scene order)")
    else:
        blocks = load_validation_manifest(args.val_manifest, args.val_ids)
        val_desc = (f"{len(blocks)} real SIDD validation blocks "
                    + ", ".join(f"{b.id} {b.condition}" for b in blocks)
                    + f" from `{_display_path(args.val_manifest.parent)}`")
    if not blocks:
        raise BenchmarkError("no validation blocks selected")

    # training data
    train_ids = args.train_ids
    if train_ids is None and args.train.resolve() == DEFAULT_MANIFEST.resolve():
        train_ids = list(DEFAULT_TRAIN_IDS)
    train_pairs, dropped = ([], []) if not args.methods else load_training(args.train, train_ids)
    overlap = sorted({p.name for p in train_pairs} & {b.id for b in blocks})
    if overlap and args.val_mat_noisy is None and args.train.resolve() == args.val_manifest.resolve():
        raise BenchmarkError(f"training and validation share pairs {overlap}; choose disjoint --train-ids/--val-ids")
    train_desc = (f"{len(train_pairs)} pairs from `{_display_path(args.train)}`"
                  + (f" (ids {train_ids[0]}-{train_ids[-1]})" if train_ids else "")
                  + (f", dropped for missing camera/ISO: {dropped}" if dropped else "")) if train_pairs else "none"

    t0 = time.time()
    methods = build_methods(args.methods, train_pairs, blocks, models, device, args.train_crop, progress)

    # which blocks the plots use: the first N of each condition
    plot_ids: set[str] = set()
    if args.plots:
        per_cond: dict[str, int] = {}
        for b in blocks:
            if per_cond.get(b.condition, 0) < args.plot_blocks:
                plot_ids.add(b.id)
                per_cond[b.condition] = per_cond.get(b.condition, 0) + 1
    per_block, samples = evaluate(methods, blocks, args.seeds, device, progress,
                                  keep_samples=(lambda b: b.id in plot_ids) if args.plots else None)
    summary = summarize(methods, blocks, per_block, len(args.seeds))

    fitted = next((m for m in methods if m.support is not None), None)
    training_support = {}
    if fitted is not None:
        for b in blocks:
            if b.condition not in training_support:
                how = fitted.support(b)
                law = fitted.params.get("law", {})
                isos = law.get("train_isos", {}).get(b.camera)
                training_support[b.condition] = how + (f" (training ISOs of {b.camera}: {isos})" if isos else "")

    results: dict[str, Any] = {
        "benchmark": "noise_fidelity",
        "command": ["python", "benchmarks/noise_fidelity.py", *argv],
        "command_line": shlex.join(["python", "benchmarks/noise_fidelity.py", *argv]),
        "version": nmflowgan_aug.__version__,
        "created": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "torch": torch.__version__,
        "device": str(device),
        "seconds": round(time.time() - t0, 1),
        "seeds": list(args.seeds),
        "metrics": {k: {"title": t, "definition": d} for k, (t, d) in METRICS.items()},
        "validation": {
            "description": val_desc,
            "blocks": [{"id": b.id, "camera": b.camera, "iso": b.iso, "scene": b.scene,
                        "size": list(b.clean.shape[-2:])} for b in blocks],
        },
        "training": {
            "description": train_desc,
            "pairs": [{"name": p.name, "camera": p.camera, "iso": p.iso} for p in train_pairs],
            "dropped": dropped,
            "crop": args.train_crop,
        },
        "training_support": training_support,
        "methods": {m.name: {"kind": m.kind, "title": m.title, "params": m.params} for m in methods},
        "per_block": per_block,
        "summary": summary,
    }
    table = render_markdown(results)
    out = args.out
    md = f"# Noise fidelity on SIDD validation blocks\n\n{table}"
    atomic_write(out / f"{RESULT_STEM}.json", lambda tmp: Path(tmp).write_text(json.dumps(results, indent=2) + "\n"))
    atomic_write(out / f"{RESULT_STEM}.md", lambda tmp: Path(tmp).write_text(md, encoding="utf-8"))
    written = [out / f"{RESULT_STEM}.json", out / f"{RESULT_STEM}.md"]
    if args.plots:
        from benchmarks.plots import PlotBlock, write_plots

        plot_blocks = [
            PlotBlock(b.id, b.camera, b.iso, b.clean[0], b.noisy[0],
                      {m.name: samples[(m.name, b.id)][0] for m in methods if (m.name, b.id) in samples})
            for b in blocks if b.id in plot_ids
        ]
        written += write_plots(plot_blocks, [m.name for m in methods], out)
    for readme in args.readme or []:
        rewrite_readme(readme, table)
        written.append(readme)
    results["written"] = [str(p) for p in written]
    return results


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status (2 for input errors, with a message on stderr)."""
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    try:
        results = run(args, argv)
    except BenchmarkError as e:
        parser.exit(2, f"{parser.prog}: error: {e}\n")
    print(render_summary(results))
    for p in results["written"]:
        print(f"wrote {p}")
    return 0


def render_summary(results: dict[str, Any]) -> str:
    """Short console summary: overall mean per method and metric."""
    rows = [f"{'method':<16}" + "".join(f"{k:>22}" for k in METRICS)]
    for name in results["methods"]:
        cells = []
        for k in METRICS:
            s = results["summary"]["methods"][name][k]["all"]
            cells.append(f"{'n/a' if s['mean'] is None else format(s['mean'], '.4f'):>22}")
        rows.append(f"{name:<16}" + "".join(cells))
    return "\n".join(rows)


if __name__ == "__main__":
    sys.exit(main())

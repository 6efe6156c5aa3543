"""The noise-fidelity protocol: real SIDD validation blocks, per-block metrics, sampling seeds and summaries.

Every method (:mod:`.fidelity_methods`) synthesizes noise on the clean validation blocks (whole
256×256 blocks, for their camera and ISO) and the synthetic noise is compared with the real noise of
the same block. Real noisy images are 8-bit, so the synthetic output is scored **rounded to 8-bit
levels** (:func:`~nmflowgan_aug.srgb.quantize_8bit`): scoring a float output against integer real
noise inflates histogram KLDs by itself (by up to +0.06 in the NAFlow protocol: in a simulation of one
heteroscedastic law, two 8-bit realizations score 0.0001–0.0004, float against 8-bit +0.008 to +0.057). The two KLDs are also reported on the unrounded output,
as the NAFlow and NM-FlowGAN code score it. Scores (:data:`METRICS`, lower is better):

* ``kld_block`` (headline, :data:`HEADLINE`): KLD with the NAFlow/PNG protocol (256 bins over [−1, 1],
  per 256×256 block);
* ``kld_official``: KLD with the NM-FlowGAN protocol (width-4 bins in 8-bit levels, +1 smoothing),
  per 96×96 patch at the official positions inside the block
  (:func:`~nmflowgan_aug.data.hdf5_patches.patch_positions`), averaged;
* ``akld``: DANet's AKLD (local 7×7 variance maps), per block;
* ``kld_block_float``, ``kld_official_float``: the two KLDs on the unrounded output;
* ``corr_error_lag1``, ``corr_error_lag2``: the largest ``|ρ_fake − ρ_real|`` of the noise
  autocorrelation (:func:`~nmflowgan_aug.metrics.noise_autocorrelation`) over channels and directions;
* ``cross_corr_error``: the largest ``|Δ|`` of the lag-0 cross-channel correlations;
* ``nlf_error``: :func:`~nmflowgan_aug.metrics.nlf_error` (noise-level function, 16 intensity bins).

Besides, every sample records the statistics of its noise (:data:`NOISE_STATS`: autocorrelation at lags
1–3 per direction and channel, cross-channel correlations, std ratio synthetic/real per channel), and
every block the same statistics of its real noise (:attr:`Block.real_stats`).

Each block is sampled once per seed with a ``torch.Generator`` seeded from the seed and the block id
(:func:`sample_seed`); results are averaged over blocks per camera and overall, per seed, and the
mean and spread over seeds are reported (:func:`summarize`).
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from ..data.hdf5_patches import patch_positions
from ..data.sidd import SceneName, read_pairs_manifest
from ..data.sidd_mat import SIDD_VALIDATION_SCENES, load_sidd_blocks
from ..metrics import (
    CHANNEL_PAIR_NAMES,
    akld,
    kld_block,
    kld_official,
    nlf_error,
    noise_autocorrelation,
    noise_cross_correlation,
    noise_std,
)
from ..srgb import quantize_8bit

__all__ = [
    "CHANNELS",
    "HEADLINE",
    "MAX_LAG",
    "METRICS",
    "NOISE_STATS",
    "Block",
    "Method",
    "NotAvailable",
    "block_metrics",
    "blocks_from_manifest",
    "blocks_from_mat",
    "evaluate",
    "noise_statistics",
    "official_patches",
    "plot_block_ids",
    "sample_seed",
    "summarize",
    "to_8bit",
    "training_support",
]

#: Scores, lower is better: key -> (short title, definition). Averaged over blocks by :func:`summarize`.
METRICS = {
    "kld_block": ("KLD, NAFlow/PNG protocol, 8-bit output",
                  "synthetic output rounded to 8-bit levels; 256 bins over [−1, 1], no smoothing, per 256×256 block"),
    "kld_official": ("KLD, NM-FlowGAN protocol, 8-bit output",
                     "synthetic output rounded to 8-bit levels; 8-bit levels, width-4 bins, +1 smoothing, mean over "
                     "the 96×96 patches at the official positions of each block"),
    "akld": ("AKLD (DANet), 8-bit output",
             "7×7 Gaussian-windowed local variance, ratio clamped to [0.1, 10], per block"),
    "kld_block_float": ("KLD, NAFlow/PNG protocol, float output",
                        "as kld_block on the unrounded synthetic output (as NAFlow's code scores it)"),
    "kld_official_float": ("KLD, NM-FlowGAN protocol, float output",
                           "as kld_official on the unrounded synthetic output (as NM-FlowGAN's code scores it)"),
    "corr_error_lag1": ("max |Δρ| at lag 1",
                        "largest |ρ_fake − ρ_real| of the noise autocorrelation at lag 1 over channels and directions"),
    "corr_error_lag2": ("max |Δρ| at lag 2", "the same at lag 2"),
    "cross_corr_error": ("max |Δ cross-channel ρ|",
                         "largest |Δ| of the lag-0 noise correlations R–G, R–B, G–B"),
    "nlf_error": ("NLF error",
                  "RMS of ln(std_fake / std_real) over 16 clean-intensity bins × 3 channels (bins with ≥ 400 pixels)"),
}

#: The headline score of the tables.
HEADLINE = "kld_block"

CHANNELS = ("R", "G", "B")

#: Largest autocorrelation lag recorded per sample.
MAX_LAG = 3

_PAIR_KEYS = tuple(name.replace("-", "") for name in CHANNEL_PAIR_NAMES)  # RG, RB, GB

#: Statistics of the synthetic noise recorded per sample (not scores): ``rho_<h|v><lag>_<channel>``
#: (autocorrelation), ``cross_<RG|RB|GB>`` (lag-0 cross-channel correlation), ``std_ratio_<channel>``
#: (noise std synthetic / real). The real block's values are :attr:`Block.real_stats`.
NOISE_STATS = (
    *(f"rho_{d}{k}_{c}" for d in "hv" for k in range(1, MAX_LAG + 1) for c in CHANNELS),
    *(f"cross_{p}" for p in _PAIR_KEYS),
    *(f"std_ratio_{c}" for c in CHANNELS),
)


def _to_u8(x: torch.Tensor) -> torch.Tensor:
    """Float sRGB in [0, 1] (8-bit content) back to its uint8 levels."""
    return (x.cpu() * 255.0).round().to(torch.uint8)


def to_8bit(fake: torch.Tensor) -> torch.Tensor:
    """A synthetic noisy image rounded to 8-bit levels (:func:`~nmflowgan_aug.srgb.quantize_8bit`), as uint8."""
    return _to_u8(quantize_8bit(fake.detach().to(torch.float32)))


def noise_statistics(noisy: torch.Tensor, clean: torch.Tensor) -> dict[str, float]:
    """Noise statistics of one image ``(1, 3, H, W)``.

    ``rho_*`` and ``cross_*`` (see :data:`NOISE_STATS`) and ``std_<channel>``, the noise std in 8-bit levels.
    """
    rho = noise_autocorrelation(noisy, clean, MAX_LAG)[0]
    cross = noise_cross_correlation(noisy, clean)[0]
    std = noise_std(noisy, clean)[0] * 255.0
    out = {f"rho_{d}{k}_{c}": float(rho[i, j, k - 1])
           for j, d in enumerate("hv") for k in range(1, MAX_LAG + 1) for i, c in enumerate(CHANNELS)}
    out.update({f"cross_{p}": float(cross[i]) for i, p in enumerate(_PAIR_KEYS)})
    out.update({f"std_{c}": float(std[i]) for i, c in enumerate(CHANNELS)})
    return out


def _from_u8(img: np.ndarray) -> torch.Tensor:
    """uint8 ``(H, W, 3)`` to float32 ``(1, 3, H, W)`` in [0, 1]."""
    return torch.from_numpy(np.array(img, dtype=np.uint8)).permute(2, 0, 1).unsqueeze(0).float() / 255.0


@dataclass(frozen=True, eq=False)
class Block:
    """One validation block: id, camera, ISO, scene instance and sRGB images ``(1, 3, H, W)`` float32 in [0, 1].

    A block is also an ``ImagePair`` (``name``, ``load()``), so that it can serve as a real-noise donor.
    """

    id: str
    camera: str
    iso: int
    scene: str | None
    clean: torch.Tensor = field(repr=False)
    noisy: torch.Tensor = field(repr=False)

    @property
    def clean_u8(self) -> torch.Tensor:
        """``clean`` as uint8 levels ``(1, 3, H, W)`` (the blocks are 8-bit images)."""
        return _to_u8(self.clean)

    @property
    def noisy_u8(self) -> torch.Tensor:
        """``noisy`` as uint8 levels ``(1, 3, H, W)``."""
        return _to_u8(self.noisy)

    @property
    def condition(self) -> str:
        """``"CAMERA/ISO"``."""
        return f"{self.camera}/{self.iso}"

    def centre_crop(self, size: int) -> Block:
        """The central ``size``×``size`` part of the block (the whole block where it is smaller)."""
        h, w = self.clean.shape[-2:]
        y, x = max(0, (h - size) // 2), max(0, (w - size) // 2)
        return Block(self.id, self.camera, self.iso, self.scene, self.clean[..., y : y + size, x : x + size],
                     self.noisy[..., y : y + size, x : x + size])

    @cached_property
    def real_stats(self) -> dict[str, float]:
        """:func:`noise_statistics` of the block's real noise (computed once)."""
        return noise_statistics(self.noisy_u8, self.clean_u8)

    @property
    def name(self) -> str:
        """The block id (the name an ``ImagePair`` has)."""
        return self.id

    def load(self) -> tuple[np.ndarray, np.ndarray]:
        """``(clean, noisy)`` uint8 ``(H, W, 3)``."""
        return self.clean_u8[0].permute(1, 2, 0).numpy(), self.noisy_u8[0].permute(1, 2, 0).numpy()


class NotAvailable(Exception):
    """A method cannot synthesize a block (a condition outside its training data or vocabulary)."""


@dataclass
class Method:
    """A named noise synthesizer scored by :func:`evaluate`.

    Attributes:
        name: row name in the tables.
        kind: ``"baseline"``, ``"reference"`` or ``"model"``.
        title: one-line description for the notes.
        sample: ``sample(block, generator) -> (fake, note)``: the noisy block, float sRGB ``(1, 3, H, W)`` in
            [0, 1] on the block's device, and an optional note (e.g. the donor used); raises
            :class:`NotAvailable` where the method has no answer.
        params: plain-JSON parameters recorded in the results (fitted laws, model config).
        support: for fitted baselines, how the training data covers a block's condition
            (:meth:`~nmflowgan_aug.baselines.LogIsoLaw.support`).
    """

    name: str
    kind: str
    title: str
    sample: Callable[[Block, torch.Generator], tuple[torch.Tensor, str | None]]
    params: dict[str, Any]
    support: Callable[[Block], str] | None = None


def blocks_from_manifest(manifest: str | os.PathLike, ids: Sequence[str]) -> list[Block]:
    """Validation blocks from a pairs manifest (e.g. rows 00-04 of ``sidd_native``).

    Raises:
        FileNotFoundError: the manifest or an image is missing.
        ValueError: an unknown id, or a row without camera/ISO.
    """
    if not os.path.exists(manifest):
        raise FileNotFoundError(f"validation manifest not found: {manifest}")
    blocks = []
    for r in read_pairs_manifest(manifest, ids=list(ids)):
        if r.camera is None or r.iso is None:
            raise ValueError(f"validation pair {r.name!r} of {manifest} has no camera/ISO; pick other ids")
        clean, noisy = r.load()
        blocks.append(Block(r.name, r.camera, int(r.iso), None if r.scene is None else str(r.scene),
                            _from_u8(clean), _from_u8(noisy)))
    return blocks


def blocks_from_mat(
    noisy_path: str | os.PathLike,
    gt_path: str | os.PathLike,
    images: Sequence[int] | None = None,
    blocks_per_image: int | None = None,
) -> list[Block]:
    """Validation blocks from ``ValidationNoisyBlocksSrgb.mat`` / ``ValidationGtBlocksSrgb.mat``.

    Camera and ISO of image ``i`` come from
    :data:`~nmflowgan_aug.data.sidd_mat.SIDD_VALIDATION_SCENES`. Block ids are ``v<image>-<block>``
    (0-based, e.g. ``v11-13``).

    Args:
        noisy_path: the noisy block file, ``(40, M, H, W, 3)`` uint8.
        gt_path: the ground-truth block file, ``(40, M, H, W, 3)`` uint8.
        images: image indices 0..39 to use (default: all).
        blocks_per_image: use the first N blocks of each image (default: all).

    Raises:
        FileNotFoundError: a missing file.
        KeyError: the variable is not in a file.
        ValueError: arrays of other shapes (40 images needed), or an image index out of range.
    """
    shape = (len(SIDD_VALIDATION_SCENES), None, None, None, 3)  # the image index fixes camera and ISO
    noisy = load_sidd_blocks(noisy_path, expected_shape=shape)
    gt = load_sidd_blocks(gt_path, expected_shape=shape)
    if noisy.shape != gt.shape:
        raise ValueError(f"noisy blocks {noisy.shape} and ground-truth blocks {gt.shape} differ in shape")
    n_img, n_blk = noisy.shape[:2]
    chosen = range(n_img) if images is None else images
    bad = [i for i in chosen if not 0 <= i < n_img]
    if bad:
        raise ValueError(f"validation image index {bad[0]} out of range 0..{n_img - 1}")
    blocks = []
    for i in chosen:
        scene = SceneName.parse(SIDD_VALIDATION_SCENES[i])
        for b in range(n_blk if blocks_per_image is None else min(blocks_per_image, n_blk)):
            blocks.append(Block(f"v{i:02d}-{b:02d}", scene.camera, scene.iso, str(scene),
                                _from_u8(gt[i, b]), _from_u8(noisy[i, b])))
    return blocks


def official_patches(x: torch.Tensor, patch: int = 96) -> torch.Tensor:
    """Cut ``(1, 3, H, W)`` into the official patches (``patch_positions``, stride 48): ``(P, 3, patch, patch)``."""
    ys = patch_positions(x.shape[-2], patch)
    xs = patch_positions(x.shape[-1], patch)
    return torch.cat([x[..., y : y + patch, x0 : x0 + patch] for y in ys for x0 in xs])


def block_metrics(
    real: torch.Tensor, fake: torch.Tensor, clean: torch.Tensor, real_stats: dict[str, float] | None = None
) -> dict[str, float]:
    """The :data:`METRICS` and :data:`NOISE_STATS` of one sample; ``fake`` was sampled on the whole block.

    The 8-bit scores use ``fake`` rounded to 8-bit levels (:func:`to_8bit`); ``*_float`` use it as given.
    The patches of the NM-FlowGAN protocol are cut after sampling.

    Args:
        real: real noisy block ``(1, 3, H, W)``, uint8 levels (cheaper to validate) or float sRGB in [0, 1].
        fake: synthesized noisy block, float sRGB in [0, 1] (any float dtype; up to 256/255 for the
            official generator) or uint8.
        clean: clean block, like ``real``.
        real_stats: :func:`noise_statistics` of ``real`` (computed here when None).
    """
    real, clean = (t.detach().cpu() for t in (real, clean))
    fake = fake.detach().cpu()
    if fake.dtype not in (torch.float32, torch.float64, torch.uint8):
        fake = fake.float()
    fake8 = fake if fake.dtype == torch.uint8 else to_8bit(fake)
    ref = noise_statistics(real, clean) if real_stats is None else real_stats
    stats = noise_statistics(fake8, clean)
    patches = [official_patches(t) for t in (real, clean)]
    out = {
        "kld_block": float(kld_block(real, fake8, clean)[0]),
        "kld_official": float(kld_official(patches[0], official_patches(fake8), patches[1]).mean()),
        "akld": float(akld(real, fake8, clean)[0]),
        "kld_block_float": float(kld_block(real, fake.clamp(0.0, 1.0), clean)[0]),
        "kld_official_float": float(kld_official(patches[0], official_patches(fake), patches[1]).mean()),
        "nlf_error": float(nlf_error(real, fake8, clean)[0]),
    }
    for k in (1, 2):
        keys = [f"rho_{d}{k}_{c}" for d in "hv" for c in CHANNELS]
        out[f"corr_error_lag{k}"] = max(abs(stats[key] - ref[key]) for key in keys)
    out["cross_corr_error"] = max(abs(stats[f"cross_{p}"] - ref[f"cross_{p}"]) for p in _PAIR_KEYS)
    out.update({key: stats[key] for key in NOISE_STATS if not key.startswith("std_ratio")})
    out.update({f"std_ratio_{c}": stats[f"std_{c}"] / ref[f"std_{c}"] for c in CHANNELS})
    return out


def sample_seed(seed: int, block_id: str) -> int:
    """Seed of the generator that samples ``block_id`` for sampling seed ``seed`` (CRC-32 of ``"seed|id"``)."""
    return zlib.crc32(f"{seed}|{block_id}".encode())


def evaluate(
    methods: Sequence[Method],
    blocks: Sequence[Block],
    seeds: Sequence[int],
    device: torch.device,
    progress: bool = True,
    keep_samples: Callable[[Block], bool] | None = None,
) -> tuple[dict[str, dict[str, Any]], dict[tuple[str, str], torch.Tensor]]:
    """Sample and score every (method, block, seed).

    A method that cannot synthesize a block (:class:`NotAvailable`) is marked
    unavailable there, with the reason, and not retried for the other seeds.

    Returns:
        ``per_block[method][block_id]`` = ``{"kld_block": [per seed], ... (every key of :data:`METRICS` and
        :data:`NOISE_STATS`), "note": str|None, "available": bool}`` and the seed-``seeds[0]`` samples rounded
        to 8-bit levels (float32 ``(1, 3, H, W)`` in [0, 1] on the CPU) of the blocks selected by
        ``keep_samples`` (for plots), keyed ``(method, block_id)``.
    """
    per_block: dict[str, dict[str, Any]] = {m.name: {} for m in methods}
    samples: dict[tuple[str, str], torch.Tensor] = {}
    total = len(seeds) * len(blocks) * len(methods)
    u8 = {b.id: (b.noisy_u8, b.clean_u8) for b in blocks}
    keys = (*METRICS, *NOISE_STATS)
    with tqdm(total=total, desc="sampling + scoring", unit="sample", disable=not progress) as bar:
        for s_idx, seed in enumerate(seeds):
            for block in blocks:
                for m in methods:
                    entry = per_block[m.name].setdefault(
                        block.id, {"available": True, "note": None, "notes": [], **{k: [] for k in keys}})
                    bar.set_postfix_str(f"seed {seed} block {block.id} {m.name}")
                    if not entry["available"]:
                        bar.update()
                        continue
                    gen = torch.Generator(device=device).manual_seed(sample_seed(seed, block.id))
                    try:
                        fake, note = m.sample(Block(block.id, block.camera, block.iso, block.scene,
                                                    block.clean.to(device), block.noisy), gen)
                    except NotAvailable as e:
                        entry.update(available=False, note=f"n/a: {e}")
                        bar.update()
                        continue
                    if note:
                        entry["notes"].append(note)
                    for k, v in block_metrics(u8[block.id][0], fake, u8[block.id][1], block.real_stats).items():
                        entry[k].append(v)
                    if s_idx == 0 and keep_samples is not None and keep_samples(block):
                        samples[(m.name, block.id)] = to_8bit(fake).float() / 255.0
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
    """Mean over blocks per group (each camera and ``all``), per seed; then mean and spread over seeds.

    Every key of :data:`METRICS` and :data:`NOISE_STATS` is summarized.

    Returns:
        ``{"groups": {group: [block ids]}, "methods": {method: {key: {group: stat}}}}`` where ``stat`` is
        ``{"mean", "std" (sample std over seeds, None for one seed), "per_seed", "block_min", "block_max"
        (the smallest and largest per-block mean over seeds), "n_blocks", "of_blocks"}`` over the blocks where
        the method was available (only ``{"mean": None, "std": None, "n_blocks": 0, "of_blocks"}`` where it
        never was).
    """
    groups = {"all": [b.id for b in blocks]}
    for cam in sorted({b.camera for b in blocks}, key=lambda c: [b.camera for b in blocks].index(c)):
        groups[cam] = [b.id for b in blocks if b.camera == cam]
    out: dict[str, Any] = {}
    for m in methods:
        out[m.name] = {}
        for key in (*METRICS, *NOISE_STATS):
            out[m.name][key] = {}
            for g, ids in groups.items():
                avail = [i for i in ids if per_block[m.name][i]["available"]]
                if not avail:
                    out[m.name][key][g] = {"mean": None, "std": None, "n_blocks": 0, "of_blocks": len(ids)}
                    continue
                values = np.array([[per_block[m.name][i][key][s] for i in avail] for s in range(n_seeds)])
                per_seed, per_block_mean = values.mean(1), values.mean(0)
                out[m.name][key][g] = {
                    "mean": float(per_seed.mean()),
                    "std": float(per_seed.std(ddof=1)) if n_seeds > 1 else None,
                    "per_seed": [float(v) for v in per_seed],
                    "block_min": float(per_block_mean.min()),
                    "block_max": float(per_block_mean.max()),
                    "n_blocks": len(avail),
                    "of_blocks": len(ids),
                }
    return {"groups": groups, "methods": out}


def training_support(methods: Sequence[Method], blocks: Sequence[Block]) -> dict[str, str]:
    """How the training data of the first fitted baseline covers each validation condition.

    Returns:
        ``{"CAMERA/ISO": "seen" | "interpolated" | "extrapolated" | "camera not in training data"}``, with the
        camera's training ISOs appended; empty without a fitted baseline.
    """
    fitted = next((m for m in methods if m.support is not None), None)
    out: dict[str, str] = {}
    if fitted is None:
        return out
    isos_per_camera = fitted.params.get("law", {}).get("train_isos", {})
    for b in blocks:
        if b.condition not in out:
            isos = isos_per_camera.get(b.camera)
            out[b.condition] = fitted.support(b) + (f" (training ISOs of {b.camera}: {isos})" if isos else "")
    return out


def plot_block_ids(blocks: Sequence[Block], per_condition: int) -> set[str]:
    """Ids of the first ``per_condition`` blocks of each camera/ISO condition (the blocks the figures show)."""
    ids: set[str] = set()
    counts: dict[str, int] = {}
    for b in blocks:
        if counts.get(b.condition, 0) < per_condition:
            ids.add(b.id)
            counts[b.condition] = counts.get(b.condition, 0) + 1
    return ids

#!/usr/bin/env python
"""Score noise models by the denoiser they train: DnCNN on synthetic pairs, tested on real SIDD noise.

The NM-FlowGAN protocol (reference §5.3): a DnCNN is trained with an L2 loss and Adam on clean
patches whose noisy inputs are synthesized on the fly by a noise model, and is then scored (PSNR,
SSIM per block, averaged) on real noisy/clean SIDD validation blocks. Every noise source of one run
sees the same clean patches in the same order, the same DnCNN initialisation and the same
schedule, so the table compares the noise only. The oracle source ``real`` trains on the real
noisy/clean training pairs themselves; its score is the line the synthetic sources try to reach.

Noise sources (``--sources``, comma separated):

* ``nmflowgan:DIR_OR_NAME``: our NM-FlowGAN (``NMFlowGAN.from_pretrained``: a saved-model folder
  or a shipped name from ``nmflowgan_aug.list_pretrained()``); ``nmflowgan`` alone means the
  shipped ``sidd`` model.
* ``gaussian``, ``hetero``, ``simulator``: the baselines of :mod:`nmflowgan_aug.baselines`
  (homoscedastic Gaussian, heteroscedastic Gaussian, physics-based camera simulator), each fitted
  on the training pairs first.
* ``real``: the real noisy/clean training pairs (oracle).

Anything with ``sample(clean, camera, iso, generator=None) -> noisy`` can be plugged in through
:func:`register_source`.

Examples::

    python benchmarks/denoise_sidd.py                                    # CPU preset, default sources
    python benchmarks/denoise_sidd.py --sources gaussian,hetero,real --iters 100
    python benchmarks/denoise_sidd.py --preset full --device cuda --sources nmflowgan:runs/x/model,real \\
        --train-clean /data/SIDD_Medium_Srgb --val-noisy ValidationNoisyBlocksSrgb.mat \\
        --val-gt ValidationGtBlocksSrgb.mat \\
        --submit-benchmark BenchmarkNoisyBlocksSrgb.mat --submit-out SubmitSrgb.mat
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script from a checkout
    sys.path.insert(0, str(REPO))

import nmflowgan_aug  # noqa: E402
from benchmarks._cli import HelpFormatter  # noqa: E402
from nmflowgan_aug._io import atomic_write  # noqa: E402
from nmflowgan_aug.denoisers import DnCNN  # noqa: E402
from nmflowgan_aug.devices import resolve_device  # noqa: E402

SHARED_DATA = Path(os.environ.get("NMFLOWGAN_SHARED_DATA", REPO.parent / "shared" / "data"))
DEFAULT_MANIFEST = SHARED_DATA / "sidd_native" / "pairs.csv"
DEFAULT_VAL_IDS = ("00", "01", "02", "03", "04")
ORACLE = "real"

#: Presets: every value can be overridden by its own option.
PRESETS: dict[str, dict[str, Any]] = {
    # Smoke-level comparison: DnCNN 6 layers × 32 features, 150 iterations of 16 patches of 64×64,
    # lr 3e-3 (short runs need a larger lr than the official 1e-4) halved once at mid-run. About 1 min
    # per source on 2 idle CPU cores (0.4 s per iteration; more for the simulator's synthesis), about
    # 5–6 min for 5 sources. The denoisers are far from converged (the real-pair oracle gains a few dB
    # over the noisy input): use it to check the pipeline and coarse orderings, not for protocol numbers.
    "cpu": dict(layers=6, features=32, batch_size=16, patch_size=64, iters=150, lr=3e-3, lr_halvings=1),
    # Official DnCNN 18×64, batch 128 of 96×96; lr 1e-4 halved 5 times (the official 30 epochs with
    # ×0.5 every 5 epochs, here in iterations). For a GPU.
    "full": dict(layers=18, features=64, batch_size=128, patch_size=96, iters=60000, lr=1e-4, lr_halvings=5),
}


# ==================================================================================================
# noise sources


class NoiseModel(Protocol):
    """The one interface a synthetic noise source needs."""

    def sample(self, clean: torch.Tensor, camera: Any, iso: Any, generator: torch.Generator | None = None) -> torch.Tensor:
        """Noisy sRGB in [0, 1], same shape as ``clean`` ``(B, 3, H, W)``; camera/ISO per sample."""
        ...


@dataclass
class NoiseSource:
    """A named noise source for the benchmark.

    Attributes:
        name: label in the tables (the ``--sources`` entry).
        model: object with ``sample(clean, camera, iso, generator=None)``; None for the real pairs.
        vocabulary: optional :class:`~nmflowgan_aug.vocab.ConditionVocabulary`; when given, training
            conditions outside it are mapped (nearest ISO in log scale) or rejected, see ``--unsupported``.
        notes: free-form facts recorded in the results (fit parameters, model config, ISO mapping).
    """

    name: str
    model: NoiseModel | None
    vocabulary: Any = None
    notes: dict = field(default_factory=dict)

    @property
    def is_real(self) -> bool:
        return self.model is None


@dataclass
class SourceContext:
    """What a source builder gets: the training pairs (``ImagePair`` objects with known camera/ISO,
    for fitting), the device, and the baseline fit crop size (None: whole images)."""

    pairs: list
    device: torch.device
    fit_max_size: int | None = None


#: kind -> builder(argument after ':' or None, SourceContext) -> NoiseSource
_BUILDERS: dict[str, Callable[[str | None, SourceContext], NoiseSource]] = {}


def register_source(kind: str, builder: Callable[[str | None, SourceContext], NoiseSource]) -> None:
    """Add a noise-source kind; ``builder(arg, ctx)`` returns a :class:`NoiseSource` whose ``model``
    has ``sample(clean, camera, iso, generator=None)`` (or None for real pairs)."""
    _BUILDERS[kind] = builder


def known_sources() -> list[str]:
    return sorted(_BUILDERS)


def _build_nmflowgan(arg: str | None, ctx: SourceContext) -> NoiseSource:
    from nmflowgan_aug import NMFlowGAN

    target = arg or "sidd"
    model = NMFlowGAN.from_pretrained(target, map_location=ctx.device).eval()
    notes = {"model": str(target), "config": {k: (list(v) if isinstance(v, tuple) else v)
                                              for k, v in vars(model.config).items()}}
    if model.metadata:
        notes["metadata"] = model.metadata
    return NoiseSource(f"nmflowgan:{target}" if arg else "nmflowgan", model, model.vocabulary, notes)


#: baseline kind -> class name in nmflowgan_aug.baselines (each has ``fit(pairs, max_size=)`` and ``sample``)
BASELINE_CLASSES = {
    "gaussian": "GaussianNoiseModel",
    "hetero": "HeteroscedasticGaussianNoiseModel",
    "simulator": "SimulatedCameraNoiseModel",
}

def _fit_baseline(kind: str, ctx: SourceContext) -> NoiseSource:
    try:
        from nmflowgan_aug import baselines
    except ImportError as e:  # pragma: no cover - depends on the checkout
        raise SystemExit(f"noise source {kind!r} needs nmflowgan_aug.baselines, which could not be imported: {e}")
    cls = getattr(baselines, BASELINE_CLASSES[kind])
    max_size = ctx.fit_max_size
    model = cls.fit(ctx.pairs) if max_size is None else cls.fit(ctx.pairs, max_size=max_size)
    notes = {"class": BASELINE_CLASSES[kind], "fit_max_size": max_size}
    describe = getattr(model, "describe", None)
    if callable(describe):
        notes.update(describe())
    # the baselines draw on clean.device, so they need no .to(device); they take any ISO (log-ISO law)
    return NoiseSource(kind, model, getattr(model, "vocabulary", None), notes)


def _build_real(arg: str | None, ctx: SourceContext) -> NoiseSource:
    return NoiseSource(ORACLE, None, None, {"what": "real noisy/clean training pairs (oracle)"})


register_source("nmflowgan", _build_nmflowgan)
for _kind in ("gaussian", "hetero", "simulator"):
    register_source(_kind, lambda arg, ctx, _k=_kind: _fit_baseline(_k, ctx))
register_source(ORACLE, _build_real)


def parse_source_spec(spec: str) -> tuple[str, str | None]:
    """``"nmflowgan:runs/x"`` → ``("nmflowgan", "runs/x")``; raise ValueError for unknown kinds."""
    kind, sep, arg = spec.strip().partition(":")
    if kind not in _BUILDERS:
        raise ValueError(
            f"unknown noise source {spec!r}; known sources: {known_sources()} "
            "(nmflowgan takes a model: nmflowgan:DIR_OR_NAME)"
        )
    if sep and not arg:
        raise ValueError(f"noise source {spec!r} has an empty argument after ':'")
    if arg and kind != "nmflowgan":
        raise ValueError(f"noise source {kind!r} takes no argument, got {spec!r}")
    return kind, (arg or None)


def default_sources() -> list[str]:
    out = []
    if "sidd" in nmflowgan_aug.list_pretrained():
        out.append("nmflowgan:sidd")
    return out + ["gaussian", "hetero", "simulator", ORACLE]


def map_conditions(
    conditions: Sequence[tuple[str, int]], vocabulary: Any, policy: str
) -> tuple[list[tuple[str, int]], dict[str, str]]:
    """Map (camera, ISO) pairs into a model vocabulary.

    ``policy="nearest"``: an ISO outside the vocabulary becomes the supported ISO nearest in log2;
    ``"error"``: raise. A camera outside the vocabulary always raises.

    Returns:
        the mapped conditions and ``{"CAM@ISO": "CAM@ISO'"}`` for every changed one.
    """
    if vocabulary is None:
        return list(conditions), {}
    mapped, changes = [], {}
    isos = np.asarray(vocabulary.isos, dtype=np.float64)
    for cam, iso in conditions:
        if cam not in vocabulary.cameras:
            raise ValueError(f"training camera {cam!r} is not in the noise model's vocabulary {list(vocabulary.cameras)}")
        new_iso = iso
        if iso not in vocabulary.isos:
            if policy == "error":
                raise ValueError(
                    f"training ISO {iso} ({cam}) is not supported by the noise model (ISOs {list(vocabulary.isos)}); "
                    "use --unsupported nearest to map it to the nearest supported ISO"
                )
            new_iso = int(vocabulary.isos[int(np.argmin(np.abs(np.log2(isos) - math.log2(iso))))])
            changes[f"{cam}@{iso}"] = f"{cam}@{new_iso}"
        mapped.append((cam, new_iso))
    return mapped, changes


# ==================================================================================================
# data


@dataclass
class TrainImages:
    """Training images in memory: uint8 CHW tensors, clean and noisy, with camera/ISO per image."""

    clean: list[torch.Tensor]
    noisy: list[torch.Tensor]
    cameras: list[str]
    isos: list[int]
    names: list[str]


def _hwc_to_chw(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)))


def load_train_images(pairs: list, patch_size: int, patches_per_image: int, seed: int) -> TrainImages:
    """Read training pairs; with ``patches_per_image > 0`` keep only that many random crops of each
    image (for full SIDD-Medium, whose 320 images do not fit in memory), else whole images."""
    rng = np.random.default_rng(seed)
    out = TrainImages([], [], [], [], [])
    for pair in tqdm(pairs, desc="load training pairs", leave=False, disable=None):
        clean, noisy = pair.load()
        h, w = clean.shape[:2]
        if h < patch_size or w < patch_size:
            raise ValueError(f"training pair {pair.name} is {h}×{w}, smaller than the patch size {patch_size}")
        if patches_per_image > 0:
            ys = rng.integers(0, h - patch_size + 1, patches_per_image)
            xs = rng.integers(0, w - patch_size + 1, patches_per_image)
            for k, (y, x) in enumerate(zip(ys, xs)):
                out.clean.append(_hwc_to_chw(clean[y : y + patch_size, x : x + patch_size]))
                out.noisy.append(_hwc_to_chw(noisy[y : y + patch_size, x : x + patch_size]))
                out.cameras.append(pair.camera)
                out.isos.append(int(pair.iso))
                out.names.append(f"{pair.name}#{k}")
        else:
            out.clean.append(_hwc_to_chw(clean))
            out.noisy.append(_hwc_to_chw(noisy))
            out.cameras.append(pair.camera)
            out.isos.append(int(pair.iso))
            out.names.append(pair.name)
    return out


class PatchSampler:
    """Random crops (and optional flips/rotations), identical sequence for a given seed.

    Images are drawn with probability proportional to their number of crop positions, so every
    pixel is equally likely, as with the official dense 96×96/stride-48 patch sets.
    """

    def __init__(self, images: TrainImages, patch_size: int, augment: bool, seed: int) -> None:
        self.images = images
        self.patch = patch_size
        self.augment = augment
        self.gen = torch.Generator().manual_seed(seed)
        self.weights = torch.tensor(
            [(c.shape[1] - patch_size + 1) * (c.shape[2] - patch_size + 1) for c in images.clean], dtype=torch.float64
        )

    def batch(self, size: int) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
        """``(clean, noisy, image_indices)``: uint8 ``(B, 3, P, P)`` each, on the CPU."""
        p = self.patch
        idx = torch.multinomial(self.weights, size, replacement=True, generator=self.gen).tolist()
        clean, noisy = [], []
        for i in idx:
            c, n = self.images.clean[i], self.images.noisy[i]
            y = int(torch.randint(0, c.shape[1] - p + 1, (), generator=self.gen))
            x = int(torch.randint(0, c.shape[2] - p + 1, (), generator=self.gen))
            c, n = c[:, y : y + p, x : x + p], n[:, y : y + p, x : x + p]
            if self.augment:
                k = int(torch.randint(0, 8, (), generator=self.gen))
                if k >= 4:
                    c, n = c.flip(-1), n.flip(-1)
                c, n = torch.rot90(c, k % 4, (1, 2)), torch.rot90(n, k % 4, (1, 2))
            clean.append(c)
            noisy.append(n)
        return torch.stack(clean), torch.stack(noisy), idx


@dataclass
class EvalSet:
    """Evaluation blocks, uint8 ``(N, H, W, 3)`` each, plus a description and block names."""

    noisy: np.ndarray
    clean: np.ndarray
    names: list[str]
    description: str


def load_eval_set(args: argparse.Namespace) -> EvalSet:
    if bool(args.val_noisy) != bool(args.val_gt):
        raise SystemExit("--val-noisy and --val-gt must be given together")
    if args.val_noisy:
        from nmflowgan_aug.data.sidd_mat import load_sidd_blocks

        shape = None if args.any_block_shape else (40, 32, 256, 256, 3)
        noisy = load_sidd_blocks(args.val_noisy, expected_shape=shape)
        clean = load_sidd_blocks(args.val_gt, expected_shape=shape)
        if noisy.shape != clean.shape:
            raise SystemExit(f"validation noisy {noisy.shape} and ground truth {clean.shape} differ in shape")
        n, m = noisy.shape[:2]
        names = [f"{i:02d}-{b:02d}" for i in range(n) for b in range(m)]
        keep = list(range(0, n * m, args.val_step))
        noisy = noisy.reshape(n * m, *noisy.shape[2:])[keep]
        clean = clean.reshape(n * m, *clean.shape[2:])[keep]
        desc = f"{args.val_noisy} ({len(keep)} of {n * m} blocks, every {args.val_step})"
        return EvalSet(noisy, clean, [names[k] for k in keep], desc)
    from nmflowgan_aug.data.sidd import read_pairs_manifest

    records = read_pairs_manifest(args.manifest, ids=args.val_ids)
    loaded = [r.load() for r in records]
    shapes = {c.shape for c, _ in loaded}
    if len(shapes) != 1:  # different sizes: keep them as a list-like object array
        raise SystemExit(f"validation rows must share one size, got {sorted(shapes)}")
    clean = np.stack([c for c, _ in loaded])
    noisy = np.stack([n for _, n in loaded])
    names = [r.name for r in records]
    return EvalSet(noisy, clean, names, f"{args.manifest} rows {','.join(names)}")


# ==================================================================================================
# training and evaluation


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _to_unit(x: torch.Tensor, device: torch.device) -> torch.Tensor:
    return x.to(device, non_blocking=True).float().div_(255.0)


def lr_at(it: int, args: argparse.Namespace) -> float:
    """lr halved ``lr_halvings`` times at evenly spaced points of the run."""
    if args.lr_halvings <= 0:
        return args.lr
    phase = min(args.lr_halvings, it * (args.lr_halvings + 1) // max(args.iters, 1))
    return args.lr * 0.5**phase


def train_denoiser(
    source: NoiseSource, images: TrainImages, args: argparse.Namespace, device: torch.device
) -> tuple[DnCNN, dict]:
    """Train one DnCNN on ``source``'s noise; every source gets the same seed, patches and init."""
    conditions = list(zip(images.cameras, images.isos))
    mapped, changes = map_conditions(conditions, source.vocabulary, args.unsupported)
    if changes:
        source.notes["iso_mapping"] = changes
        print(f"[{source.name}] ISO outside the model vocabulary, mapped to nearest: {changes}", file=sys.stderr)
    torch.manual_seed(args.seed)
    model = DnCNN(3, args.layers, args.features).to(device)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=args.lr, betas=(0.9, 0.999))
    sampler = PatchSampler(images, args.patch_size, args.augment, args.seed)
    noise_gen = torch.Generator(device=device).manual_seed(args.seed + 1)
    losses: list[float] = []
    synth_s = 0.0
    _sync(device)
    t0 = time.perf_counter()
    bar = tqdm(range(args.iters), desc=f"train DnCNN [{source.name}]", disable=args.no_progress or None)
    for it in bar:
        for g in opt.param_groups:
            g["lr"] = lr_at(it, args)
        clean_u8, noisy_u8, idx = sampler.batch(args.batch_size)
        clean = _to_unit(clean_u8, device)
        if source.is_real:
            noisy = _to_unit(noisy_u8, device)
        else:
            ts = time.perf_counter()
            cams = [mapped[i][0] for i in idx]
            isos = [mapped[i][1] for i in idx]
            with torch.inference_mode():
                noisy = source.model.sample(clean, cams, isos, generator=noise_gen).clamp(0.0, 1.0)
                if args.quantize:
                    noisy = torch.round(noisy * 255.0) / 255.0
            noisy = noisy.clone()  # a normal tensor (inference tensors cannot be saved for backward)
            if args.time_synthesis:
                _sync(device)
            synth_s += time.perf_counter() - ts
        loss = F.mse_loss(model(noisy), clean)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
        if it % 10 == 0:
            bar.set_postfix(loss=f"{np.mean(losses[-10:]):.2e}")
    _sync(device)
    train_s = time.perf_counter() - t0
    tail = losses[-max(1, len(losses) // 10) :]
    info = {
        "train_seconds": round(train_s, 2),
        "synthesis_seconds": round(synth_s, 2) if not source.is_real else 0.0,
        "final_loss": float(np.mean(tail)) if tail else float("nan"),
    }
    return model.eval(), info


@torch.inference_mode()
def denoise_blocks(
    model: DnCNN, blocks: np.ndarray, device: torch.device, batch: int, desc: str, progress: bool
) -> np.ndarray:
    """Denoise uint8 ``(N, H, W, 3)`` blocks; returns uint8 of the same shape (clip, round to 8 bits)."""
    model.eval()
    out = np.empty_like(blocks)
    for s in tqdm(range(0, len(blocks), batch), desc=desc, leave=False, disable=(not progress) or None):
        x = torch.from_numpy(blocks[s : s + batch]).permute(0, 3, 1, 2).to(device).float() / 255.0
        y = model(x).clamp_(0.0, 1.0).mul_(255.0).round_().to(torch.uint8)
        out[s : s + batch] = y.permute(0, 2, 3, 1).cpu().numpy()
    return out


def score(pred: np.ndarray, target: np.ndarray, window: str, device: torch.device | None = None) -> dict:
    """PSNR/SSIM per block (data range 1, metrics of :mod:`nmflowgan_aug.metrics`) and their means.

    Computed on ``device`` (the metrics work in float64: on a GPU this is fast, on a small CPU SSIM
    costs about a second per 256×256 block).
    """
    from nmflowgan_aug.metrics import psnr, ssim

    dev = device or torch.device("cpu")
    p = torch.from_numpy(pred).permute(0, 3, 1, 2)
    t = torch.from_numpy(target).permute(0, 3, 1, 2)
    ps, ss = [], []
    for s in range(0, len(p), 16):
        pb, tb = p[s : s + 16].to(dev), t[s : s + 16].to(dev)
        ps.append(psnr(pb, tb).cpu())
        ss.append(ssim(pb, tb, window=window).cpu())
    ps_t, ss_t = torch.cat(ps), torch.cat(ss)
    return {
        "psnr": float(ps_t.mean()),
        "ssim": float(ss_t.mean()),
        "per_block_psnr": [round(float(v), 4) for v in ps_t],
        "per_block_ssim": [round(float(v), 5) for v in ss_t],
    }


def submit_benchmark(model: DnCNN, args: argparse.Namespace, device: torch.device) -> dict:
    """Denoise ``--submit-benchmark`` blocks and write ``--submit-out`` (SIDD ``SubmitSrgb.mat``)."""
    from nmflowgan_aug.data.sidd_mat import load_sidd_blocks, write_sidd_submission

    shape = None if args.any_block_shape else (40, 32, 256, 256, 3)
    blocks = load_sidd_blocks(args.submit_benchmark, expected_shape=shape)
    n, m = blocks.shape[:2]
    flat = blocks.reshape(n * m, *blocks.shape[2:])
    # warm-up outside the timed region (allocator, cuDNN autotuning)
    denoise_blocks(model, flat[:1], device, 1, "warm-up", False)
    _sync(device)
    t0 = time.perf_counter()
    out = denoise_blocks(model, flat, device, args.eval_batch, "denoise benchmark", not args.no_progress)
    _sync(device)
    seconds = time.perf_counter() - t0
    pixels = flat.shape[0] * flat.shape[1] * flat.shape[2]
    time_mp = seconds * 1024**2 / pixels
    path = write_sidd_submission(
        args.submit_out,
        out.reshape(blocks.shape),
        time_mp,
        overwrite=args.overwrite,
        expected_shape=shape,
        optional_data={"MethodName": f"DnCNN trained on {args.submit_source} noise (nmflowgan_aug)"},
    )
    return {"path": str(path), "blocks": int(n * m), "TimeMP": time_mp, "seconds": round(seconds, 3),
            "source": args.submit_source}


# ==================================================================================================
# reporting


def markdown_table(results: dict) -> str:
    has_oracle = ORACLE in results["sources"]
    head = "| noise source | PSNR (dB) | SSIM |" + (" ΔPSNR vs real | ΔSSIM vs real |" if has_oracle else "")
    head += " train s | of which synthesis s |"
    sep = "|" + "---|" * (head.count("|") - 1)
    rows = [head, sep]
    ni = results["noisy_input"]
    rows.append(f"| (noisy input) | {ni['psnr']:.2f} | {ni['ssim']:.4f} |" + (" | |" if has_oracle else "") + " | |")
    for name, r in results["sources"].items():
        line = f"| {name} | {r['psnr']:.2f} | {r['ssim']:.4f} |"
        if has_oracle:
            line += f" {r['gap_psnr_db']:+.2f} | {r['gap_ssim']:+.4f} |"
        line += f" {r['train_seconds']:.0f} | {r['synthesis_seconds']:.0f} |"
        rows.append(line)
    return "\n".join(rows)


def write_results(results: dict, out_dir: Path, overwrite: bool) -> tuple[Path, Path]:
    from nmflowgan_aug._io import refuse_overwrite

    out_dir.mkdir(parents=True, exist_ok=True)
    jpath, mpath = out_dir / "results.json", out_dir / "results.md"
    for p in (jpath, mpath):
        refuse_overwrite(p, overwrite)
    s = results["settings"]
    md = [
        "# DnCNN trained on synthetic noise, scored on real SIDD noise",
        "",
        f"- command: `{results['command']}`",
        f"- nmflowgan_aug {results['package_version']}, torch {results['torch_version']}, device {results['device']}",
        f"- DnCNN {s['layers']} layers × {s['features']} features; {s['iters']} iterations of batch {s['batch_size']} × "
        f"{s['patch_size']}²; Adam lr {s['lr']:g} halved {s['lr_halvings']}×; L2 loss; seed {s['seed']}",
        f"- training: {results['train_data']}",
        f"- evaluation: {results['eval_data']}; PSNR/SSIM ({s['ssim_window']} window) per block, data range 1, "
        "denoised output clipped and rounded to 8 bits, plain mean over blocks",
        "",
        markdown_table(results),
        "",
    ]
    if "submission" in results:
        sub = results["submission"]
        md.append(f"Submission: `{sub['path']}` ({sub['blocks']} blocks, source {sub['source']}, "
                  f"TimeMP {sub['TimeMP']:.4g} s/MP)")
        md.append("")
    atomic_write(jpath, lambda p: Path(p).write_text(json.dumps(results, indent=2) + "\n"))
    atomic_write(mpath, lambda p: Path(p).write_text("\n".join(md)))
    return jpath, mpath


# ==================================================================================================
# command line


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="denoise_sidd.py",
        description=(
            "Train a DnCNN per noise source on clean patches with noisy inputs synthesized on the fly, then score "
            "PSNR/SSIM on real noisy SIDD validation blocks; one markdown table + JSON for all sources, with the gap "
            "to the real-pair oracle."
        ),
        epilog=(
            "Presets (each value can be overridden by its option): "
            + "; ".join(f"{k}: " + ", ".join(f"{a}={v}" for a, v in d.items()) for k, d in PRESETS.items())
            + ". Known noise sources: nmflowgan:DIR_OR_NAME, gaussian, hetero, simulator, real."
        ),
        formatter_class=HelpFormatter,
    )
    g = p.add_argument_group("noise sources")
    g.add_argument("--sources", default=None,
                   help="comma-separated noise sources: nmflowgan:DIR_OR_NAME (our model, a saved-model folder or "
                        "shipped name), gaussian, hetero, simulator (baselines fitted on the training pairs), real "
                        "(the real training pairs; oracle). Default: nmflowgan:sidd if shipped, plus "
                        "gaussian,hetero,simulator,real")
    g.add_argument("--unsupported", choices=["nearest", "error"], default="nearest",
                   help="a training ISO that a noise model does not support: map it to the nearest supported ISO "
                        "(log scale, recorded in the results) or stop with an error")
    g.add_argument("--fit-max-size", type=int, default=None,
                   help="centre-crop training images to at most this side when fitting the baselines; 0 = whole "
                        "images (default: whole images for up to 64 pairs, else 512)")
    g.add_argument("--quantize", action="store_true",
                   help="round synthetic noisy inputs to 8-bit levels like real captures (the official protocol "
                        "feeds the unrounded float output)")

    g = p.add_argument_group("denoiser training")
    g.add_argument("--preset", choices=sorted(PRESETS), default="cpu",
                   help="cpu: small DnCNN, minutes on 2 cores; full: official DnCNN 18×64, batch 128 of 96×96, "
                        "60k iterations, for a GPU")
    g.add_argument("--layers", type=int, default=None, help="DnCNN convolution layers (official 18)")
    g.add_argument("--features", type=int, default=None, help="DnCNN hidden channels (official 64)")
    g.add_argument("--batch-size", type=int, default=None, help="patches per iteration (official 128)")
    g.add_argument("--patch-size", type=int, default=None, help="square patch side in pixels (official 96)")
    g.add_argument("--iters", type=int, default=None, help="training iterations per source")
    g.add_argument("--lr", type=float, default=None, help="Adam learning rate (official 1e-4)")
    g.add_argument("--lr-halvings", type=int, default=None,
                   help="halve the lr this many times at evenly spaced points (official: 5, i.e. every 5 of 30 epochs)")
    g.add_argument("--augment", action="store_true",
                   help="random flips and 90° rotations of the training patches (off in the official protocol)")
    g.add_argument("--seed", type=int, default=0,
                   help="seed of the DnCNN init, the patch sequence and the noise generator (same for every source)")
    g.add_argument("--device", default="auto", help="auto (CUDA if available), cpu, cuda or cuda:N")
    g.add_argument("--time-synthesis", action="store_true",
                   help="synchronize the device after each synthesis so its reported time is exact (slower on GPU)")

    g = p.add_argument_group("training data")
    g.add_argument("--manifest", type=Path, default=DEFAULT_MANIFEST,
                   help="pairs manifest of the real SIDD crops (shared/data/sidd_native/pairs.csv); used for "
                        "training (rows not in --val-ids) unless --train-clean is given, and for evaluation unless "
                        "--val-noisy/--val-gt are given")
    g.add_argument("--train-ids", default=None,
                   help="comma-separated manifest rows to train on (default: every row not in --val-ids; rows "
                        "without a known camera and ISO are dropped)")
    g.add_argument("--train-clean", default=None, metavar="DIR_OR_MANIFEST",
                   help="train on another pair set instead: a SIDD-Medium/Small folder (Data/<scene>/GT_SRGB_*.PNG "
                        "with NOISY partners) or a pairs CSV. Clean images feed the synthetic sources (with their "
                        "camera/ISO); noisy images feed 'real' and the baseline fits")
    g.add_argument("--patches-per-image", type=int, default=None,
                   help="keep only this many random crops per training image in memory; 0 keeps whole images "
                        "(default: whole images for up to 64 pairs, else 256 crops per image, e.g. for SIDD-Medium "
                        "whose 320 full images would need ~23 GB)")

    g = p.add_argument_group("evaluation")
    g.add_argument("--val-ids", default=",".join(DEFAULT_VAL_IDS),
                   help="manifest rows used as evaluation blocks (rows 00-04 are real SIDD validation blocks)")
    g.add_argument("--val-noisy", default=None, metavar="MAT",
                   help="ValidationNoisyBlocksSrgb.mat: evaluate on these blocks instead of the manifest rows")
    g.add_argument("--val-gt", default=None, metavar="MAT", help="ValidationGtBlocksSrgb.mat (with --val-noisy)")
    g.add_argument("--val-step", type=int, default=1,
                   help="with .mat blocks, use every N-th block (the official validation uses 5, its test 1)")
    g.add_argument("--any-block-shape", action="store_true",
                   help="accept .mat block arrays of any (N, M, H, W, 3) shape instead of SIDD's (40, 32, 256, 256, 3)")
    g.add_argument("--ssim-window", choices=["gaussian", "uniform"], default="gaussian",
                   help="SSIM window: gaussian 11×11 σ1.5 (SIDD tables) or uniform 7×7 (NM-FlowGAN's own test)")
    g.add_argument("--eval-batch", type=int, default=8, help="blocks per denoiser forward pass at evaluation")

    g = p.add_argument_group("SIDD benchmark submission")
    g.add_argument("--submit-benchmark", default=None, metavar="MAT",
                   help="BenchmarkNoisyBlocksSrgb.mat: denoise these blocks with a trained DnCNN")
    g.add_argument("--submit-out", default=None, metavar="PATH",
                   help="where to write the submission (a .mat file or a folder for SubmitSrgb.mat)")
    g.add_argument("--submit-source", default=None,
                   help="which source's DnCNN to submit (default: the first of --sources)")

    g = p.add_argument_group("output")
    g.add_argument("--out", type=Path, default=REPO / "runs" / "denoise_sidd",
                   help="folder for results.json and results.md")
    g.add_argument("--overwrite", action="store_true", help="replace existing results / submission files")
    g.add_argument("--save-denoisers", action="store_true", help="also save each DnCNN's state dict in --out")
    g.add_argument("--no-progress", action="store_true", help="disable the tqdm progress bars")
    return p


def _split_ids(text: str | None) -> list[str] | None:
    return None if text is None else [t.strip() for t in text.split(",") if t.strip()]


def resolve_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    for key, value in PRESETS[args.preset].items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    for key in ("layers", "features", "batch_size", "patch_size", "iters", "eval_batch", "val_step"):
        if getattr(args, key) < 1:
            parser.error(f"--{key.replace('_', '-')} must be >= 1")
    if args.lr <= 0 or args.lr_halvings < 0:
        parser.error("--lr must be > 0 and --lr-halvings >= 0")
    args.val_ids = _split_ids(args.val_ids)
    args.train_ids = _split_ids(args.train_ids)
    specs = _split_ids(args.sources) if args.sources else default_sources()
    try:
        args.source_specs = [(s, *parse_source_spec(s)) for s in specs]
    except ValueError as e:
        parser.error(str(e))
    if len({s for s, _, _ in args.source_specs}) != len(args.source_specs):
        parser.error("--sources lists a source twice")
    if bool(args.submit_benchmark) != bool(args.submit_out):
        parser.error("--submit-benchmark and --submit-out must be given together")
    if args.submit_source is None:
        args.submit_source = args.source_specs[0][0]
    elif args.submit_source not in {s for s, _, _ in args.source_specs}:
        parser.error(f"--submit-source {args.submit_source!r} is not one of --sources")
    if args.submit_out and Path(args.submit_out).exists() and not Path(args.submit_out).is_dir() and not args.overwrite:
        parser.error(f"--submit-out {args.submit_out} exists; pass --overwrite to replace it")
    return args


def load_training_pairs(args: argparse.Namespace) -> tuple[list, str]:
    from nmflowgan_aug.data.sidd import known_metadata, read_pairs, read_pairs_manifest

    if args.train_clean:
        pairs = read_pairs(args.train_clean)
        if args.train_ids:
            wanted = set(args.train_ids)
            pairs = [r for r in pairs if r.name in wanted]
        where = str(args.train_clean)
    else:
        if not Path(args.manifest).is_file():
            raise SystemExit(f"pairs manifest not found: {args.manifest} (set --manifest or NMFLOWGAN_SHARED_DATA)")
        pairs = read_pairs_manifest(args.manifest)
        ids = args.train_ids or [r.name for r in pairs if r.name not in set(args.val_ids or [])]
        pairs = read_pairs_manifest(args.manifest, ids=ids)
        where = str(args.manifest)
    kept, dropped = known_metadata(pairs)
    if not kept:
        raise SystemExit(f"no training pairs with known camera and ISO in {where}")
    desc = f"{where}: {len(kept)} pairs ({', '.join(r.name for r in kept[:20])}{'…' if len(kept) > 20 else ''})"
    if dropped:
        desc += f"; dropped without camera/ISO: {', '.join(r.name for r in dropped)}"
    return kept, desc


def machine_line(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (CUDA {torch.version.cuda})"
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), cpu)
    except OSError:
        pass
    return f"CPU {cpu}, {torch.get_num_threads()} threads"


def run(argv: Sequence[str] | None = None) -> dict:
    """Run the benchmark; returns the results dict (also written to ``--out``)."""
    args = resolve_args(argv)
    device = resolve_device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    command = shlex.join([Path(sys.executable).name, *sys.argv]) if argv is None else shlex.join(
        ["python", "benchmarks/denoise_sidd.py", *argv])
    out_dir = Path(args.out)
    for name in ("results.json", "results.md"):  # fail before hours of training, not after
        if (out_dir / name).exists() and not args.overwrite:
            raise SystemExit(f"{out_dir / name} exists; pass --overwrite or choose another --out")

    pairs, train_desc = load_training_pairs(args)
    evalset = load_eval_set(args)
    if args.patches_per_image is None:
        args.patches_per_image = 0 if len(pairs) <= 64 else 256
    images = load_train_images(pairs, args.patch_size, args.patches_per_image, args.seed)
    print(f"training on {train_desc}\nevaluating on {evalset.description} ({len(evalset.names)} blocks)", file=sys.stderr)

    noisy_score = score(evalset.noisy, evalset.clean, args.ssim_window, device)
    results: dict[str, Any] = {
        "command": command,
        "package_version": nmflowgan_aug.__version__,
        "torch_version": torch.__version__,
        "device": f"{device} ({machine_line(device)})",
        "settings": {k: getattr(args, k) for k in (
            "preset", "layers", "features", "batch_size", "patch_size", "iters", "lr", "lr_halvings", "augment",
            "seed", "quantize", "unsupported", "ssim_window", "patches_per_image", "fit_max_size")},
        "train_data": train_desc,
        "eval_data": evalset.description,
        "eval_blocks": evalset.names,
        "oracle": ORACLE,
        "noisy_input": noisy_score,
        "sources": {},
    }
    fit_max_size = args.fit_max_size
    if fit_max_size is None and len(pairs) > 64:
        fit_max_size = 512  # bounded memory for large pair sets (the fits hold float64 copies)
    ctx = SourceContext(pairs, device, fit_max_size if fit_max_size else None)
    submit_model = None
    for spec, kind, arg in args.source_specs:
        t0 = time.perf_counter()
        source = _BUILDERS[kind](arg, ctx)
        source.name = spec
        build_s = time.perf_counter() - t0
        model, info = train_denoiser(source, images, args, device)
        denoised = denoise_blocks(model, evalset.noisy, device, args.eval_batch, f"evaluate [{spec}]", not args.no_progress)
        entry = {**score(denoised, evalset.clean, args.ssim_window, device), **info, "build_seconds": round(build_s, 2),
                 "notes": source.notes}
        results["sources"][spec] = entry
        print(f"[{spec}] PSNR {entry['psnr']:.2f} dB  SSIM {entry['ssim']:.4f}  ({info['train_seconds']:.0f} s)",
              file=sys.stderr)
        if args.save_denoisers:
            safe = spec.replace(":", "_").replace("/", "_")
            atomic_write(out_dir / f"dncnn_{safe}.pt", lambda p, m=model: torch.save(m.state_dict(), p))
        if spec == args.submit_source:
            submit_model = model
        else:
            del model
    if ORACLE in results["sources"]:
        o = results["sources"][ORACLE]
        for r in results["sources"].values():
            r["gap_psnr_db"] = r["psnr"] - o["psnr"]
            r["gap_ssim"] = r["ssim"] - o["ssim"]
    if args.submit_benchmark:
        results["submission"] = submit_benchmark(submit_model, args, device)
    jpath, mpath = write_results(results, out_dir, args.overwrite)
    print(markdown_table(results))
    print(f"\nresults: {jpath}  {mpath}", file=sys.stderr)
    return results


def main(argv: Sequence[str] | None = None) -> int:
    run(argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python
"""Score noise models by the denoiser they train: DnCNN on synthetic pairs, tested on real SIDD noise.

A command line over :mod:`nmflowgan_aug.evaluation.denoising` (the protocol: one DnCNN per noise
source, same seed, patches and schedule; PSNR/SSIM on real blocks; gap to the real-pair oracle),
:mod:`nmflowgan_aug.evaluation.noise_sources` (``--sources``) and :mod:`nmflowgan_aug.denoisers`
(the DnCNN trainer).

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
import dataclasses
import logging
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

import nmflowgan_aug
from nmflowgan_aug.denoisers import DnCNNTrainingSettings, load_train_images
from nmflowgan_aug.evaluation.cli import HelpFormatter, device_argument
from nmflowgan_aug.evaluation.denoising import (
    PRESETS,
    compare_noise_sources,
    eval_set_from_manifest,
    eval_set_from_mat,
    score,
    submit_sidd_benchmark,
)
from nmflowgan_aug.evaluation.denoising_report import RESULT_FILES, markdown_table, write_results
from nmflowgan_aug.evaluation.machine import machine_info, machine_summary
from nmflowgan_aug.evaluation.noise_sources import ORACLE, SourceContext, default_sources, parse_source_spec
from nmflowgan_aug.evaluation.paths import REPO_ROOT, sidd_native_manifest
from nmflowgan_aug.evaluation.training_pairs import load_known_pairs

DEFAULT_VAL_IDS = ("00", "01", "02", "03", "04")
SETTINGS = [f.name for f in dataclasses.fields(DnCNNTrainingSettings)]
USER_ERRORS = (ValueError, FileNotFoundError, FileExistsError, KeyError)


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
                   help="centre-crop training images to at most this side when fitting the baselines; 0 = each "
                        "baseline's own default (whole images; the simulator 512) (default: the baselines' own "
                        "defaults for up to 64 pairs, else 512)")
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
    g.add_argument("--device", type=device_argument, default="auto",
                   help="auto (CUDA if available), cpu, cuda or cuda:N")
    g.add_argument("--time-synthesis", action="store_true",
                   help="synchronize the device after each synthesis so its reported time is exact (slower on GPU)")

    g = p.add_argument_group("training data")
    g.add_argument("--manifest", type=Path, default=sidd_native_manifest(),
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
    g.add_argument("--out", type=Path, default=REPO_ROOT / "runs" / "denoise_sidd",
                   help="folder for results.json and results.md")
    g.add_argument("--overwrite", action="store_true", help="replace existing results / submission files")
    g.add_argument("--save-denoisers", action="store_true", help="also save each DnCNN's state dict in --out")
    g.add_argument("--no-progress", action="store_true", help="disable the tqdm progress bars")
    return p


def _split_ids(text: str | None) -> list[str] | None:
    return None if text is None else [t.strip() for t in text.split(",") if t.strip()]


def resolve_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse ``argv``, fill the preset's values and check them (argparse errors exit with status 2)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    for key, value in PRESETS[args.preset].items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    try:
        args.settings = DnCNNTrainingSettings(**{k: getattr(args, k) for k in SETTINGS})
    except ValueError as e:
        parser.error(str(e))
    for key in ("eval_batch", "val_step"):
        if getattr(args, key) < 1:
            parser.error(f"--{key.replace('_', '-')} must be >= 1")
    args.val_ids = _split_ids(args.val_ids)
    args.train_ids = _split_ids(args.train_ids)
    args.sources = _split_ids(args.sources) if args.sources else default_sources()
    try:
        for spec in args.sources:
            parse_source_spec(spec)
    except ValueError as e:
        parser.error(str(e))
    if len(set(args.sources)) != len(args.sources):
        parser.error("--sources lists a source twice")
    if bool(args.val_noisy) != bool(args.val_gt):
        parser.error("--val-noisy and --val-gt must be given together")
    if bool(args.submit_benchmark) != bool(args.submit_out):
        parser.error("--submit-benchmark and --submit-out must be given together")
    if args.submit_source is None:
        args.submit_source = args.sources[0]
    elif args.submit_source not in args.sources:
        parser.error(f"--submit-source {args.submit_source!r} is not one of --sources")
    if args.submit_out and Path(args.submit_out).exists() and not Path(args.submit_out).is_dir() and not args.overwrite:
        parser.error(f"--submit-out {args.submit_out} exists; pass --overwrite to replace it")
    for name in RESULT_FILES:  # fail before hours of training, not after
        if (args.out / name).exists() and not args.overwrite:
            parser.error(f"{args.out / name} exists; pass --overwrite or choose another --out")
    return args


def training_pairs(args: argparse.Namespace) -> tuple[list, str]:
    """The training pairs of ``args`` and their description."""
    if args.train_clean:
        where = str(args.train_clean)
        kept, dropped = load_known_pairs(args.train_clean, args.train_ids)
    else:
        where = str(args.manifest)
        kept, dropped = load_known_pairs(args.manifest, args.train_ids, () if args.train_ids else args.val_ids)
    desc = f"{where}: {len(kept)} pairs ({', '.join(r.name for r in kept[:20])}{'…' if len(kept) > 20 else ''})"
    if dropped:
        desc += f"; dropped without camera/ISO: {', '.join(r.name for r in dropped)}"
    return kept, desc


def run(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the benchmark; returns the results dict (also written to ``--out``)."""
    args = resolve_args(argv)
    device = args.device
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    command = shlex.join(["python", "benchmarks/denoise_sidd.py", *(sys.argv[1:] if argv is None else argv)])
    progress = not args.no_progress

    pairs, train_desc = training_pairs(args)
    if args.val_noisy:
        evalset = eval_set_from_mat(args.val_noisy, args.val_gt, args.val_step, strict_shape=not args.any_block_shape)
    else:
        evalset = eval_set_from_manifest(args.manifest, args.val_ids)
    if args.patches_per_image is None:
        args.patches_per_image = 0 if len(pairs) <= 64 else 256
    images = load_train_images(pairs, args.patch_size, args.patches_per_image, args.seed, progress)
    logging.info("training on %s\nevaluating on %s (%d blocks)", train_desc, evalset.description, len(evalset.names))

    machine = machine_info(device)
    results: dict[str, Any] = {
        "command": command,
        "package_version": nmflowgan_aug.__version__,
        "torch_version": torch.__version__,
        "device": f"{device} ({machine_summary(machine)})",
        "machine": machine,
        "settings": {k: getattr(args, k) for k in (
            "preset", "layers", "features", "batch_size", "patch_size", "iters", "lr", "lr_halvings", "augment",
            "seed", "quantize", "unsupported", "ssim_window", "patches_per_image", "fit_max_size")},
        "train_data": train_desc,
        "eval_data": evalset.description,
        "eval_blocks": evalset.names,
        "oracle": ORACLE,
        "noisy_input": score(evalset.noisy, evalset.clean, args.ssim_window, device),
    }
    fit_max_size = args.fit_max_size
    if fit_max_size is None and len(pairs) > 64:
        fit_max_size = 512  # bounded memory for large pair sets (the fits hold float64 copies)
    kept: dict[str, torch.nn.Module] = {}  # the DnCNN to submit
    ctx = SourceContext(pairs, device, fit_max_size if fit_max_size else None)
    results["sources"] = compare_noise_sources(
        args.sources, ctx, images, evalset, args.settings, unsupported=args.unsupported, ssim_window=args.ssim_window,
        eval_batch=args.eval_batch, progress=progress, save_dir=args.out if args.save_denoisers else None,
        on_trained=lambda spec, model: kept.update({spec: model}) if spec == args.submit_source else None)
    if args.submit_benchmark:
        results["submission"] = {**submit_sidd_benchmark(
            kept[args.submit_source], args.submit_benchmark, args.submit_out, device, batch=args.eval_batch,
            overwrite=args.overwrite, strict_shape=not args.any_block_shape, progress=progress,
            method_name=f"DnCNN trained on {args.submit_source} noise (nmflowgan_aug)"), "source": args.submit_source}
    jpath, mpath = write_results(results, args.out, args.overwrite)
    print(markdown_table(results))
    logging.info("\nresults: %s  %s", jpath, mpath)
    return results


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns 0, or exits with status 2 and a message for input errors."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        run(argv)
    except USER_ERRORS as e:
        print(f"denoise_sidd.py: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python
r"""Score noise models by the denoiser they train: DnCNN on synthetic pairs, tested on real SIDD noise.

A command line over :mod:`nmflowgan_aug.evaluation.denoising` (the protocol: one DnCNN per noise
source and seed, same patches and schedule per seed; PSNR/SSIM on real blocks, mean ± std over seeds;
gap to the real-pair oracle; scores at intermediate iterations to show the ranking is stable),
:mod:`nmflowgan_aug.evaluation.clean_pool` (``--clean-pool``: the clean images of the synthetic sources,
with conditions drawn from the evaluation blocks), :mod:`nmflowgan_aug.evaluation.noise_sources`
(``--sources``) and :mod:`nmflowgan_aug.denoisers` (the DnCNN trainer). Training pairs that are
evaluation blocks, or share their SIDD scene instance, are refused unless ``--allow-overlap`` is given.

Examples::

    python benchmarks/denoise_sidd.py                    # CPU preset, default sources, 3 seeds: about 1 h on 2 cores
    python benchmarks/denoise_sidd.py --sources gaussian,hetero,real --iters 100 --seeds 0
    python benchmarks/denoise_sidd.py --preset full --device cuda --sources nmflowgan:runs/x/model,real \
        --train-clean /data/SIDD_Medium_Srgb --clean-pool pairs --pool-conditions own \
        --val-noisy ValidationNoisyBlocksSrgb.mat --val-gt ValidationGtBlocksSrgb.mat \
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
from nmflowgan_aug.denoisers import DnCNNTrainingSettings, TrainImages, load_clean_images, load_train_images
from nmflowgan_aug.evaluation.clean_pool import POOL_PARTS, draw_conditions, load_pool, parse_pool
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
from nmflowgan_aug.evaluation.overlap import check_overlap, find_overlap
from nmflowgan_aug.evaluation.paths import REPO_ROOT, refuse_existing_outputs, shared_data_dir, sidd_native_manifest
from nmflowgan_aug.evaluation.training_pairs import load_known_pairs

DEFAULT_VAL_IDS = ("00", "01", "02", "03", "04")
SETTINGS = [f.name for f in dataclasses.fields(DnCNNTrainingSettings) if f.name != "seed"]
USER_ERRORS = (ValueError, FileNotFoundError, FileExistsError, KeyError, ImportError)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``denoise_sidd.py``."""
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
    g.add_argument("--quantize", action=argparse.BooleanOptionalAction, default=True,
                   help="round synthetic noisy inputs to 8-bit levels, as real noisy images are (default); "
                        "--no-quantize feeds the unrounded float output, as the official protocol does")

    g = p.add_argument_group("denoiser training")
    g.add_argument("--preset", choices=sorted(PRESETS), default="cpu",
                   help="cpu: 6×32 DnCNN, 1,500 iterations, about 19 min per seed for the 5 default sources on 2 "
                        "idle cores (about 1 h for 3 seeds); full: official DnCNN 18×64, batch 128 of 96×96, 60k "
                        "iterations, for a GPU")
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
    g.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], metavar="S",
                   help="one DnCNN per source and seed (init, patch sequence, noise draws, pool conditions; the same "
                        "for every source); tables show mean ± sample std over seeds (default: 0 1 2)")
    g.add_argument("--eval-at", type=int, nargs="*", default=None, metavar="IT",
                   help="also score every DnCNN after these iterations, to show whether the ranking is stable "
                        "(default: half of --iters; give none to score only the end)")
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
    g.add_argument("--clean-pool", default=",".join(POOL_PARTS), metavar="PARTS",
                   help="clean images of the synthetic sources, comma-separated parts: pairs (the training pairs' "
                        "clean images), skimage (scikit-image's colour photographs), polyu and cc15 (the clean means "
                        "of PolyU and CC15 in the shared data); the oracle always trains on the real pairs "
                        "(default: all four)")
    g.add_argument("--pool-conditions", choices=["eval", "own"], default="eval",
                   help="eval: every clean image gets a camera/ISO drawn from the evaluation blocks' conditions; "
                        "own: the training pairs keep their own (needs --clean-pool pairs)")
    g.add_argument("--allow-overlap", action="store_true",
                   help="train even when training pairs are evaluation blocks or share their SIDD scene instance "
                        "(refused by default; the overlap is then written into the results)")
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
        args.settings = DnCNNTrainingSettings(**{k: getattr(args, k) for k in SETTINGS}, seed=args.seeds[0])
        args.clean_pool = parse_pool(args.clean_pool)
    except ValueError as e:
        parser.error(str(e))
    if len(set(args.seeds)) != len(args.seeds):
        parser.error(f"--seeds lists a seed twice: {args.seeds}")
    if args.pool_conditions == "own" and args.clean_pool != ("pairs",):
        parser.error("--pool-conditions own needs --clean-pool pairs (only the training pairs have their own "
                     f"camera/ISO), got --clean-pool {','.join(args.clean_pool)}")
    args.eval_at = [args.iters // 2] if args.eval_at is None and args.iters >= 2 else sorted(set(args.eval_at or []))
    bad = [i for i in args.eval_at if not 1 <= i < args.iters]
    if bad:
        parser.error(f"--eval-at iterations must be in 1..{args.iters - 1} (the end is always scored), got {bad}")
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
    try:  # fail before hours of training, not after
        refuse_existing_outputs([args.out / name for name in RESULT_FILES], args.overwrite)
    except FileExistsError as e:
        parser.error(str(e))
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


def synthetic_images(args: argparse.Namespace, pairs: list, evalset) -> tuple[Any, str]:
    """``seed -> TrainImages`` for the synthetic sources (None: the training pairs as they are) and a description."""
    if all(parse_source_spec(spec)[0] == ORACLE for spec in args.sources):
        return None, "none (only the real-pair oracle)"
    if args.pool_conditions == "own":
        return None, "the clean images of the training pairs, with their own camera/ISO"
    if evalset.conditions is None:
        raise ValueError("the evaluation blocks have no known camera/ISO to draw training conditions from; "
                         "use --clean-pool pairs --pool-conditions own")
    named = load_pool(args.clean_pool, pairs, shared_data_dir())
    pool: TrainImages = load_clean_images(named, args.patch_size, args.patches_per_image, args.seeds[0])
    counts = {part: sum(n.startswith(f"{part}:") for n, _ in named) for part in args.clean_pool}
    conditions = sorted(set(evalset.conditions))
    desc = (f"clean pool of {len(named)} images (" + ", ".join(f"{k} {v}" for k, v in counts.items())
            + "), each with a camera/ISO drawn per seed from the evaluation blocks' conditions ("
            + ", ".join(f"{c}/{i} ×{evalset.conditions.count((c, i))}" for c, i in conditions) + ")")
    return (lambda seed: pool.with_conditions(draw_conditions(len(pool.clean), evalset.conditions, seed))), desc


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
    same_source = not args.val_noisy and Path(args.train_clean or args.manifest).resolve() == args.manifest.resolve()
    overlap = find_overlap([(p.name, getattr(p, "scene", None)) for p in pairs],
                           list(zip(evalset.names, evalset.scenes or [None] * len(evalset.names))), same_source)
    overlap_warning = check_overlap(overlap, args.allow_overlap)
    if overlap_warning:
        logging.warning(overlap_warning)
    if args.patches_per_image is None:
        args.patches_per_image = 0 if len(pairs) <= 64 else 256
    images = load_train_images(pairs, args.patch_size, args.patches_per_image, args.seeds[0], progress)
    make_synthetic, synthetic_desc = synthetic_images(args, pairs, evalset)
    logging.info("training on %s\nsynthetic sources: %s\nevaluating on %s (%d blocks)", train_desc, synthetic_desc,
                 evalset.description, len(evalset.names))

    machine = machine_info(device)
    results: dict[str, Any] = {
        "command": command,
        "package_version": nmflowgan_aug.__version__,
        "torch_version": torch.__version__,
        "device": f"{device} ({machine_summary(machine)})",
        "machine": machine,
        "settings": {k: getattr(args, k) for k in (
            "preset", "layers", "features", "batch_size", "patch_size", "iters", "lr", "lr_halvings", "augment",
            "seeds", "eval_at", "quantize", "clean_pool", "pool_conditions", "unsupported", "ssim_window",
            "patches_per_image", "fit_max_size")},
        "train_data": train_desc,
        "synthetic_data": synthetic_desc,
        "eval_data": evalset.description,
        "eval_blocks": evalset.names,
        "overlap": overlap.to_dict(),
        "overlap_warning": overlap_warning,
        "oracle": ORACLE,
        "noisy_input": score(evalset.noisy, evalset.clean, args.ssim_window, device),
    }
    fit_max_size = args.fit_max_size
    if fit_max_size is None and len(pairs) > 64:
        fit_max_size = 512  # bounded memory for large pair sets (the fits hold float64 copies)
    kept: dict[str, torch.nn.Module] = {}  # the DnCNN to submit
    ctx = SourceContext(pairs, device, fit_max_size if fit_max_size else None)
    results["sources"] = compare_noise_sources(
        args.sources, ctx, images, evalset, args.settings, seeds=args.seeds, synthetic_images=make_synthetic,
        checkpoints=args.eval_at, unsupported=args.unsupported, ssim_window=args.ssim_window,
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

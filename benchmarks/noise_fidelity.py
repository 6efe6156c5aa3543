#!/usr/bin/env python
"""Noise fidelity on real SIDD validation blocks: trained noise models against fitted baselines.

A command line over :mod:`nmflowgan_aug.evaluation.fidelity` (protocol and metrics),
:mod:`~nmflowgan_aug.evaluation.fidelity_methods` (baselines and models),
:mod:`~nmflowgan_aug.evaluation.loo` (leave-one-scene-out over the training crops),
:mod:`~nmflowgan_aug.evaluation.fidelity_report` (markdown) and :mod:`~nmflowgan_aug.evaluation.plots`
(figures). The markdown table and a JSON file (with the command line, package version, machine and
fitted parameters) are written to ``--out`` (default ``runs/noise_fidelity``; existing results are
refused without ``--overwrite``); ``--readme`` regenerates a table in a markdown file between markers;
``--plots`` writes diagnostic figures. Training pairs that are validation blocks, or share their SIDD
scene instance, are refused unless ``--allow-overlap`` is given (then the overlap is reported).

Run ``python benchmarks/noise_fidelity.py --help``.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import logging
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import nmflowgan_aug
from nmflowgan_aug.evaluation.cli import device_argument
from nmflowgan_aug.evaluation.fidelity import (
    HEADLINE,
    METRICS,
    NOISE_STATS,
    blocks_from_manifest,
    blocks_from_mat,
    evaluate,
    plot_block_ids,
    summarize,
    training_support,
)
from nmflowgan_aug.evaluation.fidelity_methods import BASELINES, build_methods, check_baseline_names, parse_model_specs
from nmflowgan_aug.evaluation.fidelity_report import (
    MARK_END,
    MARK_START,
    render_markdown,
    render_summary,
    rewrite_readme,
    write_results,
)
from nmflowgan_aug.evaluation.loo import (
    FOLD_PLACEHOLDER,
    evaluate_loo,
    parse_loo_model_specs,
    scene_folds,
    select_folds,
)
from nmflowgan_aug.evaluation.machine import machine_info
from nmflowgan_aug.evaluation.overlap import check_overlap, find_overlap
from nmflowgan_aug.evaluation.paths import REPO_ROOT, display_path, refuse_existing_outputs, sidd_native_manifest
from nmflowgan_aug.evaluation.training_pairs import load_known_pairs

DEFAULT_MANIFEST = sidd_native_manifest()
DEFAULT_VAL_IDS = ("00", "01", "02", "03", "04")
DEFAULT_TRAIN_IDS = ("05", "06", "07", "08", "09", "10", "11", "12", "13", "14", "15")
DEFAULT_OUT = REPO_ROOT / "runs" / "noise_fidelity"
RESULT_STEM = "noise_fidelity"
PLOT_FILES = ("nlf.png", "noise_correlation.png", "noise_cross_correlation.png", "noise_histograms.png", "crops.png")
USER_ERRORS = (ValueError, FileNotFoundError, FileExistsError, KeyError)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``noise_fidelity.py``."""
    p = argparse.ArgumentParser(
        prog="noise_fidelity.py",
        description=(
            "Score noise models and baselines on real SIDD validation blocks: KLD (NAFlow/PNG protocol, per "
            "256x256 block; the headline), KLD (NM-FlowGAN protocol, per 96x96 patch), AKLD (DANet), noise "
            "autocorrelation and cross-channel correlation against the real noise, std ratio per channel and "
            "the noise-level-function error, per camera and overall, averaged over sampling seeds. Synthetic "
            "output is scored rounded to 8-bit levels (the KLDs also on the float output). Baselines are fitted "
            "on training pairs; trained models are loaded with --model NAME=DIR. --loo adds leave-one-scene-out "
            "over the training crops."
        ),
        epilog=(
            "examples:\n"
            "  python benchmarks/noise_fidelity.py                      # baselines, sidd_native rows 00-04\n"
            "  python benchmarks/noise_fidelity.py --model ours=runs/sidd_native/model --plots\n"
            "  python benchmarks/noise_fidelity.py --loo --loo-model ours='runs/loo_{fold}/model'   # + leave-one-out\n"
            "  python benchmarks/noise_fidelity.py --val-mat-noisy ValidationNoisyBlocksSrgb.mat \\\n"
            "      --val-mat-gt ValidationGtBlocksSrgb.mat --blocks-per-image 4 --train /data/SIDD_Medium_Srgb\n"
            "  python benchmarks/noise_fidelity.py --out benchmarks/results --overwrite --plots \\\n"
            "      --readme benchmarks/README.md   # regenerate the committed results and the README table"
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
                    help="ids (or SIDD scene folder names) of the training pairs (default with the default "
                         "manifest: 05-15; otherwise all pairs with known camera and ISO)")
    tr.add_argument("--train-crop", type=int, default=1024, metavar="PX",
                    help="centre-crop training images to at most PX pixels per side for fitting (default: %(default)s)")
    tr.add_argument("--allow-overlap", action="store_true",
                    help="score even when training pairs are validation blocks or share their SIDD scene instance "
                         "(refused by default; the overlap is then written into the results)")
    lo = p.add_argument_group("leave-one-scene-out over the training pairs of --train (a manifest)")
    lo.add_argument("--loo", action="store_true",
                    help="also hold out each scene instance of the training pairs in turn: the baselines are refitted "
                         "on the others and scored on it")
    lo.add_argument("--loo-model", action="append", default=[], metavar="NAME=PATTERN",
                    help=f"a model per fold: PATTERN with {FOLD_PLACEHOLDER} (the fold name, e.g. 05 or 09+15), e.g. "
                         f"ours=runs/loo_{FOLD_PLACEHOLDER}/model as written by benchmarks/loo_train.py; repeatable; "
                         "implies --loo")
    lo.add_argument("--loo-folds", nargs="+", default=None, metavar="FOLD",
                    help="score only these folds (names such as 05 or 09+15, as benchmarks/loo_train.py --folds); "
                         "each keeps its full training set (default: every fold)")
    lo.add_argument("--loo-crop", type=int, default=256, metavar="PX",
                    help="score the central PX×PX pixels of each held-out crop, the size of the validation blocks; "
                         "0 scores whole crops (default: %(default)s)")
    m = p.add_argument_group("methods")
    m.add_argument("--methods", nargs="*", default=list(BASELINES), metavar="NAME",
                   help=f"baselines to run, any of {', '.join(BASELINES)} (default: all; give none to run models only)")
    m.add_argument("--model", action="append", default=[], metavar="NAME=DIR",
                   help="a trained model saved with save_pretrained (or a shipped model name); repeatable")
    m.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2], metavar="S",
                   help="sampling seeds; the spread over seeds is reported (default: %(default)s)")
    m.add_argument("--device", type=device_argument, default="cpu",
                   help="torch device for sampling: auto, cpu, cuda or cuda:N (default: %(default)s)")
    o = p.add_argument_group("output")
    o.add_argument("--out", type=Path, default=DEFAULT_OUT,
                   help=f"output folder for {RESULT_STEM}.md / .json and the plots (default: %(default)s; the "
                        "committed results are benchmarks/results)")
    o.add_argument("--overwrite", action="store_true", help="replace existing result files in --out")
    o.add_argument("--readme", type=Path, metavar="MD", nargs="+",
                   help=f"rewrite the block between {MARK_START} and {MARK_END} of each of these markdown files")
    o.add_argument("--readme-block", default="fidelity-table", metavar="NAME",
                   help="with --readme: the marked block to rewrite, <!-- NAME:start --> to <!-- NAME:end --> "
                        "(default: %(default)s)")
    o.add_argument("--plots", action="store_true", help="also write diagnostic PNGs (nmflowgan_aug.evaluation.plots)")
    o.add_argument("--plot-blocks", type=int, default=2, metavar="N",
                   help="plots use at most N blocks per camera/ISO condition (default: %(default)s)")
    o.add_argument("--no-progress", action="store_true", help="disable the progress bars")
    return p


def load_blocks(args: argparse.Namespace) -> tuple[list, str]:
    """The validation blocks of ``args`` and their description."""
    if (args.val_mat_noisy is None) != (args.val_mat_gt is None):
        raise ValueError("--val-mat-noisy and --val-mat-gt must be given together")
    if args.val_mat_noisy is not None:
        blocks = blocks_from_mat(args.val_mat_noisy, args.val_mat_gt, args.val_images, args.blocks_per_image)
        desc = (f"{len(blocks)} SIDD validation blocks from `{args.val_mat_noisy.name}` "
                f"(camera/ISO from the SIDD validation scene order)")
    else:
        blocks = blocks_from_manifest(args.val_manifest, args.val_ids)
        desc = (f"{len(blocks)} real SIDD validation blocks " + ", ".join(f"{b.id} {b.condition}" for b in blocks)
                + f" from `{display_path(args.val_manifest.parent)}`")
    if not blocks:
        raise ValueError("no validation blocks selected")
    return blocks, desc


def output_files(args: argparse.Namespace) -> list[Path]:
    """The files this run writes into ``--out``."""
    names = [f"{RESULT_STEM}.json", f"{RESULT_STEM}.md", *(PLOT_FILES if args.plots else ())]
    return [args.out / n for n in names]


def run(args: argparse.Namespace, argv: Sequence[str]) -> dict[str, Any]:
    """Run the benchmark for parsed ``args``; writes the outputs and returns the results dict."""
    progress = not args.no_progress
    refuse_existing_outputs(output_files(args), args.overwrite)  # before any work
    if not args.seeds:
        raise ValueError("--seeds needs at least one seed")
    models = parse_model_specs(args.model)
    check_baseline_names(args.methods)
    if not args.methods and not models:
        raise ValueError("nothing to run: give --methods and/or --model NAME=DIR")
    loo = args.loo or bool(args.loo_model)
    if loo and args.train.suffix.lower() != ".csv":
        raise ValueError(f"--loo needs --train to be a pairs manifest (.csv), got {args.train}")
    if args.loo_crop < 0:
        raise ValueError(f"--loo-crop must be >= 0 (0: whole crops), got {args.loo_crop}")
    blocks, val_desc = load_blocks(args)

    train_ids = args.train_ids
    if train_ids is None and args.train.resolve() == DEFAULT_MANIFEST.resolve():
        train_ids = list(DEFAULT_TRAIN_IDS)
    train_pairs, dropped = load_known_pairs(args.train, train_ids) if args.methods or loo else ([], [])
    same_source = args.val_mat_noisy is None and args.train.resolve() == args.val_manifest.resolve()
    overlap = find_overlap([(p.name, getattr(p, "scene", None)) for p in train_pairs],
                           [(b.id, b.scene) for b in blocks], same_source)
    overlap_warning = check_overlap(overlap, args.allow_overlap)
    if overlap_warning:
        logging.warning(overlap_warning)
    folds = select_folds(scene_folds(train_pairs), args.loo_folds) if loo else []
    loo_models = parse_loo_model_specs(args.loo_model, folds)  # every fold's folder checked before any work
    train_desc = (f"{len(train_pairs)} pairs from `{display_path(args.train)}`"
                  + (f" (ids {train_ids[0]}-{train_ids[-1]})" if train_ids else "")
                  + (f", dropped for missing camera/ISO: {[r.name for r in dropped]}" if dropped else "")
                  ) if train_pairs else "none"

    t0 = time.time()
    methods = build_methods(args.methods, train_pairs, blocks, models, args.device, args.train_crop, progress)
    plot_ids = plot_block_ids(blocks, args.plot_blocks) if args.plots else set()
    per_block, samples = evaluate(methods, blocks, args.seeds, args.device, progress,
                                  keep_samples=(lambda b: b.id in plot_ids) if args.plots else None)
    command = ["python", "benchmarks/noise_fidelity.py", *argv]
    machine = machine_info(args.device)
    results: dict[str, Any] = {
        "benchmark": "noise_fidelity",
        "command": command,
        "command_line": shlex.join(command),
        "version": nmflowgan_aug.__version__,
        "created": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "torch": machine["torch"],
        "device": str(args.device),
        "machine": machine,
        "seeds": list(args.seeds),
        "scored_output": "synthetic output rounded to 8-bit levels (nmflowgan_aug.srgb.quantize_8bit); "
                         "*_float metrics on the unrounded output",
        "headline": HEADLINE,
        "metrics": {k: {"title": t, "definition": d} for k, (t, d) in METRICS.items()},
        "noise_stats": list(NOISE_STATS),
        "validation": {
            "description": val_desc,
            "blocks": [{"id": b.id, "camera": b.camera, "iso": b.iso, "scene": b.scene,
                        "size": list(b.clean.shape[-2:]), "noise": b.real_stats} for b in blocks],
        },
        "training": {
            "description": train_desc,
            "pairs": [{"name": p.name, "camera": p.camera, "iso": p.iso} for p in train_pairs],
            "dropped": [r.name for r in dropped],
            "crop": args.train_crop,
        },
        "overlap": overlap.to_dict(),
        "overlap_warning": overlap_warning,
        "training_support": training_support(methods, blocks),
        "methods": {m.name: {"kind": m.kind, "title": m.title, "params": m.params} for m in methods},
        "per_block": per_block,
        "summary": summarize(methods, blocks, per_block, len(args.seeds)),
    }
    if loo:
        crop = args.loo_crop or None
        results["loo"] = {**evaluate_loo(args.train, folds, args.methods, loo_models, args.seeds, args.device,
                                         args.train_crop, crop, progress), "crop": crop}
    results["seconds"] = round(time.time() - t0, 1)
    table = render_markdown(results)
    out = args.out
    written = write_results(results, table, out, RESULT_STEM)
    if args.plots:
        from nmflowgan_aug.evaluation.plots import PlotBlock, write_plots

        plot_blocks = [
            PlotBlock(b.id, b.camera, b.iso, b.clean[0], b.noisy[0],
                      {m.name: samples[(m.name, b.id)][0] for m in methods if (m.name, b.id) in samples})
            for b in blocks if b.id in plot_ids
        ]
        written += write_plots(plot_blocks, [m.name for m in methods], out)
    for readme in args.readme or []:
        rewrite_readme(readme, table, args.readme_block)
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
    except USER_ERRORS as e:
        parser.exit(2, f"{parser.prog}: error: {e}\n")
    print(render_summary(results))
    for p in results["written"]:
        print(f"wrote {p}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

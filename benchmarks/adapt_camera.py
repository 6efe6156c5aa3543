#!/usr/bin/env python
"""A new camera from 1, 3 and 10 pairs: adapted model against the best SIDD camera, on held-out pairs.

A command line over :mod:`nmflowgan_aug.adaptation.benchmark` (protocol, metrics and table) and
:func:`nmflowgan_aug.adaptation.adapt_camera`, on the PolyU and CC15 pairs of ``../shared/data`` (cameras the
SIDD-trained model has never seen). Writes ``adapt_camera.md`` and ``adapt_camera.json`` (command line, package
version, machine, settings, every pair and score) to ``--out``; ``--readme`` puts the table into markdown files
between ``<!-- adapt-table:start -->`` and ``<!-- adapt-table:end -->``. Run it with ``OMP_NUM_THREADS=1`` on a
small shared CPU. ``python benchmarks/adapt_camera.py --help`` lists the options.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import shlex
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from tqdm.auto import tqdm

import nmflowgan_aug
from nmflowgan_aug._io import atomic_write, refuse_overwrite
from nmflowgan_aug.adaptation.benchmark import (
    benchmark_camera,
    render_table,
    rewrite_marked,
    split_camera,
    unseen_camera_pairs,
)
from nmflowgan_aug.adaptation.fit import AdaptationSettings
from nmflowgan_aug.evaluation.cli import HelpFormatter, device_argument
from nmflowgan_aug.evaluation.machine import machine_info
from nmflowgan_aug.evaluation.paths import REPO_ROOT, shared_data_dir
from nmflowgan_aug.model import NMFlowGAN
from nmflowgan_aug.pretrained import DEFAULT_MODEL

RESULT_STEM = "adapt_camera"
#: Defaults of this benchmark's adaptation (CPU-sized: the whole run takes minutes on 2 cores).
BENCH_SETTINGS = AdaptationSettings(steps=100, patch_size=64, batch_size=8, lr=0.05, eval_patches=32)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the benchmark."""
    p = argparse.ArgumentParser(
        prog="adapt_camera.py",
        description="Adapt a noise model to each PolyU and CC15 camera from k pairs (k = 1, 3, 10) and score the "
        "adapted camera and the best SIDD camera (picked by NLL on the same k pairs) on held-out pairs: KLD, AKLD, "
        "noise std ratio per channel and lag-1 correlation.",
        epilog="example:\n  OMP_NUM_THREADS=1 python benchmarks/adapt_camera.py --readme README.md",
        formatter_class=HelpFormatter,
    )
    p.add_argument("--model", default=DEFAULT_MODEL, help="shipped name or saved-model folder")
    p.add_argument("--shared-data", type=Path, default=shared_data_dir(),
                   help="folder holding polyu/ and nam_cc15/ (default: $NMFLOWGAN_SHARED_DATA or ../shared/data)")
    p.add_argument("--ks", type=int, nargs="+", default=[1, 3, 10], metavar="K", help="adaptation-set sizes")
    p.add_argument("--cameras", nargs="+", metavar="CAMERA", help="only these cameras (default: all)")
    p.add_argument("--held-out", type=int, nargs=2, default=[2, 4], metavar=("MIN", "MAX"),
                   help="held-out pairs per camera: as many as the largest k leaves, within MIN..MAX")
    p.add_argument("--steps", type=int, default=BENCH_SETTINGS.steps, help="fine-tuning steps per adaptation")
    p.add_argument("--patch-size", type=int, default=BENCH_SETTINGS.patch_size, help="patch side in pixels")
    p.add_argument("--batch-size", type=int, default=BENCH_SETTINGS.batch_size, help="patches per step")
    p.add_argument("--lr", type=float, default=BENCH_SETTINGS.lr, help="Adam learning rate")
    p.add_argument("--eval-patches", type=int, default=BENCH_SETTINGS.eval_patches,
                   help="patches of the adaptation pairs for the NLL that picks the best SIDD camera")
    p.add_argument("--train-spatial", action="store_true", help="also train the shared spatial kernel")
    p.add_argument("--seed", type=int, default=0, help="seed of the split, the adaptation and the sampling")
    p.add_argument("--device", type=device_argument, default="cpu", help="cpu, cuda, cuda:N or auto")
    p.add_argument("--out", type=Path, default=REPO_ROOT / "benchmarks" / "results",
                   help=f"folder for {RESULT_STEM}.md and {RESULT_STEM}.json (default: benchmarks/results)")
    p.add_argument("--readme", type=Path, nargs="+", default=[], metavar="FILE",
                   help="markdown files whose table between the adapt-table markers is replaced")
    p.add_argument("--overwrite", action="store_true", help=f"replace existing {RESULT_STEM}.md/.json in --out")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return p


def _command_line(argv: Sequence[str]) -> str:
    threads = f"OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']} " if "OMP_NUM_THREADS" in os.environ else ""
    return threads + "python benchmarks/adapt_camera.py" + "".join(f" {shlex.quote(a)}" for a in argv)


def run(argv: Sequence[str] | None = None) -> dict:
    """Run the benchmark; returns the results dict that is written to ``<out>/adapt_camera.json``."""
    parser = build_parser()
    args = parser.parse_args(argv)
    argv = list(sys.argv[1:] if argv is None else argv)
    outputs = [args.out / f"{RESULT_STEM}.{ext}" for ext in ("md", "json")]
    try:
        settings = AdaptationSettings(steps=args.steps, patch_size=args.patch_size, batch_size=args.batch_size,
                                      lr=args.lr, eval_patches=args.eval_patches, train_spatial=args.train_spatial,
                                      seed=args.seed)
        if any(k < 1 for k in args.ks) or not 1 <= args.held_out[0] <= args.held_out[1]:
            raise ValueError(f"--ks must be >= 1 and --held-out MIN MAX must satisfy 1 <= MIN <= MAX, got "
                             f"{args.ks} and {args.held_out}")
        for path in outputs:
            refuse_overwrite(path, args.overwrite)
        for readme in args.readme:
            if not readme.is_file():
                raise FileNotFoundError(f"--readme file not found: {readme}")
        groups = unseen_camera_pairs(args.shared_data)
        if args.cameras:
            unknown = sorted(set(args.cameras) - {camera for _, camera in groups})
            if unknown:
                raise ValueError(f"unknown --cameras {unknown}; available: {sorted(c for _, c in groups)}")
            groups = {key: pairs for key, pairs in groups.items() if key[1] in args.cameras}
        model = NMFlowGAN.from_pretrained(args.model, map_location=args.device)
    except (ValueError, FileNotFoundError, FileExistsError) as err:
        parser.error(str(err))
    start = time.monotonic()
    cameras = []
    for (dataset, camera), pairs in tqdm(groups.items(), desc="cameras", disable=args.no_progress):
        split = split_camera(pairs, model, sorted(set(args.ks)), args.seed, tuple(args.held_out))
        runs = benchmark_camera(model, split, camera, settings, args.seed, {}) if split.ks else []
        cameras.append({
            "dataset": dataset, "camera": camera, "pairs": len(pairs),
            "held_out": [{"name": p.name, "iso": p.iso} for p in split.held_out],
            "pool": [{"name": p.name, "iso": p.iso} for p in split.pool],
            "skipped": [{"name": p.name, "iso": p.iso, "reason": reason} for p, reason in split.skipped],
            "runs": runs,
        })  # fmt: skip
    results = {
        "command_line": _command_line(argv), "version": nmflowgan_aug.__version__,
        "created": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "model": args.model,
        "machine": machine_info(args.device), "settings": asdict(settings), "seed": args.seed, "ks": args.ks,
        "held_out_bounds": args.held_out, "cameras": cameras, "seconds": time.monotonic() - start,
    }  # fmt: skip
    table = render_table(results)
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write(outputs[0], lambda p: Path(p).write_text(table, encoding="utf-8"))
    atomic_write(outputs[1], lambda p: Path(p).write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8"))
    for readme in args.readme:
        rewrite_marked(readme, table)
    print(table)
    print(f"wrote {', '.join(map(str, outputs))} in {results['seconds'] / 60:.1f} min")
    return results


if __name__ == "__main__":
    run()

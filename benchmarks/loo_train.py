#!/usr/bin/env python
"""Train one noise model per leave-one-scene-out fold of the training crops, for ``noise_fidelity.py --loo-model``.

A command line over :mod:`nmflowgan_aug.evaluation.loo`: the folds of the training pairs (one per SIDD
scene instance; rows 09 and 15 of ``sidd_native`` leave together) and one ``train_noise_model.py`` run per
fold with the fold's training ids (``--set data.train.ids=[...]``) and your config and budget. When the config
has extra training sources (``data.extra_train``, e.g. SIDD-Small, which holds the same scene instances), the
fold's scene is left out of each of them too. Runs one
fold after another; ``--folds`` picks some (e.g. to spread them over machines), ``--dry-run`` only prints
the commands. At the end it prints the ``noise_fidelity.py`` command that scores the fold models.

Example::

    python benchmarks/loo_train.py --config configs/sidd_native.yaml --set train.max_minutes=20
    python benchmarks/noise_fidelity.py --loo --loo-model 'ours=runs/loo_{fold}/model'
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from nmflowgan_aug.evaluation.cli import HelpFormatter
from nmflowgan_aug.evaluation.loo import FOLD_PLACEHOLDER, scene_folds, select_folds, train_commands
from nmflowgan_aug.evaluation.paths import REPO_ROOT, sidd_native_manifest
from nmflowgan_aug.evaluation.training_pairs import load_known_pairs
from nmflowgan_aug.training.config import ConfigError, load_config

DEFAULT_IDS = ("05", "06", "07", "08", "09", "10", "11", "12", "13", "14", "15")
USER_ERRORS = (ValueError, FileNotFoundError, ConfigError)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``loo_train.py`` (its description is the module docstring's first paragraph)."""
    p = argparse.ArgumentParser(prog="loo_train.py", description=__doc__.split("\n\n")[0],
                                formatter_class=HelpFormatter)
    p.add_argument("--config", type=Path, required=True, help="training config (YAML), e.g. configs/sidd_native.yaml")
    p.add_argument("--manifest", type=Path, default=sidd_native_manifest(), help="pairs manifest of the training crops")
    p.add_argument("--ids", nargs="+", default=list(DEFAULT_IDS), metavar="ID",
                   help="training crops to make folds of (pairs without camera/ISO are left out)")
    p.add_argument("--folds", nargs="+", default=None, metavar="FOLD",
                   help="train only these folds (names such as 05 or 09+15; default: all)")
    p.add_argument("--name-pattern", default=f"loo_{FOLD_PLACEHOLDER}",
                   help=f"run name per fold, with {FOLD_PLACEHOLDER}")
    p.add_argument("--output-dir", type=Path, default=REPO_ROOT / "runs", help="parent folder of the run folders")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="extra config override for every fold, e.g. --set train.max_minutes=20; repeatable")
    p.add_argument("--dry-run", action="store_true", help="print the commands without running them")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns 0, 2 for input errors, or the exit status of a failed training run."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if not args.config.is_file():
            raise FileNotFoundError(f"config file not found: {args.config}")
        pairs, dropped = load_known_pairs(args.manifest, args.ids)
        folds = select_folds(scene_folds(pairs), args.folds)
        extra = len(load_config(args.config, args.overrides).data.extra_train)
        commands = train_commands(folds, args.config, args.name_pattern, args.output_dir, args.overrides,
                                  python=sys.executable, script=REPO_ROOT / "train_noise_model.py",
                                  extra_sources=extra)
    except USER_ERRORS as e:
        parser.exit(2, f"{parser.prog}: error: {e}\n")
    if dropped:
        print(f"left out without camera/ISO: {', '.join(p.name for p in dropped)}")
    for fold, command in zip(folds, commands):
        print(f"fold {fold.name} (holds out {fold.scene or fold.held_out[0]}): {shlex.join(command)}", flush=True)
        if not args.dry_run:
            status = subprocess.run(command, check=False).returncode
            if status != 0:
                print(f"fold {fold.name}: training failed with exit status {status}", file=sys.stderr)
                return status
    pattern = args.output_dir / args.name_pattern / "model"
    print(f"score them with: python benchmarks/noise_fidelity.py --loo --loo-model {shlex.quote(f'ours={pattern}')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

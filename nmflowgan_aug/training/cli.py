"""Command line of ``train_noise_model.py`` (also the ``nmflowgan-train`` console script).

Started by ``torchrun`` (``RANK``/``WORLD_SIZE`` in the environment), every process runs this and they
train one model together (:mod:`~nmflowgan_aug.training.distributed` has the commands for one machine
and for a SLURM cluster); rank 0 alone logs at INFO level and prints the result.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from ..configs import config_path
from .config import load_config
from .distributed import DistContext, init_process_group, shutdown
from .run import run_training

__all__ = ["main"]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="train_noise_model.py",
        description="Train an NM-FlowGAN sRGB noise model (flow NLL + WGAN-GP U-Net). "
        "Writes <output-dir>/<name>/ with model/ (safetensors + config.json), config.yaml, metrics.json, "
        "samples.png, conditions.png, checkpoints/last.pt and patches/. The run folder must be new or empty "
        "unless --resume or --overwrite; everything is checked before anything is written. "
        "Under torchrun (torchrun --nproc_per_node N train_noise_model.py ...) N processes train together: "
        "train.batch_size is the global batch, split over them; rank 0 alone writes.",
    )
    p.add_argument("--config", default="quickstart",
                   help="a YAML config file, or the name of a config shipped in the package (default: quickstart, "
                   "the embedded simulated-camera data; a value with a folder or a suffix is a path)")
    p.add_argument("--data", default=None,
                   help="training data: a SIDD-Medium/Small folder, a folder of HDF5 patches, a pairs manifest CSV, "
                   "or 'embedded'; overrides data.train.path")
    again = p.add_mutually_exclusive_group()
    again.add_argument("--resume", nargs="?", const="auto", default=None,
                       help="continue exactly from a checkpoint (default: <run>/checkpoints/last.pt), on the patches "
                       "the run cut into <run>/patches/ the first time (an error if the data config changed since); "
                       "the train.max_minutes budget counts the time of earlier attempts; the checkpoint may come "
                       "from a run with another number of processes")
    again.add_argument("--overwrite", action="store_true",
                       help="start over in a non-empty run folder: its run outputs (model/, checkpoints/, patches/, "
                       "config.yaml, metrics.json, samples.png, conditions.png) are replaced, other files are kept")
    p.add_argument("--seed", type=int, default=None, help="random seed (overrides train.seed)")
    p.add_argument("--device", default=None, choices=["auto", "cpu", "cuda"],
                   help="overrides train.device (under torchrun, cuda means cuda:LOCAL_RANK for each process)")
    p.add_argument("--name", default=None, help="run name (overrides name)")
    p.add_argument("--output-dir", default=None, help="parent folder of the run folder (overrides output_dir)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override any config key, e.g. --set train.epochs=2 --set model.unet_width=16")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run ``train_noise_model.py``: train (on every process under ``torchrun``) and write the run folder; returns 0."""
    args = build_parser().parse_args(argv)
    ctx = DistContext.from_env()
    rank = f" [rank {ctx.rank}/{ctx.world_size}]" if ctx.enabled else ""
    logging.basicConfig(level=logging.INFO if ctx.is_main else logging.WARNING,
                        format=f"%(asctime)s %(levelname)s{rank} %(name)s: %(message)s")  # fmt: skip
    overrides = list(args.overrides)
    if args.data is not None:
        data = args.data if args.data == "embedded" else str(Path(args.data).resolve())
        overrides.append(f"data.train.path={data}")
    for flag, key in ((args.seed, "train.seed"), (args.device, "train.device"), (args.name, "name"),
                      (args.output_dir, "output_dir")):
        if flag is not None:
            overrides.append(f"{key}={flag}")
    config = load_config(config_path(args.config), overrides)
    run_dir = Path(config.output_dir) / config.name
    resume = None
    if args.resume is not None:
        resume = run_dir / "checkpoints" / "last.pt" if args.resume == "auto" else Path(args.resume)
    init_process_group(ctx, ctx.device(config.train.device))
    try:
        doc = run_training(config, run_dir, resume, overwrite=args.overwrite, dist=ctx)
    finally:
        shutdown()
    if ctx.is_main:
        print(f"wrote {run_dir}: final validation metrics {doc['final']}")
    return 0

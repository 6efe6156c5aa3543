"""``nmflowgan-adapt --pairs manifest.csv --camera NAME --out DIR``: a new camera from a few noisy/clean pairs.

A thin command line over :func:`nmflowgan_aug.adaptation.adapt_camera` and
:func:`~nmflowgan_aug.adaptation.save_adapted`; ``--help`` lists the options.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ..adaptation.card import check_output, save_adapted
from ..adaptation.fit import INIT_CHOICES, AdaptationSettings, adapt_camera
from ..data.sidd import read_pairs_manifest
from ..devices import resolve_device
from ..model import NMFlowGAN
from ..pretrained import DEFAULT_MODEL

__all__ = ["build_parser", "main"]

_DEFAULTS = AdaptationSettings()

_EPILOG = """\
pairs manifest: a CSV with columns id,camera,iso,clean,noisy (image paths relative to the CSV); the camera
column names the new camera on every row, and every ISO must lie in the model's trained range.

The new camera is added to the model's vocabulary, started from the base camera whose noise is closest on the
pairs (--init), and fine-tuned by likelihood on random patches of the pairs: only its own entries (input
columns of the SAL meta encoders, rows of the CL2 tables) are trained, so the other cameras keep their noise
bit for bit (unless --train-spatial, which also trains the spatial kernel shared by every camera). The model
must have a log-ISO encoding (log or log_camera). OUT_DIR gets model.safetensors, config.json and
MODEL_CARD.md; a non-empty OUT_DIR is refused unless --overwrite.

example:
  nmflowgan-adapt --model sidd --pairs my_camera.csv --camera A7III --out models/a7iii --steps 200
"""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``nmflowgan-adapt``."""
    parser = argparse.ArgumentParser(
        prog="nmflowgan-adapt",
        description="Add a camera that is not in the model's vocabulary from a few noisy/clean sRGB pairs of it, "
        "and save the adapted model with its model card.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--model", default=DEFAULT_MODEL,
                        help="shipped name or saved-model folder (default: %(default)s)")
    parser.add_argument("--pairs", required=True, metavar="CSV", help="pairs manifest of the new camera (see below)")
    parser.add_argument("--camera", required=True, metavar="NAME", help="name of the new camera (not in the model)")
    parser.add_argument("--out", required=True, metavar="OUT_DIR", help="folder of the adapted model (new or empty)")
    parser.add_argument("--steps", type=int, default=_DEFAULTS.steps, help="fine-tuning steps (default: %(default)s)")
    parser.add_argument("--patch-size", type=int, default=_DEFAULTS.patch_size,
                        help="patch side in pixels (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=_DEFAULTS.batch_size,
                        help="patches per step (default: %(default)s)")
    parser.add_argument("--lr", type=float, default=_DEFAULTS.lr, help="Adam learning rate (default: %(default)s)")
    parser.add_argument("--init", default=_DEFAULTS.init_from, metavar="CAMERA",
                        help=f"start from {' or '.join(INIT_CHOICES)} (the base camera with the lowest NLL on the "
                        "pairs, or the mean of all) or a base camera's name (default: %(default)s)")
    parser.add_argument("--train-spatial", action="store_true",
                        help="also train the spatial-correlation kernel; it is shared, so every camera's noise changes")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: auto)")
    parser.add_argument("--seed", type=int, default=_DEFAULTS.seed, help="seed (default: %(default)s)")
    parser.add_argument("--overwrite", action="store_true", help="replace an adapted model already in OUT_DIR")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns 0 (errors exit with status 2 and the message)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = AdaptationSettings(steps=args.steps, patch_size=args.patch_size, batch_size=args.batch_size,
                                      lr=args.lr, init_from=args.init, train_spatial=args.train_spatial, seed=args.seed)
        device = resolve_device(args.device)
        check_output(args.out, args.overwrite)
        pairs = read_pairs_manifest(args.pairs)
        model = NMFlowGAN.from_pretrained(args.model, map_location=device)
        result = adapt_camera(model, pairs, args.camera, settings, progress=not args.no_progress)
        out = save_adapted(result, args.out, args.model, args.overwrite)
    except (FileExistsError, FileNotFoundError, NotADirectoryError, ValueError, TypeError) as err:
        parser.error(str(err))
    print(f"camera {result.camera!r} added (start: {', '.join(result.init_cameras)}); adaptation NLL "
          f"{result.nll_before:.4f} → {result.nll_after:.4f} bits/dim; model and MODEL_CARD.md in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

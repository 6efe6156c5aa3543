"""``nmflowgan-preview IMAGE --camera ... --iso ...``: a grid of one image across cameras and ISOs.

A thin command line over :func:`nmflowgan_aug.preview.write_preview`; ``--help`` lists the options.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from ..devices import resolve_device
from ..image_io import read_image
from ..model import NMFlowGAN
from ..pretrained import DEFAULT_MODEL
from ..preview import write_preview

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``nmflowgan-preview``."""
    parser = argparse.ArgumentParser(
        prog="nmflowgan-preview",
        description="Write a grid of a clean sRGB image with NM-FlowGAN noise across cameras and ISOs: the noisy "
        "image, an enlarged crop and the noise alone, to judge the model on your own images.",
        epilog="example: nmflowgan-preview photo.png --camera GP S6 --iso 400 1600 6400 --out preview.png",
    )
    parser.add_argument("image", help="clean image (PNG/JPEG/TIFF, 8 or 16 bits)")
    parser.add_argument("--camera", nargs="+", required=True, help="camera names, e.g. GP S6")
    parser.add_argument("--iso", nargs="+", type=int, required=True, help="ISO values, e.g. 400 1600")
    parser.add_argument("--model", default=DEFAULT_MODEL, help="shipped name or saved-model folder (default: %(default)s)")
    parser.add_argument("--out", default="preview.png", help="figure to write (default: %(default)s)")
    parser.add_argument("--crop", nargs=3, type=int, metavar=("TOP", "LEFT", "SIZE"), help="crop to enlarge (pixels)")
    parser.add_argument("--strength", type=float, default=1.0, help="noise strength (default: 1)")
    parser.add_argument("--gain", type=float, default=4.0, help="amplification of the noise panel (default: 4)")
    parser.add_argument("--seed", type=int, default=0, help="noise seed (default: 0)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: auto)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and print the written figure's path; returns 0.

    Errors (an existing ``--out`` without ``--overwrite``, a missing image or model, bad cameras or ISOs)
    exit with status 2 and the message.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if Path(args.out).exists() and not args.overwrite:
            raise FileExistsError(f"{args.out} exists; pass --overwrite to replace it")
        image, _ = read_image(args.image)
        model = NMFlowGAN.from_pretrained(args.model, map_location=resolve_device(args.device))
        path = write_preview(args.out, model, image, args.camera, args.iso, strength=args.strength,
                             crop=tuple(args.crop) if args.crop else None, gain=args.gain, seed=args.seed,
                             title=f"{Path(args.image).name}, model {args.model!r}")
    except (FileExistsError, FileNotFoundError, ValueError, TypeError) as err:
        parser.error(str(err))
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())

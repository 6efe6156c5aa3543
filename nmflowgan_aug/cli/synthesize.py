"""``nmflowgan-synthesize CLEAN_DIR OUT_DIR``: an offline noisy dataset from a folder of clean images.

A thin command line over :func:`nmflowgan_aug.synthesize.synthesize_folder` and
:func:`~nmflowgan_aug.synthesize.regenerate`; ``--help`` lists the options.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ..condition_sampler import ConditionSampler
from ..devices import resolve_device
from ..pretrained import DEFAULT_MODEL
from ..synthesize import (
    MANIFEST_FILE,
    SynthesisSettings,
    list_images,
    read_conditions_csv,
    regenerate,
    synthesize_folder,
)

__all__ = ["build_parser", "main"]

_EPILOG = f"""\
camera/ISO/strength per file, in this order: --camera/--iso (every file), --conditions CSV
(columns file,camera,iso[,strength], file relative to CLEAN_DIR), else drawn from --cameras,
--iso-range and --strength (log-uniform ISO over the model's trained values, uniform cameras).

output: OUT_DIR/<same relative path> (JPEG sources as .png: JPEG would smooth the noise away);
with --repeats K > 1, OUT_DIR/r0/..., OUT_DIR/r1/...; plus OUT_DIR/{MANIFEST_FILE} (file, source,
camera, ISO, strength, seed, model and its checksum, the file's SHA-256) and OUT_DIR/synthesize.json.
An interrupted run resumes when started again with the same options; other settings in a non-empty
OUT_DIR are refused unless --overwrite.

examples:
  nmflowgan-synthesize photos/ noisy/ --camera GP --iso 1600
  nmflowgan-synthesize photos/ noisy/ --cameras GP S6 --iso-range 400 3200 --strength 0.5 1.5 --repeats 4
  nmflowgan-synthesize photos/ noisy/ --conditions conditions.csv --bit-depth 16 --device cuda
  nmflowgan-synthesize --from-manifest noisy/{MANIFEST_FILE} photos/ rebuilt/
"""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``nmflowgan-synthesize``."""
    parser = argparse.ArgumentParser(
        prog="nmflowgan-synthesize",
        description="Write noisy versions of every clean sRGB image (PNG/JPEG/TIFF, 8/16-bit, any size) of a "
        "folder with an NM-FlowGAN noise model, plus a manifest from which they can be regenerated bit for bit.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("clean_dir", help="folder of clean images (searched recursively)")
    parser.add_argument("out_dir", help="output folder (empty, or an interrupted run of the same options)")
    parser.add_argument("--model", default=DEFAULT_MODEL, help="shipped name or saved-model folder (default: %(default)s)")
    parser.add_argument("--camera", help="camera name for every file (e.g. GP)")
    parser.add_argument("--iso", type=int, help="ISO for every file (any whole ISO in a log-ISO model's trained range)")
    parser.add_argument("--conditions", metavar="CSV", help="per-file camera/ISO/strength: file,camera,iso[,strength]")
    parser.add_argument("--cameras", nargs="+", help="cameras to draw from (default: all of the model)")
    parser.add_argument("--iso-range", nargs=2, type=float, metavar=("LO", "HI"), help="ISO range to draw from")
    parser.add_argument("--strength", nargs="+", type=float, default=[1.0], metavar="S",
                        help="noise strength: one value, or LO HI to draw uniformly per file (default: 1)")
    parser.add_argument("--repeats", type=int, default=1, metavar="K", help="noisy versions per clean image")
    parser.add_argument("--seed", type=int, default=0, help="run seed (default: %(default)s)")
    parser.add_argument("--bit-depth", type=int, choices=(8, 16), default=8,
                        help="8: noise rounded to 8-bit levels like real sRGB captures (default); 16: unrounded")
    parser.add_argument("--tile", type=int, default=512, help="tile size in pixels; memory grows with it (default: 512)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: auto)")
    parser.add_argument("--from-manifest", metavar="MANIFEST", help="rebuild the files of a manifest into OUT_DIR")
    parser.add_argument("--overwrite", action="store_true", help="replace what is in OUT_DIR")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return parser


def _strength(values: list[float]) -> float | tuple[float, float]:
    if len(values) not in (1, 2):
        raise ValueError(f"--strength takes one value or LO HI, got {values}")
    return values[0] if len(values) == 1 else (values[0], values[1])


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns 0, or 1 when a regenerated file differs from its manifest."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        device = resolve_device(args.device)
        if args.from_manifest:
            differing = regenerate(args.from_manifest, args.clean_dir, args.out_dir, device=device,
                                   overwrite=args.overwrite, progress=not args.no_progress)
            for file in differing:
                print(f"differs from the manifest: {file}", file=sys.stderr)
            return 1 if differing else 0
        conditions = read_conditions_csv(args.conditions, list_images(args.clean_dir)) if args.conditions else {}
        sampler = ConditionSampler(cameras=args.cameras, iso_range=tuple(args.iso_range) if args.iso_range else None,
                                   strength=_strength(args.strength))
        settings = SynthesisSettings(args.model, args.seed, args.repeats, args.bit_depth, args.tile, args.camera,
                                     args.iso, conditions, sampler)
        rows = synthesize_folder(args.clean_dir, args.out_dir, settings, device=device, overwrite=args.overwrite,
                                 progress=not args.no_progress)
    except (FileExistsError, FileNotFoundError, ValueError, TypeError) as err:
        parser.error(str(err))
    print(f"{len(rows)} noisy images and {MANIFEST_FILE} in {args.out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

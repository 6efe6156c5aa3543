"""Command line tool: cut SIDD sRGB pairs into HDF5 patch files for noise-model training.

Installed as ``nmflowgan-prepare-sidd``; also ``python -m nmflowgan_aug.data.prepare``. Run with
``--help`` for the options and the output layout.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence
from pathlib import Path

import yaml

from .._io import check_replaceable, remove_stale_temporaries, write_folder
from .hdf5_patches import is_patch_file, pair_attributes, prepare_pairs
from .sidd import OFFICIAL_SPLITS, ImagePair, SceneName, assign_splits, known_metadata, read_pairs

__all__ = ["build_parser", "main", "read_scenes_file"]

_SPLIT_NAME_RE = re.compile(r"[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*")

_DESCRIPTION = """\
Cut clean/noisy sRGB pairs into 8-bit patches and write one HDF5 file per pair in the NM-FlowGAN
layout (datasets clean/<i> and noisy/<i>: uint8 (3, P, P) RGB; group 'config', the official name,
with the camera code, ISO and scene attributes as integers, and the camera's name as 'camera-name').
Pairs whose camera or ISO is unknown are dropped with a warning. The output folder must be new or
empty; with --overwrite its contents (patch files only) are replaced as one unit: everything is
written to a temporary folder beside it, which then takes its place.
"""

_EPILOG = """\
output layout:
  --split all          OUTPUT/NNNN_<pair>.hdf5 for every pair
  --split noise_gen    OUTPUT/train/ (56 scenes) and OUTPUT/test/ (22 scenes): official
                       noise-model split
  --split denoiser     OUTPUT/denoiser/ (123 scenes): official denoiser-training split
  --scenes-file FILE   OUTPUT/<name>/ for each split in FILE
Official splits select SIDD-Medium scene instance numbers; pairs without a SIDD scene name
(e.g. manifest rows without one) belong to no split.

scenes file (YAML): split name -> scene instance numbers or full scene names, e.g.
  train: [4, 11, 13]
  test:
    - 54
    - 0055_003_N6_00800_01000_5500_N
  val: 59 60 62        # a plain space/comma separated list works too

examples:
  nmflowgan-prepare-sidd data/SIDD_Medium_Srgb data/HDF5_s96_o48/noise_gen --split noise_gen
  nmflowgan-prepare-sidd ../shared/data/sidd_native/pairs.csv out/native
"""


def _scene_instance(entry: object, path: Path) -> int:
    """A scene instance number from an int, a digit string or a full scene name."""
    if isinstance(entry, int) and not isinstance(entry, bool) and entry >= 0:
        return entry
    if isinstance(entry, str):
        if entry.isdigit():
            return int(entry)
        scene = SceneName.try_parse(entry)
        if scene is not None:
            return scene.scene_instance
    raise ValueError(
        f"{path}: bad scene entry {entry!r}; expected a scene instance number (e.g. 54) "
        "or a scene name (e.g. 0054_003_N6_00100_00160_5500_N)"
    )


def read_scenes_file(path: str | Path) -> dict[str, list[int]]:
    """Read a user-given scene split.

    Args:
        path: a YAML file mapping split name -> list of scene instance numbers or scene names
            (a list, or one string of entries separated by spaces or commas). Split names become
            output sub-folders: letters, digits, ``_``, ``-``, and ``/`` between parts.

    Returns:
        split name -> scene instance numbers, in file order.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: not a YAML mapping, an empty file, a bad split name or a bad entry.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"scenes file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise ValueError(f"{path} is not valid YAML: {err}") from err
    if not isinstance(data, dict) or not data:
        raise ValueError(f"{path} must map split names to lists of scenes, got {type(data).__name__}")
    splits = {}
    for name, entries in data.items():
        if not isinstance(name, str) or not _SPLIT_NAME_RE.fullmatch(name):
            raise ValueError(f"{path}: bad split name {name!r}; use letters, digits, '_', '-' and '/' between parts")
        if isinstance(entries, str):
            entries = entries.replace(",", " ").split()
        elif not isinstance(entries, list):
            entries = [entries]
        splits[name] = [_scene_instance(entry, path) for entry in entries]
    return splits


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``nmflowgan-prepare-sidd`` command."""
    parser = argparse.ArgumentParser(
        prog="nmflowgan-prepare-sidd",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "input",
        type=Path,
        help="a SIDD-Medium/Small folder (containing Data/<scene>/…GT_SRGB_0xx.PNG) or a pairs .csv manifest",
    )
    parser.add_argument("output", type=Path, help="output folder: new or empty, unless --overwrite")
    parser.add_argument("--patch-size", type=int, default=96, help="patch side in pixels (default: 96)")
    parser.add_argument(
        "--stride", type=int, default=48, help="step between patches in pixels (default: 48, i.e. 50%% overlap)"
    )
    which = parser.add_mutually_exclusive_group()
    which.add_argument(
        "--split",
        choices=["all", *OFFICIAL_SPLITS],
        default="all",
        help="official scene split to write (default: all pairs); see the output layout below",
    )
    which.add_argument("--scenes-file", type=Path, help="YAML file with your own scene split (see below)")
    parser.add_argument(
        "--overwrite", action="store_true", help="replace the contents of a non-empty output folder (patch files only)"
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return parser


def _groups(args: argparse.Namespace, records: list[ImagePair]) -> dict[Path, list[ImagePair]]:
    """Output sub-folder (relative to the output folder) -> the pairs to write there."""
    if args.scenes_file is not None:
        splits = assign_splits(records, read_scenes_file(args.scenes_file))
    elif args.split == "all":
        return {Path(): records}
    else:
        splits = assign_splits(records, OFFICIAL_SPLITS[args.split])
    return {Path(name): pairs for name, pairs in splits.items()}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; returns 0 on success, exits with status 1 and a message on bad input."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        check_replaceable(args.output, args.overwrite, is_patch_file, parser.prog)
        records, _ = known_metadata(read_pairs(args.input))
        groups = {folder: pairs for folder, pairs in _groups(args, records).items() if pairs}
        if not groups:
            raise ValueError(
                f"none of the {len(records)} pair(s) with known camera/ISO in {args.input} is in the split"
            )
        for pairs in groups.values():  # camera/ISO errors before any writing
            for pair in pairs:
                pair_attributes(pair)
        remove_stale_temporaries(args.output.parent, args.output.name)  # left by a killed run
        written: dict[Path, list[Path]] = {}

        def write(tmp: Path) -> None:
            for folder, pairs in groups.items():
                paths = prepare_pairs(
                    pairs, tmp / folder, patch=args.patch_size, stride=args.stride, progress=not args.no_progress
                )
                written[args.output / folder] = [args.output / folder / path.name for path in paths]

        write_folder(args.output, write)
    except (ValueError, OSError) as err:
        parser.exit(1, f"{parser.prog}: error: {err}\n")
    summary = ", ".join(f"{len(paths)} file(s) to {folder}" for folder, paths in written.items())
    print(f"{parser.prog}: wrote {summary} (patch {args.patch_size}, stride {args.stride})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

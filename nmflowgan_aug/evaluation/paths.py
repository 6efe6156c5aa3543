"""Where the benchmarks find the real data, and where they may write.

The real data is in ``$NMFLOWGAN_SHARED_DATA``, else in ``shared/data`` beside the checkout.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

__all__ = ["SHARED_DATA_ENV", "display_path", "refuse_existing_outputs", "shared_data_dir", "sidd_native_manifest"]

#: Environment variable naming the real-data folder (the tests use the same one).
SHARED_DATA_ENV = "NMFLOWGAN_SHARED_DATA"

#: Root of the checkout that holds this package (the folder with ``nmflowgan_aug/`` and ``benchmarks/``).
REPO_ROOT = Path(__file__).resolve().parents[2]


def shared_data_dir() -> Path:
    """The real-data folder: ``$NMFLOWGAN_SHARED_DATA`` when set, else ``../shared/data`` relative to the checkout.

    The folder is not checked here: loaders raise ``FileNotFoundError`` naming the missing file.
    """
    env = os.environ.get(SHARED_DATA_ENV)
    return Path(env) if env else REPO_ROOT.parent / "shared" / "data"


def sidd_native_manifest() -> Path:
    """``sidd_native/pairs.csv`` of :func:`shared_data_dir`: native-resolution SIDD pairs with camera/ISO."""
    return shared_data_dir() / "sidd_native" / "pairs.csv"


def display_path(path: str | os.PathLike) -> str:
    """``path`` relative to the checkout when possible (for reports), else as given."""
    try:
        return os.path.relpath(path, REPO_ROOT)
    except ValueError:  # another drive (Windows)
        return str(path)


def refuse_existing_outputs(paths: Iterable[str | os.PathLike], overwrite: bool) -> None:
    """Refuse to replace result files unless asked: call before any work.

    Raises:
        FileExistsError: some of ``paths`` exist and ``overwrite`` is False (the message names them all and
            the ``--overwrite`` option).
    """
    existing = [str(p) for p in paths if Path(p).exists()]
    if existing and not overwrite:
        raise FileExistsError(f"{', '.join(existing)} already exist(s); pass --overwrite to replace, or choose "
                              "another --out")

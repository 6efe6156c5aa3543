"""Configs shipped inside the package, usable by name from any directory.

* Training configs (``*.yaml`` beside this file) for ``nmflowgan-train`` / ``train_noise_model.py``
  ``--config NAME``: ``quickstart``, the default, trains on the embedded simulated-camera data.
* BasicSR option files (``basicsr/*.yml``) for ``nmflowgan-basicsr-train -opt NAME``:
  ``train_DnCNN_nmflowgan_SIDD``.

A name is the file name without its suffix. Recipes tied to the source repository's data layout (SIDD paths
relative to the checkout) stay in the repository's ``configs/`` folder and are passed as paths. To edit a
packaged file, copy the file that :func:`config_path` returns and pass the copy's path.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["CONFIG_DIR", "config_path", "list_configs"]

#: Folder of the packaged configs (this package).
CONFIG_DIR = Path(__file__).resolve().parent

#: kind -> (folder, suffix, what the files are) of the packaged configs.
_KINDS = {
    "train": (CONFIG_DIR, ".yaml", "training config"),
    "basicsr": (CONFIG_DIR / "basicsr", ".yml", "BasicSR option file"),
}


def _kind(kind: str) -> tuple[Path, str, str]:
    if kind not in _KINDS:
        raise ValueError(f"kind must be one of {sorted(_KINDS)}, got {kind!r}")
    return _KINDS[kind]


def list_configs(kind: str = "train") -> list[str]:
    """Names of the packaged configs of one kind, sorted.

    Args:
        kind: ``"train"`` (training configs) or ``"basicsr"`` (BasicSR option files).

    Returns:
        The file names without suffix, e.g. ``["quickstart"]``.

    Raises:
        ValueError: an unknown ``kind``.

    Example:
        >>> list_configs("basicsr")
        ['test_DnCNN_nmflowgan_SIDD', 'train_DnCNN_nmflowgan_SIDD']
    """
    folder, suffix, _ = _kind(kind)
    return sorted(p.stem for p in folder.glob(f"*{suffix}"))


def config_path(value: str | os.PathLike, kind: str = "train") -> Path:
    """The YAML file that a ``--config`` / ``-opt`` value names: a packaged config or a file path.

    A string without a folder and without a suffix (``"quickstart"``) is the name of a packaged config;
    any other value (``"my.yaml"``, ``"./quickstart"``, a ``Path``) is a path to a file.

    Args:
        value: the name of a packaged config of this kind (see :func:`list_configs`), or a path.
        kind: ``"train"`` (training configs) or ``"basicsr"`` (BasicSR option files).

    Returns:
        The packaged file, or ``value`` as a ``Path``.

    Raises:
        ValueError: an unknown ``kind``, or a name that no packaged config of this kind has (the message
            lists the packaged names).
        FileNotFoundError: a path that is not a file.

    Example:
        >>> config_path("quickstart").relative_to(CONFIG_DIR).as_posix()
        'quickstart.yaml'
        >>> config_path("train_DnCNN_nmflowgan_SIDD", "basicsr").relative_to(CONFIG_DIR).as_posix()
        'basicsr/train_DnCNN_nmflowgan_SIDD.yml'
    """
    folder, suffix, what = _kind(kind)
    names = list_configs(kind)
    if isinstance(value, str) and Path(value).name == value and not Path(value).suffix:
        if value not in names:
            raise ValueError(
                f"no packaged {what} is named {value!r}; packaged: {names}. A path to a YAML file also works "
                "(a value with a folder or a suffix is read as a path)"
            )
        return folder / f"{value}{suffix}"
    path = Path(value)
    if not path.is_file():
        bare = path.name == os.fspath(value) and path.stem in names
        hint = f" (the packaged {what} {path.stem!r} is named without a suffix)" if bare else ""
        raise FileNotFoundError(f"{what} not found: {path}{hint}")
    return path

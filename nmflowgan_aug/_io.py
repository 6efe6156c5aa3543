"""Safe file writing: never leave a half-written file or folder, never overwrite data unless asked.

Files are written to a hidden temporary name beside their target and renamed into place
(:func:`atomic_write`); folders are written as a unit the same way (:func:`write_folder`). Both
temporary names look like ``.<target name>.<8 random characters>.tmp``; a process killed while
writing leaves one behind, which :func:`remove_stale_temporaries` deletes when the next run starts.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

__all__ = [
    "atomic_write",
    "check_replaceable",
    "refuse_overwrite",
    "remove_stale_temporaries",
    "write_folder",
]

#: Names of the temporaries of :func:`atomic_write` and :func:`write_folder` (``tempfile``'s 8-character names).
_TEMPORARY_RE = re.compile(r"\.(?P<target>.+)\.[a-z0-9_]{8}\.tmp")


def refuse_overwrite(path: str | os.PathLike, overwrite: bool) -> None:
    """Raise FileExistsError when ``path`` exists and ``overwrite`` is False."""
    if not overwrite and Path(path).exists():
        raise FileExistsError(f"{path} already exists; pass overwrite=True (or --overwrite) to replace it")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _temporary(target: Path, folder: bool) -> Path:
    """A new temporary file or folder beside ``target``, named as :data:`_TEMPORARY_RE` expects."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if folder:
        return Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"))
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    return Path(tmp)


def atomic_write(target: str | os.PathLike, write: Callable[[str], object]) -> Path:
    """Call ``write(tmp_path)`` on a temporary file beside ``target``, then rename it to ``target``.

    The rename is atomic on POSIX, so readers see either the old file or the complete new one. The
    temporary file is removed if ``write`` raises.
    """
    target = Path(target)
    tmp = _temporary(target, folder=False)
    try:
        write(str(tmp))
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates owner-only files; give the usual permissions
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target


def write_folder(target: str | os.PathLike, write: Callable[[Path], object]) -> Path:
    """Write a folder with ``write`` and put it in ``target``'s place in one step.

    Calls ``write(tmp_folder)`` on a new, empty temporary folder beside ``target``, then puts it in
    ``target``'s place; an existing ``target`` folder and everything in it is removed.

    Readers see the old folder, no folder (for the moment between two renames) or the complete new
    one, never a mix. If ``write`` raises, the temporary folder is removed and ``target`` is left as
    it was. Check with :func:`check_replaceable` first that replacing ``target`` is allowed.

    Raises:
        NotADirectoryError: ``target`` exists and is not a folder.
    """
    target = Path(target)
    if target.exists() and not target.is_dir():
        raise NotADirectoryError(f"{target} exists and is not a folder")
    tmp = _temporary(target, folder=True)
    try:
        write(tmp)
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp creates an owner-only folder
        if target.exists():
            old = _temporary(target, folder=True)
            os.replace(target, old)  # onto the new, empty ``old`` folder
            try:
                os.replace(tmp, target)
            except BaseException:
                os.replace(old, target)
                raise
            shutil.rmtree(old)
        else:
            os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def check_replaceable(folder: str | os.PathLike, overwrite: bool, owned: Callable[[Path], bool], what: str) -> None:
    """Check, before any work, that ``folder`` may be written as a new output folder.

    Allowed: a missing or empty folder; with ``overwrite``, also a folder in which every file is one
    the tool writes (``owned(path relative to folder)`` is true), so that replacing it loses nothing else.

    Args:
        folder: the output folder.
        overwrite: the user asked to replace an existing output (``--overwrite``).
        owned: whether a file (given relative to ``folder``) is one the tool writes.
        what: the tool, for messages (e.g. ``"nmflowgan-prepare-sidd"``).

    Raises:
        NotADirectoryError: ``folder`` exists and is not a folder.
        FileExistsError: ``folder`` is not empty and ``overwrite`` is False, or it holds a file the
            tool does not write (the message names it).
    """
    folder = Path(folder)
    if not folder.exists():
        return
    if not folder.is_dir():
        raise NotADirectoryError(f"output {folder} exists and is not a folder")
    entries = sorted(p.name for p in folder.iterdir())
    if not entries:
        return
    if not overwrite:
        shown = ", ".join(entries[:5]) + (", ..." if len(entries) > 5 else "")
        raise FileExistsError(
            f"output folder {folder} is not empty (it holds {shown}); choose a new or empty folder, or pass "
            "overwrite=True (--overwrite) to replace its contents"
        )
    foreign = [p for p in sorted(folder.rglob("*")) if not p.is_dir() and not owned(p.relative_to(folder))]
    if foreign:
        raise FileExistsError(
            f"refusing to replace {folder}: it holds {len(foreign)} file(s) that {what} does not write, e.g. "
            f"{foreign[0]}; choose a new or empty output folder"
        )


def remove_stale_temporaries(folder: str | os.PathLike, target: str | None = None) -> list[Path]:
    """Delete the temporaries that killed writes left in ``folder`` (not in its sub-folders).

    Args:
        folder: where to look; a missing folder has none.
        target: only those of this target name (``".<target>.XXXXXXXX.tmp"``); ``None``: of any target.

    Returns:
        The removed paths.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = []
    for path in sorted(folder.iterdir()):
        match = _TEMPORARY_RE.fullmatch(path.name)
        if match is None or (target is not None and match["target"] != target):
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
        removed.append(path)
    return removed

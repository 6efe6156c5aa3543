"""Training pairs of the benchmarks: pairs with known camera and ISO from a manifest or a SIDD folder."""

from __future__ import annotations

import os
from collections.abc import Collection, Sequence

from ..data.sidd import ImagePair, known_metadata, read_pairs

__all__ = ["load_known_pairs"]


def load_known_pairs(
    path: str | os.PathLike, ids: Sequence[str] | None = None, exclude: Collection[str] = ()
) -> tuple[list[ImagePair], list[ImagePair]]:
    """Pairs with known camera and ISO, read with :func:`nmflowgan_aug.data.sidd.read_pairs`.

    Args:
        path: a pairs manifest (``.csv``) or a SIDD-Medium/Small folder.
        ids: keep only the pairs with these names (manifest ids or scene folder names); None keeps all.
        exclude: names to leave out (e.g. the validation rows of the same manifest).

    Returns:
        ``(kept, dropped)``: the pairs with known camera and ISO, and those without (in input order).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: an unreadable input, a name in ``ids`` that ``path`` does not hold (the message lists
            the available names), or no pair with known camera and ISO left.
    """
    records = read_pairs(path)
    if ids is not None:
        names = [r.name for r in records]
        unknown = [i for i in ids if i not in names]
        if unknown:
            raise ValueError(f"{path}: unknown id(s) {unknown}; available ids: {names}")
        wanted = set(ids)
        records = [r for r in records if r.name in wanted]
    excluded = set(exclude)
    kept, dropped = known_metadata([r for r in records if r.name not in excluded])
    if not kept:
        raise ValueError(f"no training pairs with known camera and ISO in {path}")
    return kept, dropped

"""Train/evaluation overlap of a benchmark: the same pair, or the same SIDD scene instance, on both sides.

A noise model or denoiser scored on a pair it was fitted or trained on, or on another crop of the same
scene instance (same scene, camera, ISO and illuminant, often the same noise realisation), looks better
than it is. The benchmarks refuse such runs (:func:`check_overlap`) unless the user allows them
explicitly, in which case the overlap is written into the results.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Overlap", "TrainEvalOverlapError", "check_overlap", "find_overlap", "scene_key"]


class TrainEvalOverlapError(ValueError):
    """Training and evaluation data share pairs or scene instances."""


def scene_key(scene: object) -> str | None:
    """A pair's or block's scene instance as text (``SceneName`` or str), None when unknown."""
    return None if scene is None else str(scene)


@dataclass(frozen=True)
class Overlap:
    """What training and evaluation data share.

    Attributes:
        ids: names on both sides (only compared when both sides come from the same source, e.g. one manifest).
        scenes: ``(scene instance, training names, evaluation names)`` per shared scene instance.
    """

    ids: tuple[str, ...] = ()
    scenes: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = ()

    def __bool__(self) -> bool:
        return bool(self.ids or self.scenes)

    def describe(self) -> str:
        """One line naming every shared id and scene instance (empty when there is none)."""
        parts = []
        if self.ids:
            parts.append(f"the same pairs {list(self.ids)}")
        for scene, train, evaluation in self.scenes:
            parts.append(f"scene instance {scene} (training {list(train)}, evaluation {list(evaluation)})")
        return "; ".join(parts)

    def to_dict(self) -> dict:
        """Plain JSON."""
        return {"ids": list(self.ids),
                "scenes": [{"scene": s, "train": list(t), "evaluation": list(e)} for s, t, e in self.scenes]}


def find_overlap(
    train: Sequence[tuple[str, object]], evaluation: Sequence[tuple[str, object]], same_source: bool
) -> Overlap:
    """Names and scene instances present on both sides.

    Args:
        train: ``(name, scene)`` per training pair (scene: ``SceneName``, text or None when unknown).
        evaluation: ``(name, scene)`` per evaluation block.
        same_source: both sides come from one source (e.g. the same manifest), so equal names are the same
            pair; otherwise names are not compared (``00-01`` of a ``.mat`` file is not row ``00``).
    """
    ids = tuple(sorted({n for n, _ in train} & {n for n, _ in evaluation})) if same_source else ()
    train_scenes: dict[str, list[str]] = {}
    for name, scene in train:
        if scene_key(scene) is not None:
            train_scenes.setdefault(scene_key(scene), []).append(name)
    eval_scenes: dict[str, list[str]] = {}
    for name, scene in evaluation:
        if scene_key(scene) in train_scenes:
            eval_scenes.setdefault(scene_key(scene), []).append(name)
    scenes = tuple((s, tuple(train_scenes[s]), tuple(e)) for s, e in sorted(eval_scenes.items()))
    return Overlap(ids, scenes)


def check_overlap(overlap: Overlap, allow: bool, flag: str = "--allow-overlap") -> str | None:
    """Refuse an overlap, or return the warning to print and record when it is allowed.

    Args:
        overlap: from :func:`find_overlap`.
        allow: the user asked to run anyway.
        flag: the command-line option that allows it (named in the error).

    Returns:
        None without overlap; the warning text with an allowed one.

    Raises:
        TrainEvalOverlapError: an overlap that is not allowed (the message names every shared id and scene).
    """
    if not overlap:
        return None
    text = f"training and evaluation data share {overlap.describe()}"
    if not allow:
        raise TrainEvalOverlapError(f"{text}; choose disjoint training and evaluation data, or pass {flag} to "
                                    "score anyway (the overlap is then recorded in the results)")
    return f"WARNING: {text}: scores on these blocks are optimistic ({flag} was given)"

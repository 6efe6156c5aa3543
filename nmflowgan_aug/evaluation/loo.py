"""Leave-one-scene-out (LOO) over training pairs: folds, per-fold training ids, per-fold models and their scores.

The five SIDD validation blocks of ``../shared/data/sidd_native`` are a small test, and the final model
is also judged on SIDD blocks outside that data, so the benchmark does not tune to them. LOO over the
training crops (rows 05–15) adds a check that never reuses a training scene: each fold holds out every
crop of one SIDD scene instance (rows 09 and 15 are the same instance, so they leave together), the
methods are fitted or trained on the other crops, and the held-out crops are scored like validation
blocks (:func:`~.fidelity.evaluate`).

* fitted baselines are refitted per fold here (cheap);
* trained models are trained once per fold elsewhere (``benchmarks/loo_train.py`` launches
  ``train_noise_model.py`` with :func:`train_overrides`) and scored here from a path pattern with
  :data:`FOLD_PLACEHOLDER` (e.g. ``runs/loo_{fold}/model``).

A held-out crop whose camera occurs in no other crop (G4 and GP have one scene each in rows 05–15) tests
an unseen camera: the fitted baselines mark it ``n/a``, a trained model answers with its untrained
camera embedding.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch
from tqdm.auto import tqdm

from ..data.sidd import ImagePair, SceneName, scene_of
from .fidelity import Block, blocks_from_manifest, evaluate, summarize
from .fidelity_methods import build_methods
from .overlap import scene_key
from .training_pairs import load_known_pairs

__all__ = ["FOLD_PLACEHOLDER", "Fold", "evaluate_loo", "fold_model_path", "parse_loo_model_specs", "scene_folds",
           "select_folds", "train_commands", "train_overrides"]

#: Placeholder of a per-fold model path, replaced by :attr:`Fold.name`.
FOLD_PLACEHOLDER = "{fold}"


@dataclass(frozen=True)
class Fold:
    """One LOO fold.

    Attributes:
        name: the held-out ids joined by ``+`` (e.g. ``"05"``, ``"09+15"``); used in paths and tables.
        scene: the held-out scene instance (None when the pairs carry none: then the fold is one pair).
        held_out: ids of the held-out pairs.
        train: ids of the other pairs (the fold's training data).
    """

    name: str
    scene: str | None
    held_out: tuple[str, ...]
    train: tuple[str, ...]


def scene_folds(pairs: Sequence[ImagePair]) -> list[Fold]:
    """One fold per scene instance of ``pairs`` (pairs without a scene form a fold each), in input order.

    Raises:
        ValueError: fewer than two folds.
    """
    groups: dict[str, list[str]] = {}
    scenes: dict[str, str | None] = {}
    for p in pairs:
        key = scene_key(scene_of(p)) or f"pair {p.name}"
        groups.setdefault(key, []).append(p.name)
        scenes[key] = scene_key(scene_of(p))
    if len(groups) < 2:
        raise ValueError(f"leave-one-scene-out needs pairs of at least two scene instances, got {list(groups)}")
    names = [p.name for p in pairs]
    return [Fold("+".join(ids), scenes[key], tuple(ids), tuple(n for n in names if n not in ids))
            for key, ids in groups.items()]


def train_overrides(fold: Fold, key: str = "data.train.ids", extra_sources: int = 0) -> list[str]:
    """``train_noise_model.py --set`` overrides that train on the fold's training ids.

    For example ``['data.train.ids=["06", "07"]']`` (JSON list, so that YAML keeps ids like ``08`` as text).

    With ``extra_sources`` (the number of ``data.extra_train`` entries of the config, e.g. SIDD-Small, which holds
    the same scene instances as the native crops), the fold's scene instance is also left out of each of them
    (``data.extra_train.<i>.exclude_scenes``), so the held-out scene is never seen in training.

    Raises:
        ValueError: ``extra_sources`` > 0 for a fold without a known scene instance.
    """
    overrides = [f"{key}={json.dumps(list(fold.train))}"]
    if extra_sources:
        if fold.scene is None:
            raise ValueError(f"fold {fold.name} has no SIDD scene instance to leave out of the extra training sources")
        number = SceneName.parse(fold.scene).scene_instance
        overrides += [f"data.extra_train.{i}.exclude_scenes=[{number}]" for i in range(extra_sources)]
    return overrides


def select_folds(folds: Sequence[Fold], names: Sequence[str] | None) -> list[Fold]:
    """The folds named in ``names`` (all when None), in fold order.

    Each keeps its full training set, so scoring a subset gives the same per-fold numbers as scoring
    every fold.

    Raises:
        ValueError: an unknown fold name (the message lists the known ones).
    """
    if names is None:
        return list(folds)
    unknown = [n for n in names if n not in [f.name for f in folds]]
    if unknown:
        raise ValueError(f"unknown fold(s) {unknown}; folds: {[f.name for f in folds]}")
    return [f for f in folds if f.name in names]


def train_commands(
    folds: Sequence[Fold],
    config: str | os.PathLike,
    name_pattern: str,
    output_dir: str | os.PathLike,
    overrides: Sequence[str] = (),
    python: str = "python",
    script: str | os.PathLike = "train_noise_model.py",
    extra_sources: int = 0,
) -> list[list[str]]:
    """One ``train_noise_model.py`` command per fold.

    Each has the config, the run name (``name_pattern`` with :data:`FOLD_PLACEHOLDER`), the output folder,
    the fold's training ids (:func:`train_overrides`) and ``overrides`` (e.g. a budget,
    ``train.max_minutes=20``). The model of fold ``f`` lands in
    ``<output_dir>/<name of f>/model``. ``extra_sources``: see :func:`train_overrides`.

    Raises:
        ValueError: ``name_pattern`` lacks the placeholder.
    """
    commands = []
    for fold in folds:
        command = [python, str(script), "--config", str(config), "--name", fold_model_path(name_pattern, fold),
                   "--output-dir", str(output_dir)]
        for item in (*train_overrides(fold, extra_sources=extra_sources), *overrides):
            command += ["--set", item]
        commands.append(command)
    return commands


def fold_model_path(pattern: str, fold: Fold) -> str:
    """``pattern`` with :data:`FOLD_PLACEHOLDER` replaced by the fold name.

    Raises:
        ValueError: ``pattern`` lacks the placeholder.
    """
    if FOLD_PLACEHOLDER not in pattern:
        raise ValueError(f"per-fold model path {pattern!r} must contain {FOLD_PLACEHOLDER}, "
                         "e.g. runs/loo_{fold}/model")
    return pattern.replace(FOLD_PLACEHOLDER, fold.name)


def parse_loo_model_specs(specs: Sequence[str], folds: Sequence[Fold]) -> list[tuple[str, str]]:
    """``NAME=PATTERN`` strings -> ``[(name, pattern)]``, every fold's model folder checked to exist.

    Raises:
        ValueError: a spec without ``=``, an empty name, a repeated name, or a pattern without the placeholder.
        FileNotFoundError: the model folder of a fold is missing (the message lists every missing fold).
    """
    out: list[tuple[str, str]] = []
    for spec in specs:
        name, sep, pattern = spec.partition("=")
        name = name.strip()
        if not sep or not name or not pattern:
            raise ValueError(f"--loo-model expects NAME=PATTERN (with {FOLD_PLACEHOLDER}), got {spec!r}")
        if name in [n for n, _ in out]:
            raise ValueError(f"--loo-model name {name!r} is used twice")
        missing = [fold_model_path(pattern, f) for f in folds if not os.path.exists(fold_model_path(pattern, f))]
        if missing:
            raise FileNotFoundError(f"--loo-model {name}: no model folder for {len(missing)} of {len(folds)} folds: "
                                    f"{missing}")
        out.append((name, pattern))
    return out


def evaluate_loo(
    manifest: str | os.PathLike,
    folds: Sequence[Fold],
    baselines: Sequence[str],
    models: Sequence[tuple[str, str]],
    seeds: Sequence[int],
    device: torch.device,
    train_crop: int | None,
    crop: int | None = 256,
    progress: bool = True,
) -> dict[str, Any]:
    """Score the baselines (refitted per fold) and per-fold models on the held-out pairs of every fold.

    Args:
        manifest: pairs manifest holding every fold's pairs.
        folds: from :func:`scene_folds`.
        baselines: names of :data:`~.fidelity_methods.BASELINES` to fit per fold.
        models: ``(name, path pattern)`` of per-fold models (:func:`parse_loo_model_specs`).
        seeds: noise seeds; each method samples each held-out pair once per seed (as for
            :func:`~.fidelity.evaluate`).
        device: where the methods fit and sample (as for :func:`~.fidelity.evaluate` and
            :func:`~.fidelity_methods.build_methods`).
        train_crop: centre-crop the training images to at most this side for fitting the baselines (as
            for :func:`~.fidelity_methods.build_methods`).
        progress: show a tqdm bar over the folds.
        crop: score the central ``crop``×``crop`` part of each held-out pair (default 256, the size of the
            SIDD validation blocks, so that block-size-dependent scores compare); None scores whole pairs.

    Returns:
        ``{"folds": [Fold as dict], "blocks": [{"id", "camera", "iso", "scene", "fold", "size", "noise"}],
        "methods": {name: {"kind", "title"}}, "per_block", "summary"}`` (per-block entries and summary as
        :func:`~.fidelity.evaluate` and :func:`~.fidelity.summarize` return them, over all held-out pairs).

    Raises:
        ValueError, FileNotFoundError: as :func:`~.fidelity_methods.build_methods` (e.g. a fold whose
            training pairs leave no camera with two ISO values).
    """
    patterns = {name: f"NMFlowGAN `{pattern}`, one model per fold" for name, pattern in models}
    per_block: dict[str, dict[str, Any]] = {}
    blocks: list[Block] = []
    block_fold: dict[str, str] = {}
    methods = []
    for fold in tqdm(folds, desc="leave-one-scene-out folds", disable=not progress):
        held_out = blocks_from_manifest(manifest, fold.held_out)
        if crop is not None:
            held_out = [b.centre_crop(crop) for b in held_out]
        train_pairs, _ = load_known_pairs(manifest, fold.train)
        fold_models = [(name, fold_model_path(pattern, fold)) for name, pattern in models]
        methods = build_methods(baselines, train_pairs, held_out, fold_models, device, train_crop, progress=False)
        fold_per_block, _ = evaluate(methods, held_out, seeds, device, progress=False)
        for name, entries in fold_per_block.items():
            per_block.setdefault(name, {}).update(entries)
        blocks += held_out
        block_fold.update({b.id: fold.name for b in held_out})
    return {
        "folds": [asdict(f) for f in folds],
        "blocks": [{"id": b.id, "camera": b.camera, "iso": b.iso, "scene": b.scene, "fold": block_fold[b.id],
                    "size": list(b.clean.shape[-2:]), "noise": b.real_stats} for b in blocks],
        "methods": {m.name: {"kind": m.kind, "title": patterns.get(m.name, m.title)} for m in methods},
        "per_block": per_block,
        "summary": summarize(methods, blocks, per_block, len(seeds)),
    }

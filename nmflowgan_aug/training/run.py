"""A full training run: data → patches → training → saved model, metrics and figures in one folder.

A run folder holds what a run writes (:data:`RUN_OUTPUTS`). A new run needs a missing or empty folder;
``overwrite`` starts over in a used one (its run outputs are removed, other files are kept) and
``resume`` continues the run in it. Everything that can be checked is checked before anything is
written: the folder, the device, the checkpoint to resume from and the data of both splits. A new
run that fails before training starts removes what it wrote (and the run folder, if it made it).
With several processes, rank 0 alone writes.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import torch
import yaml

from .. import __version__
from .._io import atomic_write, remove_stale_temporaries, write_folder
from .config import DataSourceConfig, TrainingConfig
from .distributed import DistContext, agree, local_batch_size
from .figures import save_condition_grid, save_sample_grid
from .loop import Trainer, read_checkpoint
from .patch_cache import plan_patch_set
from .sources import TrainingPatches

__all__ = ["RUN_OUTPUTS", "check_run_folder", "run_training"]

log = logging.getLogger(__name__)

#: What a run writes into its folder.
RUN_OUTPUTS = ("model", "checkpoints", "patches", "config.yaml", "metrics.json", "samples.png", "conditions.png")


def check_run_folder(run_dir: Path, resume: bool = False, overwrite: bool = False) -> None:
    """Check that a run may write into ``run_dir``: a new run needs a missing or empty folder.

    Raises:
        ValueError: both ``resume`` and ``overwrite``.
        NotADirectoryError: ``run_dir`` is a file.
        FileExistsError: ``run_dir`` is not empty and neither ``resume`` nor ``overwrite`` is set (the
            message names what it holds).
    """
    run_dir = Path(run_dir)
    if resume and overwrite:
        raise ValueError("resume and overwrite exclude each other: resume continues the run, overwrite starts over")
    if not run_dir.exists():
        return
    if not run_dir.is_dir():
        raise NotADirectoryError(f"run folder {run_dir} exists and is not a folder")
    entries = sorted(p.name for p in run_dir.iterdir())
    if entries and not (resume or overwrite):
        shown = ", ".join(entries[:5]) + (", ..." if len(entries) > 5 else "")
        raise FileExistsError(
            f"run folder {run_dir} is not empty (it holds {shown}); pass --resume to continue the run in it, or "
            f"--overwrite to start over (replaces its {', '.join(RUN_OUTPUTS)}; other files are kept)"
        )


def _check_data_outside_outputs(config: TrainingConfig, run_dir: Path) -> None:
    """Refuse data inside the run outputs that ``overwrite`` removes."""
    for split, source in (*_train_splits(config), ("val", config.data.val)):
        if source is None or source.path == "embedded":
            continue
        for name in RUN_OUTPUTS:
            if Path(source.path).resolve().is_relative_to((run_dir / name).resolve()):
                raise ValueError(
                    f"data.{split}.path {source.path} is inside {run_dir / name}, which --overwrite removes; "
                    "move the data out of the run folder first"
                )


def _train_splits(config: TrainingConfig) -> list[tuple[str, DataSourceConfig]]:
    """Patch-cache split name per training source: ``train``, then ``train_extra_1``, ``train_extra_2``, ..."""
    return [("train", config.data.train), *((f"train_extra_{i}", s) for i, s in enumerate(config.data.extra_train, 1))]


def _remove_run_outputs(run_dir: Path) -> None:
    for name in RUN_OUTPUTS:
        path = run_dir / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()


def _remove_stale_temporaries(run_dir: Path) -> None:
    """Delete what writes killed in an earlier attempt left (``.last.pt.*.tmp``, half-cut patch folders, ...)."""
    removed = [p for name in RUN_OUTPUTS for p in remove_stale_temporaries(run_dir, name)]
    removed += remove_stale_temporaries(run_dir / "checkpoints", "last.pt")
    patches = run_dir / "patches"
    for folder in [patches, *(p for p in patches.glob("*") if p.is_dir())]:
        removed += remove_stale_temporaries(folder)
    if removed:
        log.info("removed %d temporary file(s) of an interrupted earlier attempt, e.g. %s", len(removed), removed[0])


def _spread(dataset, n: int) -> list[dict]:
    return [dataset[int(i)] for i in torch.linspace(0, len(dataset) - 1, min(n, len(dataset))).long()]


def run_training(config: TrainingConfig, run_dir: Path, resume: Path | None = None, overwrite: bool = False,
                 dist: DistContext | None = None) -> dict:  # fmt: skip
    """Train, then write the model, config, metrics and figures to ``run_dir``; returns the metrics document.

    The files are ``model/`` (safetensors + config.json), ``config.yaml``, ``metrics.json``, ``samples.png``
    and ``conditions.png``.

    Patches are cut into ``run_dir/patches/`` (see :func:`~nmflowgan_aug.training.patch_cache.plan_patch_set`);
    with ``resume`` (a checkpoint path) the run's earlier cut is reused. ``model/`` is written as one
    unit (a temporary folder renamed into place), so it never holds weights and config of two saves.

    With several processes (``dist``, every rank calls this), every rank checks; rank 0 alone writes
    (the patch cut, ``config.yaml``, checkpoints, the model, metrics and figures) and the others read the
    patches it cut. A check or write that fails on one rank fails on all of them (see
    :func:`~nmflowgan_aug.training.distributed.agree`).

    Args:
        config: the resolved training configuration.
        run_dir: the run folder; missing or empty for a new run (see :func:`check_run_folder`).
        resume: checkpoint to continue from (normally ``run_dir/checkpoints/last.pt``); it may come from a
            run with another number of processes.
        overwrite: start over in a used run folder: its :data:`RUN_OUTPUTS` are removed once every check
            has passed; other files are kept.
        dist: this process's place in a multi-process run (its process group joined); default one process.

    Raises:
        FileExistsError: a non-empty ``run_dir`` without ``resume`` or ``overwrite``.
        ValueError: bad data (see ``plan_patch_set``), an unusable device, a checkpoint that does not fit
            this run, ``resume`` with ``overwrite``, data inside the run outputs ``overwrite`` removes, or
            a ``train.batch_size`` that the processes cannot share.
        FileNotFoundError: a missing data path or checkpoint.
        RuntimeError: with several processes, on the ranks where nothing failed when another rank failed.
    """
    run_dir, ctx = Path(run_dir), dist or DistContext()
    vocabulary, reuse, patches = config.model.vocabulary, resume is not None, run_dir / "patches"
    splits = {**dict(_train_splits(config)), "val": config.data.val}

    def check() -> tuple[dict | None, dict]:
        check_run_folder(run_dir, resume is not None, overwrite)
        if overwrite:
            _check_data_outside_outputs(config, run_dir)
        ctx.device(config.train.device)
        local_batch_size(config.train.batch_size, ctx)
        checkpoint = read_checkpoint(resume, config) if resume is not None else None
        plans = {split: plan_patch_set(source, config.data, vocabulary, patches, split, reuse)
                 for split, source in splits.items() if source is not None}  # fmt: skip
        return checkpoint, plans

    checkpoint, plans = agree(ctx, "checking the run", check)

    # Every check has passed: from here on rank 0 writes.
    made_folder = not run_dir.exists()

    def cut() -> dict:
        """Rank 0: the datasets of every split, cut where needed; the other ranks: nothing yet."""
        if not ctx.is_main:
            return {}
        _remove_stale_temporaries(run_dir)
        if overwrite:
            _remove_run_outputs(run_dir)
        return {split: plan.build() for split, plan in plans.items()}

    def start(datasets: dict) -> Trainer:
        if not ctx.is_main:  # rank 0's cut is in the patch cache now
            datasets = {split: plan_patch_set(source, config.data, vocabulary, patches, split, reuse=True).build()
                        for split, source in splits.items() if source is not None}  # fmt: skip
        train_set = TrainingPatches([datasets[name] for name, _ in _train_splits(config)], config.data.train_sources)
        trainer = Trainer(config, train_set, datasets.get("val"), run_dir, ctx)
        if checkpoint is not None:
            trainer.restore(checkpoint)
        if ctx.is_main:
            config_text = yaml.safe_dump(config.to_dict(), sort_keys=False)
            atomic_write(run_dir / "config.yaml", lambda p: Path(p).write_text(config_text))
        return trainer

    try:
        datasets = agree(ctx, "cutting the patches", cut)
        trainer = agree(ctx, "starting the training", lambda: start(datasets))
    except BaseException:
        if resume is None and ctx.is_main:  # a new run leaves nothing behind
            _remove_run_outputs(run_dir)
            if made_folder and run_dir.is_dir() and not any(run_dir.iterdir()):
                run_dir.rmdir()
        raise
    train_set, val_set = trainer.train_set, trainer.val_set
    log.info("training patches: %d, validation patches: %s, processes: %d", len(train_set),
             len(val_set) if val_set else "none", ctx.world_size)  # fmt: skip
    history = trainer.fit()

    model = trainer.model.eval()
    final = history[-1] if history else {}
    doc = {
        "package_version": __version__,
        "device": str(trainer.device),
        "world_size": ctx.world_size,
        "train_patches": len(train_set),
        "val_patches": len(val_set) if val_set is not None else 0,
        "train_data": [s.path for s in config.data.train_sources],
        "val_data": config.data.val.path if config.data.val else None,
        "final": {k: v for k, v in final.items() if k.startswith("val_")},
        "history": history,
    }
    if not ctx.is_main:
        return doc
    metadata = {"training_data": doc["train_data"], "train_patches": doc["train_patches"],
                "epochs": trainer.state.epoch, "metrics": doc["final"], "package_version": __version__}
    write_folder(run_dir / "model", lambda tmp: model.save_pretrained(tmp, metadata=metadata))
    atomic_write(run_dir / "metrics.json", lambda p: Path(p).write_text(json.dumps(doc, indent=2) + "\n"))
    shown = _spread(val_set if val_set is not None else train_set, 4)
    save_sample_grid(model, shown, run_dir / "samples.png")
    save_condition_grid(model, shown[0]["clean"], run_dir / "conditions.png")
    return doc

"""A full training run: data → patches → training → saved model, metrics and figures in one folder."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import torch
import yaml

from .. import __version__
from .._io import atomic_write
from .config import TrainingConfig
from .figures import save_condition_grid, save_sample_grid
from .loop import Trainer
from .patch_cache import build_patch_set

__all__ = ["run_training"]

log = logging.getLogger(__name__)


def _spread(dataset, n: int) -> list[dict]:
    return [dataset[int(i)] for i in torch.linspace(0, len(dataset) - 1, min(n, len(dataset))).long()]


def run_training(config: TrainingConfig, run_dir: Path, resume: Path | None = None) -> dict:
    """Train, then write ``model/`` (safetensors + config.json), ``config.yaml``, ``metrics.json``,
    ``samples.png`` and ``conditions.png`` to ``run_dir``. Returns the metrics document.

    Patches are cut into ``run_dir/patches/`` (see :func:`~nmflowgan_aug.training.patch_cache.build_patch_set`);
    with ``resume`` (a checkpoint path) the run's earlier cut is reused.

    Raises:
        ValueError: bad data (see ``build_patch_set``), or a checkpoint that does not fit this run.
        FileNotFoundError: a missing data path or checkpoint.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    vocabulary, reuse = config.model.vocabulary, resume is not None
    train_set = build_patch_set(config.data.train, config.data, vocabulary, run_dir / "patches", "train", reuse)
    val_set = None
    if config.data.val is not None:
        val_set = build_patch_set(config.data.val, config.data, vocabulary, run_dir / "patches", "val", reuse)
    log.info("training patches: %d, validation patches: %s", len(train_set), len(val_set) if val_set else "none")

    trainer = Trainer(config, train_set, val_set, run_dir)
    if resume is not None:
        trainer.load_checkpoint(resume)
    # Written once the data and the checkpoint are accepted, so a refused resume leaves the run's config as it was.
    config_text = yaml.safe_dump(config.to_dict(), sort_keys=False)
    atomic_write(run_dir / "config.yaml", lambda p: Path(p).write_text(config_text))
    history = trainer.fit()

    model = trainer.model.eval()
    final = history[-1] if history else {}
    doc = {
        "package_version": __version__,
        "device": str(trainer.device),
        "train_patches": len(train_set),
        "val_patches": len(val_set) if val_set is not None else 0,
        "train_data": config.data.train.path,
        "val_data": config.data.val.path if config.data.val else None,
        "final": {k: v for k, v in final.items() if k.startswith("val_")},
        "history": history,
    }
    metadata = {"training_data": doc["train_data"], "train_patches": doc["train_patches"],
                "epochs": trainer.state.epoch, "metrics": doc["final"], "package_version": __version__}
    model.save_pretrained(run_dir / "model", metadata=metadata, overwrite=True)
    atomic_write(run_dir / "metrics.json", lambda p: Path(p).write_text(json.dumps(doc, indent=2) + "\n"))
    shown = _spread(val_set if val_set is not None else train_set, 4)
    save_sample_grid(model, shown, run_dir / "samples.png")
    save_condition_grid(model, shown[0]["clean"], run_dir / "conditions.png")
    return doc

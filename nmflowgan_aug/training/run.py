"""A full training run: data → patches → training → saved model, metrics and figures in one folder."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import torch
import yaml

from .. import __version__
from .._io import atomic_write
from ..data.camera_sim import embedded_pairs
from ..data.hdf5_patches import PatchDataset, list_patch_files, prepare_pairs
from ..data.sidd import known_metadata, read_pairs
from ..vocab import ConditionVocabulary
from .config import DataConfig, DataSourceConfig, TrainingConfig
from .figures import save_condition_grid, save_sample_grid
from .loop import Trainer

__all__ = ["build_patch_set", "run_training"]

log = logging.getLogger(__name__)


def build_patch_set(
    source: DataSourceConfig, data: DataConfig, vocabulary: ConditionVocabulary, cache_dir: Path, split: str
) -> PatchDataset:
    """Turn a data source into a 96×96 patch dataset, cutting images into HDF5 patches under ``cache_dir``.

    Args:
        source: ``embedded``, a SIDD folder, an HDF5 patch folder or a pairs manifest CSV.
        split: ``train`` (augmented, embedded training photos) or ``val``.

    Raises:
        ValueError: an empty selection, or cameras/ISOs outside the model vocabulary.
        FileNotFoundError: a missing path.
    """
    augment = data.augment and split == "train"
    path = Path(source.path)
    if source.path != "embedded" and not path.exists():
        raise FileNotFoundError(f"data path not found: {path}")
    if files := list_patch_files(path):
        return PatchDataset(files, augment=augment)
    if source.path == "embedded":
        pairs = embedded_pairs(split=split)
    else:
        pairs = read_pairs(path)
        if source.ids is not None:
            pairs = [p for p in pairs if p.name in set(source.ids)]
        if source.scenes is not None:
            pairs = [p for p in pairs if p.scene is not None and p.scene.scene_instance in set(source.scenes)]
        pairs, dropped = known_metadata(pairs)
        for p in dropped:
            log.warning("leaving out %s: camera or ISO unknown (camera=%s, iso=%s)", p.name, p.camera, p.iso)
    if not pairs:
        raise ValueError(f"no image pairs selected from {source.path} (ids={source.ids}, scenes={source.scenes})")
    for p in pairs:
        vocabulary.camera_codes(p.camera, 1)
        vocabulary.iso_values(p.iso, 1)
    files = prepare_pairs(pairs, cache_dir / split, data.patch_size, data.stride, vocabulary=vocabulary, overwrite=True)
    return PatchDataset(files, augment=augment)


def _spread(dataset, n: int) -> list[dict]:
    return [dataset[int(i)] for i in torch.linspace(0, len(dataset) - 1, min(n, len(dataset))).long()]


def run_training(config: TrainingConfig, run_dir: Path, resume: Path | None = None) -> dict:
    """Train, then write ``model/`` (safetensors + config.json), ``config.yaml``, ``metrics.json``,
    ``samples.png`` and ``conditions.png`` to ``run_dir``. Returns the metrics document."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write(run_dir / "config.yaml", lambda p: Path(p).write_text(yaml.safe_dump(config.to_dict(), sort_keys=False)))
    m = config.model
    vocabulary = ConditionVocabulary(tuple(m.cameras), tuple(m.isos), m.iso_encoding)
    train_set = build_patch_set(config.data.train, config.data, vocabulary, run_dir / "patches", "train")
    val_set = None
    if config.data.val is not None:
        val_set = build_patch_set(config.data.val, config.data, vocabulary, run_dir / "patches", "val")
    log.info("training patches: %d, validation patches: %s", len(train_set), len(val_set) if val_set else "none")

    trainer = Trainer(config, train_set, val_set, run_dir)
    if resume is not None:
        trainer.load_checkpoint(resume)
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

"""Training configuration: YAML files read into typed dataclasses.

Every key is checked: an unknown or misspelled key is an error naming it and listing the allowed ones,
values are converted to the declared type (so ``lr: 1e-4``, which PyYAML reads as a string, is a
float here) and range-checked (``train.epochs: 0`` is an error naming ``train.epochs`` and the allowed
range). A YAML syntax error names the file, line and column. Command-line overrides use dotted keys,
``train.lr=5e-5``, with values parsed by ``yaml.safe_load`` (never ``eval``).
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional

import torch
import yaml

from ..model.config import NMFlowGANConfig
from ..model.critic import Critic96
from .amp import AMP_MODES

__all__ = ["ConfigError", "CriticConfig", "DataConfig", "DataSourceConfig", "TrainConfig", "TrainingConfig",
           "apply_overrides", "compile_backends", "load_config"]


class ConfigError(ValueError):
    """A configuration file or override that does not match the schema."""


def _check_int(value: Any, key: str, low: int, why: str = "") -> None:
    """Raise ConfigError unless ``value`` is an int >= ``low``."""
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise ConfigError(f"{key} must be an int >= {low}{why}, got {value!r}")


def _check_number(value: Any, key: str, positive: bool = True) -> None:
    """Raise ConfigError unless ``value`` is a finite number > 0 (``positive``) or >= 0."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < 0 or (positive and value == 0):
        raise ConfigError(f"{key} must be a finite number {'> 0' if positive else '>= 0'}, got {value!r}")


@dataclass
class CriticConfig:
    """The 96×96 WGAN-GP critic.

    Attributes:
        noise_scale: factor on the noise channels of the critic input, ``concat(noise·s, clean) / 256``
            (official: 1). With s = 1 the noise channels have a std of about 0.02-0.1 and a small critic
            trained for a few hundred steps cannot tell real SIDD noise from pixel-wise synthetic noise
            (Wasserstein estimate ≈ 0); with s = 10 it separates them within 200 steps.
    """

    width: int = 64
    gp_weight: float = 10.0
    noise_scale: float = 1.0

    def __post_init__(self) -> None:
        _check_int(self.width, "critic.width", 1)
        _check_number(self.gp_weight, "critic.gp_weight", positive=False)
        _check_number(self.noise_scale, "critic.noise_scale")


@dataclass
class DataSourceConfig:
    """One data source.

    Attributes:
        path: ``embedded`` (simulated cameras on scikit-image photos), a SIDD-Medium/Small folder, a
            folder of HDF5 patch files, or a pairs manifest CSV. Relative paths are resolved against the
            config file's folder.
        ids: manifest rows to use (``None``: all rows with known camera and ISO); each must be in the manifest.
            Not for a folder of patch files.
        scenes: SIDD scene-instance numbers to use (``None``: all); each must be in the data (for a folder
            of patch files: in their ``scene-instance-number`` attributes).
        exclude_scenes: SIDD scene-instance numbers to leave out (``None``: none), e.g. the scene a
            leave-one-scene-out fold holds out, which SIDD-Small also contains; each must be in the data.
        camera_table: for a folder of HDF5 patch files without camera names (written by the official
            NM-FlowGAN code): the camera name of each ``smartphone-code``, e.g. ``[IP, GP, S6, N6, G4]``.
        resampled: the images were resized after capture (e.g. the 256×256 SIDD-Small copies in
            ``../shared/data/sidd_small_256``), so their noise lost its spatial correlation and part of its
            level. Their patches train the pixel-wise flow through a per-channel noise scale learned for all
            resampled sources together, in place of the flow's spatial-correlation layer; they still teach the
            noise level's trend over intensity, camera and ISO. Training sources only.
        weight: share of the training batches drawn from this source, relative to the other training
            sources (with one source: ignored). Training sources only.
    """

    path: str = "embedded"
    ids: Optional[list[str]] = None
    scenes: Optional[list[int]] = None
    exclude_scenes: Optional[list[int]] = None
    camera_table: Optional[list[str]] = None
    resampled: bool = False
    weight: float = 1.0

    def __post_init__(self) -> None:
        if not self.path:
            raise ConfigError("data path must be 'embedded' or a path, got ''")
        _check_number(self.weight, "data source weight")
        table = self.camera_table
        if table is not None and (not table or len(set(table)) != len(table) or not all(table)):
            raise ConfigError(f"camera_table must list unique, non-empty camera names, got {table!r}")


@dataclass
class DataConfig:
    """Training and validation data, cut into patches (official: 96×96, stride 48).

    Attributes:
        train: the training source.
        extra_train: more training sources, mixed into the batches by their ``weight`` (for example
            resized SIDD-Small images, ``resampled: true``, beside native crops).
        val: the validation source (patches of native images: ``resampled`` is not allowed).
    """

    train: DataSourceConfig = field(default_factory=DataSourceConfig)
    extra_train: list[DataSourceConfig] = field(default_factory=list)
    val: Optional[DataSourceConfig] = None
    patch_size: int = 96
    stride: int = 48
    augment: bool = True
    num_workers: int = 0

    @property
    def train_sources(self) -> list[DataSourceConfig]:
        """``train`` followed by ``extra_train``."""
        return [self.train, *self.extra_train]

    def __post_init__(self) -> None:
        if self.val is not None and self.val.resampled:
            raise ConfigError("data.val.resampled must be false: validation scores the model on native noise")
        _check_int(self.patch_size, "data.patch_size", 2)
        _check_int(self.stride, "data.stride", 1)
        _check_int(self.num_workers, "data.num_workers", 0)


def compile_backends() -> list[str]:
    """The allowed ``train.compile_backend`` values: ``torch.compiler.list_backends()``, ``eager`` and ``aot_eager``."""
    return sorted({*torch.compiler.list_backends(), "eager", "aot_eager"})


@dataclass
class TrainConfig:
    """Optimisation (official recipe: batch 128, Adam 1e-4 (0.9, 0.999), 40 epochs, ×0.5 after 10/20/30).

    Attributes:
        batch_size: the global batch. With several processes (``torchrun``) each takes an equal share of
            every batch (``batch_size`` must be a multiple of the number of processes, with shares of at
            least 2), so a run on N processes sees the batches of a single-process run. The meta encoders'
            BatchNorm computes its statistics over each process's share (see
            :mod:`~nmflowgan_aug.training.distributed`).
        flow_lr: learning rate of the flow's parameters (``None``: ``lr``); the U-Net and critic use ``lr``.
        critic_steps: critic updates per generator (U-Net) update (official 5).
        nll_every_step: update the flow on every iteration (official: only on generator iterations).
        standardize_init: data-dependent initialisation of the flow's output scale before training.
        flow_warmup_steps: first iterations that train the flow alone (NLL only, no critic or U-Net);
            the official recipe trains both from the start (0).
        max_minutes: stop after the epoch in which this wall-clock budget is reached.
        steps_per_epoch: cap on iterations per epoch (``None``: a full pass over the patches).
        val_patches: evaluate on this many evenly spaced validation patches (``None``: all).
        amp: mixed precision of the U-Net and the critic: ``none`` (float32), ``bf16`` (autocast) or
            ``fp16`` (autocast with loss scaling); the flow's likelihood stays float32
            (:mod:`~nmflowgan_aug.training.amp` says why).
        compile: ``torch.compile`` the generator side of the training step (flow likelihood and U-Net
            synthesis) and the synthesis of the critic step; the critic stays eager (its gradient
            penalty differentiates twice, which compiled graphs do not support).
        compile_backend: the ``torch.compile`` backend (checked when ``compile`` is true): ``inductor``,
            another of ``torch.compiler.list_backends()``, or ``eager``/``aot_eager`` (graph capture
            without code generation: the numbers of an uncompiled run, for checking).
    """

    batch_size: int = 128
    epochs: int = 40
    lr: float = 1e-4
    flow_lr: Optional[float] = None
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    lr_milestones: list[int] = field(default_factory=lambda: [10, 20, 30])
    lr_gamma: float = 0.5
    critic_steps: int = 5
    nll_every_step: bool = False
    standardize_init: bool = False
    flow_warmup_steps: int = 0
    nll_weight: float = 1.0
    gan_weight: float = 1.0
    seed: int = 2016309
    device: str = "auto"
    max_minutes: Optional[float] = None
    steps_per_epoch: Optional[int] = None
    val_patches: Optional[int] = None
    amp: str = "none"
    compile: bool = False
    compile_backend: str = "inductor"

    def __post_init__(self) -> None:
        _check_int(self.batch_size, "train.batch_size", 2, " (the meta encoders' BatchNorm needs 2 samples)")
        _check_int(self.epochs, "train.epochs", 1)
        _check_number(self.lr, "train.lr")
        if self.flow_lr is not None:
            _check_number(self.flow_lr, "train.flow_lr")
        betas = self.betas
        if len(betas) != 2 or not all(isinstance(b, (int, float)) and 0 <= b < 1 for b in betas):
            raise ConfigError(f"train.betas must be two numbers in [0, 1), got {betas!r}")
        for i, milestone in enumerate(self.lr_milestones):
            _check_int(milestone, f"train.lr_milestones[{i}]", 1)
        if list(self.lr_milestones) != sorted(set(self.lr_milestones)):
            raise ConfigError(f"train.lr_milestones must be strictly increasing epochs, got {self.lr_milestones!r}")
        _check_number(self.lr_gamma, "train.lr_gamma")
        _check_int(self.critic_steps, "train.critic_steps", 1)
        _check_int(self.flow_warmup_steps, "train.flow_warmup_steps", 0)
        _check_number(self.nll_weight, "train.nll_weight", positive=False)
        _check_number(self.gan_weight, "train.gan_weight", positive=False)
        if self.max_minutes is not None:
            _check_number(self.max_minutes, "train.max_minutes")
        for key in ("steps_per_epoch", "val_patches"):
            if getattr(self, key) is not None:
                _check_int(getattr(self, key), f"train.{key}", 1)
        if self.amp not in AMP_MODES:
            raise ConfigError(f"train.amp must be one of {list(AMP_MODES)}, got {self.amp!r}")
        if self.compile and self.compile_backend not in (backends := compile_backends()):  # listing imports dynamo
            raise ConfigError(f"train.compile_backend must be one of {backends}, got {self.compile_backend!r}")


@dataclass
class TrainingConfig:
    """Everything ``train_noise_model.py`` needs.

    ``model`` is the architecture and vocabulary the trained model is built from and saved with.
    """

    name: str = "nmflowgan"
    output_dir: str = "runs"
    model: NMFlowGANConfig = field(default_factory=NMFlowGANConfig)
    critic: CriticConfig = field(default_factory=CriticConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self) -> None:
        if self.model.unet_depth > 0 and self.data.patch_size != Critic96.size:
            raise ConfigError(
                f"data.patch_size must be {Critic96.size} for training a model with a U-Net (the critic takes "
                f"{Critic96.size}×{Critic96.size} patches), got {self.data.patch_size}"
            )

    def to_dict(self) -> dict:
        """The whole config as nested plain dicts (``dataclasses.asdict``)."""
        return asdict(self)


def _convert(value: Any, tp: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return _convert(value, args[0], where)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{where} must be a mapping, got {value!r}")
        return _from_dict(tp, value, where)
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where} must be a list, got {value!r}")
        item = typing.get_args(tp)[0]  # list[X] or tuple[X, ...]
        items = [_convert(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false, got {value!r}")
        return value
    if tp in (int, float):
        try:
            converted = tp(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where} must be {'an' if tp is int else 'a'} {tp.__name__}, got {value!r}") from None
        if isinstance(value, bool) or (tp is int and converted != float(value)):
            raise ConfigError(f"{where} must be {'an' if tp is int else 'a'} {tp.__name__}, got {value!r}")
        return converted
    if tp is str:
        if not isinstance(value, (str, int)):
            raise ConfigError(f"{where} must be a string, got {value!r}")
        return str(value)
    return value


def _from_dict(cls: type, data: dict, where: str = "") -> Any:
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = [k for k in data if k not in names]
    if unknown:
        key = f"{where}.{unknown[0]}" if where else unknown[0]
        raise ConfigError(f"unknown config key {key!r}; allowed keys{' in ' + where if where else ''}: {names}")
    kwargs = {k: _convert(v, hints[k], f"{where}.{k}" if where else k) for k, v in data.items()}
    try:
        return cls(**kwargs)
    except ConfigError:
        raise
    except ValueError as err:  # range checks of the section's own __post_init__ (e.g. NMFlowGANConfig)
        raise ConfigError(f"{where}: {err}" if where else str(err)) from None


def _yaml_problem(err: yaml.YAMLError) -> str:
    """What PyYAML reports, with lines and columns counted from 1: ``[context (line, column): ]problem (line, column)``."""

    def at(mark) -> str:
        return f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""

    problem = getattr(err, "problem", None)
    if problem is None:
        return str(err)
    context = getattr(err, "context", None)
    prefix = f"{context}{at(getattr(err, 'context_mark', None))}: " if context else ""
    return f"{prefix}{problem}{at(getattr(err, 'problem_mark', None))}"


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    """Apply ``a.b=value`` overrides to a raw config mapping (values parsed with ``yaml.safe_load``).

    A numeric part indexes a list, e.g. ``data.extra_train.0.weight=2``.

    Raises:
        ConfigError: an override without ``=``, a value that is not valid YAML, or a path through a value
            that is neither a section nor a list with that index.
    """
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} must look like key.sub=value")
        key, raw = item.split("=", 1)
        node = data
        parts = key.strip().split(".")
        for part in parts[:-1]:
            if isinstance(node, list):
                if not part.isdigit() or int(part) >= len(node):
                    raise ConfigError(f"override {item!r}: {part!r} is not an index of a list of {len(node)}")
                node = node[int(part)]
            else:
                node = node.setdefault(part, {})
            if not isinstance(node, (dict, list)):
                raise ConfigError(f"override {item!r}: {part!r} is not a section")
        if isinstance(node, list):
            raise ConfigError(f"override {item!r}: set a whole list, or a key of one of its entries")
        try:
            node[parts[-1]] = yaml.safe_load(raw)
        except yaml.YAMLError as err:
            raise ConfigError(f"override {item!r}: the value is not valid YAML: {_yaml_problem(err)}") from None
    return data


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> TrainingConfig:
    """Read a YAML config (or the defaults when ``path`` is None), apply overrides and validate.

    Relative data paths are resolved against the YAML file's folder.

    Raises:
        FileNotFoundError: missing config file.
        ConfigError: a YAML syntax error (naming the file, line and column), unknown key, wrong type, value
            out of range, bad override.
    """
    data: dict = {}
    base = Path.cwd()
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"config file not found: {path}")
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as err:
            raise ConfigError(f"{path} is not valid YAML: {_yaml_problem(err)}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{path} must hold a mapping at top level")
        base = path.resolve().parent
    config = _from_dict(TrainingConfig, apply_overrides(data, overrides or []))
    for source in (*config.data.train_sources, config.data.val):
        if source is not None and source.path != "embedded" and not Path(source.path).is_absolute():
            source.path = str((base / source.path).resolve())
    return config

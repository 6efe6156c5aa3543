"""Noise sources of the denoising benchmark: a registry of named builders and the mapping into a model's conditions.

A source spec is ``KIND`` or ``KIND:ARG`` (e.g. ``gaussian``, ``nmflowgan:runs/x/model``). Built-in kinds:

* ``nmflowgan[:DIR_OR_NAME]``: an NM-FlowGAN model (:meth:`nmflowgan_aug.NMFlowGAN.from_pretrained`:
  a saved-model folder or a shipped name); ``nmflowgan`` alone is the shipped ``sidd`` model.
* ``gaussian``, ``hetero``, ``simulator``: the baselines of :mod:`nmflowgan_aug.baselines`, fitted on the
  training pairs first.
* ``real``: the real noisy/clean training pairs themselves (the oracle, :data:`ORACLE`).

Anything that follows :class:`~nmflowgan_aug.baselines.NoiseModel` can be added with :func:`register_source`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from .. import list_pretrained
from ..baselines import GaussianNoiseModel, HeteroscedasticGaussianNoiseModel, NoiseModel, SimulatedCameraNoiseModel
from ..vocab import ConditionVocabulary

__all__ = [
    "BASELINE_CLASSES",
    "ORACLE",
    "NoiseSource",
    "SourceContext",
    "build_source",
    "default_sources",
    "known_sources",
    "map_conditions",
    "parse_source_spec",
    "register_source",
    "unregister_source",
]

#: Name of the source that trains on the real noisy/clean pairs.
ORACLE = "real"

#: Baseline kinds and their classes (each has ``fit(pairs, max_size=)``).
BASELINE_CLASSES = {
    "gaussian": GaussianNoiseModel,
    "hetero": HeteroscedasticGaussianNoiseModel,
    "simulator": SimulatedCameraNoiseModel,
}


@dataclass
class NoiseSource:
    """A named noise source.

    Attributes:
        name: label in the tables (the source spec).
        model: a :class:`~nmflowgan_aug.baselines.NoiseModel`; None for the real pairs.
        vocabulary: optional :class:`~nmflowgan_aug.vocab.ConditionVocabulary`; when given, training
            conditions outside it are mapped (nearest ISO in log scale) or rejected (:func:`map_conditions`).
        notes: plain-JSON facts recorded in the results (fit parameters, model config, ISO mapping).
    """

    name: str
    model: NoiseModel | None
    vocabulary: ConditionVocabulary | None = None
    notes: dict = field(default_factory=dict)

    @property
    def is_real(self) -> bool:
        """True for the real noisy pairs (no synthesis)."""
        return self.model is None


@dataclass
class SourceContext:
    """What a source builder gets.

    Attributes:
        pairs: training pairs (``ImagePair`` objects with known camera/ISO), for fitting.
        device: where the source synthesizes.
        fit_max_size: centre-crop size of the baseline fits (None: each baseline's default, whole images
            except the simulator's 512).
    """

    pairs: list
    device: torch.device
    fit_max_size: int | None = None


SourceBuilder = Callable[[Any, SourceContext], NoiseSource]
_BUILDERS: dict[str, SourceBuilder] = {}


def register_source(kind: str, builder: SourceBuilder) -> None:
    """Add a noise-source kind.

    ``builder(arg, ctx)`` (``arg`` is the text after ``:`` or None) returns a :class:`NoiseSource`.
    Raises ValueError for a kind that is already registered.
    """
    if kind in _BUILDERS:
        raise ValueError(f"noise source {kind!r} is already registered")
    _BUILDERS[kind] = builder


def unregister_source(kind: str) -> None:
    """Remove a kind added with :func:`register_source`. Raises KeyError for an unknown kind."""
    del _BUILDERS[kind]


def known_sources() -> list[str]:
    """The registered kinds, sorted."""
    return sorted(_BUILDERS)


def parse_source_spec(spec: str) -> tuple[str, str | None]:
    """``"nmflowgan:runs/x"`` → ``("nmflowgan", "runs/x")``.

    Raises:
        ValueError: an unknown kind (the message lists the known ones), an empty argument, or an
            argument to a kind other than ``nmflowgan``.
    """
    kind, sep, arg = spec.strip().partition(":")
    if kind not in _BUILDERS:
        raise ValueError(
            f"unknown noise source {spec!r}; known sources: {known_sources()} "
            "(nmflowgan takes a model: nmflowgan:DIR_OR_NAME)"
        )
    if sep and not arg:
        raise ValueError(f"noise source {spec!r} has an empty argument after ':'")
    if arg and kind != "nmflowgan":
        raise ValueError(f"noise source {kind!r} takes no argument, got {spec!r}")
    return kind, (arg or None)


def build_source(spec: str, ctx: SourceContext) -> NoiseSource:
    """Build the source named by ``spec`` (its name in the results is ``spec``).

    Raises:
        ValueError: a bad spec (see :func:`parse_source_spec`), or errors of the builder (e.g. a
            baseline without a camera seen at two ISO values).
    """
    kind, arg = parse_source_spec(spec)
    source = _BUILDERS[kind](arg, ctx)
    source.name = spec
    return source


def default_sources() -> list[str]:
    """The shipped ``sidd`` model if installed, the three baselines and the real pairs."""
    shipped = ["nmflowgan:sidd"] if "sidd" in list_pretrained() else []
    return [*shipped, *BASELINE_CLASSES, ORACLE]


def _build_nmflowgan(arg: str | None, ctx: SourceContext) -> NoiseSource:
    from ..model import NMFlowGAN

    target = arg or "sidd"
    model = NMFlowGAN.from_pretrained(target, map_location=ctx.device).eval()
    notes = {"model": str(target), "config": {k: (list(v) if isinstance(v, tuple) else v)
                                              for k, v in vars(model.config).items()}}
    if model.metadata:
        notes["metadata"] = model.metadata
    return NoiseSource(f"nmflowgan:{target}" if arg else "nmflowgan", model, model.vocabulary, notes)


def _baseline_builder(kind: str) -> SourceBuilder:
    cls = BASELINE_CLASSES[kind]

    def build(arg: str | None, ctx: SourceContext) -> NoiseSource:
        # None keeps each class's own default crop (the simulator fits at most 512×512)
        model = cls.fit(ctx.pairs) if ctx.fit_max_size is None else cls.fit(ctx.pairs, max_size=ctx.fit_max_size)
        notes = {"class": cls.__name__, "fit_max_size": ctx.fit_max_size, **model.describe()}
        # the baselines draw on clean.device and take any ISO (log-ISO law): no vocabulary, no .to(device)
        return NoiseSource(kind, model, None, notes)

    return build


def _build_real(arg: str | None, ctx: SourceContext) -> NoiseSource:
    return NoiseSource(ORACLE, None, None, {"what": "real noisy/clean training pairs (oracle)"})


register_source("nmflowgan", _build_nmflowgan)
for _kind in BASELINE_CLASSES:
    register_source(_kind, _baseline_builder(_kind))
register_source(ORACLE, _build_real)


def map_conditions(
    conditions: Sequence[tuple[str, int]], vocabulary: ConditionVocabulary | None, policy: str
) -> tuple[list[tuple[str, int]], dict[str, str]]:
    """Map (camera, ISO) pairs into a model vocabulary.

    Args:
        conditions: ``(camera, ISO)`` per training image.
        vocabulary: the model's vocabulary; None returns the conditions unchanged.
        policy: ``"nearest"``: an ISO outside the vocabulary becomes the supported ISO nearest in
            log2 (ties: the lower one); ``"error"``: raise.

    Returns:
        The mapped conditions and ``{"CAM@ISO": "CAM@ISO'"}`` for every changed one.

    Raises:
        ValueError: a camera outside the vocabulary (always), an unsupported ISO with ``policy="error"``,
            or an unknown policy.
    """
    if policy not in ("nearest", "error"):
        raise ValueError(f"policy must be 'nearest' or 'error', got {policy!r}")
    if vocabulary is None:
        return list(conditions), {}
    mapped, changes = [], {}
    isos = np.asarray(vocabulary.isos, dtype=np.float64)
    for cam, iso in conditions:
        if cam not in vocabulary.cameras:
            raise ValueError(
                f"training camera {cam!r} is not in the noise model's vocabulary {list(vocabulary.cameras)}"
            )
        new_iso = iso
        if iso not in vocabulary.isos:
            if policy == "error":
                raise ValueError(
                    f"training ISO {iso} ({cam}) is not supported by the noise model (ISOs {list(vocabulary.isos)}); "
                    "use --unsupported nearest to map it to the nearest supported ISO"
                )
            new_iso = int(vocabulary.isos[int(np.argmin(np.abs(np.log2(isos) - math.log2(iso))))])
            changes[f"{cam}@{iso}"] = f"{cam}@{new_iso}"
        mapped.append((cam, new_iso))
    return mapped, changes

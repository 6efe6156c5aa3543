"""Methods of the noise-fidelity benchmark: fitted baselines, the real-noise reference and trained models.

:func:`build_methods` fits the baselines named in :data:`BASELINES` on training pairs and loads
NM-FlowGAN models; every method becomes a :class:`~.fidelity.Method` that samples one block.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence

import torch
from tqdm.auto import tqdm

from ..baselines import (
    GaussianNoiseModel,
    HeteroscedasticGaussianNoiseModel,
    NoDonorError,
    RealNoiseReference,
    SimulatedCameraNoiseModel,
    UnknownCameraError,
)
from ..data.sidd import ImagePair
from .fidelity import Block, Method, NotAvailable

__all__ = [
    "BASELINES",
    "BASELINE_TITLES",
    "baseline_method",
    "build_methods",
    "check_baseline_names",
    "model_method",
    "parse_model_specs",
    "reference_method",
]

#: Baselines by name (order = row order of the tables).
BASELINES = ("gaussian", "heteroscedastic", "camera_sim", "real_noise")
BASELINE_TITLES = {
    "gaussian": "i.i.d. Gaussian (σ per channel)",
    "heteroscedastic": "heteroscedastic Gaussian (var = β1·x + β2)",
    "camera_sim": "camera simulator (unprocess → Poisson-Gaussian → process)",
    "real_noise": "real noise of another pair (same camera/ISO)",
}


def baseline_method(
    name: str, model: GaussianNoiseModel | HeteroscedasticGaussianNoiseModel | SimulatedCameraNoiseModel, title: str
) -> Method:
    """A fitted parametric baseline; blocks of a camera without training pairs are not available."""

    def sample(block: Block, gen: torch.Generator) -> tuple[torch.Tensor, str | None]:
        try:
            return model.sample(block.clean, block.camera, block.iso, generator=gen), None
        except UnknownCameraError as e:
            raise NotAvailable(str(e)) from e

    def support(block: Block) -> str:
        try:
            return model.law.support(block.camera, block.iso)
        except UnknownCameraError:
            return "camera not in training data"

    return Method(name, "baseline", title, sample, model.describe(), support)


def reference_method(ref: RealNoiseReference) -> Method:
    """The real noise of another pair (never the block itself; other scenes preferred, the donor is noted)."""

    def sample(block: Block, gen: torch.Generator) -> tuple[torch.Tensor, str | None]:
        try:
            fake, used = ref.sample_with_donors(
                block.clean, block.camera, block.iso, generator=gen, exclude=(block.id,), scene=block.scene
            )
        except NoDonorError as e:
            raise NotAvailable(f"no other pair at {block.condition}") from e
        donor, same_scene = used[0]
        return fake, f"donor {donor}" + (" (same scene instance)" if same_scene else "")

    return Method("real_noise", "reference", BASELINE_TITLES["real_noise"], sample, ref.describe())


def model_method(name: str, directory: str, device: torch.device) -> Method:
    """A trained NM-FlowGAN (``NMFlowGAN.from_pretrained``: a saved folder or a shipped name) on ``device``.

    Blocks whose camera or ISO is outside the model's vocabulary are not available.

    Raises:
        FileNotFoundError, ValueError: the model cannot be loaded (the message names ``name=directory``).
    """
    from ..model import NMFlowGAN

    try:
        model = NMFlowGAN.from_pretrained(directory, map_location=device)
    except FileNotFoundError as e:
        raise FileNotFoundError(f"model {name}={directory}: {e}") from e
    except ValueError as e:
        raise ValueError(f"model {name}={directory}: {e}") from e

    def sample(block: Block, gen: torch.Generator) -> tuple[torch.Tensor, str | None]:
        try:
            model.encode_conditions(block.camera, block.iso, 1, device)
        except ValueError as e:
            raise NotAvailable(str(e)) from e
        return model.sample(block.clean.to(device), block.camera, block.iso, generator=gen), None

    params = {"directory": str(directory), "vocabulary": model.vocabulary.to_dict(),
              "config": dataclasses.asdict(model.config), "metadata": model.metadata}
    return Method(name, "model", f"NMFlowGAN `{directory}`", sample, json.loads(json.dumps(params, default=str)))


def parse_model_specs(specs: Sequence[str]) -> list[tuple[str, str]]:
    """``NAME=DIR`` strings -> ``[(name, dir)]``.

    Raises:
        ValueError: a spec without ``=``, an empty name or folder, or a name used twice or by a baseline.
    """
    out: list[tuple[str, str]] = []
    for spec in specs:
        name, sep, directory = spec.partition("=")
        name = name.strip()
        if not sep or not name or not directory:
            raise ValueError(f"--model expects NAME=DIR, got {spec!r}")
        if name in BASELINES or name in [n for n, _ in out]:
            raise ValueError(f"--model name {name!r} is already used (baselines: {list(BASELINES)})")
        out.append((name, directory))
    return out


def check_baseline_names(names: Sequence[str]) -> None:
    """Raise ValueError naming the unknown entries of ``names`` and the known baselines."""
    unknown = [n for n in names if n not in BASELINES]
    if unknown:
        raise ValueError(f"unknown method(s) {unknown}; known methods: {list(BASELINES)} (models: --model NAME=DIR)")


def build_methods(
    names: Sequence[str],
    train_pairs: Sequence[ImagePair],
    val_blocks: Sequence[Block],
    models: Sequence[tuple[str, str]],
    device: torch.device,
    train_crop: int | None,
    progress: bool = True,
) -> list[Method]:
    """Fit the requested baselines and load the models: baselines in :data:`BASELINES` order, then the models.

    Args:
        names: baselines to fit (any of :data:`BASELINES`).
        train_pairs: training pairs with known camera/ISO (never the validation blocks).
        val_blocks: validation blocks; they also serve as real-noise donors (a block never donates to itself).
        models: ``(name, folder or shipped name)`` of trained models.
        device: where the models sample.
        train_crop: centre-crop the training images to at most this side for fitting (the simulator
            fits at most 512).
        progress: show a tqdm bar.

    Raises:
        ValueError: an unknown baseline name, a model that cannot be loaded, or a fit error.
        FileNotFoundError: a missing model folder.
    """
    check_baseline_names(names)
    loaded = [model_method(name, directory, device) for name, directory in models]  # fail early on bad paths
    methods = []
    for name in tqdm([n for n in BASELINES if n in names], desc="fitting baselines", disable=not progress):
        if name == "gaussian":
            methods.append(baseline_method(name, GaussianNoiseModel.fit(train_pairs, max_size=train_crop),
                                           BASELINE_TITLES[name]))
        elif name == "heteroscedastic":
            methods.append(baseline_method(
                name, HeteroscedasticGaussianNoiseModel.fit(train_pairs, max_size=train_crop), BASELINE_TITLES[name]))
        elif name == "camera_sim":
            crop = 512 if train_crop is None else min(512, train_crop)
            methods.append(baseline_method(
                name, SimulatedCameraNoiseModel.fit(train_pairs, max_size=crop), BASELINE_TITLES[name]))
        elif name == "real_noise":
            methods.append(reference_method(RealNoiseReference.fit([*train_pairs, *val_blocks], max_size=train_crop)))
    return methods + loaded

"""A model with one more camera, and the parameter entries that belong to one camera.

In a model with a log-ISO encoding (``log`` or ``log_camera``, :mod:`nmflowgan_aug.vocab`) a camera owns a
few entries of the condition vector (:meth:`~nmflowgan_aug.vocab.ConditionVocabulary.camera_features`: its
one-hot entry, and for ``log_camera`` its ISO-slope entry). Those entries reach the weights in two places:

* input columns of the first Linear layer of every :class:`~nmflowgan_aug.model.flow_layers.MetaEncoder`
  (the camera/ISO embedding of the SAL and SDL layers), and
* rows of every :class:`~nmflowgan_aug.model.flow_layers.ConditionalLinearTable` (CL2), whose rows are the
  condition features.

Everything else (the structure encoders, the meta encoders' hidden layers, the ISO slope that ``log`` shares
between cameras, the spatial-correlation layer, the U-Net) is shared by all cameras. :func:`add_camera` grows
the camera-owned columns and rows by one camera; :func:`camera_slots` lists where one camera's numbers sit,
so that a fine-tuning can train exactly those (:mod:`nmflowgan_aug.adaptation.fit`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import torch
from torch import nn

from ..model import NMFlowGAN
from ..model.flow_layers import ConditionalLinearTable, SignalDependentLinear, StructureAwareLinear
from ..vocab import ConditionVocabulary

__all__ = ["ADAPTABLE_ENCODINGS", "CameraSlot", "add_camera", "camera_slots", "check_adaptable"]

#: ISO encodings whose models can take a new camera.
ADAPTABLE_ENCODINGS = ("log", "log_camera")


@dataclass(frozen=True)
class CameraSlot:
    """Where one camera's own numbers sit in one parameter of ``model.flow``.

    Attributes:
        name: the parameter's name in ``model.flow`` (e.g. ``"bijectors.1.meta_encoder.initial_layer.weight"``).
        dim: the dimension indexed by condition features (1: input columns of a Linear weight, 0: CL2 rows).
        index: the camera's positions along ``dim``.
    """

    name: str
    dim: int
    index: tuple[int, ...]

    @property
    def size(self) -> int:
        """How many numbers the slot holds in ``parameter``."""
        return len(self.index)


def check_adaptable(model: NMFlowGAN) -> None:
    """Raise when ``model`` cannot take a new camera.

    Raises:
        ValueError: a one-hot ISO encoding. Its CL2 tables have one row per (camera, trained ISO value), so a new
            camera needs a row for every ISO of the vocabulary, and a few pairs at one or two ISOs would leave
            the other rows at their initial values; the message says to use a log-ISO model.
    """
    encoding = model.config.iso_encoding
    if encoding not in ADAPTABLE_ENCODINGS:
        raise ValueError(
            f"cannot add a camera to a model with the {encoding!r} ISO encoding: its CL2 tables have one row per "
            f"(camera, ISO) for the {len(model.vocabulary.isos)} trained ISO values, and a few pairs at one or two "
            f"ISOs cannot fill the rows of the others; use a model with a log-ISO encoding {list(ADAPTABLE_ENCODINGS)}"
        )


def _feature_indexed(flow: nn.Module, *, sdl: bool) -> list[tuple[str, int, int]]:
    """``(parameter name, dim, offset)`` of the flow parameters indexed by condition feature.

    Feature ``f`` is at position ``f − offset`` along ``dim`` (a ``log`` meta encoder's first layer skips the
    shared ``t``: offset 1).

    ``sdl=False`` leaves out the SDL meta encoders: the SDL's instance norm removes their spatially constant
    output, so they have no effect on the noise (reference §1.4, :class:`SignalDependentLinear`).
    """
    out = []
    for name, module in flow.named_modules():
        if isinstance(module, StructureAwareLinear) or (sdl and isinstance(module, SignalDependentLinear)):
            out.append((f"{name}.meta_encoder.initial_layer.weight", 1, int(module.meta_encoder.linear_iso)))
        elif isinstance(module, ConditionalLinearTable):
            out += [(f"{name}.log_scale", 0, 0), (f"{name}.bias", 0, 0)]
    return out


def camera_slots(model: NMFlowGAN, camera: str) -> list[CameraSlot]:
    """The entries of ``model.flow``'s parameters that belong to ``camera`` alone and change its noise.

    The SAL meta encoders' input columns and the CL2 rows of the camera's condition features; the SDL meta
    encoders' columns are left out because those layers ignore their camera/ISO input (reference §1.4).
    Changing these entries changes the noise of ``camera`` and of no other camera.

    Raises:
        ValueError: an encoding without camera-owned table rows (see :func:`check_adaptable`) or an unknown camera.
    """
    check_adaptable(model)
    code = int(model.vocabulary.camera_codes(camera, 1)[0])
    features = model.vocabulary.camera_features(code)
    return [CameraSlot(name, dim, tuple(f - offset for f in features))
            for name, dim, offset in _feature_indexed(model.flow, sdl=False)]  # fmt: skip


def _feature_positions(old: ConditionVocabulary, new: ConditionVocabulary) -> list[int]:
    """Position in ``new``'s condition vector of each entry of ``old``'s (``new`` = ``old`` plus cameras)."""
    position = {}
    for code in range(old.num_cameras):
        position.update(zip(old.camera_features(code), new.camera_features(code)))
    owned_new = {f for code in range(new.num_cameras) for f in new.camera_features(code)}
    shared_old = [f for f in range(old.meta_features) if f not in position]
    shared_new = [f for f in range(new.meta_features) if f not in owned_new]
    position.update(zip(shared_old, shared_new))
    return [position[f] for f in range(old.meta_features)]


def add_camera(model: NMFlowGAN, name: str, init_from: Sequence[str]) -> NMFlowGAN:
    """A new model: ``model`` with camera ``name`` appended to its vocabulary, every weight kept.

    The new camera's meta-encoder input columns and CL2 rows (see the module docstring) are the mean of those
    of the cameras in ``init_from``: one camera gives an exact copy of that camera (the new camera then has its
    noise), all cameras a camera "in the middle" of the known ones. Every existing camera keeps its noise: its
    columns and rows move to their positions in the longer condition vector, and the new entries of its
    condition vector are zero. The model is built on the device of ``model``, in its train/eval mode, with
    empty :attr:`~NMFlowGAN.metadata` (the base model's training data and metrics do not describe it).

    Args:
        model: a model with a log-ISO encoding (``log`` or ``log_camera``); it is not changed.
        name: the new camera's name, not yet in the vocabulary.
        init_from: names of existing cameras (at least one).

    Raises:
        ValueError: a one-hot ISO encoding (see :func:`check_adaptable`), a name already in the vocabulary or
            not a non-empty string, or an ``init_from`` that is empty or names an unknown camera.
    """
    check_adaptable(model)
    old = model.vocabulary
    new = old.with_camera(name)
    if isinstance(init_from, str) or not init_from:
        raise ValueError(f"init_from must be a non-empty sequence of camera names, got {init_from!r}")
    codes = old.camera_codes(list(init_from), len(init_from)).tolist()
    positions = _feature_positions(old, new)
    added = new.camera_features(old.num_cameras)
    state = model.state_dict()
    for param, dim, offset in _feature_indexed(model.flow, sdl=True):
        key = f"flow.{param}"
        weight = state[key]
        size = list(weight.shape)
        size[dim] += len(added)
        grown = weight.new_zeros(size)
        grown.index_copy_(dim, torch.tensor(positions[offset:], device=weight.device) - offset, weight)
        for role, feature in enumerate(added):
            sources = torch.tensor([old.camera_features(c)[role] - offset for c in codes], device=weight.device)
            grown.select(dim, feature - offset).copy_(weight.index_select(dim, sources).mean(dim))
        state[key] = grown
    with torch.random.fork_rng(devices=[]):  # the random init that the weights replace must not advance the RNG
        out = NMFlowGAN(replace(model.config, cameras=new.cameras))
    out.load_state_dict(state)
    return out.to(next(model.parameters()).device).train(model.training)

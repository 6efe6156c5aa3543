"""The adapted model's folder: ``model.safetensors`` + ``config.json`` (``save_pretrained``) and ``MODEL_CARD.md``.

The folder is written as a unit (a temporary folder renamed into place), and an output that is not empty is
refused unless ``overwrite`` is given and it holds only these files, so a user's data is never lost.
"""

from __future__ import annotations

import os
from pathlib import Path

from .. import __version__
from .._io import check_replaceable, write_folder
from ..model.nmflowgan import CONFIG_FILE, WEIGHTS_FILE
from ..pretrained.registry import REGISTRY
from .fit import AdaptationResult

__all__ = ["ADAPTED_FILES", "CARD_FILE", "check_output", "model_card", "save_adapted"]

CARD_FILE = "MODEL_CARD.md"
#: The files of an adapted model's folder.
ADAPTED_FILES = (WEIGHTS_FILE, CONFIG_FILE, CARD_FILE)


def check_output(out: str | os.PathLike, overwrite: bool) -> None:
    """Check, before any work, that the adapted model may be written to the folder ``out``.

    Raises:
        FileExistsError: ``out`` is not empty and ``overwrite`` is False, or it holds a file that is not part
            of an adapted model's folder (the message names it).
        NotADirectoryError: ``out`` exists and is not a folder.
    """
    check_replaceable(out, overwrite, lambda p: str(p) in ADAPTED_FILES, "nmflowgan-adapt")


def _base_line(base: str) -> str:
    if base in REGISTRY and not (Path(base) / WEIGHTS_FILE).is_file():
        return f"the shipped model `{base}` (SHA-256 of its weights and config `{REGISTRY[base].sha256}`)"
    return f"the model in `{base}`"


def model_card(result: AdaptationResult, base: str) -> str:
    """``MODEL_CARD.md`` of an adapted model: base model, new camera, pairs, what was trained and the NLL.

    Args:
        result: from :func:`~nmflowgan_aug.adaptation.fit.adapt_camera`.
        base: the base model as the user named it (shipped name or folder).
    """
    s = result.settings
    cam = result.camera
    lo, hi = result.model.vocabulary.iso_range
    if s.init_from == "closest":
        start = f"a copy of `{result.init_cameras[0]}`, the base camera with the lowest NLL on the pairs"
    elif len(result.init_cameras) > 1:
        start = "the mean of the base cameras' entries (" + ", ".join(f"`{c}`" for c in result.init_cameras) + ")"
    else:
        start = f"a copy of `{result.init_cameras[0]}` (chosen by the user)"
    others = ("The shared spatial-correlation kernel was trained too, so **the noise of every camera changed**."
              if s.train_spatial else
              "Every other weight was frozen: the base model's cameras "
              f"({', '.join(result.model.vocabulary.cameras[:-1])}) keep their noise bit for bit.")  # fmt: skip
    slope = ("its own ISO slope, started from the start camera's and fitted only at the ISOs of the pairs"
             if result.model.config.iso_encoding == "log_camera" else "the ISO slope shared by all cameras")
    lines = [
        f"# Model card: camera `{cam}` added to `{base}`",
        "",
        f"Made by `nmflowgan-adapt` (nmflowgan_aug {__version__}) from {_base_line(base)}: camera `{cam}` was added "
        f"to the vocabulary and fine-tuned on {len(result.pairs)} noisy/clean pair(s) of that camera. {others}",
        "",
        "```python",
        "from nmflowgan_aug import NMFlowGAN",
        "model = NMFlowGAN.from_pretrained('<this folder>')",
        f"noisy = model.sample(clean, camera={cam!r}, iso={result.pairs[0][1]})",
        "```",
        "",
        "## Adaptation pairs",
        "",
        "| pair | ISO |",
        "|---|---|",
        *(f"| `{name}` | {iso} |" for name, iso in result.pairs),
        "",
        "## What was trained",
        "",
        f"- Start: {start}.",
        f"- {s.steps} Adam steps (learning rate {s.lr}, cosine decay to 0), {s.batch_size} random patches of "
        f"{s.patch_size}×{s.patch_size} per step, seed {s.seed}; the negative log-likelihood of the flow, as in "
        f"training ({result.seconds:.0f} s).",
        "- Trained entries (the camera's own columns of the SAL meta encoders and rows of the CL2 tables"
        + (", and the spatial kernel" if s.train_spatial else "") + "):",
        *(f"  - `{t}`" for t in result.trained),
        "- The meta encoders' BatchNorm layers stayed in eval mode (running statistics frozen): every patch of a "
        "batch has the same camera, so batch statistics would erase the camera from the embedding, and updated "
        "running statistics would change every camera's noise.",
        "",
        "## Adaptation-set NLL",
        "",
        f"Bits per dimension on {result.nll_patches} fixed {s.patch_size}×{s.patch_size} patches of the "
        "adaptation pairs (the same dequantization noise for every row), lower is better. It measures the fit to "
        "these pairs, not to other images of the camera.",
        "",
        "| camera | NLL (bits/dim) |",
        "|---|---|",
        *(f"| `{name}` (base) | {nll:.4f} |" for name, nll in result.camera_nll.items()),
        f"| `{cam}` before fine-tuning | {result.nll_before:.4f} |",
        f"| `{cam}` after fine-tuning | {result.nll_after:.4f} |",
        "",
        "## Limitations",
        "",
        f"- ISO: any whole ISO in [{lo}, {hi}] is accepted; away from the ISOs of the pairs "
        f"({', '.join(str(i) for i in sorted({iso for _, iso in result.pairs}))}) `{cam}` follows {slope}.",
        "- A few pairs fix the noise level and its dependence on intensity for this camera; the noise structure "
        "(spatial and colour correlation) is the base model's.",
        "- Licence: that of the base model; the new camera's entries were also fitted to the adaptation pairs, whose "
        "own licence applies to them.",
        "",
    ]
    return "\n".join(lines)


def save_adapted(
    result: AdaptationResult, out: str | os.PathLike, base: str, overwrite: bool = False
) -> Path:
    """Write the adapted model to the folder ``out`` as a unit.

    The folder gets the weights, ``config.json`` (its ``metadata`` holds ``adapted_from`` and the ``adaptation``
    record, :meth:`~nmflowgan_aug.adaptation.fit.AdaptationResult.to_dict`) and ``MODEL_CARD.md``.

    Raises:
        FileExistsError, NotADirectoryError: see :func:`check_output`.
    """
    check_output(out, overwrite)
    card = model_card(result, base)
    metadata = {"adapted_from": base, "adaptation": result.to_dict()}

    def write(folder: Path) -> None:
        result.model.save_pretrained(folder, metadata)
        (folder / CARD_FILE).write_text(card, encoding="utf-8")

    return write_folder(out, write)

"""Shipped pretrained weights: the registry and the maintainer tool that ships a training run.

The registry is :mod:`.registry`; the tool is :mod:`.release` (console script ``nmflowgan-release``).

Load a model with ``NMFlowGAN.from_pretrained(name_or_folder)``; the SHA-256 of shipped weights is
verified on every load, so a corrupted or replaced file is refused instead of silently producing wrong
noise, and so is an edited ``config.json`` (the checksum covers the whole shipped folder).
"""

from .registry import DEFAULT_MODEL, PretrainedWeights, folder_sha256, list_pretrained, pretrained_weights, sha256_of

__all__ = ["DEFAULT_MODEL", "PretrainedWeights", "folder_sha256", "list_pretrained", "pretrained_weights", "sha256_of"]

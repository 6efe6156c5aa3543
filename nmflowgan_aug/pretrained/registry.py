"""The registry of shipped weights: one frozen :class:`PretrainedWeights` record per name.

The records are kept in ``registry.json`` beside this file (written by
:mod:`nmflowgan_aug.pretrained.release`, the maintainer tool that ships a training run) and read into
:class:`PretrainedWeights` at import, in the manner of timm's ``PretrainedCfg``. Each shipped model is
a folder beside this file holding ``model.safetensors``, ``config.json`` and ``MODEL_CARD.md`` (the
card is generated from the record); the recorded SHA-256 of the folder (:func:`folder_sha256`: the weights
*and* ``config.json``, whose camera order decides which camera's noise a name gets) is verified on every load.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from .._io import atomic_write
from ..model.nmflowgan import WEIGHTS_FILE

__all__ = ["DEFAULT_MODEL", "PretrainedWeights", "folder_sha256", "list_pretrained", "pretrained_weights", "sha256_of"]

#: Folder of the shipped weights (this package).
PRETRAINED_DIR = Path(__file__).resolve().parent
REGISTRY_FILE = PRETRAINED_DIR / "registry.json"

#: Files of a shipped folder left out of its checksum: documentation generated from the record itself.
UNCHECKED_FILES = frozenset({"MODEL_CARD.md"})

#: Name of the shipped model used when none is given (``add_camera_noise`` and the integrations).
DEFAULT_MODEL = "sidd"


@dataclass(frozen=True)
class PretrainedWeights:
    """One shipped weight file and what is known about it.

    Attributes:
        name: the name for ``NMFlowGAN.from_pretrained(name)``.
        folder: folder of ``model.safetensors`` + ``config.json``, relative to this package (or absolute).
        sha256: hex :func:`folder_sha256` of the folder (weights + ``config.json``), checked on every load.
        licence: licence of the weights and of their training data.
        training_data: what the weights were trained on.
        metrics: headline noise fidelity on the real SIDD validation blocks (lower is better), mean over
            sampling seeds and blocks: ``kld_official`` (KLD, NM-FlowGAN protocol), ``kld_block`` (KLD,
            NAFlow protocol), ``akld`` (AKLD, DANet); see ``benchmarks/noise_fidelity.py``.
        paper: the method's reference.
    """

    name: str
    folder: str
    sha256: str
    licence: str
    training_data: str
    metrics: dict[str, float]
    paper: str

    @property
    def path(self) -> Path:
        """The weights folder."""
        return PRETRAINED_DIR / self.folder if not Path(self.folder).is_absolute() else Path(self.folder)

    @property
    def weights_file(self) -> Path:
        """The weights file, ``model.safetensors`` in :attr:`path`."""
        return self.path / WEIGHTS_FILE

    @classmethod
    def from_dict(cls, name: str, entry: dict) -> PretrainedWeights:
        """A record from its ``registry.json`` entry (every field but ``name``).

        Raises:
            ValueError: missing or unknown keys (the message names them).
        """
        expected = {f.name for f in fields(cls)} - {"name"}
        missing, unknown = sorted(expected - set(entry)), sorted(set(entry) - expected)
        if missing or unknown:
            raise ValueError(
                f"registry entry {name!r}: missing keys {missing}, unknown keys {unknown}; expected {sorted(expected)}"
            )
        return cls(name=name, **entry)

    def to_dict(self) -> dict:
        """The ``registry.json`` entry (every field but ``name``)."""
        entry = asdict(self)
        del entry["name"]
        return entry


def read_registry(path: str | os.PathLike = REGISTRY_FILE) -> dict[str, PretrainedWeights]:
    """The records of a ``registry.json`` file, by name."""
    entries = json.loads(Path(path).read_text())
    return {name: PretrainedWeights.from_dict(name, entry) for name, entry in entries.items()}


def write_registry(records: dict[str, PretrainedWeights], path: str | os.PathLike = REGISTRY_FILE) -> None:
    """Write ``records`` to ``registry.json`` (temporary file + rename)."""
    doc = {name: records[name].to_dict() for name in sorted(records)}
    atomic_write(Path(path), lambda p: Path(p).write_text(json.dumps(doc, indent=2) + "\n"))


#: The shipped models, by name.
REGISTRY: dict[str, PretrainedWeights] = read_registry()


def list_pretrained() -> list[str]:
    """Names accepted by ``NMFlowGAN.from_pretrained(name)``."""
    return sorted(REGISTRY)


def pretrained_weights(name: str) -> PretrainedWeights:
    """The registry record of a shipped model (licence, training data, metrics, paper, checksum).

    Raises:
        ValueError: an unknown name (the message lists the shipped names).
    """
    if name not in REGISTRY:
        raise ValueError(f"no shipped model named {name!r}; shipped models: {list_pretrained()}")
    return REGISTRY[name]


def folder_sha256(folder: str | os.PathLike) -> str:
    """Hex SHA-256 over every file of a shipped folder but :data:`UNCHECKED_FILES`.

    The digest covers the sorted file names and each file's SHA-256, so an edited ``config.json``
    (e.g. reordered cameras), replaced weights, or an added or removed file all change it.
    """
    digest = hashlib.sha256()
    for path in sorted(p for p in Path(folder).iterdir() if p.is_file() and p.name not in UNCHECKED_FILES):
        digest.update(f"{path.name}\0{sha256_of(path)}\n".encode())
    return digest.hexdigest()


def sha256_of(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()

"""Camera and ISO vocabularies: which conditions a noise model knows, and how they are encoded.

A vocabulary is configuration, not code: the official NM-FlowGAN checkpoint knows five SIDD phones
and five ISO levels (:data:`OFFICIAL_VOCABULARY`); our SIDD configs use every ISO that occurs in SIDD
(:data:`SIDD_VOCABULARY`). A camera or ISO outside the vocabulary raises :class:`ValueError` listing
the supported values; nothing silently falls back (the official code maps unknown ISOs to ISO 100).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Union

import torch

__all__ = [
    "CameraLike",
    "ConditionVocabulary",
    "IsoLike",
    "OFFICIAL_VOCABULARY",
    "SIDD_CAMERA_NAMES",
    "SIDD_VOCABULARY",
]

CameraLike = Union[str, int, Sequence[Union[str, int]], torch.Tensor]
IsoLike = Union[int, Sequence[int], torch.Tensor]

#: SIDD folder tokens and the phones they stand for (SIDD paper, Abdelhamed et al. CVPR 2018).
SIDD_CAMERA_NAMES = {
    "IP": "Apple iPhone 7",
    "GP": "Google Pixel",
    "S6": "Samsung Galaxy S6 Edge",
    "N6": "Motorola Nexus 6",
    "G4": "LG G4",
}

#: Reference ISO of the log-ISO encoding: ``t = log2(ISO / ISO_REF) / ISO_OCTAVES``.
ISO_REF = 100.0
ISO_OCTAVES = 7.0  # log2(12800 / 100): t spans [-1, 1] over ISO 100/128 ... 12800


def log_iso_ratio(iso: float, iso_ref: float = ISO_REF) -> float:
    """``ln(iso / iso_ref)``: the ISO feature of the fitted baselines' laws (:mod:`nmflowgan_aug.baselines`).

    Natural log, so that a fitted slope of 1 means "proportional to ISO". The model's log encoding uses
    the same reference in octaves: ``t = log2(ISO / ISO_REF) / ISO_OCTAVES``.

    Args:
        iso: sensor gain in ISO units, finite and > 0.
        iso_ref: reference ISO (default :data:`ISO_REF`, 100).

    Raises:
        ValueError: ``iso`` or ``iso_ref`` is not a finite positive number.
    """
    for name, value in (("ISO", iso), ("reference ISO", iso_ref)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not (math.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a finite positive number, got {value!r}")
    return math.log(iso / iso_ref)


@dataclass(frozen=True)
class ConditionVocabulary:
    """Cameras and ISO levels a noise model is conditioned on.

    Args:
        cameras: camera names in code order (code ``i`` is ``cameras[i]``), e.g. SIDD folder tokens.
        isos: supported ISO values (sensor gain, ISO units), strictly increasing.
        iso_encoding: ``"onehot"`` (official NM-FlowGAN: one-hot ISO index, one table row per
            (camera, ISO) in the CL2 layers) or ``"log"`` (ours: the continuous feature
            ``t = log2(ISO/100)/7`` so that ISO levels with little or no training data borrow from
            their neighbours).

    Raises:
        ValueError: empty, duplicated or unsorted entries, or an unknown encoding.
    """

    cameras: tuple[str, ...]
    isos: tuple[int, ...]
    iso_encoding: str = "onehot"

    def __post_init__(self) -> None:
        object.__setattr__(self, "cameras", tuple(str(c) for c in self.cameras))
        object.__setattr__(self, "isos", tuple(int(i) for i in self.isos))
        if not self.cameras or len(set(self.cameras)) != len(self.cameras):
            raise ValueError(f"cameras must be non-empty and unique, got {self.cameras}")
        if not self.isos or list(self.isos) != sorted(set(self.isos)) or self.isos[0] <= 0:
            raise ValueError(f"isos must be positive and strictly increasing, got {self.isos}")
        if self.iso_encoding not in ("onehot", "log"):
            raise ValueError(f"iso_encoding must be 'onehot' or 'log', got {self.iso_encoding!r}")

    @property
    def num_cameras(self) -> int:
        return len(self.cameras)

    @property
    def num_isos(self) -> int:
        return len(self.isos)

    @property
    def meta_features(self) -> int:
        """Length of the condition vector fed to the meta encoders (10 for the official vocabulary)."""
        return (self.num_isos if self.iso_encoding == "onehot" else 1) + self.num_cameras

    @property
    def table_rows(self) -> int:
        """Rows of a CL2 table: one per (camera, ISO) for ``onehot``, one per meta feature for ``log``."""
        return self.num_isos * self.num_cameras if self.iso_encoding == "onehot" else self.meta_features

    def camera_codes(self, camera: CameraLike, batch: int, device: torch.device | str = "cpu") -> torch.Tensor:
        """Turn camera names or codes into a LongTensor of codes, shape ``(batch,)``.

        Args:
            camera: one name (``"GP"``) or code (``1``) for the whole batch, or a sequence / 1-D tensor
                of ``batch`` names or codes.
            batch: batch size B.
            device: device of the result.

        Raises:
            ValueError: unknown name, code out of range, or a length different from ``batch``.
            TypeError: a value that is neither str nor int.
        """
        values = _as_list(camera, batch, "camera")
        codes = []
        for v in values:
            if isinstance(v, str):
                if v not in self.cameras:
                    raise ValueError(f"unknown camera {v!r}; supported cameras: {list(self.cameras)}")
                codes.append(self.cameras.index(v))
            elif isinstance(v, int) and not isinstance(v, bool):
                if not 0 <= v < self.num_cameras:
                    raise ValueError(
                        f"camera code {v} out of range; supported codes: "
                        f"{dict(enumerate(self.cameras))}"
                    )
                codes.append(v)
            else:
                raise TypeError(f"camera must be a name (str) or code (int), got {type(v).__name__}")
        return torch.tensor(codes, dtype=torch.long, device=device)

    def iso_values(self, iso: IsoLike, batch: int, device: torch.device | str = "cpu") -> torch.Tensor:
        """Validate ISO values and return them as a LongTensor, shape ``(batch,)``.

        Raises:
            ValueError: an ISO not in :attr:`isos`, or a length different from ``batch``.
        """
        values = _as_list(iso, batch, "iso")
        out = []
        for v in values:
            if isinstance(v, float) and v.is_integer():
                v = int(v)
            if not isinstance(v, int) or isinstance(v, bool) or v not in self.isos:
                raise ValueError(f"unsupported ISO {v!r}; supported ISO values: {list(self.isos)}")
            out.append(v)
        return torch.tensor(out, dtype=torch.long, device=device)

    def iso_index(self, iso_values: torch.Tensor) -> torch.Tensor:
        """Index of each (already validated) ISO value in :attr:`isos`, shape ``(B,)``."""
        table = torch.tensor(self.isos, device=iso_values.device)
        return (iso_values.unsqueeze(-1) == table).long().argmax(-1)

    def encode(self, camera_codes: torch.Tensor, iso_values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Condition vector for the meta encoders and the CL2 table row.

        Args:
            camera_codes: LongTensor ``(B,)`` from :meth:`camera_codes`.
            iso_values: LongTensor ``(B,)`` from :meth:`iso_values`.

        Returns:
            ``meta``: float32 ``(B, meta_features)``; for ``onehot`` it is
            ``[onehot(iso) ‖ onehot(camera)]`` (the official order), for ``log`` it is
            ``[t ‖ onehot(camera)]``.
            ``row``: LongTensor ``(B,)`` = ``iso_index * num_cameras + camera`` (official CL2 indexing)
            for ``onehot``, ``None`` for ``log`` (the CL2 layers then use ``meta`` linearly).
        """
        cam = torch.nn.functional.one_hot(camera_codes, self.num_cameras).float()
        if self.iso_encoding == "onehot":
            idx = self.iso_index(iso_values)
            meta = torch.cat([torch.nn.functional.one_hot(idx, self.num_isos).float(), cam], dim=1)
            return meta, idx * self.num_cameras + camera_codes
        t = torch.log2(iso_values.float() / ISO_REF) / ISO_OCTAVES
        return torch.cat([t.unsqueeze(1), cam], dim=1), None

    def to_dict(self) -> dict:
        return {"cameras": list(self.cameras), "isos": list(self.isos), "iso_encoding": self.iso_encoding}


def _as_list(value: CameraLike | IsoLike, batch: int, what: str) -> list:
    if isinstance(value, torch.Tensor):
        if value.ndim == 0:
            value = value.item()
        elif value.ndim == 1:
            value = value.tolist()
        else:
            raise ValueError(f"{what} tensor must be 0-D or 1-D of length {batch}, got shape {tuple(value.shape)}")
    if isinstance(value, (str, int, float)):
        return [value] * batch
    values = list(value)
    if len(values) != batch:
        raise ValueError(f"got {len(values)} {what} values for a batch of {batch}")
    return values


#: The official NM-FlowGAN vocabulary: cameras IP, GP, S6, N6, G4 (codes 0..4), ISO 100 ... 3200.
OFFICIAL_VOCABULARY = ConditionVocabulary(
    cameras=("IP", "GP", "S6", "N6", "G4"), isos=(100, 400, 800, 1600, 3200), iso_encoding="onehot"
)

#: Every ISO that occurs in SIDD (Medium, Validation and Benchmark scene names).
SIDD_ISOS = (50, 100, 200, 320, 400, 500, 640, 800, 1000, 1250, 1600, 2000, 3200, 6400, 10000)

#: Our SIDD vocabulary: the official camera codes, every SIDD ISO, continuous log-ISO encoding.
SIDD_VOCABULARY = ConditionVocabulary(cameras=OFFICIAL_VOCABULARY.cameras, isos=SIDD_ISOS, iso_encoding="log")

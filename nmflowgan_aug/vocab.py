"""Camera and ISO vocabularies: which conditions a noise model knows, and how they are encoded.

A vocabulary is configuration, not code: the official NM-FlowGAN checkpoint knows five SIDD phones
and five ISO levels (:data:`OFFICIAL_VOCABULARY`); our SIDD configs use every ISO that occurs in SIDD
(:data:`SIDD_VOCABULARY`). A camera or ISO outside the vocabulary raises :class:`ValueError` listing
the supported values; nothing silently falls back (the official code maps unknown ISOs to ISO 100).

:meth:`ConditionVocabulary.conditions` is the one place where user camera/ISO input is validated; it
returns :class:`Conditions`, the value the model's sampling entry point consumes. Tensors are checked
with tensor ops on their own device (no copy to Python lists); Python names and numbers are checked
on the CPU and sent to the device once. numpy scalars and arrays are accepted like their Python and
tensor counterparts, and ISO strings such as ``"800"`` (a CSV cell) like numbers.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple, Union

import numpy as np
import torch

__all__ = [
    "CameraLike",
    "ConditionVocabulary",
    "Conditions",
    "IsoLike",
    "OFFICIAL_VOCABULARY",
    "SIDD_CAMERA_NAMES",
    "SIDD_VOCABULARY",
]

CameraLike = Union[str, int, Sequence[Union[str, int]], torch.Tensor, np.ndarray]
IsoLike = Union[int, float, str, Sequence[Union[int, float, str]], torch.Tensor, np.ndarray]

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


class Conditions(NamedTuple):
    """Validated camera/ISO conditions of a batch, as the noise model consumes them.

    Made by :meth:`ConditionVocabulary.conditions` (user input, validated) or
    :meth:`~nmflowgan_aug.condition_sampler.ConditionSampler.sample` (drawn from the vocabulary); it
    unpacks as ``camera_codes, iso_values = conditions``.

    Attributes:
        camera_codes: LongTensor ``(B,)``, code ``i`` is ``vocabulary.cameras[i]``.
        iso_values: LongTensor ``(B,)``, ISO units, each allowed by the vocabulary (see
            :meth:`ConditionVocabulary.iso_values`).
    """

    camera_codes: torch.Tensor
    iso_values: torch.Tensor

    def to(self, device: torch.device | str) -> Conditions:
        """The same conditions on ``device``."""
        return Conditions(self.camera_codes.to(device), self.iso_values.to(device))


#: ISO encodings of :class:`ConditionVocabulary`.
ISO_ENCODINGS = ("onehot", "log", "log_camera")


@dataclass(frozen=True)
class ConditionVocabulary:
    """Cameras and ISO levels a noise model is conditioned on.

    Args:
        cameras: camera names in code order (code ``i`` is ``cameras[i]``), e.g. SIDD folder tokens.
        isos: ISO values the model was trained for (sensor gain, ISO units), strictly increasing.
        iso_encoding: ``"onehot"`` (official NM-FlowGAN: one-hot ISO index, one table row per
            (camera, ISO) in the CL2 layers; only the values of ``isos`` are accepted), ``"log"`` (ours: the
            continuous feature ``t = log2(ISO/100)/7`` so that ISO levels with little or no training data
            borrow from their neighbours, with one ISO slope shared by all cameras) or ``"log_camera"``
            (ours: the same ``t`` with one slope per camera, ``[onehot(camera) ‖ t·onehot(camera)]``;
            SIDD-Small shows why: from ISO 100 to 3200 the noise std grows about ∝ ISO^0.5 on four phones
            but stays almost flat above ISO 200 on the iPhone 7, which one shared slope cannot follow).
            The log encodings accept any whole ISO in ``[isos[0], isos[-1]]`` (see :attr:`iso_range`).

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
        if self.iso_encoding not in ISO_ENCODINGS:
            raise ValueError(f"iso_encoding must be one of {list(ISO_ENCODINGS)}, got {self.iso_encoding!r}")

    @property
    def num_cameras(self) -> int:
        """Number of cameras in the vocabulary."""
        return len(self.cameras)

    @property
    def num_isos(self) -> int:
        """Number of trained ISO values in the vocabulary."""
        return len(self.isos)

    @property
    def iso_range(self) -> tuple[int, int]:
        """``(lowest, highest)`` trained ISO: a log-ISO model accepts any whole ISO inside it."""
        return self.isos[0], self.isos[-1]

    def _iso_error(self, bad: object) -> ValueError:
        if self.iso_encoding != "onehot":
            lo, hi = self.iso_range
            return ValueError(
                f"unsupported ISO {bad!r}: this model (log-ISO encoding) accepts any whole ISO in its trained range "
                f"[{lo}, {hi}]; trained ISO values: {list(self.isos)}"
            )
        return ValueError(f"unsupported ISO {bad!r}; supported ISO values: {list(self.isos)} (one-hot ISO encoding)")

    def _iso_allowed(self, values: torch.Tensor) -> torch.Tensor:
        """Boolean mask of the allowed entries of a numeric tensor (on its own device)."""
        whole = values == torch.round(values) if values.is_floating_point() else torch.ones_like(values, dtype=torch.bool)
        if self.iso_encoding != "onehot":
            lo, hi = self.iso_range
            return whole & (values >= lo) & (values <= hi)
        return whole & (values.unsqueeze(-1) == torch.tensor(self.isos, device=values.device)).any(-1)

    @property
    def meta_features(self) -> int:
        """Length of the condition vector fed to the meta encoders (10 for the official vocabulary)."""
        if self.iso_encoding == "log_camera":
            return 2 * self.num_cameras
        return (self.num_isos if self.iso_encoding == "onehot" else 1) + self.num_cameras

    @property
    def offset_features(self) -> slice:
        """The entries of the condition vector that select the camera (per-camera offsets), as a slice."""
        if self.iso_encoding == "onehot":
            return slice(self.num_isos, None)
        return slice(1, None) if self.iso_encoding == "log" else slice(0, self.num_cameras)

    @property
    def table_rows(self) -> int:
        """Rows of a CL2 table: one per (camera, ISO) for ``onehot``, one per meta feature for ``log``."""
        return self.num_isos * self.num_cameras if self.iso_encoding == "onehot" else self.meta_features

    def conditions(
        self, camera: CameraLike, iso: IsoLike, batch: int, device: torch.device | str = "cpu"
    ) -> Conditions:
        """Validate camera and ISO input for a batch of ``batch`` images.

        See :meth:`camera_codes` and :meth:`iso_values`.

        Raises:
            ValueError, TypeError: as :meth:`camera_codes` and :meth:`iso_values`.
        """
        return Conditions(self.camera_codes(camera, batch, device), self.iso_values(iso, batch, device))

    def camera_codes(self, camera: CameraLike, batch: int, device: torch.device | str = "cpu") -> torch.Tensor:
        """Turn camera names or codes into a LongTensor of codes, shape ``(batch,)``.

        Args:
            camera: one name (``"GP"``) or code (``1``) for the whole batch, a sequence of ``batch``
                names or codes, or an integer tensor of codes, 0-D or ``(batch,)`` (checked on its own
                device with tensor ops).
            batch: batch size B.
            device: device of the result.

        Raises:
            ValueError: unknown name, code out of range, or a length different from ``batch``.
            TypeError: a value that is neither str nor int, or a tensor that is not of integer dtype.
        """
        camera = _from_numpy(camera)
        if isinstance(camera, torch.Tensor):
            codes = _per_sample_tensor(camera, batch, "camera")
            if codes.dtype == torch.bool or codes.is_floating_point() or codes.is_complex():
                raise TypeError(f"camera codes must be an integer tensor, got dtype {codes.dtype}")
            bad = (codes < 0) | (codes >= self.num_cameras)
            if bad.any():
                raise ValueError(
                    f"camera code {int(codes[bad][0])} out of range; supported codes: {dict(enumerate(self.cameras))}"
                )
            return codes.to(device=device, dtype=torch.long)
        codes = []
        for v in _per_sample_values(camera, batch, "camera"):
            v = v.item() if isinstance(v, np.generic) else v
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

        A one-hot vocabulary accepts the values of :attr:`isos`; a log-ISO vocabulary accepts any whole
        ISO inside :attr:`iso_range` (the encoding is continuous, so ISO 1000 or 2500 sits between its
        trained neighbours).

        Args:
            iso: one ISO value (ISO units; int, whole float, numpy scalar or numeric string such as
                ``"800"``) for the whole batch, a sequence of ``batch`` values, or a numeric tensor or
                numpy array, 0-D or ``(batch,)`` (tensors are checked on their own device with tensor ops).
            batch: batch size B.
            device: device of the result.

        Raises:
            ValueError: an ISO that is not allowed (the message gives the allowed values or range), a
                string that is not a number, or a length different from ``batch``.
            TypeError: ``None`` or another non-numeric value, or a boolean or complex tensor.
        """
        iso = _from_numpy(iso)
        if isinstance(iso, torch.Tensor):
            values = _per_sample_tensor(iso, batch, "iso")
            if values.dtype == torch.bool or values.is_complex():
                raise TypeError(f"iso tensor must hold ISO values (numbers), got dtype {values.dtype}")
            allowed = self._iso_allowed(values)
            if not allowed.all():
                raise self._iso_error(values[~allowed][0].item())
            return values.to(device=device, dtype=torch.long)
        out = []
        for v in _per_sample_values(iso, batch, "iso"):
            number = _iso_number(v)
            if not self._iso_allowed(torch.tensor([number], dtype=torch.float64)).all():
                raise self._iso_error(v)
            out.append(int(number))
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
            ``[t ‖ onehot(camera)]``, for ``log_camera`` ``[onehot(camera) ‖ t·onehot(camera)]``.
            ``row``: LongTensor ``(B,)`` = ``iso_index * num_cameras + camera`` (official CL2 indexing)
            for ``onehot``, ``None`` for the log encodings (the CL2 layers then use ``meta`` linearly).
        """
        cam = torch.nn.functional.one_hot(camera_codes, self.num_cameras).float()
        if self.iso_encoding == "onehot":
            idx = self.iso_index(iso_values)
            meta = torch.cat([torch.nn.functional.one_hot(idx, self.num_isos).float(), cam], dim=1)
            return meta, idx * self.num_cameras + camera_codes
        t = (torch.log2(iso_values.float() / ISO_REF) / ISO_OCTAVES).unsqueeze(1)
        if self.iso_encoding == "log_camera":
            return torch.cat([cam, t * cam], dim=1), None
        return torch.cat([t, cam], dim=1), None

    def to_dict(self) -> dict:
        """``{"cameras", "isos", "iso_encoding"}`` as plain lists and a string (JSON-ready)."""
        return {"cameras": list(self.cameras), "isos": list(self.isos), "iso_encoding": self.iso_encoding}

    # ------------------------------------------------------------------ adding a camera
    def camera_features(self, code: int) -> tuple[int, ...]:
        """Positions of camera ``code``'s own entries in the condition vector (see :meth:`encode`).

        ``onehot``: its one-hot entry ``(num_isos + code,)``; ``log``: ``(1 + code,)``; ``log_camera``: its
        one-hot entry and its ISO-slope entry ``(code, num_cameras + code)``. These entries are zero for every
        other camera; for the log encodings they are also the camera's rows of a CL2 table (whose rows are the
        condition features). Entries that no camera owns (``t`` of ``log``, the ISO one-hot of ``onehot``) are
        shared by all cameras.

        Raises:
            ValueError: a code outside ``0 .. num_cameras − 1``.
        """
        if isinstance(code, bool) or not isinstance(code, int) or not 0 <= code < self.num_cameras:
            raise ValueError(f"camera code {code!r} out of range; supported codes: {dict(enumerate(self.cameras))}")
        if self.iso_encoding == "log_camera":
            return (code, self.num_cameras + code)
        return (self.offset_features.start + code,)

    def with_camera(self, name: str) -> ConditionVocabulary:
        """This vocabulary with one more camera, ``name``, appended (its code is the old ``num_cameras``).

        Raises:
            ValueError: ``name`` is not a non-empty string without surrounding spaces, or is already a camera
                of this vocabulary.
        """
        if not isinstance(name, str) or not name or name != name.strip():
            raise ValueError(f"a camera name must be a non-empty string without surrounding spaces, got {name!r}")
        if name in self.cameras:
            raise ValueError(f"camera {name!r} is already in the vocabulary {list(self.cameras)}; choose a new name")
        return ConditionVocabulary((*self.cameras, name), self.isos, self.iso_encoding)


def _per_sample_tensor(value: torch.Tensor, batch: int, what: str) -> torch.Tensor:
    """A 0-D tensor expanded to ``(batch,)``, or a ``(batch,)`` tensor as is; same device."""
    if value.ndim == 0:
        return value.expand(batch)
    if value.ndim != 1:
        raise ValueError(f"{what} tensor must be 0-D or 1-D of length {batch}, got shape {tuple(value.shape)}")
    if value.shape[0] != batch:
        raise ValueError(f"got {value.shape[0]} {what} values for a batch of {batch}")
    return value


def _from_numpy(value: object) -> object:
    """A numeric numpy array as a tensor, a string array as a list, a numpy scalar as its Python value."""
    if isinstance(value, np.ndarray):
        return torch.from_numpy(value) if value.dtype.kind in "biuf" else value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _iso_number(value: object) -> float:
    """An ISO given as a Python/numpy number or a numeric string, as a float (validated by the caller)."""
    value = value.item() if isinstance(value, np.generic) else value
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            raise ValueError(f"ISO must be a number, got the string {value!r}") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"ISO must be a number (ISO units, e.g. 800), got {type(value).__name__} {value!r}")
    return float(value)


def _per_sample_values(value: CameraLike | IsoLike, batch: int, what: str) -> list:
    """One Python value per sample: a single name/number repeated ``batch`` times, or a sequence of ``batch``."""
    if value is None:
        raise TypeError(f"{what} is required: give a value, a sequence of {batch} values or a tensor, got None")
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

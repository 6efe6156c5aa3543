"""The (camera, ISO) law of the fitted baselines: ``log y = a[camera] + b · log(ISO / 100)``.

Training sets rarely hold every (camera, ISO) combination (SIDD validation has G4 at ISO 400 and GP at
ISO 10000, which SIDD-Medium crops may lack). Every fitted quantity ``y > 0`` of the parametric
baselines therefore follows one log-linear law with one offset per camera and one ISO slope shared by
all cameras, fitted by least squares over the training images. This covers ISO values a camera was
never seen at (interpolated or extrapolated along the shared slope; :meth:`LogIsoLaw.support` says
which). A camera without training pairs has no offset: it raises :class:`UnknownCameraError` (a
``ValueError``). The slope needs at least one camera seen at two different ISO values, otherwise
fitting raises ``ValueError``. Physics gives the expected slopes: shot-noise gain ∝ ISO (b = 1 for the
gain), read-noise variance ∝ ISO² (b = 2); in sRGB the tone curve and the camera's own processing
change these.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..vocab import ISO_REF, log_iso_ratio
from .base import check_iso

__all__ = ["LogIsoLaw", "UnknownCameraError", "fit_log_iso_law", "log_iso_design", "training_isos"]


class UnknownCameraError(ValueError):
    """A camera that a fitted baseline has no training pairs for."""


@dataclass(frozen=True)
class LogIsoLaw:
    """``log y[k] = offsets[camera][k] + slopes[k] · log(ISO / iso_ref)`` for K positive quantities.

    Attributes:
        cameras: cameras with training pairs, in fit order.
        offsets: ``offsets[i][k]``: log of quantity ``k`` for ``cameras[i]`` at ``iso_ref``.
        slopes: ``slopes[k]``: slope of quantity ``k`` in log-log space, shared by every camera.
        train_isos: sorted distinct training ISO values per camera (same order as ``cameras``).
        names: a name per quantity (e.g. ``"sigma_R"``), for reports.
        iso_ref: reference ISO (100).
        residual_rms: RMS of the log-space fit residuals per quantity (0 for an exact law).
    """

    cameras: tuple[str, ...]
    offsets: tuple[tuple[float, ...], ...]
    slopes: tuple[float, ...]
    train_isos: tuple[tuple[int, ...], ...]
    names: tuple[str, ...]
    iso_ref: float = ISO_REF
    residual_rms: tuple[float, ...] = ()

    def camera_index(self, camera: str) -> int:
        """Index of ``camera`` in :attr:`cameras`.

        Raises:
            UnknownCameraError: the camera had no training pairs (the message lists those that had).
        """
        if camera not in self.cameras:
            raise UnknownCameraError(
                f"camera {camera!r} has no training pairs, so its noise level is unknown; "
                f"cameras with training pairs: {list(self.cameras)}"
            )
        return self.cameras.index(camera)

    def __call__(self, camera: str, iso: float) -> np.ndarray:
        """The K quantities at ``(camera, iso)``, float64 ``(K,)``.

        Raises:
            UnknownCameraError: camera without training pairs.
            ValueError: non-positive ISO.
        """
        i = self.camera_index(camera)
        iso = check_iso(iso)
        log_y = np.asarray(self.offsets[i]) + np.asarray(self.slopes) * log_iso_ratio(iso, self.iso_ref)
        return np.exp(log_y)

    def support(self, camera: str, iso: float) -> str:
        """How the training data covers ``(camera, iso)``: ``"seen"``, ``"interpolated"`` or ``"extrapolated"``.

        Raises:
            UnknownCameraError: camera without training pairs.
        """
        seen = self.train_isos[self.camera_index(camera)]
        iso = check_iso(iso)
        if any(math.isclose(iso, s) for s in seen):
            return "seen"
        return "interpolated" if seen[0] < iso < seen[-1] else "extrapolated"

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON description: per camera the offsets, shared slopes, training ISOs."""
        return {
            "law": "log y = offset[camera] + slope * log(ISO / iso_ref)",
            "iso_ref": self.iso_ref,
            "quantities": list(self.names),
            "slopes": dict(zip(self.names, self.slopes)),
            "offsets": {c: dict(zip(self.names, o)) for c, o in zip(self.cameras, self.offsets)},
            "train_isos": {c: list(s) for c, s in zip(self.cameras, self.train_isos)},
            "residual_rms_log": dict(zip(self.names, self.residual_rms)),
        }


def log_iso_design(
    cameras: Sequence[str], isos: Sequence[float], iso_ref: float = ISO_REF
) -> tuple[tuple[str, ...], np.ndarray]:
    """Cameras (first-seen order) and the design matrix ``[onehot(camera) | log(ISO/iso_ref)]``, ``(N, C + 1)``."""
    cams = tuple(dict.fromkeys(cameras))
    x = np.zeros((len(cameras), len(cams) + 1))
    for row, (cam, iso) in enumerate(zip(cameras, isos)):
        x[row, cams.index(cam)] = 1.0
        x[row, -1] = log_iso_ratio(check_iso(iso), iso_ref)
    return cams, x


def training_isos(cameras: Sequence[str], isos: Sequence[float]) -> dict[str, tuple[int, ...]]:
    """Sorted distinct training ISOs per camera.

    Raises:
        ValueError: no camera has two different ISO values, so the shared slope cannot be fitted.
    """
    per_cam: dict[str, set[float]] = {}
    for cam, iso in zip(cameras, isos):
        per_cam.setdefault(cam, set()).add(float(iso))
    if not any(len(s) > 1 for s in per_cam.values()):
        raise ValueError(
            "the shared ISO slope cannot be fitted: no camera has training pairs at two different ISO values "
            f"(training ISOs per camera: { {c: sorted(s) for c, s in per_cam.items()} })"
        )
    return {c: tuple(sorted(int(round(i)) for i in s)) for c, s in per_cam.items()}


def fit_log_iso_law(
    cameras: Sequence[str],
    isos: Sequence[float],
    values: np.ndarray | Sequence[Sequence[float]],
    names: Sequence[str] | None = None,
    *,
    iso_ref: float = ISO_REF,
) -> LogIsoLaw:
    """Least-squares fit of ``log values[n, k] = a[camera_n, k] + b[k] · log(iso_n / iso_ref)``.

    One row per training image, each with equal weight; each quantity ``k`` is fitted separately
    (its own offsets and slope).

    Args:
        cameras: camera of each training image, length N.
        isos: ISO of each training image, length N.
        values: positive quantities ``(N, K)`` (or ``(N,)`` for K = 1).
        names: a name per quantity (default ``q0``, ``q1``, ...).
        iso_ref: reference ISO of the offsets.

    Returns:
        The fitted :class:`LogIsoLaw`.

    Raises:
        ValueError: empty input, mismatched lengths, non-positive or non-finite values or ISOs, or no
            camera seen at two ISO values (the shared slope would be undetermined).
    """
    y = np.asarray(values, dtype=np.float64)
    if y.ndim == 1:
        y = y[:, None]
    if y.ndim != 2 or y.shape[0] == 0 or len(cameras) != y.shape[0] or len(isos) != y.shape[0]:
        raise ValueError(
            f"need N cameras, N ISOs and (N, K) values with N >= 1, got {len(cameras)}, {len(isos)} and {y.shape}"
        )
    if not (np.isfinite(y).all() and (y > 0).all()):
        raise ValueError(f"values must be finite and positive for a log-space fit, got min {y.min():.3g}")
    names = tuple(names) if names is not None else tuple(f"q{k}" for k in range(y.shape[1]))
    if len(names) != y.shape[1]:
        raise ValueError(f"got {len(names)} names for {y.shape[1]} quantities")
    train_isos = training_isos(cameras, isos)
    cams, x = log_iso_design(cameras, isos, iso_ref)
    coef, *_ = np.linalg.lstsq(x, np.log(y), rcond=None)
    resid = np.log(y) - x @ coef
    return LogIsoLaw(
        cameras=cams,
        offsets=tuple(tuple(float(v) for v in coef[i]) for i in range(len(cams))),
        slopes=tuple(float(v) for v in coef[-1]),
        train_isos=tuple(train_isos[c] for c in cams),
        names=names,
        iso_ref=float(iso_ref),
        residual_rms=tuple(float(v) for v in np.sqrt((resid**2).mean(axis=0))),
    )

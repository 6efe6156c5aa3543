"""Simple sRGB noise baselines fitted on real noisy/clean pairs, to compare noise models against.

Every baseline is fitted on training pairs ``(clean, noisy, camera, ISO)`` with a classmethod
``fit(pairs)`` and synthesizes noise with ``sample(clean, camera, iso, generator=None)``, with the
same convention as :meth:`nmflowgan_aug.NMFlowGAN.sample`: ``clean`` is float sRGB ``(B, 3, H, W)``
in [0, 1]; the result has the same shape, dtype and device, is clipped to [0, 1] and is **not**
rounded to 8-bit levels (pass ``quantize=True`` for that). A ``torch.Generator`` on ``clean.device``
makes the draw reproducible.

* :class:`GaussianNoiseModel`: i.i.d. zero-mean Gaussian noise, one σ per colour channel.
* :class:`HeteroscedasticGaussianNoiseModel`: zero-mean Gaussian noise whose variance is linear in
  the clean intensity of the channel, ``var = β1·x + β2``.
* :class:`SimulatedCameraNoiseModel`: the physics simulator of :mod:`nmflowgan_aug.data.camera_sim`
  (unprocess to raw, Poisson-Gaussian sensor noise, process back to sRGB) with its shot gain fitted to
  the real noise (read noise tied to it).
* :class:`RealNoiseReference`: not a model; the real noise residual ``noisy - clean`` of *another*
  pair with the same camera and ISO, added to the clean image. It bounds what a noise model can
  reach when the noise of a different scene is the best available description of a condition.

**(camera, ISO) law.** Training sets rarely hold every (camera, ISO) combination (SIDD validation
has G4 at ISO 400 and GP at ISO 10000, which SIDD-Medium crops may lack). Every fitted quantity
``y > 0`` of the three parametric baselines therefore follows one log-linear law
(:class:`LogIsoLaw`)::

    log y = a[camera] + b · log(ISO / 100)

with one offset per camera and one ISO slope shared by all cameras, fitted by least squares over
the training images. This covers ISO values a camera was never seen at (interpolated or
extrapolated along the shared slope; :meth:`LogIsoLaw.support` says which). A camera without
training pairs has no offset: it raises :class:`UnknownCameraError` (a ``ValueError``). The slope
needs at least one camera seen at two different ISO values, otherwise fitting raises ``ValueError``.
Physics gives the expected slopes: shot-noise gain ∝ ISO (b = 1 for the gain), read-noise variance
∝ ISO² (b = 2); in sRGB the tone curve and the camera's own processing change these.

**Noise statistics.** All three parametric fits match **second moments about zero**, ``E[(noisy −
clean)²]``, not variances about the mean: the synthesized noise is zero-mean, and for a zero-mean
Gaussian model the σ² that minimizes the forward KL divergence KL(real ‖ model) (the KLD metrics of
:mod:`nmflowgan_aug.metrics`) is exactly the real second moment. Real SIDD sRGB noise is not
zero-mean at high ISO (about −5 to −10 levels at ISO ≥ 3200), which none of these baselines model.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Union

import numpy as np
import torch

from .data.camera_sim import (
    SIMULATED_PROFILES,
    ProfileLike,
    SimulatedCameraProfile,
    get_profile,
    poisson_gaussian_noise,
    process,
    unprocess,
)
from .srgb import check_srgb_batch
from .vocab import ISO_REF

__all__ = [
    "GaussianNoiseModel",
    "HeteroscedasticGaussianNoiseModel",
    "ISO_REF",
    "LogIsoLaw",
    "NoDonorError",
    "NoiseDonor",
    "RealNoiseReference",
    "SimulatedCameraNoiseModel",
    "UnknownCameraError",
    "VAR_FLOOR",
    "fit_log_iso_law",
    "read_variance",
]

#: Reference ISO of the log-ISO laws: the camera offsets are log values at ISO 100.

#: Variance floor in [0, 1]² units: the quantisation noise of an 8-bit image, (1/255)² / 12.
VAR_FLOOR = (1.0 / 255.0) ** 2 / 12.0

CameraArg = Union[str, Sequence[str]]
IsoArg = Union[int, float, Sequence[Union[int, float]], torch.Tensor]


class UnknownCameraError(ValueError):
    """A camera that a fitted baseline has no training pairs for."""


class NoDonorError(ValueError):
    """:class:`RealNoiseReference` holds no other pair with the requested camera and ISO."""


# --------------------------------------------------------------------------------------------------
# the (camera, ISO) law


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
        iso = _check_iso(iso)
        log_y = np.asarray(self.offsets[i]) + np.asarray(self.slopes) * math.log(iso / self.iso_ref)
        return np.exp(log_y)

    def support(self, camera: str, iso: float) -> str:
        """How the training data covers ``(camera, iso)``: ``"seen"``, ``"interpolated"`` or ``"extrapolated"``.

        Raises:
            UnknownCameraError: camera without training pairs.
        """
        seen = self.train_isos[self.camera_index(camera)]
        iso = _check_iso(iso)
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


def _check_iso(iso: float) -> float:
    value = float(iso)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"ISO must be a positive number, got {iso!r}")
    return value


def _design(cameras: Sequence[str], isos: Sequence[float], iso_ref: float) -> tuple[tuple[str, ...], np.ndarray]:
    """Camera list (first-seen order) and the design matrix ``[onehot(camera) | log(ISO/iso_ref)]``."""
    cams = tuple(dict.fromkeys(cameras))
    x = np.zeros((len(cameras), len(cams) + 1))
    for row, (cam, iso) in enumerate(zip(cameras, isos)):
        x[row, cams.index(cam)] = 1.0
        x[row, -1] = math.log(_check_iso(iso) / iso_ref)
    return cams, x


def _check_slope_identifiable(cameras: Sequence[str], isos: Sequence[float]) -> dict[str, tuple[int, ...]]:
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
    train_isos = _check_slope_identifiable(cameras, isos)
    cams, x = _design(cameras, isos, iso_ref)
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


# --------------------------------------------------------------------------------------------------
# training pairs


@dataclass(frozen=True, eq=False)
class _Pair:
    name: str
    camera: str
    iso: float
    scene: str | None
    clean: np.ndarray  # (H, W, 3) float64 in [0, 1]
    noisy: np.ndarray


def _to_hwc_unit(x: Any, what: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    a = np.asarray(x)
    if a.ndim == 3 and a.shape[0] == 3 and a.shape[-1] != 3:
        a = a.transpose(1, 2, 0)
    if a.ndim != 3 or a.shape[-1] != 3:
        raise ValueError(f"{what} must be an RGB image (H, W, 3) or (3, H, W), got shape {a.shape}")
    if a.dtype == np.uint8:
        return a.astype(np.float64) / 255.0
    if a.dtype.kind != "f":
        raise TypeError(f"{what} must be uint8 or float in [0, 1], got dtype {a.dtype}")
    a = a.astype(np.float64)
    if not np.isfinite(a).all() or a.min() < 0 or a.max() > 1:
        raise ValueError(f"{what} must be float in [0, 1] without NaN/Inf")
    return a


def _center_crop(a: np.ndarray, max_size: int | None) -> np.ndarray:
    if max_size is None:
        return a
    h, w = a.shape[:2]
    top, left = max(0, (h - max_size) // 2), max(0, (w - max_size) // 2)
    return a[top : top + max_size, left : left + max_size]


def _load_pairs(pairs: Iterable[Any], max_size: int | None = None) -> list[_Pair]:
    """Read pairs: ``ImagePair``-like objects (``.load()``, ``.camera``, ``.iso``, ``.name``, optional
    ``.scene``) or tuples ``(clean, noisy, camera, iso)`` of uint8 or [0, 1] float images."""
    out = []
    for n, pair in enumerate(pairs):
        if hasattr(pair, "load"):
            name, camera, iso = getattr(pair, "name", f"pair{n}"), pair.camera, pair.iso
            scene = getattr(pair, "scene", None)
            clean, noisy = pair.load()
        elif isinstance(pair, (tuple, list)) and len(pair) == 4:
            clean, noisy, camera, iso = pair
            name, scene = f"pair{n}", None
        else:
            raise TypeError(
                "each training pair must be an ImagePair (with load(), camera, iso) or a tuple "
                f"(clean, noisy, camera, iso), got {type(pair).__name__}"
            )
        if camera is None or iso is None:
            raise ValueError(
                f"training pair {name!r} has unknown camera/ISO ({camera!r}, {iso!r}); "
                "filter pairs with nmflowgan_aug.data.sidd.known_metadata first"
            )
        c = _center_crop(_to_hwc_unit(clean, f"clean of {name!r}"), max_size)
        y = _center_crop(_to_hwc_unit(noisy, f"noisy of {name!r}"), max_size)
        if c.shape != y.shape:
            raise ValueError(f"pair {name!r}: clean {c.shape} and noisy {y.shape} differ in shape")
        out.append(_Pair(str(name), str(camera), _check_iso(iso), None if scene is None else str(scene), c, y))
    if not out:
        raise ValueError("no training pairs given")
    return out


@dataclass(frozen=True)
class _Moments:
    """Second moments of the residual per (channel, intensity bin): only bins with enough pixels."""

    channel: np.ndarray  # (M,) int
    bin: np.ndarray  # (M,) int, bin number
    x: np.ndarray  # (M,) mean clean intensity of the bin, [0, 1]
    m2: np.ndarray  # (M,) mean of (noisy - clean)^2, [0, 1]^2 units
    count: np.ndarray  # (M,) pixels in the bin


def _binned_moments(
    clean: np.ndarray, noisy: np.ndarray, n_bins: int = 32, lo: float = 0.02, hi: float = 0.98, min_count: int = 32
) -> _Moments:
    """Bin the pixels of each channel by clean intensity (bins of width 1/n_bins, pixels outside [lo, hi]
    dropped because clipping at 0 and 1 shrinks the real noise there) and average the squared residual."""
    ch, bins, xs, m2, cnt = [], [], [], [], []
    for c in range(3):
        x = clean[..., c].ravel()
        e2 = (noisy[..., c].ravel() - x) ** 2
        keep = (x >= lo) & (x <= hi)
        x, e2 = x[keep], e2[keep]
        idx = np.minimum((x * n_bins).astype(np.int64), n_bins - 1)
        n = np.bincount(idx, minlength=n_bins)
        sx = np.bincount(idx, weights=x, minlength=n_bins)
        se = np.bincount(idx, weights=e2, minlength=n_bins)
        ok = n >= min_count
        ch.append(np.full(ok.sum(), c))
        bins.append(np.flatnonzero(ok))
        xs.append(sx[ok] / n[ok])
        m2.append(se[ok] / n[ok])
        cnt.append(n[ok])
    return _Moments(np.concatenate(ch), np.concatenate(bins), np.concatenate(xs), np.concatenate(m2), np.concatenate(cnt).astype(float))


# --------------------------------------------------------------------------------------------------
# conditions of a sampling call


def _conditions(camera: CameraArg, iso: IsoArg, batch: int) -> list[tuple[str, float]]:
    if isinstance(iso, torch.Tensor):
        iso = iso.item() if iso.ndim == 0 else iso.tolist()
    cams = [camera] * batch if isinstance(camera, str) else list(camera)
    isos = [iso] * batch if isinstance(iso, (int, float)) else list(iso)
    if len(cams) != batch or len(isos) != batch:
        raise ValueError(f"got {len(cams)} cameras and {len(isos)} ISO values for a batch of {batch}")
    for cam in cams:
        if not isinstance(cam, str):
            raise TypeError(f"camera must be a name (str), got {type(cam).__name__}")
    return [(c, _check_iso(i)) for c, i in zip(cams, isos)]


def _finish(clean: torch.Tensor, noisy: torch.Tensor, quantize: bool) -> torch.Tensor:
    out = noisy.clamp(0.0, 1.0)
    if quantize:
        out = torch.round(out * 255.0) / 255.0
    return out.to(clean.dtype)


def _work(clean: torch.Tensor) -> torch.Tensor:
    return clean.to(torch.float32) if clean.dtype in (torch.float16, torch.bfloat16) else clean


# --------------------------------------------------------------------------------------------------
# i.i.d. Gaussian


@dataclass(frozen=True)
class GaussianNoiseModel:
    """I.i.d. zero-mean Gaussian noise with one σ per colour channel and (camera, ISO).

    ``noisy = clip(clean + σ_c · N(0, 1), 0, 1)``, σ_c in [0, 1] units. σ_c follows the
    :class:`LogIsoLaw` fitted on the per-image, per-channel RMS of ``noisy − clean`` (all pixels).

    Attributes:
        law: the fitted law of ``(sigma_R, sigma_G, sigma_B)``.
        per_image: per training image ``(name, camera, ISO, (σ_R, σ_G, σ_B))``, for reports.

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> pairs = [(c, np.clip(c + rng.normal(0, 0.01 * iso / 100, c.shape), 0, 1), "A", iso)
        ...          for iso in (100, 400) for c in [rng.uniform(0.3, 0.7, (32, 32, 3))]]
        >>> model = GaussianNoiseModel.fit(pairs)
        >>> round(float(model.sigma("A", 200)[0]), 3)
        0.02
    """

    law: LogIsoLaw
    per_image: tuple[tuple[str, str, float, tuple[float, float, float]], ...] = field(default=(), repr=False)

    @classmethod
    def fit(cls, pairs: Iterable[Any], *, max_size: int | None = None) -> GaussianNoiseModel:
        """Fit on training pairs (``ImagePair`` objects or ``(clean, noisy, camera, iso)`` tuples).

        Args:
            pairs: training pairs with known camera and ISO.
            max_size: centre-crop each image to at most this many pixels per side first.

        Raises:
            ValueError: no pairs, unknown metadata, or no camera with two ISO values.
        """
        data = _load_pairs(pairs, max_size)
        sig = np.array([np.sqrt(((p.noisy - p.clean) ** 2).mean(axis=(0, 1))) for p in data])
        sig = np.maximum(sig, math.sqrt(VAR_FLOOR))
        law = fit_log_iso_law([p.camera for p in data], [p.iso for p in data], sig, ("sigma_R", "sigma_G", "sigma_B"))
        per_image = tuple((p.name, p.camera, p.iso, tuple(float(v) for v in s)) for p, s in zip(data, sig))
        return cls(law, per_image)

    def sigma(self, camera: str, iso: float) -> np.ndarray:
        """Noise σ per channel ``(3,)`` in [0, 1] units at ``(camera, iso)``."""
        return self.law(camera, iso)

    def sample(
        self,
        clean: torch.Tensor,
        camera: CameraArg,
        iso: IsoArg,
        generator: torch.Generator | None = None,
        *,
        quantize: bool = False,
    ) -> torch.Tensor:
        """Noisy sRGB ``(B, 3, H, W)`` in [0, 1] (see the module docstring for the convention).

        Args:
            clean: float sRGB in [0, 1], ``(B, 3, H, W)``.
            camera: one camera name for the batch or B names.
            iso: one ISO for the batch or B values (any positive ISO).
            generator: optional ``torch.Generator`` on ``clean.device``.
            quantize: round the result to 8-bit levels ``k / 255``.

        Raises:
            UnknownCameraError: a camera without training pairs.
            TypeError, ValueError: bad image or conditions.
        """
        check_srgb_batch(clean, "clean")
        x = _work(clean)
        conds = _conditions(camera, iso, x.shape[0])
        sig = torch.tensor(np.stack([self.law(c, i) for c, i in conds]), dtype=x.dtype, device=x.device)
        z = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
        return _finish(clean, x + sig[:, :, None, None] * z, quantize)

    def describe(self) -> dict[str, Any]:
        """Fitted parameters as plain JSON (σ in [0, 1] units)."""
        return {"model": "iid Gaussian, sigma per channel", "law": self.law.to_dict()}


# --------------------------------------------------------------------------------------------------
# joint fit of a two-component variance law


def _fit_two_component(
    items: Sequence[tuple[str, float, np.ndarray, np.ndarray, np.ndarray, np.ndarray]],
    names: tuple[str, str],
    ridge: float = 1e-2,
) -> LogIsoLaw:
    """Fit ``m ≈ exp(θ1·z)·f1 + exp(θ2·z)·f2`` jointly over all images, z = [onehot(camera) | log ISO/100].

    ``items``: per image ``(camera, iso, f1, f2, m, w)`` with per-bin features ``f1, f2 >= 0``,
    observed second moments ``m > 0`` and weights ``w`` (summing to 1 per image, so every image
    counts equally). Residuals are ``sqrt(w)·(log model − log m)`` (relative errors, so high and low
    ISO weigh alike), plus a weak ridge ``ridge·(θ1[camera] − θ2[camera])`` per camera pulling the
    two components together when the data cannot tell them apart (e.g. a camera seen only in dark
    images says little about the variance at white).
    """
    from scipy.optimize import least_squares

    cameras = [it[0] for it in items]
    isos = [it[1] for it in items]
    train_isos = _check_slope_identifiable(cameras, isos)
    cams, z_img = _design(cameras, isos, ISO_REF)
    n_cam = len(cams)
    z = np.concatenate([np.repeat(z_img[i : i + 1], len(it[4]), axis=0) for i, it in enumerate(items)])
    f1 = np.concatenate([it[2] for it in items])
    f2 = np.concatenate([it[3] for it in items])
    m = np.concatenate([it[4] for it in items])
    sw = np.sqrt(np.concatenate([it[5] for it in items]))
    log_m = np.log(np.maximum(m, VAR_FLOOR))

    def unpack(theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return theta[: n_cam + 1], theta[n_cam + 1 :]

    def residuals(theta: np.ndarray) -> np.ndarray:
        t1, t2 = unpack(theta)
        model = np.exp(np.clip(z @ t1, -60, 60)) * f1 + np.exp(np.clip(z @ t2, -60, 60)) * f2
        fit = sw * (np.log(np.maximum(model, 1e-300)) - log_m)
        return np.concatenate([fit, ridge * (t1[:n_cam] - t2[:n_cam])])

    # start: a flat law (both components equal) fitted on the mean moment per image
    level = np.array([np.average(it[4], weights=it[5]) / max(np.average(it[2] + it[3], weights=it[5]), 1e-300)
                      for it in items])
    coef, *_ = np.linalg.lstsq(z_img, np.log(np.maximum(level, 1e-300)), rcond=None)
    sol = least_squares(residuals, np.concatenate([coef, coef]), method="trf", x_scale="jac", max_nfev=2000)
    t1, t2 = unpack(sol.x)
    per_img_rms = []
    fit = residuals(sol.x)[: len(m)] / np.maximum(sw, 1e-12)
    start = 0
    for it in items:
        k = len(it[4])
        per_img_rms.append(np.sqrt(np.average(fit[start : start + k] ** 2, weights=it[5])))
        start += k
    rms = float(np.sqrt(np.mean(np.square(per_img_rms))))
    return LogIsoLaw(
        cameras=cams,
        offsets=tuple((float(t1[i]), float(t2[i])) for i in range(n_cam)),
        slopes=(float(t1[-1]), float(t2[-1])),
        train_isos=tuple(train_isos[c] for c in cams),
        names=names,
        iso_ref=ISO_REF,
        residual_rms=(rms, rms),
    )


def _bin_weights(mom: _Moments, mask: np.ndarray) -> np.ndarray:
    w = mom.count[mask]
    return w / w.sum()


# --------------------------------------------------------------------------------------------------
# heteroscedastic Gaussian


@dataclass(frozen=True)
class HeteroscedasticGaussianNoiseModel:
    """Zero-mean Gaussian noise with variance linear in the clean intensity, per channel.

    ``var_c(x) = β1_c·x + β2_c`` (x the clean intensity of channel c in [0, 1], variance in [0, 1]²
    units), clamped to at least :data:`VAR_FLOOR` (8-bit quantisation noise), then
    ``noisy = clip(clean + sqrt(var)·N(0, 1), 0, 1)``.

    Fit. In sRGB the noise variance usually *decreases* with intensity (the tone curve compresses
    bright values), so ``β1`` is often negative and cannot be put on a log scale. The line is
    therefore parametrized by its end points, ``v0 = var(0) = β2`` and ``v1 = var(1) = β1 + β2``
    (both positive, so the variance is positive on all of [0, 1]), and each end point follows the
    :class:`LogIsoLaw` (per channel: camera offsets, one shared log-ISO slope). All training images are
    fitted jointly: per image and channel the squared residuals are averaged in 32 intensity bins
    (pixels with clean < 0.02 or > 0.98 are dropped, where clipping shrinks the real noise; bins with
    fewer than 32 pixels too), and ``log(v0·(1−x) + v1·x)`` is matched to the log of the binned
    second moments by weighted nonlinear least squares (bin weight ∝ pixels, every image weighs
    the same), with a weak ridge pulling ``log v0`` and ``log v1`` of a camera together where the
    data say nothing about one end (a camera seen only in dark images).

    Attributes:
        law: law of ``(v0_R, v1_R, v0_G, v1_G, v0_B, v1_B)`` (names ``var0_R`` ... ``var1_B``).
    """

    law: LogIsoLaw

    @classmethod
    def fit(cls, pairs: Iterable[Any], *, max_size: int | None = None) -> HeteroscedasticGaussianNoiseModel:
        """Fit on training pairs (``ImagePair`` objects or ``(clean, noisy, camera, iso)`` tuples).

        Raises:
            ValueError: no pairs, unknown metadata, an image channel with fewer than two usable
                intensity bins, or no camera with two ISO values.
        """
        data = _load_pairs(pairs, max_size)
        moments = [_binned_moments(p.clean, p.noisy) for p in data]
        laws = []
        for c, ch in enumerate("RGB"):
            items = []
            for p, mom in zip(data, moments):
                mask = mom.channel == c
                if mask.sum() < 2:
                    raise ValueError(
                        f"training pair {p.name!r}, channel {ch}: fewer than 2 intensity bins with enough pixels "
                        "in [0.02, 0.98]; a variance line needs a range of intensities"
                    )
                x = mom.x[mask]
                items.append((p.camera, p.iso, 1.0 - x, x, mom.m2[mask], _bin_weights(mom, mask)))
            laws.append(_fit_two_component(items, (f"var0_{ch}", f"var1_{ch}")))
        first = laws[0]
        law = LogIsoLaw(
            cameras=first.cameras,
            offsets=tuple(tuple(v for lw in laws for v in lw.offsets[i]) for i in range(len(first.cameras))),
            slopes=tuple(v for lw in laws for v in lw.slopes),
            train_isos=first.train_isos,
            names=tuple(n for lw in laws for n in lw.names),
            iso_ref=ISO_REF,
            residual_rms=tuple(v for lw in laws for v in lw.residual_rms),
        )
        return cls(law)

    def coefficients(self, camera: str, iso: float) -> tuple[np.ndarray, np.ndarray]:
        """``(β1, β2)``, each ``(3,)`` per channel in [0, 1]² units: ``var = β1·x + β2``."""
        v = self.law(camera, iso).reshape(3, 2)
        return v[:, 1] - v[:, 0], v[:, 0]

    def sample(
        self,
        clean: torch.Tensor,
        camera: CameraArg,
        iso: IsoArg,
        generator: torch.Generator | None = None,
        *,
        quantize: bool = False,
    ) -> torch.Tensor:
        """Noisy sRGB ``(B, 3, H, W)`` in [0, 1]; arguments and errors as :meth:`GaussianNoiseModel.sample`."""
        check_srgb_batch(clean, "clean")
        x = _work(clean)
        conds = _conditions(camera, iso, x.shape[0])
        coef = [self.coefficients(c, i) for c, i in conds]
        b1 = torch.tensor(np.stack([c[0] for c in coef]), dtype=x.dtype, device=x.device)[:, :, None, None]
        b2 = torch.tensor(np.stack([c[1] for c in coef]), dtype=x.dtype, device=x.device)[:, :, None, None]
        var = (b1 * x + b2).clamp(min=VAR_FLOOR)
        z = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
        return _finish(clean, x + var.sqrt() * z, quantize)

    def describe(self) -> dict[str, Any]:
        """Fitted parameters as plain JSON (variances in [0, 1]² units)."""
        return {"model": "heteroscedastic Gaussian, var = beta1*x + beta2 per channel, var0 = beta2, var1 = beta1 + beta2",
                "law": self.law.to_dict()}


# --------------------------------------------------------------------------------------------------
# physics simulator


def _pad_even(x: torch.Tensor) -> tuple[torch.Tensor, int, int]:
    h, w = x.shape[-2:]
    ph, pw = h % 2, w % 2
    if ph or pw:
        x = torch.nn.functional.pad(x, (0, pw, 0, ph), mode="replicate")
    return x, h, w


def _sim_residual(
    raw: torch.Tensor,
    profile: SimulatedCameraProfile,
    shot: torch.Tensor,
    read: torch.Tensor,
    generator: torch.Generator | None,
) -> torch.Tensor:
    """``process(raw + Poisson-Gaussian noise) − process(raw)`` in sRGB, unquantized."""
    noisy_raw = poisson_gaussian_noise(raw, shot, read, generator=generator)
    return process(noisy_raw, profile, quantize=False) - process(raw, profile, quantize=False)


#: Read-noise variance tied to the shot gain, ``log b = READ_LOG_SLOPE · log a + READ_LOG_INTERCEPT`` (natural
#: logs, raw units): the joint shot/read relation that Brooks et al., "Unprocessing Images for Learned Raw
#: Denoising" (CVPR 2019), fitted to real camera calibrations (they sample read noise around this line).
READ_LOG_SLOPE = 2.18
READ_LOG_INTERCEPT = 1.20


def read_variance(shot_gain: float) -> float:
    """Read-noise variance (raw units) tied to ``shot_gain`` by the Brooks et al. relation."""
    return math.exp(READ_LOG_SLOPE * math.log(shot_gain) + READ_LOG_INTERCEPT)


@dataclass(frozen=True)
class SimulatedCameraNoiseModel:
    """Physics camera simulator (unprocess → Poisson-Gaussian raw noise → process) with a fitted gain.

    Sampling: the clean sRGB image is unprocessed to a raw Bayer mosaic with ``profile``
    (:func:`nmflowgan_aug.data.camera_sim.unprocess`), Poisson-Gaussian noise with shot gain ``a``
    and read variance ``b`` is added (:func:`~nmflowgan_aug.data.camera_sim.poisson_gaussian_noise`,
    variance ``a·x + b`` in raw units, 0 = black, 1 = saturation), and both the noisy and the
    noise-free mosaics are processed back to sRGB (bilinear demosaicing, white balance, colour
    matrix, sRGB curve; unquantized). The **difference** of the two is added to the clean image, so
    that the simulator's own demosaicing blur of the clean image is not counted as noise.

    Parameters: the shot gain ``a`` follows the :class:`LogIsoLaw` per camera; the read variance is
    tied to it, ``log b = 2.18·log a + 1.20`` (:func:`read_variance`, the shot/read relation of
    Brooks et al. CVPR 2019). Fitting ``a`` and ``b`` separately was tried and is not identifiable
    from a few sRGB images (the two trade off freely once the tone curve and colour matrix have
    mixed them).

    The colour matrix, white balance and Bayer pattern come from a simulated profile (default
    ``SimCam-A`` of :data:`~nmflowgan_aug.data.camera_sim.SIMULATED_PROFILES`): the real colour
    matrices and ISPs of the SIDD phones (including their denoising and sharpening) are unknown
    here, so only the noise *level* is fitted to each camera, not its colour or spatial structure.

    Fit. Per training image (centre crop of at most 512×512), the squared real residuals are averaged
    in clean-intensity bins per channel as in :class:`HeteroscedasticGaussianNoiseModel`. The
    simulator is linearized at an operating point ``a0``: the binned sRGB second moments ``g_a`` of
    pure shot noise and ``g_b`` of pure read noise are measured by simulating on the same clean
    image (Gaussian approximation, fixed seed), and ``a`` minimizes the pixel-weighted squared error
    between ``log(a·g_a/a0 + b(a)·g_b/b(a0))`` and the log of the real moments. The linearization is
    repeated at the new ``a`` (``iterations`` rounds); then ``log a`` of all images is fitted with
    :func:`fit_log_iso_law`.

    Attributes:
        law: law of ``(shot_gain,)`` in raw units.
        profile: the simulated colour profile used for unprocess/process.
        per_image: per training image ``(name, camera, ISO, shot gain)``.
    """

    law: LogIsoLaw
    profile: SimulatedCameraProfile = SIMULATED_PROFILES[0]
    per_image: tuple[tuple[str, str, float, float], ...] = field(default=(), repr=False)

    @classmethod
    def fit(
        cls,
        pairs: Iterable[Any],
        *,
        profile: ProfileLike = SIMULATED_PROFILES[0],
        max_size: int | None = 512,
        iterations: int = 2,
        seed: int = 0,
    ) -> SimulatedCameraNoiseModel:
        """Fit the shot gain on training pairs.

        Args:
            pairs: ``ImagePair`` objects or ``(clean, noisy, camera, iso)`` tuples with known metadata.
            profile: simulated colour profile (or its name) for unprocess/process.
            max_size: centre-crop each training image to at most this many pixels per side.
            iterations: linearize/fit rounds per image.
            seed: seed of the calibration simulations.

        Raises:
            ValueError: no pairs, unknown metadata, or no camera with two ISO values.
        """
        from scipy.optimize import minimize_scalar

        profile = get_profile(profile)
        data = _load_pairs(pairs, max_size)
        gains = []
        for p in data:
            mom = _binned_moments(p.clean, p.noisy)
            if mom.m2.size == 0:
                raise ValueError(f"training pair {p.name!r} has no intensity bin with enough pixels in [0.02, 0.98]")
            t = torch.from_numpy(p.clean.transpose(2, 0, 1).astype(np.float32)).unsqueeze(0)
            raw = unprocess(_pad_even(t)[0], profile)
            base = process(raw, profile, quantize=False)
            w = mom.count / mom.count.sum()
            log_m = np.log(np.maximum(mom.m2, VAR_FLOOR))
            a0 = profile.noise_params(800)[0]
            for _ in range(max(1, iterations)):
                b0 = read_variance(a0)
                g_a, g_b = _sim_moments(raw, base, profile, a0, b0, p, mom, seed)
                g_a, g_b = g_a / a0, g_b / b0

                def loss(log_a: float, g_a: np.ndarray = g_a, g_b: np.ndarray = g_b) -> float:
                    a = math.exp(log_a)
                    model = a * g_a + read_variance(a) * g_b
                    return float(np.sum(w * (np.log(model) - log_m) ** 2))

                a0 = math.exp(minimize_scalar(loss, bounds=(math.log(1e-7), 0.0), method="bounded").x)
            gains.append(a0)
        law = fit_log_iso_law([p.camera for p in data], [p.iso for p in data], np.array(gains), ("shot_gain",))
        per_image = tuple((p.name, p.camera, p.iso, float(a)) for p, a in zip(data, gains))
        return cls(law, profile, per_image)

    def noise_params(self, camera: str, iso: float) -> tuple[float, float]:
        """``(shot_gain a, read_var b)`` in raw units at ``(camera, iso)``."""
        a = float(self.law(camera, iso)[0])
        return a, read_variance(a)

    def sample(
        self,
        clean: torch.Tensor,
        camera: CameraArg,
        iso: IsoArg,
        generator: torch.Generator | None = None,
        *,
        quantize: bool = False,
    ) -> torch.Tensor:
        """Noisy sRGB ``(B, 3, H, W)`` in [0, 1]; arguments and errors as :meth:`GaussianNoiseModel.sample`.

        Odd H or W are handled by replicate-padding to even size for the Bayer mosaic and cropping back.
        """
        check_srgb_batch(clean, "clean")
        x = _work(clean)
        conds = _conditions(camera, iso, x.shape[0])
        params = np.array([self.noise_params(c, i) for c, i in conds])
        xp, h, w = _pad_even(x)
        raw = unprocess(xp, self.profile)
        a = torch.tensor(params[:, 0], dtype=raw.dtype, device=raw.device).view(-1, 1, 1, 1)
        b = torch.tensor(params[:, 1], dtype=raw.dtype, device=raw.device).view(-1, 1, 1, 1)
        noise = _sim_residual(raw, self.profile, a, b, generator)[..., :h, :w]
        return _finish(clean, x + noise.to(x.dtype), quantize)

    def describe(self) -> dict[str, Any]:
        """Fitted parameters as plain JSON (raw units: 0 = black level, 1 = saturation)."""
        return {
            "model": "unprocess -> Poisson-Gaussian (var = a*x + b, raw units) -> process; residual added to clean",
            "read_var": f"log b = {READ_LOG_SLOPE} * log a + {READ_LOG_INTERCEPT} (Brooks et al. CVPR 2019)",
            "profile": self.profile.name,
            "law": self.law.to_dict(),
            "per_image_shot_gain": {name: a for name, _, _, a in self.per_image},
        }


def _sim_moments(
    raw: torch.Tensor,
    base: torch.Tensor,
    profile: SimulatedCameraProfile,
    a: float,
    b: float,
    pair: _Pair,
    mom: _Moments,
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Binned sRGB second moments, in the cells of ``mom``, of simulated pure shot noise (gain ``a``) and
    pure read noise (variance ``b``), Gaussian approximation; ``base`` is ``process(raw)``."""
    gen = torch.Generator().manual_seed(seed)
    raw2 = raw.expand(2, -1, -1, -1)
    var = torch.stack([a * raw[0], torch.full_like(raw[0], b)])
    noisy_raw = raw2 + var.clamp(min=0).sqrt() * torch.randn(raw2.shape, generator=gen, dtype=raw.dtype)
    res = (process(noisy_raw, profile, quantize=False) - base).numpy()
    h, w = pair.clean.shape[:2]
    out = []
    for k in range(2):
        sim_noisy = np.clip(pair.clean + res[k, :, :h, :w].transpose(1, 2, 0), 0.0, 1.0)
        full = _binned_moments(pair.clean, sim_noisy, min_count=1)
        lookup = {(int(c), int(n)): v for c, n, v in zip(full.channel, full.bin, full.m2)}
        out.append(np.array([max(lookup[(int(c), int(n))], 1e-30) for c, n in zip(mom.channel, mom.bin)]))
    return out[0], out[1]


# --------------------------------------------------------------------------------------------------
# real noise of another pair


@dataclass(frozen=True, eq=False)
class NoiseDonor:
    """Real noise of one pair: ``residual`` = ``noisy − clean`` in 8-bit levels, int16 ``(3, H, W)``."""

    name: str
    camera: str
    iso: float
    scene: str | None
    residual: torch.Tensor = field(repr=False)


class RealNoiseReference:
    """Real noise of *another* pair with the same camera and ISO, added to the clean image.

    ``noisy = clip(clean + r / 255, 0, 1)`` where ``r`` is the residual ``noisy − clean`` (8-bit
    levels) of a donor pair with the same (camera, ISO), not the pair being synthesized. A donor
    larger than the target is cropped at a random position; a smaller one is tiled by mirroring.
    Donors from another scene instance are preferred; when only pairs of the same scene exist (e.g.
    two blocks of one SIDD validation image) they are used, and :meth:`sample_with_donors` reports
    which donor was taken so that callers can flag it. Where no donor exists the reference is
    undefined and :class:`NoDonorError` is raised: there is no fallback to a nearby condition.

    Not a noise model: it needs real noisy/clean pairs of exactly the requested condition. It
    estimates how close "real noise of the same camera and ISO, different content" gets on a metric.
    """

    def __init__(self, donors: Sequence[NoiseDonor]) -> None:
        names = [d.name for d in donors]
        if len(set(names)) != len(names):
            raise ValueError("donor names must be unique")
        self.donors: tuple[NoiseDonor, ...] = tuple(donors)

    @classmethod
    def fit(cls, pairs: Iterable[Any], *, max_size: int | None = 1024) -> RealNoiseReference:
        """Store the residuals of ``pairs`` (``ImagePair`` objects or 4-tuples with known metadata).

        Args:
            pairs: donor pairs; names must be unique (tuples are named ``pair0``, ``pair1``, ...).
            max_size: centre-crop each residual to at most this many pixels per side (memory).
        """
        donors = []
        for p in _load_pairs(pairs, max_size):
            r = np.round((p.noisy - p.clean) * 255.0).astype(np.int16).transpose(2, 0, 1)
            donors.append(NoiseDonor(p.name, p.camera, p.iso, p.scene, torch.from_numpy(np.ascontiguousarray(r))))
        return cls(donors)

    def candidates(
        self, camera: str, iso: float, *, exclude: Iterable[str] = (), scene: str | None = None
    ) -> tuple[list[NoiseDonor], bool]:
        """Donors for ``(camera, iso)`` other than ``exclude``: ``(donors, same_scene)``.

        With ``scene`` given, donors of other (or unknown) scenes are returned if any exist
        (``same_scene`` False); otherwise the same-scene donors (``same_scene`` True). An empty list
        means no donor.
        """
        excluded = set(exclude)
        iso = _check_iso(iso)
        pool = [d for d in self.donors if d.camera == camera and math.isclose(d.iso, iso) and d.name not in excluded]
        if scene is None:
            return pool, False
        other = [d for d in pool if d.scene is None or d.scene != str(scene)]
        return (other, False) if other else (pool, bool(pool))

    def sample_with_donors(
        self,
        clean: torch.Tensor,
        camera: CameraArg,
        iso: IsoArg,
        generator: torch.Generator | None = None,
        *,
        exclude: Iterable[str] = (),
        scene: str | Sequence[str | None] | None = None,
        quantize: bool = False,
    ) -> tuple[torch.Tensor, list[tuple[str, bool]]]:
        """Like :meth:`sample`, also returning per image ``(donor name, same_scene)``."""
        check_srgb_batch(clean, "clean")
        x = _work(clean)
        batch, _, h, w = x.shape
        conds = _conditions(camera, iso, batch)
        scenes = [scene] * batch if scene is None or isinstance(scene, str) else list(scene)
        exclude = tuple(exclude)
        out, used = [], []
        for k, ((cam, i), sc) in enumerate(zip(conds, scenes)):
            pool, same = self.candidates(cam, i, exclude=exclude, scene=sc)
            if not pool:
                raise NoDonorError(
                    f"no real-noise donor for camera {cam!r} at ISO {i:g} (excluding {list(exclude)}); "
                    f"conditions with donors: {sorted({(d.camera, d.iso) for d in self.donors})}"
                )
            d = pool[int(torch.randint(len(pool), (1,), generator=generator, device=x.device).item())]
            r = _crop_or_tile(d.residual, h, w, generator, x.device)
            out.append(x[k] + r.to(device=x.device, dtype=x.dtype) / 255.0)
            used.append((d.name, same))
        return _finish(clean, torch.stack(out), quantize), used

    def sample(
        self,
        clean: torch.Tensor,
        camera: CameraArg,
        iso: IsoArg,
        generator: torch.Generator | None = None,
        *,
        exclude: Iterable[str] = (),
        scene: str | Sequence[str | None] | None = None,
        quantize: bool = False,
    ) -> torch.Tensor:
        """Clean plus the real noise of a donor with the same camera and ISO, ``(B, 3, H, W)`` in [0, 1].

        Args:
            clean: float sRGB in [0, 1], ``(B, 3, H, W)``.
            camera, iso: one condition for the batch or B of them; the ISO must match a donor exactly.
            generator: optional ``torch.Generator`` on ``clean.device`` (donor choice and crop offset).
            exclude: donor names never to use (e.g. the pair being synthesized).
            scene: scene instance of the target(s); donors of other scenes are preferred.
            quantize: round to 8-bit levels (a no-op for 8-bit clean images: residuals are integers).

        Raises:
            NoDonorError: no donor for a requested condition.
        """
        return self.sample_with_donors(
            clean, camera, iso, generator, exclude=exclude, scene=scene, quantize=quantize
        )[0]

    def describe(self) -> dict[str, Any]:
        """Donors as plain JSON."""
        return {
            "model": "real residual (noisy - clean) of another pair with the same camera and ISO",
            "donors": [{"name": d.name, "camera": d.camera, "iso": d.iso, "scene": d.scene,
                        "size": list(d.residual.shape[-2:])} for d in self.donors],
        }


def _crop_or_tile(r: torch.Tensor, h: int, w: int, generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
    """A random ``h × w`` window of ``r`` ``(3, H, W)``, mirror-tiling ``r`` first where it is smaller."""
    while r.shape[-2] < h:
        r = torch.cat([r, r.flip(-2)], dim=-2)
    while r.shape[-1] < w:
        r = torch.cat([r, r.flip(-1)], dim=-1)
    top = int(torch.randint(r.shape[-2] - h + 1, (1,), generator=generator, device=device).item())
    left = int(torch.randint(r.shape[-1] - w + 1, (1,), generator=generator, device=device).item())
    return r[:, top : top + h, left : left + w]

"""Physics-based sRGB camera simulator and the embedded default dataset built with it.

The simulator turns a clean sRGB image into a realistic noisy sRGB image by running it backwards through a
simplified camera image-signal processor (ISP) to a raw Bayer mosaic, adding sensor noise there, and running
it forwards through the ISP again. This follows the idea of

    T. Brooks, B. Mildenhall, T. Xue, J. Chen, D. Sharlet, J. T. Barron,
    "Unprocessing Images for Learned Raw Denoising", CVPR 2019,

reduced to the stages that shape the noise (no tone curve, no highlight-preserving gain inversion) and with
fixed, named camera profiles instead of randomly sampled ISP parameters. Pipeline, per image:

1. sRGB in [0, 1] -> linear sRGB (inverse sRGB transfer curve, :func:`kornia.color.rgb_to_linear_rgb`);
2. linear sRGB -> camera RGB with the profile's ``rgb_to_cam`` matrix (non-negative, rows sum to 1, so white
   stays white and values stay in [0, 1]);
3. inverse white balance: red divided by ``wb_gains[0]``, blue by ``wb_gains[1]``;
4. mosaic to the profile's Bayer pattern (:func:`kornia.color.rgb_to_raw`), giving ``x`` in [0, 1], (B, 1, H, W);
5. heteroscedastic Poisson-Gaussian sensor noise (see :func:`poisson_gaussian_noise`)::

       y = a * Poisson(x / a) + N(0, b),   E[y] = x,   Var[y] = a * x + b,
       a = shot_gain_at_base * ISO / base_iso                      (shot noise, photon counting, gain ∝ ISO)
       b = read_var_at_base * (ISO / base_iso)**2 + read_var_floor  (read noise: pre-amplifier part ∝ gain²,
                                                                      post-amplifier part independent of ISO)

   then clipped to [0, 1] (black level and sensor saturation);
6. bilinear demosaicing (:func:`kornia.color.raw_to_rgb` with the matching :class:`kornia.color.CFA`);
7. white balance (multiply by the gains), clip to [0, 1];
8. colour correction with ``inverse(rgb_to_cam)``, clip to [0, 1];
9. sRGB transfer curve (:func:`kornia.color.linear_rgb_to_rgb`) and 8-bit quantisation (values ``k / 255``).

Steps 6 and 8 are what make the sRGB noise realistic: demosaicing interpolates every missing colour sample
from its neighbours, so the noise becomes spatially correlated (lag-1 correlation well above zero), and the
colour-correction matrix mixes the three channels with large negative off-diagonal terms, so the noise becomes
correlated across channels. Step 9 makes it signal-dependent in a non-linear way.

The clean target paired with a noisy image is the same pipeline with step 5 skipped (:func:`simulate_pair`):
the noise is then close to zero-mean around the re-processed clean image, as for a real camera whose ground
truth is the mean of many frames.

:func:`embedded_pairs` builds a small in-memory dataset from the RGB photographs bundled with scikit-image, so
that training code has something to train on with no data on disk.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Union

import kornia
import numpy as np
import torch

from ..srgb import check_srgb_batch
from ..vocab import ConditionVocabulary, IsoLike

__all__ = [
    "BAYER_PATTERNS",
    "EMBEDDED_PHOTOS",
    "SIMULATED_PROFILES",
    "SIMULATED_VOCABULARY",
    "SimulatedCameraProfile",
    "SimulatedPair",
    "embedded_pairs",
    "get_profile",
    "poisson_gaussian_noise",
    "process",
    "simulate_noisy",
    "simulate_pair",
    "unprocess",
]

#: Bayer patterns (top-left 2x2 cell, row by row) and the kornia CFA enum for each. kornia uses OpenCV's
#: names, which read the pattern from pixel (1, 1): an RGGB sensor is ``CFA.BG``.
BAYER_PATTERNS: dict[str, kornia.color.CFA] = {
    "RGGB": kornia.color.CFA.BG,
    "GRBG": kornia.color.CFA.GB,
    "BGGR": kornia.color.CFA.RG,
    "GBRG": kornia.color.CFA.GR,
}


@dataclass(frozen=True)
class SimulatedCameraProfile:
    """Fixed ISP and sensor-noise parameters of one simulated camera.

    All raw quantities are normalised: 0 is the black level, 1 is sensor saturation.

    Args:
        name: profile name, used as the camera name in :data:`SIMULATED_VOCABULARY` (e.g. ``"SimCam-A"``).
        cfa: Bayer pattern of the top-left 2x2 cell, one of ``"RGGB"``, ``"GRBG"``, ``"BGGR"``, ``"GBRG"``.
        rgb_to_cam: 3x3 matrix (nested tuples) mapping linear sRGB to camera RGB, ``cam = M @ rgb``.
            Entries must be non-negative (physical cross-talk of the colour filters); rows are normalised to
            sum to 1 on construction. The forward colour-correction matrix is its inverse.
        wb_gains: white-balance gains ``(red, blue)`` (green gain is 1), each >= 1.
        base_iso: ISO at which ``shot_gain_at_base`` and ``read_var_at_base`` are given.
        shot_gain_at_base: shot-noise gain ``a`` at the base ISO, in raw units (variance ``a * x``).
        read_var_at_base: pre-amplifier read-noise variance at the base ISO, raw units²; scales with
            ``(ISO / base_iso) ** 2``.
        read_var_floor: post-amplifier read-noise variance, raw units², independent of ISO.

    Raises:
        ValueError: unknown CFA, a matrix that is not 3x3, has negative entries or is singular, gains below 1,
            or non-positive ISO / noise parameters.
    """

    name: str
    cfa: str
    rgb_to_cam: tuple[tuple[float, float, float], ...]
    wb_gains: tuple[float, float]
    base_iso: int
    shot_gain_at_base: float
    read_var_at_base: float
    read_var_floor: float

    def __post_init__(self) -> None:
        if self.cfa not in BAYER_PATTERNS:
            raise ValueError(f"unknown Bayer pattern {self.cfa!r}; supported patterns: {list(BAYER_PATTERNS)}")
        m = np.asarray(self.rgb_to_cam, dtype=np.float64)
        if m.shape != (3, 3):
            raise ValueError(f"rgb_to_cam must be 3x3, got shape {m.shape}")
        if (m < 0).any() or (m.sum(1) <= 0).any():
            raise ValueError(f"rgb_to_cam must be non-negative with positive row sums, got {m.tolist()}")
        m = m / m.sum(1, keepdims=True)
        if abs(np.linalg.det(m)) < 1e-6:
            raise ValueError(f"rgb_to_cam must be invertible, got {m.tolist()}")
        object.__setattr__(self, "rgb_to_cam", tuple(tuple(float(v) for v in row) for row in m))
        gains = tuple(float(g) for g in self.wb_gains)
        if len(gains) != 2 or min(gains) < 1.0:
            raise ValueError(f"wb_gains must be (red, blue) gains >= 1, got {self.wb_gains}")
        object.__setattr__(self, "wb_gains", gains)
        if int(self.base_iso) <= 0:
            raise ValueError(f"base_iso must be positive, got {self.base_iso}")
        if self.shot_gain_at_base <= 0 or self.read_var_at_base < 0 or self.read_var_floor < 0:
            raise ValueError(
                "shot_gain_at_base must be > 0 and read variances >= 0, got "
                f"{self.shot_gain_at_base}, {self.read_var_at_base}, {self.read_var_floor}"
            )

    @property
    def kornia_cfa(self) -> kornia.color.CFA:
        """The :class:`kornia.color.CFA` value of :attr:`cfa`."""
        return BAYER_PATTERNS[self.cfa]

    @property
    def cam_to_rgb(self) -> tuple[tuple[float, float, float], ...]:
        """Forward colour-correction matrix (camera RGB -> linear sRGB), the inverse of :attr:`rgb_to_cam`."""
        inv = np.linalg.inv(np.asarray(self.rgb_to_cam, dtype=np.float64))
        return tuple(tuple(float(v) for v in row) for row in inv)

    @property
    def shot_gain_per_iso(self) -> float:
        """Shot-noise gain per ISO unit: ``a = shot_gain_per_iso * ISO``."""
        return self.shot_gain_at_base / self.base_iso

    def noise_params(self, iso: float) -> tuple[float, float]:
        """Poisson-Gaussian parameters ``(a, b)`` at ``iso`` (raw units; variance ``a * x + b``).

        Raises:
            ValueError: non-positive ISO.
        """
        if not iso > 0:
            raise ValueError(f"ISO must be positive, got {iso!r}")
        r = float(iso) / self.base_iso
        return self.shot_gain_at_base * r, self.read_var_at_base * r * r + self.read_var_floor


#: Three simulated cameras. Values are plausible for small-sensor phones, not measurements of real devices:
#: WB gains within Brooks et al.'s ranges (red 1.9-2.4, blue 1.5-1.9), and shot/read levels for ISO 100-3200
#: within their sampled range (shot gain 1e-4 ... 1.2e-2, read variance ≈ shot^2.2 scale).
SIMULATED_PROFILES: tuple[SimulatedCameraProfile, ...] = (
    SimulatedCameraProfile(
        name="SimCam-A",
        cfa="RGGB",
        rgb_to_cam=((0.78, 0.18, 0.04), (0.12, 0.76, 0.12), (0.03, 0.25, 0.72)),
        wb_gains=(2.10, 1.65),
        base_iso=100,
        shot_gain_at_base=2.0e-4,
        read_var_at_base=6.0e-8,
        read_var_floor=2.0e-7,
    ),
    SimulatedCameraProfile(
        name="SimCam-B",
        cfa="GRBG",
        rgb_to_cam=((0.70, 0.24, 0.06), (0.15, 0.70, 0.15), (0.05, 0.30, 0.65)),
        wb_gains=(1.90, 1.85),
        base_iso=50,
        shot_gain_at_base=1.25e-4,
        read_var_at_base=2.5e-8,
        read_var_floor=4.0e-7,
    ),
    SimulatedCameraProfile(
        name="SimCam-C",
        cfa="BGGR",
        rgb_to_cam=((0.82, 0.15, 0.03), (0.10, 0.80, 0.10), (0.02, 0.20, 0.78)),
        wb_gains=(2.35, 1.55),
        base_iso=100,
        shot_gain_at_base=1.3e-4,
        read_var_at_base=4.0e-8,
        read_var_floor=1.5e-7,
    ),
)

#: Condition vocabulary of the simulated cameras (official NM-FlowGAN ISO levels, one-hot encoding).
SIMULATED_VOCABULARY = ConditionVocabulary(
    cameras=tuple(p.name for p in SIMULATED_PROFILES), isos=(100, 400, 800, 1600, 3200), iso_encoding="onehot"
)

ProfileLike = Union[SimulatedCameraProfile, str]


def get_profile(profile: ProfileLike) -> SimulatedCameraProfile:
    """Return a profile given itself or its name.

    Raises:
        ValueError: unknown profile name (the message lists the known names).
        TypeError: neither a :class:`SimulatedCameraProfile` nor a str.
    """
    if isinstance(profile, SimulatedCameraProfile):
        return profile
    if isinstance(profile, str):
        for p in SIMULATED_PROFILES:
            if p.name == profile:
                return p
        raise ValueError(f"unknown simulated camera {profile!r}; supported cameras: {[p.name for p in SIMULATED_PROFILES]}")
    raise TypeError(f"profile must be a SimulatedCameraProfile or its name, got {type(profile).__name__}")


# --------------------------------------------------------------------------------------------------------------
# ISP stages
# --------------------------------------------------------------------------------------------------------------


def _work_dtype(x: torch.Tensor) -> torch.dtype:
    return x.dtype if x.dtype in (torch.float32, torch.float64) else torch.float32


def _check_even(x: torch.Tensor, name: str) -> None:
    if x.shape[-2] % 2 or x.shape[-1] % 2:
        raise ValueError(f"{name} height and width must be even for a Bayer mosaic, got shape {tuple(x.shape)}")


def _matrix(rows: Sequence[Sequence[float]], like: torch.Tensor) -> torch.Tensor:
    return torch.tensor(rows, dtype=like.dtype, device=like.device)


def _wb(x: torch.Tensor, profile: SimulatedCameraProfile, inverse: bool) -> torch.Tensor:
    r, b = profile.wb_gains
    g = torch.tensor([r, 1.0, b], dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return x / g if inverse else x * g


def unprocess(clean: torch.Tensor, profile: ProfileLike) -> torch.Tensor:
    """Map clean sRGB images to noise-free raw Bayer mosaics (steps 1-4 of the module pipeline).

    Args:
        clean: float ``(B, 3, H, W)`` sRGB in [0, 1], H and W even.
        profile: a :class:`SimulatedCameraProfile` or its name.

    Returns:
        Raw mosaic, float ``(B, 1, H, W)`` in [0, 1] (float32 for half-precision input, else the input dtype),
        laid out in ``profile.cfa``.

    Raises:
        TypeError / ValueError: bad image (see :func:`nmflowgan_aug.srgb.check_srgb_batch`), odd H or W, or
            an unknown profile.
    """
    profile = get_profile(profile)
    check_srgb_batch(clean, "clean")
    _check_even(clean, "clean")
    x = clean.to(_work_dtype(clean))
    lin = kornia.color.rgb_to_linear_rgb(x)
    cam = torch.einsum("ij,bjhw->bihw", _matrix(profile.rgb_to_cam, lin), lin)
    cam = _wb(cam, profile, inverse=True).clamp(0.0, 1.0)
    return kornia.color.rgb_to_raw(cam, profile.kornia_cfa)


def process(raw: torch.Tensor, profile: ProfileLike, *, quantize: bool = True) -> torch.Tensor:
    """Map raw Bayer mosaics to sRGB images (steps 6-9 of the module pipeline).

    Args:
        raw: float ``(B, 1, H, W)`` raw mosaic in ``profile.cfa`` layout, H and W even; values are clipped to
            [0, 1] first.
        profile: a :class:`SimulatedCameraProfile` or its name.
        quantize: round to 8-bit levels ``k / 255``.

    Returns:
        sRGB float ``(B, 3, H, W)`` in [0, 1], same dtype as ``raw``.

    Raises:
        TypeError: ``raw`` is not a floating-point tensor.
        ValueError: wrong shape or odd H / W, unknown profile.
    """
    profile = get_profile(profile)
    if not isinstance(raw, torch.Tensor) or not raw.is_floating_point():
        raise TypeError(f"raw must be a floating-point torch.Tensor, got {type(raw).__name__}")
    if raw.ndim != 4 or raw.shape[1] != 1:
        raise ValueError(f"raw must have shape (B, 1, H, W), got {tuple(raw.shape)}")
    _check_even(raw, "raw")
    rgb = kornia.color.raw_to_rgb(raw.clamp(0.0, 1.0), profile.kornia_cfa)
    rgb = _wb(rgb, profile, inverse=False).clamp(0.0, 1.0)
    lin = torch.einsum("ij,bjhw->bihw", _matrix(profile.cam_to_rgb, rgb), rgb).clamp(0.0, 1.0)
    srgb = kornia.color.linear_rgb_to_rgb(lin).clamp(0.0, 1.0)
    if quantize:
        srgb = torch.round(srgb * 255.0) / 255.0
    return srgb


def poisson_gaussian_noise(
    raw: torch.Tensor,
    shot_gain: float | torch.Tensor,
    read_var: float | torch.Tensor,
    *,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Add heteroscedastic Poisson-Gaussian sensor noise to a raw image (no clipping).

    ``y = a * Poisson(x / a) + sqrt(b) * N(0, 1)``, so ``E[y] = x`` and ``Var[y] = a * x + b`` (the
    Poisson-Gaussian model of Foi et al. 2008, as used by Brooks et al. CVPR 2019). The Poisson draw is exact
    (:func:`torch.poisson`), not a normal approximation, so dark pixels keep the skew of photon counting.

    Args:
        raw: float tensor of any shape (typically ``(B, 1, H, W)``), non-negative noise-free raw values.
        shot_gain: ``a`` > 0, a float or a tensor broadcastable to ``raw`` (e.g. ``(B, 1, 1, 1)``).
        read_var: ``b`` >= 0, a float or a tensor broadcastable to ``raw``.
        generator: optional :class:`torch.Generator` on ``raw.device`` for reproducible draws.

    Returns:
        Noisy raw values, same shape and dtype as ``raw``; may leave [0, 1].

    Raises:
        ValueError: negative raw values, non-positive ``a`` or negative ``b``.
    """
    a = torch.as_tensor(shot_gain, dtype=raw.dtype, device=raw.device)
    b = torch.as_tensor(read_var, dtype=raw.dtype, device=raw.device)
    if (a <= 0).any() or (b < 0).any():
        raise ValueError(f"shot_gain must be > 0 and read_var >= 0, got {shot_gain!r}, {read_var!r}")
    if (raw < 0).any():
        raise ValueError("raw must be non-negative for Poisson shot noise")
    shot = torch.poisson((raw / a).expand_as(raw).contiguous(), generator=generator) * a
    read = torch.randn(raw.shape, dtype=raw.dtype, device=raw.device, generator=generator) * b.sqrt()
    return shot + read


def _noise_tensors(
    profile: SimulatedCameraProfile, iso: IsoLike, batch: int, like: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    isos = SIMULATED_VOCABULARY.iso_values(iso, batch).tolist()
    params = [profile.noise_params(i) for i in isos]
    a = torch.tensor([p[0] for p in params], dtype=like.dtype, device=like.device).view(batch, 1, 1, 1)
    b = torch.tensor([p[1] for p in params], dtype=like.dtype, device=like.device).view(batch, 1, 1, 1)
    return a, b


def simulate_pair(
    clean: torch.Tensor,
    profile: ProfileLike,
    iso: IsoLike,
    *,
    generator: torch.Generator | None = None,
    quantize: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Simulate a camera capture of ``clean``: the re-processed clean target and a noisy image.

    Args:
        clean: float ``(B, 3, H, W)`` sRGB in [0, 1]; H and W must be even (Bayer mosaic).
        profile: a :class:`SimulatedCameraProfile` or its name (one of :data:`SIMULATED_VOCABULARY` cameras).
        iso: one ISO for the batch or ``B`` values, each in ``SIMULATED_VOCABULARY.isos`` (100 ... 3200).
        generator: optional :class:`torch.Generator` on ``clean.device``; same seed, same noise.
        quantize: round both outputs to 8-bit levels ``k / 255`` (default, like a camera's JPEG/PNG).

    Returns:
        ``(clean_processed, noisy)``: float ``(B, 3, H, W)`` sRGB in [0, 1], dtype of ``clean`` (half-precision
        input is computed in float32 and cast back). ``clean_processed`` is the pipeline without noise (demosaicing blur included);
        ``noisy`` is the pipeline with Poisson-Gaussian raw noise (see the module docstring for the formula).

    Raises:
        TypeError: ``clean`` not a floating-point tensor, or a bad profile type.
        ValueError: bad shape, values outside [0, 1], odd H or W, unknown profile name, or an ISO not in
            ``SIMULATED_VOCABULARY.isos`` (the message lists the supported values).
    """
    profile = get_profile(profile)
    raw = unprocess(clean, profile)
    a, b = _noise_tensors(profile, iso, raw.shape[0], raw)
    noisy_raw = poisson_gaussian_noise(raw, a, b, generator=generator)
    clean_out = process(raw, profile, quantize=quantize).to(clean.dtype)
    noisy_out = process(noisy_raw, profile, quantize=quantize).to(clean.dtype)
    return clean_out, noisy_out


def simulate_noisy(
    clean: torch.Tensor,
    profile: ProfileLike,
    iso: IsoLike,
    *,
    generator: torch.Generator | None = None,
    quantize: bool = True,
) -> torch.Tensor:
    """Noisy half of :func:`simulate_pair`: float ``(B, 3, H, W)`` sRGB in [0, 1], 8-bit levels by default.

    Note that the noise is centred on the *re-processed* clean image (``simulate_pair(...)[0]``), not exactly
    on ``clean``; use :func:`simulate_pair` when a matching target is needed. Arguments and errors are those
    of :func:`simulate_pair`.
    """
    return simulate_pair(clean, profile, iso, generator=generator, quantize=quantize)[1]


# --------------------------------------------------------------------------------------------------------------
# Embedded dataset
# --------------------------------------------------------------------------------------------------------------

#: RGB photographs bundled with the scikit-image wheel (no download needed), by split. Splits are disjoint by
#: photograph.
EMBEDDED_PHOTOS: dict[str, tuple[str, ...]] = {
    "train": ("astronaut", "rocket", "motorcycle", "immunohistochemistry", "retina", "hubble_deep_field"),
    "val": ("chelsea", "coffee"),
}

_MAX_TILES_PER_PHOTO = 4


@dataclass(frozen=True, eq=False)
class SimulatedPair:
    """One in-memory simulated noisy/clean pair (satisfies the ``ImagePair`` protocol of ``data.sidd``).

    Attributes:
        name: unique name, ``"sim-<split>-<index>-<photo>-t<tile>-<camera>-ISO<iso>"``.
        camera: simulated camera (profile) name, e.g. ``"SimCam-A"``.
        iso: ISO of the simulated capture.
        clean: uint8 ``(H, W, 3)`` RGB, the re-processed clean image.
        noisy: uint8 ``(H, W, 3)`` RGB.
        scene: always ``None`` (no scene metadata).
    """

    name: str
    camera: str
    iso: int
    clean: np.ndarray = field(repr=False)
    noisy: np.ndarray = field(repr=False)
    scene: None = None

    def load(self) -> tuple[np.ndarray, np.ndarray]:
        """Return copies of ``(clean, noisy)``, uint8 ``(H, W, 3)`` RGB."""
        return self.clean.copy(), self.noisy.copy()


def _load_photo(name: str) -> np.ndarray:
    import skimage.data

    if name == "motorcycle":
        return skimage.data.stereo_motorcycle()[0]
    return getattr(skimage.data, name)()


@lru_cache(maxsize=8)
def _photo_tiles(name: str, size: int) -> tuple[np.ndarray, ...]:
    """All candidate size x size uint8 tiles of one photo, in a fixed order (before any seeded choice)."""
    from skimage.transform import resize

    img = _load_photo(name)[..., :3]
    h, w = img.shape[:2]
    short = min(h, w)
    # Large photos are shrunk so that tiles hold more content; small ones are enlarged to fit one tile.
    scale = 2 * size / short if short > 2 * size else (size / short if short < size else 1.0)
    if scale != 1.0:
        new = (max(size, round(h * scale)), max(size, round(w * scale)))
        img = (resize(img, new, order=1, anti_aliasing=scale < 1, preserve_range=True) + 0.5).astype(np.uint8)
        h, w = new
    ys = np.linspace(0, h - size, int(np.ceil(h / size))).round().astype(int)
    xs = np.linspace(0, w - size, int(np.ceil(w / size))).round().astype(int)
    tiles = []
    for y in ys:
        for x in xs:
            t = img[y : y + size, x : x + size]
            m = t.mean() / 255.0
            if 0.05 <= m <= 0.95:  # drop black borders (retina, deep field) and blown-out tiles
                tiles.append(np.ascontiguousarray(t))
    return tuple(tiles)


def _seed(*parts: object) -> int:
    return zlib.crc32("|".join(str(p) for p in parts).encode())


def embedded_pairs(
    size: int = 256,
    n_images: int | None = None,
    seed: int = 0,
    split: str = "train",
    *,
    profiles: Sequence[ProfileLike] = SIMULATED_PROFILES,
    isos: Sequence[int] = SIMULATED_VOCABULARY.isos,
) -> list[SimulatedPair]:
    """Small simulated dataset from the photographs bundled with scikit-image (no files, no network).

    Each photo gives up to 4 tiles of ``size x size`` pixels (large photos are first shrunk to a short side of
    ``2 * size``; tiles with mean intensity outside [0.05, 0.95] are skipped). The (camera, ISO) conditions are
    assigned in a balanced round robin over all ``profiles x isos`` combinations, each with a seeded tile, and
    every pair is simulated with :func:`simulate_pair` under its own seeded generator. The output depends only
    on the arguments. Train and val use disjoint photographs (:data:`EMBEDDED_PHOTOS`).

    Args:
        size: tile side in pixels, even, >= 16.
        n_images: number of pairs; default ``3 * len(profiles) * len(isos)`` for train (45: 3 per condition)
            and ``len(profiles) * len(isos)`` for val (15). At 256 px a pair takes 384 KiB.
        seed: seed of the tile choice and of the noise.
        split: ``"train"`` or ``"val"``.
        profiles: cameras to simulate (profiles or names).
        isos: ISO values to simulate, each in ``SIMULATED_VOCABULARY.isos``.

    Returns:
        ``n_images`` :class:`SimulatedPair` objects whose ``load()`` returns ``(clean, noisy)`` uint8
        ``(size, size, 3)``.

    Raises:
        ValueError: unknown split, odd or too small ``size``, non-positive ``n_images``, unknown profile, or an
            ISO outside the vocabulary.
    """
    if split not in EMBEDDED_PHOTOS:
        raise ValueError(f"split must be one of {list(EMBEDDED_PHOTOS)}, got {split!r}")
    if not isinstance(size, int) or size < 16 or size % 2:
        raise ValueError(f"size must be an even int >= 16, got {size!r}")
    profs = [get_profile(p) for p in profiles]
    iso_list = SIMULATED_VOCABULARY.iso_values(list(isos), len(isos)).tolist()
    if not profs or not iso_list:
        raise ValueError("profiles and isos must be non-empty")
    conditions = [(p, i) for i in iso_list for p in profs]
    if n_images is None:
        n_images = len(conditions) * (3 if split == "train" else 1)
    if n_images <= 0:
        raise ValueError(f"n_images must be positive, got {n_images}")

    rng = np.random.default_rng(_seed("tiles", seed, split, size))
    pool: list[tuple[str, int, np.ndarray]] = []
    for photo in EMBEDDED_PHOTOS[split]:
        tiles = _photo_tiles(photo, size)
        keep = sorted(rng.permutation(len(tiles))[:_MAX_TILES_PER_PHOTO].tolist())
        pool.extend((photo, k, tiles[k]) for k in keep)
    if not pool:
        raise ValueError(f"no usable tiles of size {size} in the {split} photos")
    order = np.random.default_rng(_seed("order", seed, split, size)).permutation(len(pool))

    pairs = []
    for idx in range(n_images):
        profile, iso = conditions[idx % len(conditions)]
        photo, k, tile = pool[order[idx % len(pool)]]
        clean = torch.from_numpy(tile).permute(2, 0, 1).unsqueeze(0).float() / 255.0
        gen = torch.Generator().manual_seed(_seed("noise", seed, split, size, idx))
        c, n = simulate_pair(clean, profile, iso, generator=gen)
        to_u8 = lambda t: (t[0].permute(1, 2, 0) * 255.0).round().to(torch.uint8).numpy()  # noqa: E731
        pairs.append(
            SimulatedPair(
                name=f"sim-{split}-{idx:03d}-{photo}-t{k}-{profile.name}-ISO{iso}",
                camera=profile.name,
                iso=int(iso),
                clean=to_u8(c),
                noisy=to_u8(n),
            )
        )
    return pairs

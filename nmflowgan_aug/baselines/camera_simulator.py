"""Physics camera simulator (unprocess → Poisson-Gaussian raw noise → process) with a fitted shot gain."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..data.camera_sim import (
    SIMULATED_PROFILES,
    ProfileLike,
    SimulatedCameraProfile,
    get_profile,
    poisson_gaussian_noise,
    process,
    unprocess,
)
from .base import Condition, NoiseBaseline
from .log_iso_law import LogIsoLaw, fit_log_iso_law
from .moments import VAR_FLOOR, BinnedMoments, binned_moments
from .pairs import TrainingPair, load_training_pairs

__all__ = ["READ_LOG_INTERCEPT", "READ_LOG_SLOPE", "SimulatedCameraNoiseModel", "read_variance"]

#: Read-noise variance tied to the shot gain, ``log b = READ_LOG_SLOPE · log a + READ_LOG_INTERCEPT`` (natural
#: logs, raw units): the joint shot/read relation that Brooks et al., "Unprocessing Images for Learned Raw
#: Denoising" (CVPR 2019), fitted to real camera calibrations (they sample read noise around this line).
READ_LOG_SLOPE = 2.18
READ_LOG_INTERCEPT = 1.20


def read_variance(shot_gain: float) -> float:
    """Read-noise variance (raw units) tied to ``shot_gain`` by the Brooks et al. relation."""
    return math.exp(READ_LOG_SLOPE * math.log(shot_gain) + READ_LOG_INTERCEPT)


def _pad_even(x: torch.Tensor) -> tuple[torch.Tensor, int, int]:
    """Replicate-pad ``(..., H, W)`` to even H and W (for the Bayer mosaic); returns the original H, W too."""
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


@dataclass(frozen=True)
class SimulatedCameraNoiseModel(NoiseBaseline):
    """Physics camera simulator (unprocess → Poisson-Gaussian raw noise → process) with a fitted gain.

    Sampling: the clean sRGB image is unprocessed to a raw Bayer mosaic with ``profile``
    (:func:`nmflowgan_aug.data.camera_sim.unprocess`), Poisson-Gaussian noise with shot gain ``a``
    and read variance ``b`` is added (:func:`~nmflowgan_aug.data.camera_sim.poisson_gaussian_noise`,
    variance ``a·x + b`` in raw units, 0 = black, 1 = saturation), and both the noisy and the
    noise-free mosaics are processed back to sRGB (bilinear demosaicing, white balance, colour
    matrix, sRGB curve; unquantized). The **difference** of the two is added to the clean image, so
    that the simulator's own demosaicing blur of the clean image is not counted as noise. Odd H or W
    are replicate-padded to even size for the Bayer mosaic and cropped back. Arguments and errors of
    ``sample``: see :meth:`NoiseBaseline.sample`.

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
            ValueError: no pairs, unknown metadata, an image without usable intensity bins, or no
                camera with two ISO values.
        """
        from scipy.optimize import minimize_scalar

        profile = get_profile(profile)
        data = load_training_pairs(pairs, max_size)
        gains = []
        for p in data:
            mom = binned_moments(p.clean, p.noisy)
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
        """``(shot_gain a, read_var b)`` in raw units at ``(camera, iso)``.

        Raises:
            UnknownCameraError: a camera without training pairs.
        """
        a = float(self.law(camera, iso)[0])
        return a, read_variance(a)

    def add_noise(
        self, x: torch.Tensor, conditions: Sequence[Condition], generator: torch.Generator | None
    ) -> torch.Tensor:
        """``x`` plus the simulated sRGB residual of Poisson-Gaussian raw noise."""
        params = np.array([self.noise_params(c, i) for c, i in conditions])
        xp, h, w = _pad_even(x)
        raw = unprocess(xp, self.profile)
        a = torch.tensor(params[:, 0], dtype=raw.dtype, device=raw.device).view(-1, 1, 1, 1)
        b = torch.tensor(params[:, 1], dtype=raw.dtype, device=raw.device).view(-1, 1, 1, 1)
        noise = _sim_residual(raw, self.profile, a, b, generator)[..., :h, :w]
        return x + noise.to(x.dtype)

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
    pair: TrainingPair,
    mom: BinnedMoments,
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Binned sRGB second moments of simulated pure shot noise and pure read noise.

    The moments are in the cells of ``mom``, for pure shot noise (gain ``a``) and pure read noise
    (variance ``b``), Gaussian approximation; ``base`` is ``process(raw)``.
    """
    gen = torch.Generator().manual_seed(seed)
    raw2 = raw.expand(2, -1, -1, -1)
    var = torch.stack([a * raw[0], torch.full_like(raw[0], b)])
    noisy_raw = raw2 + var.clamp(min=0).sqrt() * torch.randn(raw2.shape, generator=gen, dtype=raw.dtype)
    res = (process(noisy_raw, profile, quantize=False) - base).numpy()
    h, w = pair.clean.shape[:2]
    out = []
    for k in range(2):
        sim_noisy = np.clip(pair.clean + res[k, :, :h, :w].transpose(1, 2, 0), 0.0, 1.0)
        full = binned_moments(pair.clean, sim_noisy, min_count=1)
        lookup = {(int(c), int(n)): v for c, n, v in zip(full.channel, full.bin, full.m2)}
        out.append(np.array([max(lookup[(int(c), int(n))], 1e-30) for c, n in zip(mom.channel, mom.bin)]))
    return out[0], out[1]

"""Simple sRGB noise baselines fitted on real noisy/clean pairs, to compare noise models against.

Every baseline is fitted on training pairs ``(clean, noisy, camera, ISO)`` with a classmethod
``fit(pairs)`` and synthesizes noise with ``sample(clean, camera, iso, generator=None)``, with the
same convention as :meth:`nmflowgan_aug.NMFlowGAN.sample` (:class:`NoiseModel`): ``clean`` is float
sRGB ``(B, 3, H, W)`` in [0, 1]; the result has the same shape, dtype and device, is clipped to
[0, 1] and is **not** rounded to 8-bit levels (pass ``quantize=True`` for that). A
``torch.Generator`` on ``clean.device`` makes the draw reproducible. The shared sampling steps live
in :class:`NoiseBaseline` (:mod:`.base`).

* :class:`GaussianNoiseModel` (:mod:`.gaussian`): i.i.d. zero-mean Gaussian noise, one σ per colour
  channel.
* :class:`HeteroscedasticGaussianNoiseModel` (:mod:`.heteroscedastic`): zero-mean Gaussian noise whose
  variance is linear in the clean intensity of the channel, ``var = β1·x + β2``.
* :class:`SimulatedCameraNoiseModel` (:mod:`.camera_simulator`): the physics simulator of
  :mod:`nmflowgan_aug.data.camera_sim` (unprocess to raw, Poisson-Gaussian sensor noise, process back
  to sRGB) with its shot gain fitted to the real noise (read noise tied to it).
* :class:`RealNoiseReference` (:mod:`.real_noise`): not a model; the real noise residual
  ``noisy - clean`` of *another* pair with the same camera and ISO, added to the clean image. It
  bounds what a noise model can reach when the noise of a different scene is the best available
  description of a condition.

Every fitted quantity of the three parametric baselines follows one (camera, ISO) law,
``log y = a[camera] + b · log(ISO / 100)`` (:class:`LogIsoLaw`, :mod:`.log_iso_law`), fitted on
second moments of the real noise about zero (:mod:`.moments`).
"""

from ..vocab import ISO_REF
from .base import NoiseBaseline, NoiseModel
from .camera_simulator import SimulatedCameraNoiseModel, read_variance
from .gaussian import GaussianNoiseModel
from .heteroscedastic import HeteroscedasticGaussianNoiseModel
from .log_iso_law import LogIsoLaw, UnknownCameraError, fit_log_iso_law
from .moments import VAR_FLOOR
from .real_noise import NoDonorError, NoiseDonor, RealNoiseReference

__all__ = [
    "GaussianNoiseModel",
    "HeteroscedasticGaussianNoiseModel",
    "ISO_REF",
    "LogIsoLaw",
    "NoDonorError",
    "NoiseBaseline",
    "NoiseDonor",
    "NoiseModel",
    "RealNoiseReference",
    "SimulatedCameraNoiseModel",
    "UnknownCameraError",
    "VAR_FLOOR",
    "fit_log_iso_law",
    "read_variance",
]

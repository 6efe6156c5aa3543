"""nmflowgan_aug: realistic sRGB camera-noise synthesis (NM-FlowGAN) for training denoisers.

Docstrings and tests cite "reference §x": section x of ``docs/model_reference.md`` in the source repository,
the specification of the official NM-FlowGAN model, training and evaluation that this package is written from.
"""

__version__ = "0.1.0"

from .condition_sampler import ConditionSampler  # noqa: E402
from .functional import CameraNoise, add_camera_noise  # noqa: E402
from .model import NMFlowGAN, NMFlowGANConfig  # noqa: E402
from .pretrained import list_pretrained  # noqa: E402
from .vocab import OFFICIAL_VOCABULARY, SIDD_VOCABULARY, ConditionVocabulary  # noqa: E402

__all__ = [
    "CameraNoise",
    "ConditionSampler",
    "ConditionVocabulary",
    "NMFlowGAN",
    "NMFlowGANConfig",
    "OFFICIAL_VOCABULARY",
    "SIDD_VOCABULARY",
    "add_camera_noise",
    "list_pretrained",
]

"""nmflowgan_aug: realistic sRGB camera-noise synthesis (NM-FlowGAN) for training denoisers."""

__version__ = "0.1.0"

from .functional import add_camera_noise  # noqa: E402
from .model import NMFlowGAN, NMFlowGANConfig  # noqa: E402
from .pretrained import list_pretrained  # noqa: E402
from .vocab import OFFICIAL_VOCABULARY, SIDD_VOCABULARY, ConditionVocabulary  # noqa: E402

__all__ = ["ConditionVocabulary", "NMFlowGAN", "add_camera_noise", "NMFlowGANConfig", "OFFICIAL_VOCABULARY", "SIDD_VOCABULARY", "list_pretrained"]

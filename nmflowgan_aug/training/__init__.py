"""Training: typed YAML configs, the NLL + WGAN-GP loop, validation and the run driver."""

from .config import TrainingConfig, load_config
from .loop import Trainer

__all__ = ["Trainer", "TrainingConfig", "load_config"]

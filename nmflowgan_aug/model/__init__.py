"""The NM-FlowGAN model: flow layers, the flow, the U-Net, the critic and the generator wrapper."""

from .config import NMFlowGANConfig
from .critic import Critic96, critic_loss, generator_loss, gradient_penalty
from .flow import NoiseFlow
from .nmflowgan import NMFlowGAN
from .unet import UNet

__all__ = [
    "Critic96",
    "NMFlowGAN",
    "NMFlowGANConfig",
    "NoiseFlow",
    "UNet",
    "critic_loss",
    "generator_loss",
    "gradient_penalty",
]

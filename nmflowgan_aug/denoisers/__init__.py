"""Denoisers used to score noise models by the quality of the denoisers they train.

* :class:`DnCNN` (:mod:`.dncnn`): the denoiser of NM-FlowGAN's denoising experiment.
* :func:`train_dncnn` and :class:`DnCNNTrainingSettings` (:mod:`.training`): the training loop with
  noisy inputs synthesized on the fly, its learning-rate schedule (:func:`step_lr`) and
  :func:`denoise_blocks` for inference.
* :class:`PatchSampler`, :class:`TrainImages`, :func:`load_train_images`, :func:`load_clean_images`
  (:mod:`.patch_sampler`): training images (pairs, or clean only) in memory and the random patches of
  each step.
"""

from .dncnn import DnCNN
from .patch_sampler import PatchSampler, TrainImages, load_clean_images, load_train_images
from .training import DnCNNTrainingSettings, denoise_blocks, step_lr, train_dncnn

__all__ = [
    "DnCNN",
    "DnCNNTrainingSettings",
    "PatchSampler",
    "TrainImages",
    "denoise_blocks",
    "load_clean_images",
    "load_train_images",
    "step_lr",
    "train_dncnn",
]

"""Wrappers of :func:`nmflowgan_aug.functional.add_camera_noise` for augmentation frameworks.

Import the one you need; nothing heavy is imported here:

- ``nmflowgan_aug.integrations.torchvision_transform.NMFlowGANNoise``: a ``torchvision.transforms.v2``
  transform (extra ``[torchvision]``);
- ``nmflowgan_aug.integrations.kornia_augmentation.RandomNMFlowGANNoise``: a kornia augmentation;
- ``nmflowgan_aug.integrations.basicsr``: BasicSR dataset, model and DnCNN registrations plus the
  ``nmflowgan-basicsr-train`` launcher (extra ``[basicsr]``).

Recommended use: noise the batch on the GPU after the DataLoader. Per-sample use inside CPU
DataLoader workers is a supported, slower fallback.
"""

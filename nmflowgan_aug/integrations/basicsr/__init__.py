"""BasicSR plug-in: train denoisers on clean images with NM-FlowGAN noise synthesized on the fly.

Importing this package registers, in basicsr's registries:

- ``NMFlowGANGTDataset`` (``DATASET_REGISTRY``): clean ``gt`` crops plus camera name and ISO;
- ``NMFlowGANDenoiseModel`` (``MODEL_REGISTRY``): an ``SRModel`` that synthesizes ``lq`` in ``feed_data``;
- ``NMFlowGANDnCNN`` (``ARCH_REGISTRY``): residual DnCNN.

Launch with ``nmflowgan-basicsr-train -opt train_DnCNN_nmflowgan_SIDD`` (a packaged option file) or
``python -m nmflowgan_aug.integrations.basicsr.train -opt ...``; score a trained denoiser on real pairs with
``nmflowgan-basicsr-test -opt test_DnCNN_nmflowgan_SIDD`` (see :mod:`.launch`). Needs ``pip install nmflowgan_aug[basicsr]``
(basicsr 1.4.2; its ``torchvision.transforms.functional_tensor`` import is shimmed here first).
"""

from ._compat import install_functional_tensor_shim

install_functional_tensor_shim()

try:
    import basicsr  # noqa: F401
except ImportError as err:
    raise ImportError(
        f"nmflowgan_aug.integrations.basicsr needs BasicSR 1.4.2 ({err}); install it with "
        "`pip install nmflowgan_aug[basicsr]`"
    ) from err

from .denoise_model import NMFlowGANDenoiseModel  # noqa: E402
from .dncnn_arch import NMFlowGANDnCNN  # noqa: E402
from .gt_dataset import NMFlowGANGTDataset  # noqa: E402

__all__ = ["NMFlowGANDenoiseModel", "NMFlowGANDnCNN", "NMFlowGANGTDataset"]

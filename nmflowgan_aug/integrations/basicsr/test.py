"""``nmflowgan-basicsr-test``: BasicSR's test pipeline with the NM-FlowGAN registrations (see :mod:`.launch`).

Scores a trained denoiser on real noisy/clean pairs (e.g. the SIDD validation blocks written by
``nmflowgan-paired-folders``); testing needs no noise model, only our registered network::

    nmflowgan-basicsr-test -opt test_DnCNN_nmflowgan_SIDD \
        --force_yml path:pretrain_network_g=experiments/DnCNN_nmflowgan_SIDD/models/net_g_latest.pth
    python -m nmflowgan_aug.integrations.basicsr.test -opt my_test_options.yml

PSNR/SSIM go to the log in ``./results/<name>/``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from .launch import run_pipeline


def main(argv: Sequence[str] | None = None) -> int:
    """Run BasicSR's ``test_pipeline`` (see :func:`~.launch.run_pipeline` for ``argv`` and the errors)."""
    return run_pipeline("test", argv)


if __name__ == "__main__":
    sys.exit(main())

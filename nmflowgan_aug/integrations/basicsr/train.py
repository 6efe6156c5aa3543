"""Launch BasicSR training with the NM-FlowGAN registrations.

Usage::

    nmflowgan-basicsr-train -opt configs/basicsr/train_DnCNN_nmflowgan_SIDD.yml
    python -m nmflowgan_aug.integrations.basicsr.train -opt ... [--force_yml key=value ...]

Experiments and logs go to ``./experiments/<name>`` and ``./tb_logger`` (the current directory).
Multi-GPU, one process per GPU with BasicSR's own launcher (``dist_params.backend``, default NCCL)::

    torchrun --nproc_per_node=N -m nmflowgan_aug.integrations.basicsr.train -opt ... --launcher pytorch

``batch_size_per_gpu`` is per process; each process synthesizes the noise of its own batches on its own GPU
and draws different noise (BasicSR seeds process ``rank`` with ``manual_seed + rank``). BasicSR's distributed
mode is CUDA-only (it wraps the network with ``device_ids=[torch.cuda.current_device()]``).
Note: basicsr 1.4.2 resumes (``--auto_resume``/``resume_state``) on CUDA only.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``basicsr.train.train_pipeline`` with our dataset/model/arch registered.

    Args:
        argv: BasicSR command-line arguments (``-opt file.yml`` ...); default ``sys.argv[1:]``.

    Raises:
        ImportError: basicsr is not installed (the message says ``pip install nmflowgan_aug[basicsr]``).
    """
    from basicsr.train import train_pipeline

    import nmflowgan_aug.integrations.basicsr  # noqa: F401  (shim + registrations, before basicsr.train)

    if argv is not None:
        sys.argv = [sys.argv[0], *argv]  # basicsr's parse_options reads sys.argv
    train_pipeline(root_path=os.getcwd())
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``nmflowgan-basicsr-train``: BasicSR training with the NM-FlowGAN registrations (see :mod:`.launch`).

Usage::

    nmflowgan-basicsr-train -opt train_DnCNN_nmflowgan_SIDD
    python -m nmflowgan_aug.integrations.basicsr.train -opt my_options.yml [--force_yml key=value ...]

Multi-GPU, one process per GPU with BasicSR's own launcher (``dist_params.backend``, default NCCL)::

    torchrun --nproc_per_node=N -m nmflowgan_aug.integrations.basicsr.train -opt ... --launcher pytorch

``batch_size_per_gpu`` is per process; each process synthesizes the noise of its own batches on its own GPU
and draws different noise (BasicSR seeds process ``rank`` with ``manual_seed + rank``). BasicSR's distributed
mode is CUDA-only (it wraps the network with ``device_ids=[torch.cuda.current_device()]``).
Note: basicsr 1.4.2 resumes (``--auto_resume``/``resume_state``) on CUDA only.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from .launch import run_pipeline


def main(argv: Sequence[str] | None = None) -> int:
    """Run BasicSR's ``train_pipeline`` (see :func:`~.launch.run_pipeline` for ``argv`` and the errors)."""
    return run_pipeline("train", argv)


if __name__ == "__main__":
    sys.exit(main())

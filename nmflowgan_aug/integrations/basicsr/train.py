"""Launch BasicSR training with the NM-FlowGAN registrations.

Usage::

    nmflowgan-basicsr-train -opt train_DnCNN_nmflowgan_SIDD
    python -m nmflowgan_aug.integrations.basicsr.train -opt my_options.yml [--force_yml key=value ...]

``-opt`` takes an option file's path or the name of one shipped in the package
(:func:`nmflowgan_aug.configs.list_configs` ``("basicsr")``; a value with a folder or a suffix is a path).

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

from ...configs import config_path


def _resolve_option_file(argv: Sequence[str]) -> list[str]:
    """``argv`` with the value of ``-opt`` (``-opt NAME`` or ``-opt=NAME``) made a file path (packaged names)."""
    argv = list(argv)
    for i, arg in enumerate(argv):
        if arg == "-opt" and i + 1 < len(argv):
            argv[i + 1] = str(config_path(argv[i + 1], kind="basicsr"))
        elif arg.startswith("-opt="):
            argv[i] = "-opt=" + str(config_path(arg.removeprefix("-opt="), kind="basicsr"))
    return argv


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``basicsr.train.train_pipeline`` with our dataset/model/arch registered.

    Args:
        argv: BasicSR command-line arguments (``-opt file.yml`` or ``-opt NAME`` of a packaged option file,
            ...); default ``sys.argv[1:]``.

    Raises:
        ImportError: basicsr is not installed (the message says ``pip install nmflowgan_aug[basicsr]``).
        ValueError: ``-opt`` names no packaged option file (the message lists them).
        FileNotFoundError: ``-opt`` is a path that is not a file.
    """
    argv = _resolve_option_file(sys.argv[1:] if argv is None else argv)
    from basicsr.train import train_pipeline

    import nmflowgan_aug.integrations.basicsr  # noqa: F401  (shim + registrations, before basicsr.train)

    sys.argv = [sys.argv[0], *argv]  # basicsr's parse_options reads sys.argv
    train_pipeline(root_path=os.getcwd())
    return 0


if __name__ == "__main__":
    sys.exit(main())

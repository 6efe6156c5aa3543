"""Launch BasicSR's own training or test pipeline with the NM-FlowGAN registrations.

The console scripts ``nmflowgan-basicsr-train`` and ``nmflowgan-basicsr-test`` (modules
:mod:`~nmflowgan_aug.integrations.basicsr.train` and :mod:`~nmflowgan_aug.integrations.basicsr.test`) call
:func:`run_pipeline`: it resolves ``-opt`` (an option file's path, or the name of one shipped in the package,
:func:`nmflowgan_aug.configs.list_configs` ``("basicsr")``; a value with a folder or a suffix is a path),
imports this integration (the torchvision shim, then the dataset, model and network registrations) and hands
the remaining arguments to BasicSR (``--force_yml``, ``--launcher``, ``--auto_resume``, ...). Experiments,
results and logs go to ``./experiments``, ``./results`` and ``./tb_logger`` (the current directory).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from ...configs import config_path

__all__ = ["PIPELINES", "resolve_option_file", "run_pipeline"]

#: BasicSR's pipelines: ``(module, function)``.
PIPELINES = {"train": ("basicsr.train", "train_pipeline"), "test": ("basicsr.test", "test_pipeline")}


def resolve_option_file(argv: Sequence[str]) -> list[str]:
    """``argv`` with the value of ``-opt`` (``-opt NAME`` or ``-opt=NAME``) made a file path (packaged names).

    Raises:
        ValueError: ``-opt`` names no packaged option file (the message lists them).
        FileNotFoundError: ``-opt`` is a path that is not a file.
    """
    argv = list(argv)
    for i, arg in enumerate(argv):
        if arg == "-opt" and i + 1 < len(argv):
            argv[i + 1] = str(config_path(argv[i + 1], kind="basicsr"))
        elif arg.startswith("-opt="):
            argv[i] = "-opt=" + str(config_path(arg.removeprefix("-opt="), kind="basicsr"))
    return argv


def run_pipeline(pipeline: str, argv: Sequence[str] | None = None) -> int:
    """Run BasicSR's ``train_pipeline`` or ``test_pipeline`` with our dataset/model/network registered.

    Args:
        pipeline: ``"train"`` or ``"test"`` (:data:`PIPELINES`).
        argv: BasicSR command-line arguments (``-opt file.yml`` or ``-opt NAME`` of a packaged option file,
            ...); default ``sys.argv[1:]``.

    Returns:
        0 when the pipeline returns.

    Raises:
        ValueError: an unknown ``pipeline``, or ``-opt`` naming no packaged option file (the message lists them).
        FileNotFoundError: ``-opt`` is a path that is not a file.
        ImportError: basicsr is not installed (the message says ``pip install nmflowgan_aug[basicsr]``).
    """
    if pipeline not in PIPELINES:
        raise ValueError(f"pipeline must be one of {sorted(PIPELINES)}, got {pipeline!r}")
    argv = resolve_option_file(sys.argv[1:] if argv is None else argv)
    import nmflowgan_aug.integrations.basicsr  # noqa: F401  (shim + registrations, before basicsr's pipelines)

    module, function = PIPELINES[pipeline]
    entry = getattr(__import__(module, fromlist=[function]), function)
    sys.argv = [sys.argv[0], *argv]  # basicsr's parse_options reads sys.argv
    entry(root_path=os.getcwd())
    return 0

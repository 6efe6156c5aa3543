"""Devices: resolving a device name, and refusing CUDA work where it cannot run.

One place for what every entry point (training, benchmarks, the integrations) needs to know about
devices: ``resolve_device("auto")`` and the guard against CUDA inside a forked DataLoader worker.
"""

from __future__ import annotations

import os
import re

import torch

__all__ = ["check_worker_device", "forked_worker_cuda_error", "resolve_device"]


def resolve_device(name: str | torch.device) -> torch.device:
    """``auto`` → CUDA when available, else CPU; ``cpu``/``cuda``/``cuda:N`` as given.

    Raises:
        ValueError: an unknown name, or ``cuda`` requested on a machine without CUDA.
    """
    name = str(name)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if not (name == "cpu" or name == "cuda" or re.fullmatch(r"cuda:\d+", name)):
        raise ValueError(f"device must be auto, cpu, cuda or cuda:N, got {name!r}")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} requested but CUDA is not available")
    return torch.device(name)


_FORK_STATE = {"forked": False, "parent_cuda": False}


def _before_fork() -> None:
    _FORK_STATE["parent_cuda"] = torch.cuda.is_initialized()


def _after_fork_in_child() -> None:
    _FORK_STATE["forked"] = True


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_before_fork, after_in_child=_after_fork_in_child)


def forked_worker_cuda_error(device_type: str, in_worker: bool, forked: bool, parent_cuda: bool) -> str | None:
    """The error message for CUDA work in a forked DataLoader worker, or ``None`` when it is fine.

    CUDA cannot be used in a process forked after its parent initialized CUDA.

    Args:
        device_type: ``"cuda"``, ``"cpu"``, ...
        in_worker: running inside a DataLoader worker (``get_worker_info() is not None``).
        forked: this process was started by ``fork``.
        parent_cuda: the parent had initialized CUDA when it forked.
    """
    if device_type != "cuda" or not (in_worker and forked and parent_cuda):
        return None
    return (
        "NM-FlowGAN noise on CUDA was requested inside a forked DataLoader worker, and CUDA cannot run in a "
        "process forked after CUDA was initialized. Either apply the noise to the batch after the DataLoader "
        "(recommended: `noisy = noise(batch.to('cuda'))`), keep the per-sample transform on the CPU "
        "(leave its model on the CPU), or create the DataLoader with multiprocessing_context='spawn'."
    )


def check_worker_device(device: torch.device | str) -> None:
    """Raise RuntimeError (see :func:`forked_worker_cuda_error`) before CUDA is touched in a forked worker."""
    message = forked_worker_cuda_error(
        torch.device(device).type,
        torch.utils.data.get_worker_info() is not None,
        _FORK_STATE["forked"],
        _FORK_STATE["parent_cuda"],
    )
    if message:
        raise RuntimeError(message)

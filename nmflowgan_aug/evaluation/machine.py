"""What a benchmark ran on: CPU, cores, threads, GPU and library versions, recorded with every result."""

from __future__ import annotations

import os
import platform
from typing import Any

import torch

from .. import __version__

__all__ = ["cpu_has_native_bf16", "cpu_name", "load_average", "machine_info", "machine_summary"]


def cpu_name() -> str:
    """The CPU model (``/proc/cpuinfo`` on Linux, else :func:`platform.processor`)."""
    name = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            return next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), name)
    except OSError:
        return name


def cpu_has_native_bf16() -> bool:
    """Whether oneDNN has native bf16 kernels here (AVX512-BF16 or AMX); elsewhere CPU bf16 is emulated and slow."""
    return torch.backends.mkldnn.is_available() and bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def load_average() -> float | None:
    """1-minute load average (None where the platform has none)."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def machine_info(device: torch.device) -> dict[str, Any]:
    """Plain-JSON facts about the machine and the libraries, for benchmark results.

    Keys: ``cpu``, ``cpu_cores_visible``, ``cpu_cores_usable``, ``torch_threads``, ``python``, ``torch``,
    ``nmflowgan_aug``, ``platform``, ``device``, ``cpu_native_bf16``, ``allocator_env`` (``MALLOC_*`` and
    ``LD_PRELOAD``: glibc returns large freed blocks to the OS, so every big CPU tensor is page-faulted
    afresh, and these change CPU timings by up to 2×), ``load_average_1min``, ``kornia`` and ``gpu``
    (None on CPU); on CUDA also ``gpu_memory_gib``, ``gpu_capability``, ``cuda`` and ``cudnn``.
    """
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        usable = os.cpu_count()
    info: dict[str, Any] = {
        "cpu": cpu_name(),
        "cpu_cores_visible": os.cpu_count(),
        "cpu_cores_usable": usable,
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "nmflowgan_aug": __version__,
        "platform": platform.platform(),
        "device": str(device),
        "cpu_native_bf16": cpu_has_native_bf16(),
        "allocator_env": {k: v for k, v in os.environ.items() if k.startswith("MALLOC_") or k == "LD_PRELOAD"},
        "load_average_1min": load_average(),
    }
    try:
        import kornia

        info["kornia"] = kornia.__version__
    except ImportError:  # kornia is a dependency; recorded as missing rather than failing a benchmark
        info["kornia"] = None
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info.update(
            gpu=props.name,
            gpu_memory_gib=round(props.total_memory / 2**30, 1),
            gpu_capability=f"{props.major}.{props.minor}",
            cuda=torch.version.cuda,
            cudnn=torch.backends.cudnn.version(),
        )
    else:
        info["gpu"] = None
    return info


def machine_summary(info: dict[str, Any]) -> str:
    """One line from :func:`machine_info`: the GPU and CUDA version, or the CPU and the torch threads."""
    if info.get("gpu"):
        return f"{info['gpu']} (CUDA {info['cuda']})"
    return f"CPU {info['cpu']}, {info['torch_threads']} threads"

"""Command-line helpers shared by the benchmark scripts (``benchmarks/*.py``)."""

from __future__ import annotations

import argparse

import torch

from ..devices import resolve_device

__all__ = ["HelpFormatter", "device_argument"]


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Show defaults, except None/False and options whose help already states its default."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.default is None or action.default is False or "default" in (action.help or ""):
            return action.help or ""
        return super()._get_help_string(action)


def device_argument(text: str) -> torch.device:
    """The argparse ``type=`` for ``--device``: :func:`~nmflowgan_aug.devices.resolve_device` (auto, cpu, cuda, cuda:N).

    Raises:
        argparse.ArgumentTypeError: an unknown name or CUDA without a GPU (argparse exits with status 2).
    """
    try:
        return resolve_device(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from e

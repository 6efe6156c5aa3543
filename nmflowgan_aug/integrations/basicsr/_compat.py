"""BasicSR 1.4.2 compatibility: the ``functional_tensor`` shim and idempotent registration.

Nothing here imports basicsr, so the shim can run before the first ``import basicsr``.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

_LEGACY = "torchvision.transforms.functional_tensor"


def install_functional_tensor_shim() -> None:
    """Make ``torchvision.transforms.functional_tensor`` importable again (removed in torchvision 0.17).

    basicsr 1.4.2 (``basicsr/data/degradations.py``) imports ``rgb_to_grayscale`` from it, so
    ``import basicsr`` fails on current torchvision. The stub module exposes
    ``torchvision.transforms.functional.rgb_to_grayscale`` (same signature). No-op when the real
    module exists, when the stub is already installed, or when torchvision is missing.
    """
    if _LEGACY in sys.modules:
        return
    try:
        __import__(_LEGACY)
        return
    except ImportError:
        pass
    try:
        from torchvision.transforms import functional
    except ImportError:
        return
    stub = types.ModuleType(_LEGACY)
    stub.__doc__ = "Compatibility stub installed by nmflowgan_aug for basicsr 1.4.2."
    stub.rgb_to_grayscale = functional.rgb_to_grayscale
    sys.modules[_LEGACY] = stub


def register_once(registry: Any) -> Callable[[T], T]:
    """Class decorator: ``registry.register()`` unless the name is already registered.

    BasicSR registries assert on duplicate names, which a second import of our modules (e.g. under
    another module name) would trigger; the first registration wins.
    """

    def decorate(cls: T) -> T:
        if cls.__name__ not in registry:
            registry.register(cls)
        return cls

    return decorate

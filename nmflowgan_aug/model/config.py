"""The architecture and vocabulary of a noise model: one dataclass.

It is saved as ``config.json`` beside the weights and used as the ``model`` section of a training config
(:mod:`nmflowgan_aug.training.config`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from ..vocab import OFFICIAL_VOCABULARY, ConditionVocabulary

__all__ = ["NMFlowGANConfig"]

#: Largest image bit depth the dequantization layer is configured for (16-bit PNG/TIFF).
MAX_NUM_BITS = 16


def _positive_int(value: Any, key: str, high: int | None = None) -> None:
    allowed = f"an int in [1, {high}]" if high is not None else "an int >= 1"
    if not isinstance(value, int) or isinstance(value, bool) or value < 1 or (high is not None and value > high):
        raise ValueError(f"{key} must be {allowed}, got {value!r}")


def _non_negative_int(value: Any, key: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{key} must be an int >= 0, got {value!r}")


def _as_tuple(value: Any, key: str, item_type: type, what: str) -> tuple:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise ValueError(f"{key} must be a sequence of {what}, got {value!r}")
    bad = [v for v in value if not isinstance(v, item_type) or isinstance(v, bool)]
    if bad:
        raise ValueError(f"{key} must be a sequence of {what}, got {bad[0]!r} in {list(value)}")
    return tuple(value)


@dataclass
class NMFlowGANConfig:
    """Architecture and vocabulary of a noise model.

    Attributes:
        cameras: camera names (str) in code order (official: IP, GP, S6, N6, G4); non-empty, unique.
        isos: supported ISO values (int, ISO units), positive and strictly increasing.
        iso_encoding: ``"onehot"`` (official) or ``"log"`` (continuous log-ISO, see :mod:`nmflowgan_aug.vocab`).
        num_bits: image bit depth, an int in [1, 16] (8 for sRGB PNGs; the flow's dequantization scale
            is ``2**num_bits``).
        flow_features: width of the SAL/SDL subnetworks, an int >= 1 (official 16).
        unet_depth: U-Net levels, an int >= 0 (official 5); 0 = no U-Net (and no GAN stage): the noise is
            the flow's sample, whose spatial correlation then comes from ``spatial_kernel``.
        unet_width: U-Net first-level width, an int >= 1 (official 64).
        noise_domain: ``"srgb"`` (official: the flow models ``noisy − clean``) or ``"linear"`` (the difference
            in linear light, see :class:`~nmflowgan_aug.model.flow_layers.LinearNoiseExtraction`).
        spatial_kernel: ``0`` (official) or an odd kernel size: the flow ends with a
            :class:`~nmflowgan_aug.model.spatial.SpatialCorrelation` layer of that size.

    Lists given for ``cameras`` and ``isos`` (as in JSON or YAML) are stored as tuples.

    Raises:
        ValueError: a value of the wrong type or outside its range; the message names the key and
            the allowed values.
    """

    cameras: tuple[str, ...] = OFFICIAL_VOCABULARY.cameras
    isos: tuple[int, ...] = OFFICIAL_VOCABULARY.isos
    iso_encoding: str = "onehot"
    num_bits: int = 8
    flow_features: int = 16
    unet_depth: int = 5
    unet_width: int = 64
    noise_domain: str = "srgb"
    spatial_kernel: int = 0

    def __post_init__(self) -> None:
        self.cameras = _as_tuple(self.cameras, "cameras", str, "camera names (str)")
        self.isos = _as_tuple(self.isos, "isos", int, "ISO values (int)")
        _positive_int(self.num_bits, "num_bits", MAX_NUM_BITS)
        for key in ("flow_features", "unet_width"):
            _positive_int(getattr(self, key), key)
        _non_negative_int(self.unet_depth, "unet_depth")
        _non_negative_int(self.spatial_kernel, "spatial_kernel")
        if self.spatial_kernel % 2 == 0 and self.spatial_kernel != 0:
            raise ValueError(f"spatial_kernel must be 0 (no spatial layer) or odd, got {self.spatial_kernel}")
        if self.noise_domain not in ("srgb", "linear"):
            raise ValueError(f"noise_domain must be 'srgb' or 'linear', got {self.noise_domain!r}")
        # ConditionVocabulary checks uniqueness, the ISO order and the encoding name (ValueError naming the key).
        ConditionVocabulary(self.cameras, self.isos, self.iso_encoding)

    @property
    def vocabulary(self) -> ConditionVocabulary:
        """The cameras, ISOs and ISO encoding as a :class:`ConditionVocabulary`."""
        return ConditionVocabulary(self.cameras, self.isos, self.iso_encoding)

    @classmethod
    def from_dict(cls, d: dict) -> NMFlowGANConfig:
        """Build from a mapping such as the ``config`` entry of ``config.json``.

        Raises:
            ValueError: not a mapping, an unknown key (the message lists the allowed ones) or a bad value
                (the message names the key).
        """
        if not isinstance(d, Mapping):
            raise ValueError(f"a model config must be a mapping of keys to values, got {d!r}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown model config keys {unknown}; allowed: {sorted(known)}")
        return cls(**d)

"""The clean images a denoiser benchmark synthesizes noise on, and the conditions they are given.

The 11 SIDD training crops are too few clean scenes for a trustworthy denoiser comparison: a DnCNN
trained on them learns their content as much as the noise. The pool widens the clean side with real
photographs whose noise is low enough to serve as clean images (:data:`POOL_PARTS`):

* ``pairs``: the clean images of the training pairs (``../shared/data/sidd_native`` rows 05–15 by default);
* ``skimage``: the colour photographs that ship with scikit-image (:data:`SKIMAGE_PHOTOS`: astronaut,
  coffee, chelsea, rocket and the left view of the stereo motorcycle; not its synthetic, microscopy or
  astronomy images);
* ``polyu``: the clean means of PolyU (``polyu/CroppedImages/*_mean.JPG``, 100 images of 512×512, means of
  many shots);
* ``cc15``: the clean means of Nam et al.'s CC15 (``nam_cc15/*/*_mean.png``, 15 images of 512×512).

Each clean image gets a (camera, ISO) drawn from the empirical distribution of the evaluation blocks'
conditions (:func:`draw_conditions`), so that the synthetic sources train on the test conditions without
seeing test images.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

__all__ = ["POOL_PARTS", "SKIMAGE_PHOTOS", "draw_conditions", "load_pool", "parse_pool"]

#: Parts of the clean pool, in load order.
POOL_PARTS = ("pairs", "skimage", "polyu", "cc15")

#: The real colour photographs among ``skimage.data`` (function names).
SKIMAGE_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "stereo_motorcycle")

#: Where the ``polyu`` and ``cc15`` parts live under the real-data folder (glob patterns).
_GLOBS = {"polyu": "polyu/CroppedImages/*_mean.JPG", "cc15": "nam_cc15/*/*_mean.png"}


def parse_pool(text: str) -> tuple[str, ...]:
    """``"pairs,skimage"`` -> ``("pairs", "skimage")`` in :data:`POOL_PARTS` order.

    Raises:
        ValueError: an empty list, an unknown or a repeated part (the message lists the known parts).
    """
    parts = [t.strip() for t in text.split(",") if t.strip()]
    unknown = [p for p in parts if p not in POOL_PARTS]
    if not parts or unknown or len(set(parts)) != len(parts):
        raise ValueError(f"clean pool must be a comma-separated list of distinct parts from {list(POOL_PARTS)}, "
                         f"got {text!r}")
    return tuple(p for p in POOL_PARTS if p in parts)


def _skimage_photos() -> list[tuple[str, np.ndarray]]:
    try:
        from skimage import data
    except ImportError as e:
        raise ImportError("the 'skimage' part of the clean pool needs scikit-image: pip install scikit-image") from e
    out = []
    for name in SKIMAGE_PHOTOS:
        img = getattr(data, name)()
        out.append((f"skimage:{name}", np.ascontiguousarray(img[0] if isinstance(img, tuple) else img)))
    return out


def _glob_part(root: Path, part: str) -> list[tuple[str, np.ndarray]]:
    files = sorted(root.glob(_GLOBS[part]))
    if not files:
        raise FileNotFoundError(f"clean pool part {part!r}: no file matches {root / _GLOBS[part]}")
    out = []
    for f in files:
        with Image.open(f) as im:
            out.append((f"{part}:{f.stem}", np.asarray(im.convert("RGB"))))
    return out


def load_pool(parts: Sequence[str], pairs: Sequence, shared_data: str | os.PathLike) -> list[tuple[str, np.ndarray]]:
    """The clean images of the pool parts, ``(name, uint8 (H, W, 3) RGB)`` each.

    Args:
        parts: parts of :data:`POOL_PARTS`.
        pairs: the training pairs (``ImagePair``-like, ``load()`` → (clean, noisy)), for the ``pairs`` part.
        shared_data: the real-data folder holding ``polyu/`` and ``nam_cc15/``.

    Raises:
        ValueError: an unknown part.
        FileNotFoundError: a part's files are missing.
        ImportError: the ``skimage`` part without scikit-image.
    """
    unknown = [p for p in parts if p not in POOL_PARTS]
    if unknown:
        raise ValueError(f"unknown clean pool part(s) {unknown}; known parts: {list(POOL_PARTS)}")
    out: list[tuple[str, np.ndarray]] = []
    for part in parts:
        if part == "pairs":
            out += [(f"pairs:{p.name}", p.load()[0]) for p in pairs]
        elif part == "skimage":
            out += _skimage_photos()
        else:
            out += _glob_part(Path(shared_data), part)
    return out


def draw_conditions(n: int, conditions: Sequence[tuple[str, int]], seed: int) -> list[tuple[str, int]]:
    """``n`` draws with replacement from the empirical distribution of ``conditions``.

    The draws use ``numpy.random.default_rng(seed)``; ``conditions`` has one entry per evaluation block, so
    a condition with two blocks is drawn twice as often.

    Raises:
        ValueError: no conditions to draw from.
    """
    if not conditions:
        raise ValueError("no evaluation conditions to draw training conditions from")
    idx = np.random.default_rng(seed).integers(0, len(conditions), n)
    return [(conditions[i][0], int(conditions[i][1])) for i in idx]

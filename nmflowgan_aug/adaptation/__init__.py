"""A new camera from a few noisy/clean pairs: add it to a model's vocabulary and fine-tune only what it owns.

* :mod:`.new_camera`: :func:`add_camera` (a model with one more camera, started from existing ones) and
  :func:`camera_slots` (the parameter entries one camera owns).
* :mod:`.fit`: :func:`adapt_camera`, the fine-tuning by likelihood on patches of the pairs.
* :mod:`.card`: :func:`save_adapted`, the adapted model's folder with its ``MODEL_CARD.md``.
* :mod:`.unseen_cameras`, :mod:`.benchmark`: PolyU and CC15 pairs and the benchmark of
  ``benchmarks/adapt_camera.py``.

The console script ``nmflowgan-adapt`` (:mod:`nmflowgan_aug.cli.adapt`) runs all of it on a pairs manifest.
"""

from .card import save_adapted
from .fit import AdaptationResult, AdaptationSettings, adapt_camera
from .new_camera import add_camera, camera_slots

__all__ = ["AdaptationResult", "AdaptationSettings", "adapt_camera", "add_camera", "camera_slots", "save_adapted"]

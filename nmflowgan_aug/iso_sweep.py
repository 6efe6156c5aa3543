"""Noise level against ISO between and beyond the trained values: :func:`noise_std_by_iso`, :func:`plot_iso_sweep`.

A log-ISO model encodes ISO continuously (``t = log2(ISO/100)/7``), so it accepts any whole ISO in its
trained range; this module measures what it does there: the std of the synthesized noise on a flat grey
patch, in 8-bit levels, on a fine ISO grid, with the same latents for every ISO. Run
``python -m nmflowgan_aug.iso_sweep --out docs/iso_sweep.png`` to draw the README's plot.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from pathlib import Path

import torch

from .model import NMFlowGAN
from .pretrained import DEFAULT_MODEL

__all__ = ["fine_iso_grid", "main", "noise_std_by_iso", "plot_iso_sweep"]


def fine_iso_grid(model: NMFlowGAN, per_octave: int = 4) -> list[int]:
    """Whole ISO values spaced ``1/per_octave`` octave apart over the model's trained range.

    Every trained value is included too; the list is sorted.
    """
    lo, hi = model.vocabulary.iso_range
    steps = int(math.floor(per_octave * math.log2(hi / lo)))
    grid = {round(lo * 2 ** (k / per_octave)) for k in range(steps + 1)} | set(model.vocabulary.isos)
    return sorted(v for v in grid if lo <= v <= hi)


def noise_std_by_iso(
    model: NMFlowGAN, camera: str | int, isos: Sequence[int], *, level: float = 0.5, size: int = 64, seed: int = 0
) -> torch.Tensor:
    """Std of the synthesized noise (8-bit levels) on a flat ``size``² patch of grey ``level``, per ISO.

    Every ISO is sampled with the same seed, so the latents are shared and the curve shows the model's
    ISO dependence, not sampling noise.

    Args:
        model: the noise model (its device is used).
        camera: camera name or code.
        isos: ISO values (ISO units), each allowed by the model.
        level: grey level of the clean patch, sRGB in [0, 1].
        size: patch side in pixels.
        seed: noise seed.

    Returns:
        float32 ``(len(isos),)``.

    Raises:
        ValueError, TypeError: an unknown camera or unsupported ISO (as ``model.sample``).
    """
    device = next(model.parameters()).device
    clean = torch.full((1, 3, size, size), float(level), device=device)
    stds = []
    for iso in isos:
        noisy = model.sample(clean, camera, iso, generator=torch.Generator(device).manual_seed(seed))
        stds.append(float(((noisy - clean) * model.max_level).std()))
    return torch.tensor(stds)


def plot_iso_sweep(model: NMFlowGAN, path: str | Path, *, level: float = 0.5, size: int = 64, title: str = "") -> Path:
    """Draw noise std against ISO (log axis) for every camera of ``model``; trained ISOs are marked.

    Needs matplotlib.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grid, trained = fine_iso_grid(model), set(model.vocabulary.isos)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for camera in model.vocabulary.cameras:
        stds = noise_std_by_iso(model, camera, grid, level=level, size=size).tolist()
        (line,) = ax.plot(grid, stds, label=camera)
        ax.plot([i for i in grid if i in trained], [s for i, s in zip(grid, stds) if i in trained], "o",
                color=line.get_color(), markersize=4)
    ax.set_xscale("log")
    ax.set_xlabel("ISO (dots: trained values; lines: ISO values between them)")
    ax.set_ylabel(f"noise std on grey {level:g} (8-bit levels)")
    ax.set_title(title or "Synthesized noise level against ISO")
    ax.legend(title="camera")
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def main(argv: Sequence[str] | None = None) -> int:
    """Plot the synthesized noise std against ISO for every camera, print the written PNG's path; returns 0."""
    parser = argparse.ArgumentParser(description="Plot the synthesized noise std against ISO for every camera.")
    parser.add_argument("--model", default=DEFAULT_MODEL, help="shipped name or saved-model folder")
    parser.add_argument("--out", default="docs/iso_sweep.png", help="PNG to write (default: %(default)s)")
    parser.add_argument("--level", type=float, default=0.5, help="grey level of the clean patch in [0, 1]")
    args = parser.parse_args(argv)
    model = NMFlowGAN.from_pretrained(args.model)
    print(plot_iso_sweep(model, args.out, level=args.level, title=f"model {args.model!r}: noise std against ISO"))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""PNG grids written at the end of a training run (matplotlib, Agg backend)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .._io import atomic_write

__all__ = ["save_condition_grid", "save_sample_grid"]


def _figure(rows: int, cols: int, cell: float = 2.2):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(rows, cols, figsize=(cols * cell, rows * cell + 0.4), squeeze=False)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    return fig, axes


def _show(ax, image: torch.Tensor, title: str | None = None) -> None:
    ax.imshow(np.clip(image.detach().float().cpu().permute(1, 2, 0).numpy(), 0, 1), interpolation="nearest")
    if title:
        ax.set_title(title, fontsize=8)


def _save(fig, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    atomic_write(path, lambda p: fig.savefig(p, format="png", dpi=110))
    plt.close(fig)
    return path


def save_sample_grid(model, samples: list[dict], path: Path, seed: int = 0) -> Path:
    """Rows of ``clean | real noisy | synthesized`` for patch dicts.

    The dicts hold ``clean``, ``noisy``, ``camera`` name and ``iso``, as
    :class:`~nmflowgan_aug.data.hdf5_patches.PatchDataset` returns them.
    """
    fig, axes = _figure(len(samples), 3)
    device = next(model.parameters()).device
    gen = torch.Generator(device=device).manual_seed(seed)
    for row, s in enumerate(samples):
        clean = s["clean"].unsqueeze(0).to(device)
        fake = model.sample(clean, s["camera"], int(s["iso"]), generator=gen)[0]
        _show(axes[row, 0], s["clean"], "clean" if row == 0 else None)
        _show(axes[row, 1], s["noisy"], f"real noisy ({s['camera']}, ISO {int(s['iso'])})")
        _show(axes[row, 2], fake, "synthesized")
    fig.suptitle("sRGB patches: clean | real noisy | NM-FlowGAN sample", fontsize=9)
    return _save(fig, path)


def save_condition_grid(model, clean: torch.Tensor, path: Path, max_isos: int = 5, seed: int = 0) -> Path:
    """The same clean patch ``(3, H, W)`` noised for every camera (rows) and a spread of ISOs (columns)."""
    v = model.vocabulary
    idx = np.unique(np.linspace(0, v.num_isos - 1, min(max_isos, v.num_isos)).round().astype(int))
    isos = [v.isos[i] for i in idx]
    fig, axes = _figure(v.num_cameras, len(isos))
    device = next(model.parameters()).device
    for r, cam in enumerate(v.cameras):
        for c, iso in enumerate(isos):
            gen = torch.Generator(device=device).manual_seed(seed)
            noisy = model.sample(clean.unsqueeze(0).to(device), cam, iso, generator=gen)[0]
            _show(axes[r, c], noisy, f"{cam}, ISO {iso}")
    fig.suptitle("one clean patch across cameras and ISOs (same seed)", fontsize=9)
    return _save(fig, path)

"""Diagnostic figures of the noise-fidelity benchmark: real noise against each method's synthetic noise.

:func:`write_plots` writes four PNGs:

* ``nlf.png``: noise level function, noise std against clean intensity per colour channel, one row per
  validation camera/ISO;
* ``noise_correlation.png``: correlation of the noise with its horizontal neighbour at lags 0-8 pixels;
* ``noise_histograms.png``: histograms of ``noisy − clean`` (all channels, 8-bit levels, log scale);
* ``crops.png``: 64×64 crops (enlarged, nearest neighbour): clean | real noisy | each method.

All noise values are in 8-bit levels (``255 · (noisy − clean)``). Blocks of the same camera and ISO are
pooled in the statistics. matplotlib is an optional dependency (``pip install nmflowgan_aug[bench]``),
imported when a figure is drawn; figures are drawn without pyplot, so the caller's backend is untouched.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from .._io import atomic_write

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["PlotBlock", "plot_correlation", "plot_crops", "plot_histograms", "plot_nlf", "write_plots"]


def _new_figure(**kwargs) -> Figure:
    """A matplotlib Figure (no pyplot, no global backend change).

    Raises:
        ImportError: matplotlib is not installed (the message says how to install it).
    """
    try:
        from matplotlib.figure import Figure
    except ImportError as e:
        raise ImportError(
            "the noise-fidelity figures need matplotlib: pip install matplotlib (or nmflowgan_aug[bench])"
        ) from e
    return Figure(**kwargs)


REAL_STYLE = {"color": "black", "linewidth": 2.4, "label": "real"}
CHANNELS = ("R", "G", "B")
MAX_LAG = 8
CROP = 64


@dataclass(frozen=True, eq=False)
class PlotBlock:
    """One validation block and the methods' samples on it, each ``(3, H, W)`` float in [0, 1]."""

    id: str
    camera: str
    iso: int
    clean: torch.Tensor = field(repr=False)
    real: torch.Tensor = field(repr=False)
    fakes: dict[str, torch.Tensor] = field(repr=False, default_factory=dict)

    @property
    def condition(self) -> str:
        return f"{self.camera} / ISO {self.iso}"


def _levels(x: torch.Tensor) -> np.ndarray:
    return x.detach().to("cpu", torch.float64).numpy() * 255.0


def _colors(methods: Sequence[str]) -> dict[str, tuple]:
    from matplotlib import colormaps

    cmap = colormaps["tab10"]
    return {m: cmap(i % 10) for i, m in enumerate(methods)}


def _by_condition(blocks: Sequence[PlotBlock]) -> dict[str, list[PlotBlock]]:
    out: dict[str, list[PlotBlock]] = {}
    for b in blocks:
        out.setdefault(b.condition, []).append(b)
    return out


def _series(
    blocks: Sequence[PlotBlock], methods: Sequence[str]
) -> list[tuple[str, list[tuple[np.ndarray, np.ndarray]]]]:
    """``[(name, [(clean_levels, noise_levels) per block])]`` for ``real`` and each method present."""
    out = [("real", [(_levels(b.clean), _levels(b.real) - _levels(b.clean)) for b in blocks])]
    for m in methods:
        pairs = [(_levels(b.clean), _levels(b.fakes[m]) - _levels(b.clean)) for b in blocks if m in b.fakes]
        if pairs:
            out.append((m, pairs))
    return out


MARKERS = ("s", "^", "D", "v", "P", "X", "o", "<", ">", "*")


def _style(name: str, colors: dict[str, tuple], markers: bool = True) -> dict:
    """Line style: real in thick black with circles, each method its own colour (and marker)."""
    style = dict(REAL_STYLE) if name == "real" else {"color": colors[name], "linewidth": 1.5, "label": name}
    if markers:
        style["marker"] = "o" if name == "real" else MARKERS[list(colors).index(name) % len(MARKERS)]
        style["markersize"] = 4
    return style


def _save(fig: Figure, path: Path) -> Path:
    def write(tmp: str) -> None:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")

    atomic_write(path, write)
    return path


def _legend(fig: Figure, axes: np.ndarray) -> None:
    handles, labels = [], []
    for ax in np.ravel(axes):
        for h, label in zip(*ax.get_legend_handles_labels()):
            if label not in labels:
                handles.append(h)
                labels.append(label)
    fig.legend(handles, labels, loc="outside lower center", ncol=min(len(labels), 6), frameon=False)


def plot_nlf(blocks: Sequence[PlotBlock], methods: Sequence[str], path: Path, bin_width: int = 16,
             min_count: int = 40) -> Path:
    """Noise std per clean-intensity bin, per channel; rows = camera/ISO conditions, columns = R, G, B."""
    conds = _by_condition(blocks)
    colors = _colors(methods)
    fig = _new_figure(figsize=(13, 3.1 * len(conds) + 0.8), layout="constrained")
    axes = fig.subplots(len(conds), 3, squeeze=False, sharex=True)
    edges = np.arange(0, 256 + bin_width, bin_width)
    centres = (edges[:-1] + edges[1:]) / 2
    for r, (cond, bl) in enumerate(conds.items()):
        for c, ch in enumerate(CHANNELS):
            ax = axes[r, c]
            for name, pairs in _series(bl, methods):
                x = np.concatenate([p[0][c].ravel() for p in pairs])
                n = np.concatenate([p[1][c].ravel() for p in pairs])
                idx = np.clip(np.digitize(x, edges) - 1, 0, len(centres) - 1)
                std = np.full(len(centres), np.nan)
                for k in range(len(centres)):
                    sel = n[idx == k]
                    if sel.size >= min_count:
                        std[k] = sel.std()
                ax.plot(centres, std, **_style(name, colors))
            ax.set_title(f"{cond} (blocks {', '.join(b.id for b in bl)}), channel {ch}", fontsize=9)
            ax.set_xlim(0, 255)
            ax.set_ylim(bottom=0)
            ax.grid(alpha=0.3)
            if c == 0:
                ax.set_ylabel("noise std (8-bit levels)")
            if r == len(conds) - 1:
                ax.set_xlabel("clean intensity (8-bit levels)")
    fig.suptitle(f"Noise level function: std of noisy − clean per clean-intensity bin ({bin_width} levels)")
    _legend(fig, axes)
    return _save(fig, path)


def _correlation(pairs: Sequence[tuple[np.ndarray, np.ndarray]], lag: int) -> float:
    num, den_a, den_b = 0.0, 0.0, 0.0
    for _, n in pairs:
        n = n - n.mean(axis=(1, 2), keepdims=True)
        a = n[:, :, : n.shape[2] - lag]
        b = n[:, :, lag:]
        num += float((a * b).sum())
        den_a += float((a * a).sum())
        den_b += float((b * b).sum())
    return num / np.sqrt(den_a * den_b) if den_a > 0 and den_b > 0 else float("nan")


def plot_correlation(blocks: Sequence[PlotBlock], methods: Sequence[str], path: Path) -> Path:
    """Noise correlation with the horizontal neighbour at lags 0..8 pixels (channels pooled), per condition."""
    conds = _by_condition(blocks)
    colors = _colors(methods)
    cols = min(len(conds), 2)
    rows = int(np.ceil(len(conds) / cols))
    fig = _new_figure(figsize=(6.2 * cols, 3.6 * rows + 0.8), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False)
    lags = np.arange(MAX_LAG + 1)
    for i, (cond, bl) in enumerate(conds.items()):
        ax = axes[i // cols, i % cols]
        for name, pairs in _series(bl, methods):
            ax.plot(lags, [_correlation(pairs, int(lag)) for lag in lags], **_style(name, colors))
        ax.axhline(0, color="grey", linewidth=0.8)
        ax.set_title(f"{cond} (blocks {', '.join(b.id for b in bl)})", fontsize=10)
        ax.set_xlabel("horizontal distance (pixels)")
        ax.set_ylabel("noise correlation")
        ax.set_xticks(lags)
        ax.set_ylim(-0.2, 1.02)
        ax.grid(alpha=0.3)
    for j in range(len(conds), rows * cols):
        axes[j // cols, j % cols].axis("off")
    fig.suptitle("Spatial correlation of the noise (noisy − clean) with its horizontal neighbour, channels pooled")
    _legend(fig, axes)
    return _save(fig, path)


def plot_histograms(blocks: Sequence[PlotBlock], methods: Sequence[str], path: Path, limit: int = 160,
                    bin_width: int = 2) -> Path:
    """Histograms of noise values in 8-bit levels (channels pooled), log y, per condition."""
    conds = _by_condition(blocks)
    colors = _colors(methods)
    cols = min(len(conds), 2)
    rows = int(np.ceil(len(conds) / cols))
    fig = _new_figure(figsize=(6.2 * cols, 3.6 * rows + 0.8), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False)
    edges = np.arange(-limit, limit + bin_width, bin_width) - bin_width / 2
    for i, (cond, bl) in enumerate(conds.items()):
        ax = axes[i // cols, i % cols]
        for name, pairs in _series(bl, methods):
            n = np.concatenate([p[1].ravel() for p in pairs])
            hist, _ = np.histogram(n, bins=edges, density=True)
            ax.stairs(np.where(hist > 0, hist, np.nan), edges, **_style(name, colors, markers=False))
        ax.set_yscale("log")
        ax.set_title(f"{cond} (blocks {', '.join(b.id for b in bl)})", fontsize=10)
        ax.set_xlabel("noise: noisy − clean (8-bit levels)")
        ax.set_ylabel("probability density (per level)")
        ax.set_xlim(-limit, limit)
        ax.grid(alpha=0.3)
    for j in range(len(conds), rows * cols):
        axes[j // cols, j % cols].axis("off")
    fig.suptitle(f"Noise histograms (all channels pooled, bins of {bin_width} levels)")
    _legend(fig, axes)
    return _save(fig, path)


def _crop_origin(clean: np.ndarray, size: int) -> tuple[int, int]:
    """Top-left corner of the size×size window (stride size/2) with the most mid-tone, textured content."""
    g = clean.mean(axis=0)
    h, w = g.shape
    best, where = -np.inf, (max(0, (h - size) // 2), max(0, (w - size) // 2))
    for y in range(0, max(1, h - size + 1), size // 2):
        for x in range(0, max(1, w - size + 1), size // 2):
            win = g[y : y + size, x : x + size]
            score = win.std() - abs(win.mean() - 128.0) / 4
            if score > best:
                best, where = score, (y, x)
    return where


def plot_crops(blocks: Sequence[PlotBlock], methods: Sequence[str], path: Path, size: int = CROP) -> Path:
    """Side-by-side crops per block: clean | real noisy | each method (nearest-neighbour enlargement)."""
    cols = ["clean", "real noisy", *methods]
    fig = _new_figure(figsize=(2.0 * len(cols), 2.15 * len(blocks) + 0.4), layout="constrained")
    axes = fig.subplots(len(blocks), len(cols), squeeze=False)
    for r, b in enumerate(blocks):
        y, x = _crop_origin(_levels(b.clean), size)
        images = [b.clean, b.real, *[b.fakes.get(m) for m in methods]]
        for c, (title, img) in enumerate(zip(cols, images)):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            if img is None:  # same frame as the images, light grey
                ax.imshow(np.full((size, size, 3), 0.93), interpolation="nearest", vmin=0, vmax=1)
                ax.text(0.5, 0.5, "n/a", ha="center", va="center", fontsize=12, transform=ax.transAxes)
            else:
                crop = img[:, y : y + size, x : x + size].detach().to("cpu", torch.float32).permute(1, 2, 0).numpy()
                ax.imshow(np.clip(crop, 0, 1), interpolation="nearest")
            if r == 0:
                ax.set_title(title, fontsize=10)
            if c == 0:
                ax.set_ylabel(f"block {b.id}\n{b.condition}", fontsize=9)
    fig.suptitle(f"{size}×{size}-pixel crops (enlarged, nearest neighbour); first sampling seed")
    return _save(fig, path)


def write_plots(blocks: Sequence[PlotBlock], methods: Sequence[str], out: str | os.PathLike) -> list[Path]:
    """Write the four figures into ``out``; returns their paths."""
    if not blocks:
        return []
    out = Path(out)
    return [
        plot_nlf(blocks, methods, out / "nlf.png"),
        plot_correlation(blocks, methods, out / "noise_correlation.png"),
        plot_histograms(blocks, methods, out / "noise_histograms.png"),
        plot_crops(blocks, methods, out / "crops.png"),
    ]

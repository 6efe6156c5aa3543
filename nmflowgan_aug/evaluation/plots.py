"""Diagnostic figures of the noise-fidelity benchmark: real noise against each method's synthetic noise.

:func:`write_plots` writes five PNGs:

* ``nlf.png``: noise level function, noise std against clean intensity per colour channel, and the
  synthetic/real ratio with the 0.75–1.33 target band (:func:`~nmflowgan_aug.metrics.noise_level_function`),
  two rows per validation camera/ISO;
* ``noise_correlation.png``: autocorrelation of the noise at lags 0–8 pixels per channel, horizontal
  (solid) and vertical (dashed) (:func:`~nmflowgan_aug.metrics.noise_autocorrelation`);
* ``noise_cross_correlation.png``: lag-0 correlation of the noise between channels R–G, R–B, G–B
  (:func:`~nmflowgan_aug.metrics.noise_cross_correlation`);
* ``noise_histograms.png``: histograms of ``noisy − clean`` (all channels, 8-bit levels, log scale);
* ``crops.png``: 64×64 crops (enlarged, nearest neighbour): clean | real noisy | each method.

The real noise is drawn in black. Noise values are in 8-bit levels (``255 · (noisy − clean)``); the
benchmark passes samples rounded to 8-bit levels. Blocks of the same camera and ISO are pooled (the NLF
over their pixels, correlations averaged over blocks). matplotlib is an optional dependency
(a dependency), imported when a figure is drawn; figures are drawn without
pyplot, so the caller's backend is untouched.
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
from ..metrics import (
    CHANNEL_PAIR_NAMES,
    NLF_BINS,
    NLF_MIN_COUNT,
    noise_autocorrelation,
    noise_cross_correlation,
    noise_level_function,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["PlotBlock", "plot_correlation", "plot_crops", "plot_cross_correlation", "plot_histograms", "plot_nlf",
           "write_plots"]


def _new_figure(**kwargs) -> Figure:
    """A matplotlib Figure (no pyplot, no global backend change).

    Raises:
        ImportError: matplotlib is not installed (the message says how to install it).
    """
    try:
        from matplotlib.figure import Figure
    except ImportError as e:
        raise ImportError(
            "the noise-fidelity figures need matplotlib: pip install matplotlib"
        ) from e
    return Figure(**kwargs)


REAL_STYLE = {"color": "black", "linewidth": 2.4, "label": "real"}
CHANNELS = ("R", "G", "B")
MAX_LAG = 8
CROP = 64
RATIO_TICKS = (0.25, 0.5, 0.75, 1.0, 1.33, 2.0, 4.0)


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
        """The label ``"<camera> / ISO <iso>"`` of the block's condition."""
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


def _fakes(blocks: Sequence[PlotBlock], methods: Sequence[str]) -> list[tuple[str, list[tuple[torch.Tensor, ...]]]]:
    """``[(name, [(noisy, clean) as (1, 3, H, W) per block])]`` for ``real`` and each method present."""
    out = [("real", [(b.real[None], b.clean[None]) for b in blocks])]
    for m in methods:
        pairs = [(b.fakes[m][None], b.clean[None]) for b in blocks if m in b.fakes]
        if pairs:
            out.append((m, pairs))
    return out


def _pooled_nlf(pairs: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """NLF over the pixels of all pairs: (std in 8-bit levels (3, K), counts (3, K), bin centres in levels)."""
    noisy = torch.cat([n.reshape(1, 3, 1, -1) for n, _ in pairs], dim=-1)
    clean = torch.cat([c.reshape(1, 3, 1, -1) for _, c in pairs], dim=-1)
    nlf = noise_level_function(noisy, clean, NLF_BINS)
    edges = nlf.bin_edges.numpy() * 255.0
    return nlf.std[0].numpy() * 255.0, nlf.counts[0].numpy(), (edges[:-1] + edges[1:]) / 2


def plot_nlf(blocks: Sequence[PlotBlock], methods: Sequence[str], path: Path) -> Path:
    """Noise std per clean-intensity bin and the synthetic/real ratio, per channel; two rows per condition.

    Bins: :data:`~nmflowgan_aug.metrics.NLF_BINS` over [0, 255]; bins with fewer than
    :data:`~nmflowgan_aug.metrics.NLF_MIN_COUNT` pixels (pooled over the condition's blocks) are not drawn.
    """
    conds = _by_condition(blocks)
    colors = _colors(methods)
    fig = _new_figure(figsize=(13, 5.4 * len(conds) + 0.8), layout="constrained")
    axes = fig.subplots(2 * len(conds), 3, squeeze=False, sharex=True)
    for r, (cond, bl) in enumerate(conds.items()):
        series = [(name, _pooled_nlf(pairs)) for name, pairs in _fakes(bl, methods)]
        real_std, counts, centres = series[0][1]
        shown = counts >= NLF_MIN_COUNT
        for c, ch in enumerate(CHANNELS):
            ax, ax_ratio = axes[2 * r, c], axes[2 * r + 1, c]
            for name, (std, _, _) in series:
                ax.plot(centres, np.where(shown[c], std[c], np.nan), **_style(name, colors))
                if name != "real":
                    ratio = np.where(shown[c] & (real_std[c] > 0), std[c] / np.where(real_std[c] > 0, real_std[c], 1),
                                     np.nan)
                    ax_ratio.plot(centres, ratio, **_style(name, colors))
            ax.set_title(f"{cond} (blocks {', '.join(b.id for b in bl)}), channel {ch}", fontsize=9)
            ax.set_ylim(bottom=0)
            ax_ratio.axhspan(0.75, 1.33, color="0.85", zorder=0)
            ax_ratio.axhline(1.0, color="black", linewidth=1.2)
            ax_ratio.set_yscale("log")
            ax_ratio.set_ylim(0.25, 4)
            ax_ratio.set_yticks(RATIO_TICKS, [f"{t:g}" for t in RATIO_TICKS])
            ax_ratio.minorticks_off()
            for a in (ax, ax_ratio):
                a.set_xlim(0, 255)
                a.grid(alpha=0.3)
            if c == 0:
                ax.set_ylabel("noise std (8-bit levels)")
                ax_ratio.set_ylabel("std synthetic / real")
            if r == len(conds) - 1:
                ax_ratio.set_xlabel("clean intensity (8-bit levels)")
    fig.suptitle(f"Noise level function: std of noisy − clean per clean-intensity bin ({256 // NLF_BINS} levels); "
                 "ratio band 0.75–1.33")
    _legend(fig, axes)
    return _save(fig, path)


def _grid(n: int, width: float = 6.2, height: float = 3.6) -> tuple[Figure, np.ndarray, int]:
    cols = min(n, 2)
    rows = int(np.ceil(n / cols))
    fig = _new_figure(figsize=(width * cols, height * rows + 0.8), layout="constrained")
    return fig, fig.subplots(rows, cols, squeeze=False), cols


def plot_correlation(blocks: Sequence[PlotBlock], methods: Sequence[str], path: Path) -> Path:
    """Plot the noise autocorrelation at lags 0..8, the mean over each condition's blocks.

    One column per channel, one row per condition; horizontal lags solid and vertical lags dashed.
    """
    conds = _by_condition(blocks)
    colors = _colors(methods)
    fig = _new_figure(figsize=(15, 3.4 * len(conds) + 0.9), layout="constrained")
    axes = fig.subplots(len(conds), 3, squeeze=False, sharey=True)
    lags = np.arange(MAX_LAG + 1)
    for r, (cond, bl) in enumerate(conds.items()):
        for name, pairs in _fakes(bl, methods):
            rho = torch.stack([noise_autocorrelation(n, c, MAX_LAG)[0] for n, c in pairs]).mean(0)
            for c in range(3):
                for d, dash in ((0, "-"), (1, "--")):
                    style = _style(name, colors) | {"linestyle": dash}
                    if d == 1:
                        style.pop("label")
                    axes[r, c].plot(lags, np.concatenate([[1.0], rho[c, d].numpy()]), **style)
        for c, ch in enumerate(CHANNELS):
            ax = axes[r, c]
            ax.axhline(0, color="grey", linewidth=0.8)
            ax.set_title(f"{cond} (blocks {', '.join(b.id for b in bl)}), channel {ch}", fontsize=9)
            ax.set_xticks(lags)
            ax.set_ylim(-0.2, 1.02)
            ax.grid(alpha=0.3)
            if c == 0:
                ax.set_ylabel("noise correlation")
            if r == len(conds) - 1:
                ax.set_xlabel("distance (pixels)")
    fig.suptitle("Spatial autocorrelation of the noise (noisy − clean): horizontal solid, vertical dashed")
    _legend(fig, axes)
    return _save(fig, path)


def plot_cross_correlation(blocks: Sequence[PlotBlock], methods: Sequence[str], path: Path) -> Path:
    """Lag-0 noise correlation between channel pairs (R–G, R–B, G–B), one group of bars per pair, per condition."""
    conds = _by_condition(blocks)
    colors = _colors(methods)
    fig, axes, cols = _grid(len(conds))
    x = np.arange(len(CHANNEL_PAIR_NAMES))
    for i, (cond, bl) in enumerate(conds.items()):
        ax = axes[i // cols, i % cols]
        series = _fakes(bl, methods)
        width = 0.8 / len(series)
        lowest = 0.0
        for k, (name, pairs) in enumerate(series):
            rho = torch.cat([noise_cross_correlation(n, c) for n, c in pairs]).mean(0).numpy()
            color = "black" if name == "real" else colors[name]
            ax.bar(x - 0.4 + width * (k + 0.5), rho, width, color=color, label=name)
            lowest = min(lowest, float(np.nanmin(rho)))
        ax.axhline(0, color="grey", linewidth=0.8)
        ax.set_xticks(x, [p.replace("-", "–") for p in CHANNEL_PAIR_NAMES])
        ax.set_title(f"{cond} (blocks {', '.join(b.id for b in bl)})", fontsize=10)
        ax.set_ylabel("noise correlation between channels")
        ax.set_ylim(min(-0.3, lowest - 0.05), 1.0)
        ax.grid(alpha=0.3, axis="y")
    for j in range(len(conds), axes.size):
        axes[j // cols, j % cols].axis("off")
    fig.suptitle("Cross-channel correlation of the noise at the same pixel")
    _legend(fig, axes)
    return _save(fig, path)


def plot_histograms(blocks: Sequence[PlotBlock], methods: Sequence[str], path: Path, limit: int = 160,
                    bin_width: int = 2) -> Path:
    """Histograms of noise values in 8-bit levels (channels pooled), log y, per condition."""
    conds = _by_condition(blocks)
    colors = _colors(methods)
    fig, axes, cols = _grid(len(conds))
    edges = np.arange(-limit, limit + bin_width, bin_width) - bin_width / 2
    for i, (cond, bl) in enumerate(conds.items()):
        ax = axes[i // cols, i % cols]
        for name, pairs in _fakes(bl, methods):
            n = np.concatenate([(_levels(noisy) - _levels(clean)).ravel() for noisy, clean in pairs])
            hist, _ = np.histogram(n, bins=edges, density=True)
            ax.stairs(np.where(hist > 0, hist, np.nan), edges, **_style(name, colors, markers=False))
        ax.set_yscale("log")
        ax.set_title(f"{cond} (blocks {', '.join(b.id for b in bl)})", fontsize=10)
        ax.set_xlabel("noise: noisy − clean (8-bit levels)")
        ax.set_ylabel("probability density (per level)")
        ax.set_xlim(-limit, limit)
        ax.grid(alpha=0.3)
    for j in range(len(conds), axes.size):
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
    """Write the five figures into ``out``; returns their paths."""
    if not blocks:
        return []
    out = Path(out)
    return [
        plot_nlf(blocks, methods, out / "nlf.png"),
        plot_correlation(blocks, methods, out / "noise_correlation.png"),
        plot_cross_correlation(blocks, methods, out / "noise_cross_correlation.png"),
        plot_histograms(blocks, methods, out / "noise_histograms.png"),
        plot_crops(blocks, methods, out / "crops.png"),
    ]

"""Figures of the fidelity benchmark: five PNGs from real and synthetic noise; matplotlib is optional."""

from __future__ import annotations

import sys

import pytest
import torch

from nmflowgan_aug.evaluation.plots import PlotBlock, write_plots

pytest.importorskip("matplotlib")


def _blocks():
    g = torch.Generator().manual_seed(0)
    out = []
    for k, (camera, iso) in enumerate((("GP", 800), ("GP", 800), ("S6", 3200))):
        clean = torch.rand(3, 64, 64, generator=g) * 0.8 + 0.1
        real = (clean + 0.03 * torch.randn(3, 64, 64, generator=g)).clamp(0, 1)
        fakes = {"gaussian": (clean + 0.02 * torch.randn(3, 64, 64, generator=g)).clamp(0, 1)}
        if camera == "GP":
            fakes["model"] = real.roll(1, -1)
        out.append(PlotBlock(f"b{k}", camera, iso, clean, real, fakes))
    return out


def test_write_plots_writes_five_figures(tmp_path):
    paths = write_plots(_blocks(), ["gaussian", "model"], tmp_path)
    assert [p.name for p in paths] == ["nlf.png", "noise_correlation.png", "noise_cross_correlation.png",
                                       "noise_histograms.png", "crops.png"]
    for p in paths:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 10_000
    assert write_plots([], ["gaussian"], tmp_path / "none") == [] and not (tmp_path / "none").exists()


def test_missing_matplotlib_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match=r"the noise-fidelity figures need matplotlib: pip install matplotlib"):
        write_plots(_blocks(), ["gaussian"], tmp_path)

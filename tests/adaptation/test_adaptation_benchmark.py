"""The new-camera benchmark's library part: split, scores against references, table and README markers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from adaptation_helpers import MemoryPair, synthetic_pairs, tiny_model
from torch import nn

from nmflowgan_aug.adaptation import AdaptationSettings
from nmflowgan_aug.adaptation.benchmark import (
    _blocks,
    benchmark_camera,
    render_table,
    rewrite_marked,
    score_pairs,
    split_camera,
)


def _pairs(n: int, iso: int = 1600) -> list[MemoryPair]:
    return [MemoryPair(f"q{i:02d}", "X", iso, None, None) for i in range(n)]


@pytest.mark.parametrize("n, held_out, pool, ks", [(12, 2, 10, (1, 3, 10)), (29, 4, 25, (1, 3, 10)), (9, 2, 7, (1, 3)),
                                                   (3, 2, 1, (1,)), (2, 2, 0, ())])  # fmt: skip
def test_split_holds_out_what_the_largest_k_leaves_within_bounds(n, held_out, pool, ks):
    model = tiny_model("log_unet")
    pairs = _pairs(n) + _pairs(2, iso=12800)  # two pairs outside the trained range [50, 10000]
    split = split_camera(pairs, model, (1, 3, 10), seed=0)
    assert (len(split.held_out), len(split.pool), split.ks) == (held_out, pool, ks)
    assert sorted(p.name for p in split.held_out + split.pool) == [p.name for p in pairs[:n]]
    assert [p.iso for p, _ in split.skipped] == [12800, 12800]
    assert "unsupported ISO 12800" in split.skipped[0][1] and "trained range [50, 10000]" in split.skipped[0][1]
    assert split == split_camera(pairs, model, (1, 3, 10), seed=0)  # the seed fixes the split


def test_blocks_are_the_256_tiles_in_raster_order():
    x = torch.rand(1, 3, 512, 768)
    blocks = _blocks(x)
    assert blocks.shape == (6, 3, 256, 256)
    assert torch.equal(blocks[1], x[0, :, :256, 256:512]) and torch.equal(blocks[5], x[0, :, 256:, 512:])
    small = torch.rand(1, 3, 200, 300)
    assert _blocks(small) is small


class Replay(nn.Module):
    """A stand-in noise model whose "synthetic" noise is the real noise times ``gain``."""

    def __init__(self, pairs, gain: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))
        self.noisy = {p.iso: (p.clean.astype(float) + gain * (p.noisy.astype(float) - p.clean)) for p in pairs}

    def sample(self, clean, camera, iso, generator=None):
        return torch.from_numpy(self.noisy[iso] / 255).permute(2, 0, 1)[None].float()


def _grey_pairs():
    rng = np.random.default_rng(1)
    pairs = []
    for i, iso in enumerate((800, 3200)):
        clean = np.full((64, 64, 3), 128, np.uint8)
        noisy = (128 + rng.integers(-6, 7, clean.shape)).astype(np.uint8)
        pairs.append(MemoryPair(f"g{i}", "X", iso, clean, noisy))
    return pairs


def test_real_noise_scored_against_itself_is_perfect_and_a_gain_shows_in_the_std_ratio():
    pairs = _grey_pairs()
    same = score_pairs(Replay(pairs, 1.0), "X", pairs, seed=0)
    assert same["kld"] == 0 and same["akld"] == 0 and same["std_ratio"] == [1.0, 1.0, 1.0]
    assert same["lag1"] == same["lag1_real"] and [r["name"] for r in same["per_pair"]] == ["g0", "g1"]
    double = score_pairs(Replay(pairs, 2.0), "X", pairs, seed=0)
    np.testing.assert_allclose(double["std_ratio"], [2.0, 2.0, 2.0], rtol=1e-12)
    np.testing.assert_allclose(double["lag1"], double["lag1_real"], atol=1e-12)  # Pearson: scale-invariant
    assert double["kld"] > 0.1 and double["akld"] > 0.1


def test_benchmark_camera_scores_each_k_and_reuses_the_baseline_scores():
    model = tiny_model("log_unet")
    pairs = synthetic_pairs(isos=(800, 800, 3200))
    split = split_camera(pairs, model, (1, 2), seed=0, held_out=(1, 1))
    cache: dict = {}
    settings = AdaptationSettings(steps=2, patch_size=16, batch_size=2, eval_patches=2)
    runs = benchmark_camera(model, split, "NEW", settings, seed=0, baseline_cache=cache)
    assert [r["k"] for r in runs] == [1, 2] and [len(r["pairs"]) for r in runs] == [1, 2]
    assert set(cache) == {r["closest_camera"] for r in runs}
    for run in runs:
        assert run["baseline"] is cache[run["closest_camera"]]
        assert run["closest_camera"] == min(run["camera_nll_bpd"], key=run["camera_nll_bpd"].get)
        assert [r["name"] for r in run["adapted"]["per_pair"]] == [p.name for p in split.held_out]


def _score(kld, akld, std, lag1=0.1):
    return {"kld": kld, "akld": akld, "std_ratio": std, "lag1": [lag1] * 3, "lag1_real": [0.5] * 3}


def _run(k, kld, base_kld):
    return {"k": k, "pairs": [{"name": "a", "iso": 3200}], "closest_camera": "IP", "camera_nll_bpd": {"IP": 5.0},
            "nll_before_bpd": 5.0, "nll_after_bpd": 4.0, "seconds": 1.0,
            "adapted": _score(kld, 0.5, [1.1, 0.9, 1.0]), "baseline": _score(base_kld, 2.0, [2.0, 2.0, 2.0])}


def test_table_has_notes_summary_rows_and_skips():
    results = {
        "command_line": "python benchmarks/adapt_camera.py", "version": "0.1.0", "created": "today", "model": "sidd",
        "seed": 0, "settings": {"steps": 100, "batch_size": 8, "patch_size": 64, "lr": 0.05, "init_from": "closest",
                                "train_spatial": False},
        "cameras": [
            {"dataset": "PolyU", "camera": "A", "held_out": [{"name": "h", "iso": 1600}], "runs": [_run(1, 0.2, 0.6)],
             "skipped": [{"name": "s", "iso": 12800, "reason": "unsupported ISO 12800: range [50, 10000]"}]},
            {"dataset": "CC15", "camera": "B", "held_out": [{"name": "h", "iso": 3200}],
             "runs": [_run(1, 0.4, 0.8), _run(3, 0.1, 0.8)], "skipped": []},
            {"dataset": "CC15", "camera": "C", "held_out": [], "runs": [], "skipped": []},
        ],
    }  # fmt: skip
    table = render_table(results)
    assert "Generated by `python benchmarks/adapt_camera.py` (nmflowgan_aug 0.1.0, today, base model `sidd`)" in table
    assert "**JPEG-derived**" in table and "includes compression effects" in table and "non-commercial" in table
    assert "| 1 | 2 | 0.3000 | 0.7000 | 0.5000 | 2.0000 | 0.067 | 1.000 |" in table  # means over cameras A and B
    assert "| 3 | 1 | 0.1000 | 0.8000 |" in table
    assert ("| PolyU | A | 1 (1600) | 1 (3200) | adapted | 0.2000 | 0.5000 | 1.10 / 0.90 / 1.00 | 0.10 (0.50) | "
            "5.000 → 4.000 |") in table
    assert ("| PolyU | A | 1 (1600) | 1 (3200) | best SIDD: IP | 0.6000 | 2.0000 | 2.00 / 2.00 / 2.00 | 0.10 (0.50) "
            "|  |") in table
    assert "Skipped pairs: PolyU A: 1 pair(s) at ISO 12800 (unsupported ISO 12800: range [50, 10000])." in table
    assert "Not enough usable pairs to adapt and hold out: CC15 C." in table


def test_rewrite_marked_replaces_only_between_the_markers(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- adapt-table:start -->\nold\n<!-- adapt-table:end -->\noutro\n")
    rewrite_marked(readme, "new table\n")
    assert readme.read_text() == "intro\n<!-- adapt-table:start -->\nnew table\n<!-- adapt-table:end -->\noutro\n"
    readme.write_text("<!-- adapt-table:end --> <!-- adapt-table:start -->")
    with pytest.raises(ValueError, match="must contain exactly one <!-- adapt-table:start --> followed by one"):
        rewrite_marked(readme, "x")
    with pytest.raises(FileNotFoundError):
        rewrite_marked(tmp_path / "missing.md", "x")

"""The clean pool of the denoising benchmark: parts, the shipped photographs and shared data, drawn conditions."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from nmflowgan_aug.evaluation.clean_pool import POOL_PARTS, draw_conditions, load_pool, parse_pool


class _Pair:
    name = "p"

    def load(self):
        return np.full((8, 8, 3), 7, np.uint8), np.zeros((8, 8, 3), np.uint8)


def test_parse_pool_orders_and_checks_the_parts():
    assert parse_pool("cc15, pairs") == ("pairs", "cc15") and parse_pool(",".join(POOL_PARTS)) == POOL_PARTS
    for bad in ("", "pairs,imagenet", "pairs,pairs"):
        with pytest.raises(ValueError, match="distinct parts from"):
            parse_pool(bad)


def test_load_every_part(shared_data):
    pool = load_pool(POOL_PARTS, [_Pair()], shared_data)
    counts = Counter(name.split(":")[0] for name, _ in pool)
    assert counts == {"pairs": 1, "skimage": 5, "polyu": 100, "cc15": 15}
    assert all(img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3 for _, img in pool)
    names = [name for name, _ in pool]
    assert names[:3] == ["pairs:p", "skimage:astronaut", "skimage:coffee"]
    assert "skimage:stereo_motorcycle" in names
    assert all(n.endswith("_mean") for n in names if n.startswith(("polyu:", "cc15:")))
    assert int(pool[0][1][0, 0, 0]) == 7  # the clean image of the pair, not its noisy partner


def test_missing_parts_are_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"clean pool part 'polyu': no file matches .*_mean\.JPG"):
        load_pool(["polyu"], [], tmp_path)
    with pytest.raises(ValueError, match=r"unknown clean pool part\(s\) \['x'\]"):
        load_pool(["x"], [], tmp_path)


def test_conditions_follow_the_evaluation_blocks():
    blocks = [("G4", 400), ("GP", 6400), ("S6", 3200), ("GP", 10000), ("GP", 10000)]
    drawn = draw_conditions(5000, blocks, seed=0)
    freq = Counter(drawn)
    assert set(freq) == set(blocks)
    assert freq[("GP", 10000)] / 5000 == pytest.approx(0.4, abs=0.03)  # two of five blocks
    assert freq[("G4", 400)] / 5000 == pytest.approx(0.2, abs=0.03)
    assert draw_conditions(10, blocks, 1) == draw_conditions(10, blocks, 1) != draw_conditions(10, blocks, 2)
    with pytest.raises(ValueError, match="no evaluation conditions"):
        draw_conditions(3, [], 0)

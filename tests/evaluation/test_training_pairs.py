"""Training pairs of the benchmarks: known camera/ISO only, ids checked, exclusions."""

from __future__ import annotations

import pytest

from nmflowgan_aug.evaluation.training_pairs import load_known_pairs


def test_known_pairs_ids_and_exclusions(tiny_manifest):
    kept, dropped = load_known_pairs(tiny_manifest)
    assert [p.name for p in kept] == ["a", "b", "d"] and [p.name for p in dropped] == ["c"]
    kept, dropped = load_known_pairs(tiny_manifest, ids=["d", "a"])
    assert [p.name for p in kept] == ["a", "d"] and dropped == []  # manifest order
    kept, _ = load_known_pairs(tiny_manifest, exclude={"a", "b"})
    assert [(p.name, p.camera, p.iso) for p in kept] == [("d", "IP", 100)]
    with pytest.raises(ValueError, match=r"unknown id\(s\) \['z'\]; available ids: \['a', 'b', 'c', 'd'\]"):
        load_known_pairs(tiny_manifest, ids=["a", "z"])
    with pytest.raises(ValueError, match="no training pairs with known camera and ISO"):
        load_known_pairs(tiny_manifest, ids=["c"])
    with pytest.raises(FileNotFoundError):
        load_known_pairs(tiny_manifest.parent / "missing.csv")

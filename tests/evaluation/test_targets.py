"""Targets of the shipped model, checked on a results section: every-block targets, comparisons, bad names."""

from __future__ import annotations

import pytest

from nmflowgan_aug.evaluation.targets import STD_RATIO_RANGE, TARGETS, check_targets


def _entry(**values):
    base = {"corr_error_lag1": [0.0], "corr_error_lag2": [0.0], "kld_block": [0.1], "akld": [0.1],
            **{f"std_ratio_{c}": [1.0] for c in "RGB"}}
    return {"available": True, **base, **{k: [v] for k, v in values.items()}}


def _section(per_block):
    kinds = {"gaussian": "baseline", "heteroscedastic": "baseline", "ours": "model", "ref": "reference"}
    return {"methods": {m: {"kind": kinds[m]} for m in per_block}, "per_block": per_block}


def test_every_block_targets_and_comparisons():
    section = _section({
        "gaussian": {"a": _entry(kld_block=0.2), "b": _entry(kld_block=0.2)},
        "heteroscedastic": {"a": _entry(kld_block=0.1, akld=0.1), "b": _entry(kld_block=0.3, akld=0.3)},
        "ours": {"a": _entry(corr_error_lag1=0.08, kld_block=0.15, akld=0.2), "b": {"available": False}},
        "ref": {"a": _entry(), "b": _entry()},
    })
    got = check_targets(section)
    assert set(got) == {"gaussian", "heteroscedastic", "ours"}  # references are not judged
    # ours is missing block b: the every-block targets fail even though block a is within tolerance
    assert got["ours"]["lag1"] == {"ok": False, "value": "max 0.080 (1/2 blocks)"}
    # comparisons use the common blocks only (a): 0.15 vs heteroscedastic 0.1 and gaussian 0.2
    assert got["ours"]["kld"] == {"ok": False, "value": "0.1500 vs heteroscedastic 0.1000"}
    assert got["ours"]["akld"] == {"ok": False, "value": "0.2000 vs heteroscedastic 0.1000"}
    assert got["gaussian"]["kld"]["ok"] is None and got["heteroscedastic"]["akld"]["ok"] is None
    assert got["gaussian"]["std_ratio"] == {"ok": True, "value": "1.00–1.00"}


def test_std_ratio_bounds_are_inclusive_and_names_are_checked():
    lo, hi = STD_RATIO_RANGE
    inside = _section({"ours": {"a": _entry(std_ratio_R=lo, std_ratio_B=hi)}})
    assert check_targets(inside, ["std_ratio"])["ours"]["std_ratio"]["ok"] is True
    outside = _section({"ours": {"a": _entry(std_ratio_G=hi + 0.01)}})
    assert check_targets(outside, ["std_ratio"])["ours"]["std_ratio"] == {"ok": False, "value": "1.00–1.34"}
    with pytest.raises(ValueError, match=r"unknown target\(s\) \['speed'\]; known targets: \['lag1'"):
        check_targets(inside, ["speed"])
    assert list(TARGETS) == ["lag1", "lag2", "std_ratio", "kld", "akld"]

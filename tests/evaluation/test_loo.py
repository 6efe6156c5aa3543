"""Leave-one-scene-out: folds by scene instance, training overrides, per-fold model paths, per-fold refits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from nmflowgan_aug.evaluation.loo import (
    Fold,
    evaluate_loo,
    fold_model_path,
    parse_loo_model_specs,
    scene_folds,
    select_folds,
    train_overrides,
)
from nmflowgan_aug.evaluation.training_pairs import load_known_pairs
from nmflowgan_aug.training.config import apply_overrides

pytestmark = pytest.mark.usefixtures("one_thread")

#: id, camera, ISO, scene instance, noise level (±levels); g1 and g2 are two crops of one scene instance.
ROWS = [("i1", "IP", 100, "0001_001_IP_00100_00100_5500_N", 3),
        ("i2", "IP", 400, "0002_001_IP_00400_00100_5500_N", 10),
        ("i3", "IP", 1600, "0003_001_IP_01600_00100_5500_N", 12),
        ("g1", "GP", 800, "0004_001_GP_00800_00100_5500_N", 8),
        ("g2", "GP", 800, "0004_001_GP_00800_00100_5500_N", 8)]


@pytest.fixture
def scene_manifest(tmp_path) -> Path:
    rng = np.random.default_rng(0)
    lines = ["id,camera,iso,scene_instance"]
    for ident, camera, iso, scene, level in ROWS:
        clean = rng.integers(30, 220, (100, 100, 3), dtype=np.uint8)
        noisy = np.clip(clean.astype(int) + rng.integers(-level, level + 1, clean.shape), 0, 255).astype(np.uint8)
        (tmp_path / ident).mkdir()
        Image.fromarray(clean).save(tmp_path / ident / "clean.png")
        Image.fromarray(noisy).save(tmp_path / ident / "noisy.png")
        lines.append(f"{ident},{camera},{iso},{scene}")
    (tmp_path / "pairs.csv").write_text("\n".join(lines) + "\n")
    return tmp_path / "pairs.csv"


def test_folds_group_crops_of_one_scene_instance(scene_manifest):
    pairs, _ = load_known_pairs(scene_manifest)
    folds = scene_folds(pairs)
    assert [f.name for f in folds] == ["i1", "i2", "i3", "g1+g2"]
    assert folds[3] == Fold("g1+g2", "0004_001_GP_00800_00100_5500_N", ("g1", "g2"), ("i1", "i2", "i3"))
    assert folds[0].train == ("i2", "i3", "g1", "g2")
    with pytest.raises(ValueError, match="at least two scene instances"):
        scene_folds(pairs[3:])


def test_a_subset_of_folds_keeps_each_folds_training_set(scene_manifest):
    folds = scene_folds(load_known_pairs(scene_manifest)[0])
    chosen = select_folds(folds, ["g1+g2", "i1"])
    assert chosen == [folds[0], folds[3]] and chosen[0].train == ("i2", "i3", "g1", "g2")
    assert select_folds(folds, None) == folds
    with pytest.raises(ValueError, match=r"unknown fold\(s\) \['g1'\]; folds: \['i1', 'i2', 'i3', 'g1\+g2'\]"):
        select_folds(folds, ["g1"])


def test_training_overrides_keep_ids_as_text():
    fold = Fold("09+15", None, ("09", "15"), ("05", "08", "10"))
    overrides = train_overrides(fold)
    assert overrides == ['data.train.ids=["05", "08", "10"]']
    # the training CLI parses the value with YAML: the ids stay strings ("08" is not an octal or decimal number)
    assert apply_overrides({}, overrides) == {"data": {"train": {"ids": ["05", "08", "10"]}}}


def test_per_fold_model_paths(tmp_path):
    folds = [Fold("05", None, ("05",), ("06",)), Fold("06", None, ("06",), ("05",))]
    assert fold_model_path("runs/loo_{fold}/model", folds[1]) == "runs/loo_06/model"
    with pytest.raises(ValueError, match=r"must contain \{fold\}"):
        fold_model_path("runs/loo/model", folds[0])
    (tmp_path / "loo_05").mkdir()
    with pytest.raises(FileNotFoundError, match=r"no model folder for 1 of 2 folds: \['.*loo_06'\]"):
        parse_loo_model_specs([f"ours={tmp_path}/loo_{{fold}}"], folds)
    (tmp_path / "loo_06").mkdir()
    assert parse_loo_model_specs([f"ours={tmp_path}/loo_{{fold}}"], folds) == [("ours", f"{tmp_path}/loo_{{fold}}")]
    for bad, message in ((["ours"], "NAME=PATTERN"), ([f"a={tmp_path}/loo_{{fold}}"] * 2, "used twice")):
        with pytest.raises(ValueError, match=message):
            parse_loo_model_specs(bad, folds)


def test_baselines_are_refitted_without_the_held_out_scene(scene_manifest):
    pairs, _ = load_known_pairs(scene_manifest)
    folds = scene_folds(pairs)
    res = evaluate_loo(scene_manifest, folds, ["gaussian"], [], [0], torch.device("cpu"), None, crop=96,
                       progress=False)
    assert [b["id"] for b in res["blocks"]] == ["i1", "i2", "i3", "g1", "g2"]
    assert [b["fold"] for b in res["blocks"]] == ["i1", "i2", "i3", "g1+g2", "g1+g2"]
    assert res["blocks"][0]["size"] == [96, 96] and "rho_h1_R" in res["blocks"][0]["noise"]
    gauss = res["per_block"]["gaussian"]
    # GP occurs in one scene only: held out, the camera is unseen and the baseline says so
    assert gauss["g1"]["available"] is False and "'GP' has no training pairs" in gauss["g1"]["note"]
    assert all(gauss[i]["available"] for i in ("i1", "i2", "i3"))
    stat = res["summary"]["methods"]["gaussian"]["std_ratio_G"]["all"]
    assert stat["n_blocks"] == 3 and stat["of_blocks"] == 5
    # uniform integer noise ±L has std sqrt(L(L+1)/3): i1 2.0, i2 6.06, i3 7.21 levels. Held out, i2 (ISO 400) is
    # predicted from i1 (ISO 100) and i3 (ISO 1600) alone: the log-ISO line gives their geometric mean, 3.80
    # (fitted with i2 itself it would be 4.44, ratio 0.73)
    expected = np.sqrt(2.0 * np.sqrt(52.0)) / np.sqrt(110.0 / 3.0)
    assert gauss["i2"]["std_ratio_G"][0] == pytest.approx(expected, abs=0.03)
    assert res["methods"] == {"gaussian": {"kind": "baseline", "title": "i.i.d. Gaussian (σ per channel)"}}


def test_training_overrides_leave_the_fold_scene_out_of_extra_sources():
    fold = Fold("05", "0149_007_G4_00800_00800_4400_L", ("05",), ("06",))
    overrides = train_overrides(fold, extra_sources=2)
    assert overrides[1:] == ["data.extra_train.0.exclude_scenes=[149]", "data.extra_train.1.exclude_scenes=[149]"]
    raw = {"data": {"extra_train": [{"path": "a"}, {"path": "b"}]}}
    assert apply_overrides(raw, overrides)["data"]["extra_train"][1] == {"path": "b", "exclude_scenes": [149]}
    with pytest.raises(ValueError, match="no SIDD scene instance"):
        train_overrides(Fold("09+15", None, ("09", "15"), ("05",)), extra_sources=1)

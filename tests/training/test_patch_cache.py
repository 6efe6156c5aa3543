"""A run's patch cache (nmflowgan_aug.training.patch_cache).

Cut once, reused on resume only when it was cut from the same data source, never mixed.
"""

from __future__ import annotations

import json
import logging
import shutil

import h5py
import numpy as np
import pytest
import torch
from PIL import Image

from nmflowgan_aug.data.hdf5_patches import PatchDataset
from nmflowgan_aug.training.config import ConfigError, DataConfig, DataSourceConfig
from nmflowgan_aug.training.patch_cache import CACHE_RECORD, plan_patch_set
from nmflowgan_aug.vocab import ConditionVocabulary

VOCAB = ConditionVocabulary(("IP", "GP"), (100, 800))


@pytest.fixture
def manifest(tmp_path):
    """Two 32×32 pairs in a pairs manifest (GP ISO 800, IP ISO 100)."""
    root = tmp_path / "data"
    rng = np.random.default_rng(0)
    for pair_id in ("a", "b"):
        (root / pair_id).mkdir(parents=True)
        for kind in ("clean", "noisy"):
            Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(root / pair_id / f"{kind}.png")
    (root / "pairs.csv").write_text("id,camera,iso\na,GP,800\nb,IP,100\n")
    return root / "pairs.csv"


def _plan(source, cache, reuse=False, vocabulary=VOCAB, **data):
    config = DataConfig(train=source, **{"patch_size": 16, "stride": 16, "augment": False, **data})
    return plan_patch_set(source, config, vocabulary, cache, "train", reuse)


def _build(source, cache, reuse=False, **data):
    return _plan(source, cache, reuse, **data).build()


def test_resume_reuses_the_cut_without_reading_the_data_again(manifest, tmp_path):
    source, cache = DataSourceConfig(path=str(manifest)), tmp_path / "run" / "patches"
    first = _build(source, cache)
    assert first.lengths == [4, 4] and first.conditions() == {("GP", 800): 4, ("IP", 100): 4}
    record = json.loads((cache / "train" / CACHE_RECORD).read_text())
    assert record["files"] == [f.name for f in first.files]
    assert record["source"]["stride"] == 16 and record["source"]["cameras"] == ["IP", "GP"]
    stamps = [f.stat().st_mtime_ns for f in first.files]

    shutil.rmtree(manifest.parent)  # the data is gone: only the cache can serve the resumed run
    again = _build(source, cache, reuse=True)
    assert again.files == first.files and [f.stat().st_mtime_ns for f in again.files] == stamps
    for i in (0, 5):
        assert torch.equal(again[i]["noisy"], first[i]["noisy"]) and again[i]["iso"] == first[i]["iso"]


@pytest.mark.parametrize(
    "change, message",
    [
        ({"data": {"stride": 8}}, r"stride: cached 16, this run 8"),
        ({"source": {"ids": ["a"]}}, r"source: cached \{.*'ids': None.*\}, this run \{.*'ids': \['a'\]"),
    ],
)
def test_resume_refuses_a_cache_cut_from_another_source(manifest, tmp_path, change, message):
    cache = tmp_path / "patches"
    _build(DataSourceConfig(path=str(manifest)), cache)
    source = DataSourceConfig(path=str(manifest), **change.get("source", {}))
    with pytest.raises(ValueError, match=r"patch cache .* was cut from another data source \(" + message):
        _build(source, cache, reuse=True, **change.get("data", {}))


def test_incomplete_cache_is_cut_again_and_missing_files_are_errors(manifest, tmp_path, caplog):
    source, cache = DataSourceConfig(path=str(manifest)), tmp_path / "patches"
    first = _build(source, cache)
    (cache / "train" / CACHE_RECORD).unlink()  # as after an interrupted cut
    with caplog.at_level(logging.WARNING, logger="nmflowgan_aug.training.patch_cache"):
        again = _build(source, cache, reuse=True)
    assert "no complete patch cache" in caplog.text
    assert again.files == first.files and (cache / "train" / CACHE_RECORD).is_file()
    first.files[1].unlink()
    with pytest.raises(FileNotFoundError, match=r"lacks 1 recorded file\(s\), e.g. .*0001_b.hdf5"):
        _build(source, cache, reuse=True)


def test_a_folder_of_patch_files_is_used_as_it_is(manifest, tmp_path):
    prepared = _build(DataSourceConfig(path=str(manifest)), tmp_path / "prepared")
    ds = _build(DataSourceConfig(path=str(tmp_path / "prepared" / "train")), tmp_path / "run", reuse=True)
    assert isinstance(ds, PatchDataset) and ds.files == prepared.files
    assert not (tmp_path / "run").exists()


def test_planning_writes_nothing_and_a_failed_cut_leaves_no_folder(manifest, tmp_path):
    source, cache = DataSourceConfig(path=str(manifest)), tmp_path / "run" / "patches"
    plan = _plan(source, cache)
    assert plan.dataset is None and [p.name for p in plan.pairs] == ["a", "b"] and not (tmp_path / "run").exists()
    (manifest.parent / "b" / "noisy.png").unlink()  # the cut fails on the second pair
    with pytest.raises(FileNotFoundError, match="b/noisy.png"):
        plan.build()
    assert list(cache.iterdir()) == []  # neither a partial cut nor a temporary folder


@pytest.mark.parametrize(
    "csv, vocabulary, message",
    [
        ("id,camera,iso\na,GP,800\nb,S6,100\n", VOCAB, r"pair 'b' of .*pairs.csv: camera 'S6' is not one of the "
         r"model's cameras \['IP', 'GP'\]"),
        ("id,camera,iso\na,GP,800\nb,IP,400\n", VOCAB, r"pair 'b' of .*pairs.csv: ISO 400 is not one of the model's "
         r"ISOs \[100, 800\]"),
    ],
)
def test_pairs_outside_the_vocabulary_are_refused_before_cutting(manifest, tmp_path, csv, vocabulary, message):
    manifest.write_text(csv)
    with pytest.raises(ValueError, match=message):
        _plan(DataSourceConfig(path=str(manifest)), tmp_path / "patches", vocabulary=vocabulary)
    assert not (tmp_path / "patches").exists()


def test_ids_and_scenes_must_be_in_the_data(manifest, tmp_path):
    with pytest.raises(ValueError, match=r"ids \['c'\] are not in .*pairs.csv; its ids: \['a', 'b'\]"):
        _plan(DataSourceConfig(path=str(manifest), ids=["a", "c"]), tmp_path)
    with pytest.raises(ValueError, match=r"scenes \[54\] are not in .*pairs.csv; its scene instances: \[\]"):
        _plan(DataSourceConfig(path=str(manifest), scenes=[54]), tmp_path)


def test_a_folder_of_patch_files_is_checked_against_the_model(manifest, tmp_path):
    """Patch files are labelled by camera name: SIDD patches are refused by a model of simulated cameras.

    They are not trained as the camera whose code they happen to store.
    """
    _build(DataSourceConfig(path=str(manifest)), tmp_path / "prepared")
    folder = DataSourceConfig(path=str(tmp_path / "prepared" / "train"))
    simulated = ConditionVocabulary(("SimCam-A", "SimCam-B"), (100, 800))
    with pytest.raises(ValueError, match=r"0000_a.hdf5: camera 'GP' is not one of the model's cameras \['SimCam-A'"):
        _plan(folder, tmp_path / "run", vocabulary=simulated)
    with pytest.raises(ValueError, match=r"hold 16×16 patches; data.patch_size is 96"):
        _plan(folder, tmp_path / "run", patch_size=96)
    with pytest.raises(ConfigError, match=r"camera_table names the camera codes of patch files, but .*pairs.csv is not"):
        _plan(DataSourceConfig(path=str(manifest), camera_table=["IP", "GP"]), tmp_path / "run")
    for path in (tmp_path / "prepared" / "train").glob("*.hdf5"):  # as written by the official code
        with h5py.File(path, "r+") as f:
            del f["config"].attrs["camera-name"]
    with pytest.raises(ValueError, match=r"stores only the camera code \(smartphone-code=1"):
        _plan(folder, tmp_path / "run")
    official = DataSourceConfig(path=folder.path, camera_table=["IP", "GP", "S6", "N6", "G4"])
    assert _plan(official, tmp_path / "run").dataset.conditions() == {("GP", 800): 4, ("IP", 100): 4}
    assert not (tmp_path / "run").exists()


def test_scenes_select_the_files_of_a_patch_folder(manifest, tmp_path):
    manifest.write_text("id,camera,iso,scene_instance\na,GP,800,0054_003_GP_00800_00160_5500_N\n"
                        "b,IP,100,0004_001_IP_00100_00060_4400_L\n")  # fmt: skip
    _build(DataSourceConfig(path=str(manifest)), tmp_path / "prepared")
    folder = str(tmp_path / "prepared" / "train")
    assert _plan(DataSourceConfig(path=folder, scenes=[4]), tmp_path / "run").dataset.cameras == ["IP"]
    with pytest.raises(ValueError, match=r"scenes \[7\] are not in the patch files of .*; their scene instances: \[4, 54\]"):
        _plan(DataSourceConfig(path=folder, scenes=[4, 7]), tmp_path / "run")
    with pytest.raises(ConfigError, match=r"ids select rows of a pairs manifest, but .* is a folder of patch files"):
        _plan(DataSourceConfig(path=folder, ids=["a"]), tmp_path / "run")


def test_exclude_scenes_leaves_scenes_out_of_pairs_and_patch_folders(manifest, tmp_path):
    """What a leave-one-scene-out fold needs: its scene out of every training source."""
    manifest.write_text("id,camera,iso,scene_instance\na,GP,800,0054_003_GP_00800_00160_5500_N\n"
                        "b,IP,100,0004_001_IP_00100_00060_4400_L\n")  # fmt: skip
    assert _plan(DataSourceConfig(path=str(manifest), exclude_scenes=[54]), tmp_path / "p").pairs[0].name == "b"
    _build(DataSourceConfig(path=str(manifest)), tmp_path / "prepared")
    folder = str(tmp_path / "prepared" / "train")
    assert _plan(DataSourceConfig(path=folder, exclude_scenes=[54]), tmp_path / "run").dataset.cameras == ["IP"]
    with pytest.raises(ValueError, match=r"exclude_scenes \[7\] are not in .*pairs.csv; its scene instances: \[4, 54\]"):
        _plan(DataSourceConfig(path=str(manifest), exclude_scenes=[7]), tmp_path / "q")
    with pytest.raises(ValueError, match=r"exclude_scenes \[7\] are not in the patch files of"):
        _plan(DataSourceConfig(path=folder, exclude_scenes=[7]), tmp_path / "run")

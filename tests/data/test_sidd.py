"""SIDD scene names, folder and manifest readers, official splits."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nmflowgan_aug.data.sidd import (
    OFFICIAL_SPLITS,
    PairRecord,
    SceneName,
    assign_splits,
    known_metadata,
    read_pairs,
    read_pairs_manifest,
    read_sidd_folder,
)

SCENE = "0054_003_N6_00100_00160_5500_N"


def _write_png(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def _make_sidd(root: Path, scenes: dict[str, tuple[int, int]], prefixed: bool = True, ext: str = "PNG") -> dict:
    """Write ``root/Data/<scene>/[NNNN_]{GT,NOISY}_SRGB_010.<ext>``; returns name -> (clean, noisy)."""
    rng = np.random.default_rng(0)
    written = {}
    for scene, (h, w) in scenes.items():
        prefix = f"{scene[:4]}_" if prefixed else ""
        clean = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        noisy = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        _write_png(root / "Data" / scene / f"{prefix}GT_SRGB_010.{ext}", clean)
        _write_png(root / "Data" / scene / f"{prefix}NOISY_SRGB_010.{ext}", noisy)
        written[f"{scene}_010"] = (clean, noisy)
    return written


# --- SceneName ------------------------------------------------------------------------------------


def test_scene_name_parse_fields_and_codes():
    s = SceneName.parse(SCENE)
    assert (s.scene_instance, s.scene, s.camera, s.iso, s.shutter, s.illuminant_k, s.brightness) == (
        54, 3, "N6", 100, 160, 5500, "N"
    )
    assert s.camera_code == 3 and s.brightness_code == 1
    assert SceneName.parse("0001_001_IP_00100_00060_3200_L").camera_code == 0
    assert SceneName.parse("0001_001_G4_00100_00060_3200_H").brightness_code == 2


@pytest.mark.parametrize("name", [SCENE, "0198_010_GP_00800_00350_5500_L", "0003_001_S6_10000_00060_3200_H"])
def test_scene_name_round_trip(name):
    assert str(SceneName.parse(name)) == name


@pytest.mark.parametrize(
    "bad, match",
    [
        ("0054_003_N6_00100_00160_5500", "not a SIDD scene name"),  # 6 tokens
        ("0054_003_N6_00100_00160_5500_N_X", "not a SIDD scene name"),  # 8 tokens
        ("0054_003_N6_00100_00160_5500_X", "brightness token 'X'"),
        ("0054_003_XX_00100_00160_5500_N", "camera token 'XX'"),
        ("54_3_N6_100_160_5500_N", "expected"),
    ],
)
def test_scene_name_rejects(bad, match):
    with pytest.raises(ValueError, match=match) as err:
        SceneName.parse(bad)
    assert repr(bad) in str(err.value)


def test_scene_name_try_parse():
    assert SceneName.try_parse("A or B") is None
    assert SceneName.try_parse(SCENE) == SceneName.parse(SCENE)


# --- SIDD folder ----------------------------------------------------------------------------------


@pytest.mark.parametrize("prefixed, ext", [(True, "PNG"), (False, "PNG"), (False, "png")])
def test_read_sidd_folder(tmp_path, prefixed, ext):
    written = _make_sidd(tmp_path, {SCENE: (20, 24), "0004_001_S6_00100_00060_4400_L": (16, 12)}, prefixed, ext)
    for root in (tmp_path, tmp_path / "Data"):
        records = read_sidd_folder(root)
        assert [r.name for r in records] == ["0004_001_S6_00100_00060_4400_L_010", f"{SCENE}_010"]
        assert records[1].camera == "N6" and records[1].iso == 100 and records[1].scene == SceneName.parse(SCENE)
    for record in records:
        clean, noisy = record.load()
        assert clean.dtype == np.uint8 and clean.shape[2] == 3
        np.testing.assert_array_equal(clean, written[record.name][0])
        np.testing.assert_array_equal(noisy, written[record.name][1])


def test_read_sidd_folder_missing_partner(tmp_path):
    _make_sidd(tmp_path, {SCENE: (8, 8)})
    noisy = tmp_path / "Data" / SCENE / "0054_NOISY_SRGB_010.PNG"
    noisy.unlink()
    with pytest.raises(ValueError, match="0054_GT_SRGB_010.PNG"):
        read_sidd_folder(tmp_path)
    lower = tmp_path / "Data" / SCENE / "0054_GT_SRGB_010.PNG"
    lower.rename(lower.with_name("gt_srgb_011.png"))  # a lower-case GT file must not pair with itself
    with pytest.raises(ValueError, match="expected NOISY_srgb_011.png"):
        read_sidd_folder(tmp_path)


def test_read_sidd_folder_errors(tmp_path):
    (tmp_path / "Data").mkdir()
    with pytest.raises(ValueError, match="no GT_SRGB/NOISY_SRGB pairs found in .*Data"):
        read_sidd_folder(tmp_path)
    with pytest.raises(FileNotFoundError, match="missing"):
        read_sidd_folder(tmp_path / "missing")
    _write_png(tmp_path / "Data" / "not_a_scene" / "GT_SRGB_010.PNG", np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(ValueError, match="'not_a_scene' is not a SIDD scene name"):
        read_sidd_folder(tmp_path)


def test_load_errors(tmp_path):
    good = tmp_path / "good.png"
    _write_png(good, np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(FileNotFoundError, match="nothere.png"):
        PairRecord("x", tmp_path / "nothere.png", good, "N6", 100).load()
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"not an image at all")
    with pytest.raises(ValueError, match="corrupt.png"):
        PairRecord("x", corrupt, good, "N6", 100).load()
    gray = tmp_path / "gray.png"
    _write_png(gray, np.zeros((8, 8), np.uint8))
    with pytest.raises(ValueError, match="gray.png has mode 'L'"):
        PairRecord("x", good, gray, "N6", 100).load()
    small = tmp_path / "small.png"
    _write_png(small, np.zeros((8, 4, 3), np.uint8))
    with pytest.raises(ValueError, match="small.png has shape"):
        PairRecord("x", good, small, "N6", 100).load()


# --- manifest -------------------------------------------------------------------------------------


def _make_manifest(tmp_path: Path) -> Path:
    _write_png(tmp_path / "a" / "clean.png", np.full((8, 8, 3), 10, np.uint8))
    _write_png(tmp_path / "a" / "noisy.png", np.full((8, 8, 3), 20, np.uint8))
    _write_png(tmp_path / "imgs" / "gt.png", np.full((8, 8, 3), 30, np.uint8))
    _write_png(tmp_path / "imgs" / "n.png", np.full((8, 8, 3), 40, np.uint8))
    csv = tmp_path / "pairs.csv"
    csv.write_text(
        "id,camera,iso,scene_instance,clean,noisy\n"
        f"a,N6,100,{SCENE},,\n"
        "b,unknown,100 or 400,A or B,imgs/gt.png,imgs/n.png\n"
    )
    return csv


def test_read_pairs_manifest(tmp_path):
    csv = _make_manifest(tmp_path)
    a, b = read_pairs_manifest(csv)
    assert (a.name, a.camera, a.iso, a.scene) == ("a", "N6", 100, SceneName.parse(SCENE))
    assert (b.name, b.camera, b.iso, b.scene) == ("b", None, None, None)
    assert a.load()[1][0, 0, 0] == 20 and b.load()[0][0, 0, 0] == 30
    assert [r.name for r in read_pairs_manifest(csv, ids=["b"])] == ["b"]
    with pytest.raises(ValueError, match=r"unknown id\(s\) \['zz'\]"):
        read_pairs_manifest(csv, ids=["zz"])


def test_read_pairs_manifest_errors(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("id,camera\n00,N6\n")
    with pytest.raises(ValueError, match=r"missing column\(s\) \['iso'\]"):
        read_pairs_manifest(bad)
    dup = tmp_path / "dup.csv"
    dup.write_text("id,camera,iso\n00,N6,100\n00,GP,100\n")
    with pytest.raises(ValueError, match="duplicated"):
        read_pairs_manifest(dup)
    with pytest.raises(FileNotFoundError):
        read_pairs_manifest(tmp_path / "none.csv")


def test_known_metadata_logs(tmp_path, caplog):
    records = read_pairs_manifest(_make_manifest(tmp_path))
    with caplog.at_level(logging.WARNING, logger="nmflowgan_aug.data.sidd"):
        kept, dropped = known_metadata(records)
    assert [r.name for r in kept] == ["a"] and [r.name for r in dropped] == ["b"]
    assert "dropping 1 pair(s)" in caplog.text and "b" in caplog.text


def test_read_pairs_dispatch(tmp_path):
    csv = _make_manifest(tmp_path / "m")
    assert len(read_pairs(csv)) == 2
    _make_sidd(tmp_path / "s", {SCENE: (8, 8)})
    assert len(read_pairs(tmp_path / "s")) == 1
    assert len(read_pairs(tmp_path / "s" / "Data")) == 1
    with pytest.raises(ValueError, match="accepted inputs"):
        read_pairs(tmp_path / "m" / "imgs")
    with pytest.raises(FileNotFoundError):
        read_pairs(tmp_path / "nothing")


# --- official splits ------------------------------------------------------------------------------


def test_official_split_sizes():
    train, test = OFFICIAL_SPLITS["noise_gen"]["train"], OFFICIAL_SPLITS["noise_gen"]["test"]
    denoiser = OFFICIAL_SPLITS["denoiser"]["denoiser"]
    assert (len(set(train)), len(set(test)), len(set(denoiser))) == (56, 22, 123)
    assert not set(train) & set(test) and set(test) <= set(denoiser)


# --- real data ------------------------------------------------------------------------------------


def test_real_sidd_small(shared_data):
    records = read_sidd_folder(shared_data / "sidd_small_256")
    assert len(records) == 160
    assert {r.camera for r in records} == {"IP", "GP", "S6", "N6", "G4"}
    assert all(r.scene.camera == r.camera and r.scene.iso == r.iso for r in records)
    clean, noisy = records[0].load()
    assert clean.shape == noisy.shape == (256, 256, 3) and clean.dtype == np.uint8
    split = assign_splits(records, {**OFFICIAL_SPLITS["noise_gen"], **OFFICIAL_SPLITS["denoiser"]})
    assert {k: len(v) for k, v in split.items()} == {"train": 56, "test": 22, "denoiser": 123}
    assert {r.iso for r in split["denoiser"]} == {100, 400, 800, 1600, 3200}


def test_real_sidd_native_manifest(shared_data):
    records = read_pairs(shared_data / "sidd_native" / "pairs.csv")
    assert len(records) == 18
    kept, dropped = known_metadata(records)
    assert len(kept) == 16 and [r.name for r in dropped] == ["16", "17"]
    assert str(records[0].scene) == "0058_003_G4_00400_00500_5500_L" and records[17].scene is None
    chosen = read_pairs_manifest(shared_data / "sidd_native" / "pairs.csv", ids=["05", "06"])
    assert [(r.camera, r.iso) for r in chosen] == [("G4", 800), ("N6", 800)]
    clean, noisy = chosen[0].load()
    assert clean.shape == noisy.shape == (512, 512, 3)

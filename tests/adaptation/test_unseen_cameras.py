"""PolyU and CC15 readers: camera and ISO from the file names, partners checked, bad layouts named."""

from __future__ import annotations

import pytest

from nmflowgan_aug.adaptation.unseen_cameras import cc15_pairs, polyu_pairs


def _touch(folder, *names):
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_bytes(b"")


def test_polyu_names_give_camera_iso_and_partner(tmp_path):
    images = tmp_path / "polyu" / "CroppedImages"
    _touch(images, "Canon5D2_5_160_3200_chair_11_real.JPG", "Canon5D2_5_160_3200_chair_11_mean.JPG",
           "NikonD800_6-3_125_5000_plant__4_real.JPG", "NikonD800_6-3_125_5000_plant__4_mean.JPG")
    pairs = polyu_pairs(tmp_path / "polyu")
    assert [(p.name, p.camera, p.iso) for p in pairs] == [
        ("Canon5D2_5_160_3200_chair_11", "Canon5D2", 3200), ("NikonD800_6-3_125_5000_plant__4", "NikonD800", 5000)]
    assert pairs[0].clean_path == images / "Canon5D2_5_160_3200_chair_11_mean.JPG"
    assert pairs[0].noisy_path == images / "Canon5D2_5_160_3200_chair_11_real.JPG"
    assert polyu_pairs(images) == pairs  # the CroppedImages folder itself


def test_cc15_names_give_camera_iso_and_partner(tmp_path):
    _touch(tmp_path / "part", "d800_iso6400_2_real.png", "d800_iso6400_2_mean.png", "d800_iso6400_2_ours.png")
    (pair,) = cc15_pairs(tmp_path)
    assert (pair.name, pair.camera, pair.iso) == ("d800_iso6400_2", "d800", 6400)
    assert pair.clean_path == tmp_path / "part" / "d800_iso6400_2_mean.png"


@pytest.mark.parametrize("reader, files, message", [
    (polyu_pairs, ["Canon5D2_3200_chair_real.JPG"], "does not follow the file-name layout Camera_aperture_shutter_ISO"),
    (polyu_pairs, ["Canon5D2_5_160_3200_chair_11_real.JPG"], "has no clean partner Canon5D2_5_160_3200_chair_11_mean"),
    (polyu_pairs, ["readme.txt"], "no noisy/clean pairs found"),
    (cc15_pairs, ["d800_1600_1_real.png"], "does not follow the file-name layout camera_isoISO_index_real.png"),
    (cc15_pairs, ["d800_iso1600_1_real.png"], "has no clean partner d800_iso1600_1_mean.png"),
])  # fmt: skip
def test_bad_layouts_are_named(tmp_path, reader, files, message):
    _touch(tmp_path, *files)
    with pytest.raises(ValueError, match=message):
        reader(tmp_path)


def test_missing_folders(tmp_path):
    with pytest.raises(FileNotFoundError, match="PolyU folder not found"):
        polyu_pairs(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="CC15 folder not found"):
        cc15_pairs(tmp_path / "nope")


def test_the_shared_data_sets(shared_data):
    polyu = polyu_pairs(shared_data / "polyu")
    cc15 = cc15_pairs(shared_data / "nam_cc15")
    assert len(polyu) == 100 and len(cc15) == 15
    assert {p.camera for p in polyu} == {"Canon5D2", "Canon600D", "Canon80D", "NikonD800", "Sony"}
    assert {p.camera for p in cc15} == {"5dmark3", "d600", "d800"}
    assert sorted({p.iso for p in polyu}) == [800, 1600, 1800, 3200, 4000, 5000, 6400, 12800]
    assert sorted({p.iso for p in cc15}) == [1600, 3200, 6400]
    assert all(p.clean_path.is_file() and p.noisy_path.is_file() for p in polyu + cc15)

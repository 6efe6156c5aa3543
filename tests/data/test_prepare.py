"""The nmflowgan-prepare-sidd command: SIDD folder / manifest -> HDF5 patches -> PatchDataset."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
from PIL import Image

from nmflowgan_aug.data.hdf5_patches import PatchDataset, patch_positions
from nmflowgan_aug.data.prepare import main, read_scenes_file

TRAIN = "0004_001_S6_00100_00060_4400_L"  # official noise_gen train and denoiser scene
TEST = "0054_003_N6_00100_00160_5500_N"  # official noise_gen test and denoiser scene
OTHER = "0002_001_S6_00100_00020_3200_N"  # in the denoiser split only
SIZES = {TRAIN: (100, 130), TEST: (96, 96), OTHER: (110, 100)}


def _make_sidd(root: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """A SIDD-Medium style folder: ``root/Data/<scene>/NNNN_{GT,NOISY}_SRGB_010.PNG``."""
    rng = np.random.default_rng(0)
    written = {}
    for scene, (h, w) in SIZES.items():
        folder = root / "Data" / scene
        folder.mkdir(parents=True)
        clean = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        noisy = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        Image.fromarray(clean).save(folder / f"{scene[:4]}_GT_SRGB_010.PNG")
        Image.fromarray(noisy).save(folder / f"{scene[:4]}_NOISY_SRGB_010.PNG")
        written[scene] = (clean, noisy)
    return written


@pytest.fixture
def sidd(tmp_path) -> tuple[Path, dict]:
    written = _make_sidd(tmp_path / "SIDD")
    return tmp_path / "SIDD", written


def _run(*args: str) -> int:
    return main([*map(str, args), "--no-progress"])


def test_round_trip_all(sidd, tmp_path, capsys):
    root, written = sidd
    assert _run(root, tmp_path / "out") == 0
    assert "wrote 3 file(s)" in capsys.readouterr().out
    files = sorted((tmp_path / "out").iterdir())
    assert [f.name for f in files] == [f"0000_{OTHER}_010.hdf5", f"0001_{TRAIN}_010.hdf5", f"0002_{TEST}_010.hdf5"]
    with h5py.File(files[2], "r") as f:
        assert dict(f["config"].attrs) == {
            "scene-instance-number": 54,
            "scene-number": 3,
            "smartphone-code": 3,
            "ISO-level": 100,
            "shutter-speed": 160,
            "illuminant-temperature": 5500,
            "illuminant-brightness-code": 1,
            "camera-name": "N6",
        }
    ds = PatchDataset(tmp_path / "out")
    clean, noisy = written[TRAIN]
    rows, cols = patch_positions(100), patch_positions(130)
    assert (rows, cols) == ([0, 4, 4], [0, 34, 34])
    assert ds.lengths == [3 * 3, 3 * 3, 2 * 2]
    for i, (y, x) in enumerate((y, x) for y in rows for x in cols):
        item = ds[ds.lengths[0] + i]
        assert (item["camera"], item["iso"]) == ("S6", 100)
        np.testing.assert_array_equal(
            item["clean"].numpy(), clean[y : y + 96, x : x + 96].transpose(2, 0, 1) / np.float32(255)
        )
        np.testing.assert_array_equal(
            item["noisy"].numpy(), noisy[y : y + 96, x : x + 96].transpose(2, 0, 1) / np.float32(255)
        )


def test_official_splits(sidd, tmp_path):
    root, _ = sidd
    assert _run(root, tmp_path / "ng", "--split", "noise_gen") == 0
    assert [p.name for p in (tmp_path / "ng" / "train").iterdir()] == [f"0000_{TRAIN}_010.hdf5"]
    assert [p.name for p in (tmp_path / "ng" / "test").iterdir()] == [f"0000_{TEST}_010.hdf5"]
    assert _run(root, tmp_path / "dn", "--split", "denoiser", "--patch-size", "48", "--stride", "48") == 0
    ds = PatchDataset(tmp_path / "dn" / "denoiser")
    assert len(ds.files) == 3 and ds[0]["clean"].shape == (3, 48, 48)


def test_scenes_file(sidd, tmp_path):
    root, _ = sidd
    scenes = tmp_path / "scenes.yaml"
    scenes.write_text(f"mine/train: [4, '0002']\nmine/val:\n  - {TEST}\nrest: 199, 198\n")
    assert read_scenes_file(scenes) == {"mine/train": [4, 2], "mine/val": [54], "rest": [199, 198]}
    assert _run(root, tmp_path / "out", "--scenes-file", scenes) == 0
    assert len(list((tmp_path / "out" / "mine" / "train").iterdir())) == 2
    assert len(list((tmp_path / "out" / "mine" / "val").iterdir())) == 1
    assert not (tmp_path / "out" / "rest").exists()


@pytest.mark.parametrize(
    "text, match",
    [
        ("[1, 2]", "must map split names"),
        ("train: [1, x7]", "bad scene entry 'x7'"),
        ("../up: [1]", "bad split name"),
        ("train: [1, [2]", "not valid YAML"),
    ],
)
def test_scenes_file_errors(tmp_path, text, match):
    path = tmp_path / "s.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match=match):
        read_scenes_file(path)


def test_overwrite_refused(sidd, tmp_path, capsys):
    root, _ = sidd
    assert _run(root, tmp_path / "out") == 0
    with pytest.raises(SystemExit) as err:
        _run(root, tmp_path / "out")
    assert err.value.code == 1 and "out is not empty (it holds 0000_0002" in capsys.readouterr().err
    assert _run(root, tmp_path / "out", "--overwrite") == 0


def _stamps(folder: Path) -> dict[Path, int]:
    return {p: p.stat().st_mtime_ns for p in folder.rglob("*")}


def test_a_second_dataset_is_refused_and_overwrite_replaces_the_folder_as_a_unit(sidd, tmp_path, capsys):
    """Two datasets never mix in one folder: --overwrite replaces all of it, a failed run none of it."""
    root, _ = sidd
    out = tmp_path / "out"
    assert _run(root, out, "--split", "noise_gen") == 0
    before = _stamps(out)
    manifest = tmp_path / "manifest"
    (manifest / "a").mkdir(parents=True)
    for kind in ("clean", "noisy"):
        Image.fromarray(np.zeros((96, 96, 3), np.uint8)).save(manifest / "a" / f"{kind}.png")
    (manifest / "pairs.csv").write_text("id,camera,iso\na,GP,800\n")
    with pytest.raises(SystemExit):
        _run(manifest / "pairs.csv", out)
    assert "out is not empty (it holds test, train)" in capsys.readouterr().err and _stamps(out) == before

    (manifest / "pairs.csv").write_text("id,camera,iso\na,GP,800\nb,GP,800\n")  # b's images are missing
    with pytest.raises(SystemExit):
        _run(manifest / "pairs.csv", out, "--overwrite")
    assert "b/clean.png" in capsys.readouterr().err and _stamps(out) == before  # the old dataset is intact

    (manifest / "pairs.csv").write_text("id,camera,iso\na,GP,800\n")
    (tmp_path / ".out.abcd1234.tmp").mkdir()  # left by a killed run
    assert _run(manifest / "pairs.csv", out, "--overwrite") == 0
    assert [p.relative_to(out).as_posix() for p in sorted(out.rglob("*"))] == ["0000_a.hdf5"]
    assert PatchDataset(out).conditions() == {("GP", 800): 2 * 2}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["SIDD", "manifest", "out"]


def test_overwrite_refuses_a_folder_with_other_files(sidd, tmp_path, capsys):
    root, _ = sidd
    with pytest.raises(SystemExit):  # the output holds the input: replacing it would delete the data
        _run(root, tmp_path, "--overwrite")
    assert "that nmflowgan-prepare-sidd does not write, e.g." in capsys.readouterr().err
    assert len(list(root.rglob("*.PNG"))) == 6


def test_cli_errors(sidd, tmp_path, capsys):
    root, _ = sidd
    (tmp_path / "empty").mkdir()
    for args in ([tmp_path / "empty", tmp_path / "o"], [tmp_path / "nothing", tmp_path / "o"]):
        with pytest.raises(SystemExit) as err:
            _run(*args)
        assert err.value.code == 1
    assert "accepted inputs" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        _run(root, tmp_path / "o", "--split", "noise_gen", "--scenes-file", "x.yaml")
    (tmp_path / "none.yaml").write_text("train: [7]\n")
    with pytest.raises(SystemExit) as err:
        _run(root, tmp_path / "o", "--scenes-file", tmp_path / "none.yaml")
    assert err.value.code == 1 and "is in the split" in capsys.readouterr().err


def test_help(capsys):
    with pytest.raises(SystemExit) as err:
        main(["--help"])
    assert err.value.code == 0
    out = capsys.readouterr().out
    assert "--split {all,noise_gen,denoiser}" in out and "--scenes-file" in out and "OUTPUT/train/" in out


def test_real_sidd_native(shared_data, tmp_path):
    assert _run(shared_data / "sidd_native" / "pairs.csv", tmp_path / "native") == 0
    ds = PatchDataset(tmp_path / "native")
    assert len(ds.files) == 16  # rows 16 and 17 lack camera/ISO
    assert ds.lengths[0] == 6 * 6  # 256 x 256 -> 6 positions per axis
    first = ds.pair_attributes[0]
    assert first["scene-instance-number"] == 58 and first["smartphone-code"] == 4

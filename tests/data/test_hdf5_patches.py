"""HDF5 patch files: positions, writer, PatchDataset, prepare_pairs."""

from __future__ import annotations

import pickle
from dataclasses import dataclass

import h5py
import numpy as np
import pytest
import torch

from nmflowgan_aug.data.hdf5_patches import (
    CAMERA_NAME,
    OFFICIAL_CAMERA_TABLE,
    PAIR_ATTRIBUTES,
    PatchDataset,
    pair_attributes,
    patch_positions,
    prepare_pairs,
    write_pair_hdf5,
)
from nmflowgan_aug.data.sidd import SceneName
from nmflowgan_aug.vocab import ConditionVocabulary

META = {"smartphone-code": 3, "ISO-level": 800, "camera-name": "N6"}


@dataclass
class MemoryPair:
    """An in-memory pair with only name, camera, iso and load() (no ``scene`` attribute)."""

    name: str
    camera: str | None
    iso: int | None
    clean: np.ndarray
    noisy: np.ndarray

    def load(self):
        return self.clean, self.noisy


def _pair(h: int, w: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8), rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


@pytest.mark.parametrize(
    "size, patch, stride, expected",
    [
        (200, 96, 48, [0, 48, 96, 104, 104]),
        (96, 96, 48, [0, 0]),
        (256, 96, 48, [0, 48, 96, 144, 160, 160]),
        (100, 50, 50, [0, 50]),
        (10, 4, 3, [0, 3, 6, 6]),
    ],
)
def test_patch_positions(size, patch, stride, expected):
    assert patch_positions(size, patch, stride) == expected


def test_patch_positions_errors():
    with pytest.raises(ValueError, match="image size 95 is smaller than the patch size 96"):
        patch_positions(95)
    with pytest.raises(ValueError, match="stride=0"):
        patch_positions(100, 96, 0)


def test_write_pair_hdf5_layout(tmp_path):
    clean, noisy = _pair(20, 28)
    path = tmp_path / "p.hdf5"
    assert write_pair_hdf5(path, clean, noisy, META, patch=8, stride=8) == 3 * 4
    with h5py.File(path, "r") as f:
        assert len(f["clean"]) == len(f["noisy"]) == 12
        rows, cols = [0, 8, 12], [0, 8, 16, 20]
        for i, (y, x) in enumerate((y, x) for y in rows for x in cols):
            c, n = f["clean"][str(i)], f["noisy"][str(i)]
            assert c.dtype == np.uint8 and c.shape == (3, 8, 8)
            np.testing.assert_array_equal(c[()], clean[y : y + 8, x : x + 8].transpose(2, 0, 1))
            np.testing.assert_array_equal(n[()], noisy[y : y + 8, x : x + 8].transpose(2, 0, 1))
        attrs = dict(f["config"].attrs)
    assert attrs == {k: -1 for k in PAIR_ATTRIBUTES} | META
    assert [p.name for p in tmp_path.iterdir()] == ["p.hdf5"]  # no temporary file left


def test_write_pair_hdf5_errors(tmp_path):
    clean, noisy = _pair(16, 16)
    path = tmp_path / "p.hdf5"
    write_pair_hdf5(path, clean, noisy, META, patch=8)
    with pytest.raises(FileExistsError, match="p.hdf5"):
        write_pair_hdf5(path, clean, noisy, META, patch=8)
    assert write_pair_hdf5(path, clean[:8, :8], noisy[:8, :8], META, patch=8, overwrite=True) == 1
    with pytest.raises(ValueError, match="smartphone-code"):
        write_pair_hdf5(tmp_path / "a.hdf5", clean, noisy, {"ISO-level": 100, "camera-name": "IP"}, patch=8)
    with pytest.raises(ValueError, match=r"need the camera's name 'camera-name' \(a non-empty str\), got None"):
        write_pair_hdf5(tmp_path / "a.hdf5", clean, noisy, {"smartphone-code": 0, "ISO-level": 100}, patch=8)
    with pytest.raises(ValueError, match=r"unknown pair attribute\(s\) \['iso'\]"):
        write_pair_hdf5(tmp_path / "a.hdf5", clean, noisy, {**META, "iso": 1}, patch=8)
    with pytest.raises(ValueError, match="same shape"):
        write_pair_hdf5(tmp_path / "a.hdf5", clean, noisy[:8], META, patch=8)
    with pytest.raises(ValueError, match="uint8"):
        write_pair_hdf5(tmp_path / "a.hdf5", clean.astype(np.float32), noisy, META, patch=8)
    with pytest.raises(ValueError, match="a.hdf5.*smaller than the patch size 96"):
        write_pair_hdf5(tmp_path / "a.hdf5", clean, noisy, META)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.hdf5"]


def test_patch_dataset_values(tmp_path):
    pairs = [_pair(16, 24, seed=1), _pair(8, 8, seed=2)]
    write_pair_hdf5(tmp_path / "0000_a.hdf5", *pairs[0], META, patch=8, stride=8)
    write_pair_hdf5(tmp_path / "0001_b.h5", *pairs[1], {"smartphone-code": 0, "ISO-level": 100, "camera-name": "IP"},
                    patch=8)  # fmt: skip
    ds = PatchDataset(tmp_path)
    assert len(ds) == 6 + 1 and ds.lengths == [6, 1] and ds.patch_shape == (3, 8, 8)
    assert ds.cameras == ["N6", "IP"] and ds.isos == [800, 100]
    assert ds.conditions() == {("N6", 800): 6, ("IP", 100): 1}
    item = ds[4]  # file 0, row 1, column 1
    assert item["clean"].dtype == torch.float32 and item["clean"].shape == (3, 8, 8)
    expected = pairs[0][0][8:16, 8:16].transpose(2, 0, 1).astype(np.float32) / 255
    np.testing.assert_array_equal(item["clean"].numpy(), expected)
    assert (item["camera"], item["iso"]) == ("N6", 800)
    last = ds[-1]
    np.testing.assert_array_equal(last["noisy"].numpy(), pairs[1][1].transpose(2, 0, 1) / np.float32(255))
    assert (last["camera"], last["iso"]) == ("IP", 100)
    with pytest.raises(IndexError):
        ds[7]
    restored = pickle.loads(pickle.dumps(ds))  # open handles are not pickled
    np.testing.assert_array_equal(restored[4]["clean"].numpy(), expected)
    ds.close()
    assert PatchDataset([tmp_path / "0001_b.h5"]).lengths == [1]


def _dihedral(x: np.ndarray) -> list[np.ndarray]:
    """The 8 flip/rotation variants of a CHW array, indexed flip * 4 + k."""
    return [np.rot90(x[:, :, ::-1] if flip else x, k, axes=(1, 2)) for flip in (0, 1) for k in range(4)]


def test_patch_dataset_augment(tmp_path):
    clean, noisy = _pair(8, 8, seed=3)
    write_pair_hdf5(tmp_path / "p.hdf5", clean, noisy, META, patch=8)
    ds = PatchDataset(tmp_path / "p.hdf5", augment=True)
    src_c, src_n = clean.transpose(2, 0, 1) / np.float32(255), noisy.transpose(2, 0, 1) / np.float32(255)
    torch.manual_seed(0)
    seen = set()
    for _ in range(48):
        item = ds[0]
        matches = [i for i, v in enumerate(_dihedral(src_c)) if np.array_equal(v, item["clean"].numpy())]
        assert len(matches) == 1
        np.testing.assert_array_equal(item["noisy"].numpy(), _dihedral(src_n)[matches[0]])
        seen.add(matches[0])
    assert len(seen) == 8
    plain = PatchDataset(tmp_path / "p.hdf5")
    np.testing.assert_array_equal(plain[0]["clean"].numpy(), src_c)


def test_patch_dataset_errors(tmp_path):
    with pytest.raises(ValueError, match=r"no \.hdf5/\.h5 files in .*"):
        PatchDataset(tmp_path)
    with pytest.raises(FileNotFoundError, match="missing.hdf5"):
        PatchDataset([tmp_path / "missing.hdf5"])
    (tmp_path / "garbage.hdf5").write_bytes(b"\x00garbage bytes, not HDF5" * 10)
    with pytest.raises(ValueError, match="garbage.hdf5"):
        PatchDataset(tmp_path)
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["x"] = np.zeros(3)
    with pytest.raises(ValueError, match="other.h5 is not a patch file"):
        PatchDataset(tmp_path / "other.h5")


def test_patch_dataset_dataloader_workers(tmp_path):
    for i in range(3):
        meta = {"smartphone-code": i, "ISO-level": 100, "camera-name": OFFICIAL_CAMERA_TABLE[i]}
        write_pair_hdf5(tmp_path / f"{i:04d}.hdf5", *_pair(16, 16, seed=i), meta, patch=8, stride=8)
    ds = PatchDataset(tmp_path)
    ds[0]  # open a handle in the parent before the workers start
    loader = torch.utils.data.DataLoader(ds, batch_size=5, num_workers=2)
    batches = list(loader)
    clean = torch.cat([b["clean"] for b in batches])
    camera = [name for b in batches for name in b["camera"]]
    assert clean.shape == (12, 3, 8, 8)
    torch.testing.assert_close(clean, torch.stack([ds[i]["clean"] for i in range(12)]))
    assert camera == ["IP"] * 4 + ["GP"] * 4 + ["S6"] * 4


def test_pair_attributes():
    scene = SceneName.parse("0054_003_N6_00100_00160_5500_N")

    @dataclass
    class WithScene(MemoryPair):
        scene: SceneName | None = None

    pair = WithScene("x", "N6", 100, *_pair(8, 8), scene=scene)
    assert pair_attributes(pair) == {
        "scene-instance-number": 54,
        "scene-number": 3,
        "smartphone-code": 3,
        "ISO-level": 100,
        "shutter-speed": 160,
        "illuminant-temperature": 5500,
        "illuminant-brightness-code": 1,
        "camera-name": "N6",
    }
    assert pair_attributes(MemoryPair("x", "IP", 3200, *_pair(8, 8))) == {
        "smartphone-code": 0, "ISO-level": 3200, "camera-name": "IP"
    }
    with pytest.raises(ValueError, match=r"unknown camera 'XX'; supported cameras: \['IP'"):
        pair_attributes(MemoryPair("x", "XX", 100, *_pair(8, 8)))
    with pytest.raises(ValueError, match="ISO must be a positive int, got None"):
        pair_attributes(MemoryPair("x", "GP", None, *_pair(8, 8)))


def test_prepare_pairs_memory_pairs(tmp_path):
    pairs = [MemoryPair("sim/a b", "GP", 1600, *_pair(16, 16)), MemoryPair("b", "G4", 100, *_pair(8, 8, 1))]
    paths = prepare_pairs(pairs, tmp_path / "out", patch=8, stride=8, progress=False)
    assert [p.name for p in paths] == ["0000_sim_a_b.hdf5", "0001_b.hdf5"]
    ds = PatchDataset(tmp_path / "out")
    assert ds.lengths == [4, 1] and ds.conditions() == {("GP", 1600): 4, ("G4", 100): 1}
    assert [a["smartphone-code"] for a in ds.pair_attributes] == [1, 4]
    assert ds.pair_attributes[0]["scene-instance-number"] == -1
    with pytest.raises(FileExistsError, match=r"out is not empty \(it holds 0000_sim_a_b.hdf5, 0001_b.hdf5\)"):
        prepare_pairs(pairs, tmp_path / "out", patch=8, progress=False)
    assert prepare_pairs(pairs, tmp_path / "out", patch=8, progress=False, overwrite=True) == paths
    with pytest.raises(ValueError, match="unknown camera"):
        prepare_pairs([MemoryPair("c", "D800", 100, *_pair(8, 8))], tmp_path / "bad", patch=8, progress=False)
    assert not (tmp_path / "bad").exists()


def _official_file(path, code: int, iso: int = 100, seed: int = 0):
    """A patch file as the official code writes it: the camera only as ``smartphone-code``."""
    write_pair_hdf5(path, *_pair(8, 8, seed), {"smartphone-code": code, "ISO-level": iso, "camera-name": "x"}, patch=8)
    with h5py.File(path, "r+") as f:
        del f["config"].attrs[CAMERA_NAME]


def test_files_without_camera_names_need_an_explicit_code_table(tmp_path):
    _official_file(tmp_path / "0000.hdf5", code=2, iso=800)
    with pytest.raises(ValueError, match=r"0000.hdf5 stores only the camera code \(smartphone-code=2, no "
                       r"'camera-name' attribute.*camera_table=\['IP', 'GP', 'S6', 'N6', 'G4'\]"):
        PatchDataset(tmp_path)
    ds = PatchDataset(tmp_path, camera_table=OFFICIAL_CAMERA_TABLE)
    assert ds.cameras == ["S6"] and ds[0]["camera"] == "S6" and ds.conditions() == {("S6", 800): 1}
    with pytest.raises(ValueError, match=r"smartphone-code 2 is not in the camera table \{0: 'IP', 1: 'GP'\}"):
        PatchDataset(tmp_path, camera_table=["IP", "GP"])


def test_camera_names_and_isos_are_checked_against_the_vocabulary(tmp_path):
    """SIDD patches read for a model of other cameras are refused, not relabelled by their code."""
    write_pair_hdf5(tmp_path / "s6.hdf5", *_pair(8, 8), {"smartphone-code": 2, "ISO-level": 800, "camera-name": "S6"},
                    patch=8)  # fmt: skip
    simulated = ConditionVocabulary(("SimCam-A", "SimCam-B", "SimCam-C"), (100, 800))
    with pytest.raises(ValueError, match=r"s6.hdf5: camera 'S6' is not one of the model's cameras \['SimCam-A'"):
        PatchDataset(tmp_path, vocabulary=simulated)
    with pytest.raises(ValueError, match=r"s6.hdf5: ISO 800 is not one of the model's ISOs \[100, 400\]"):
        PatchDataset(tmp_path, vocabulary=ConditionVocabulary(("GP", "S6"), (100, 400)))
    # the name, not the code, labels the patches: code 2 is "SimCam-C" in the simulated table
    ds = PatchDataset(tmp_path, vocabulary=ConditionVocabulary(("GP", "S6"), (800,)), camera_table=simulated.cameras)
    assert ds[0]["camera"] == "S6"


def _rewrite(path, group: str, index: int, array: np.ndarray) -> None:
    with h5py.File(path, "r+") as f:
        if f"{group}/{index}" in f:
            del f[f"{group}/{index}"]
        f[f"{group}/{index}"] = array


@pytest.mark.parametrize(
    "group, index, array, message",
    [
        ("clean", 0, np.zeros((3, 8, 8), np.float32), r"p.hdf5: patch clean/0 is float32 \(3, 8, 8\); patches must be "
         r"uint8 \(3, H, W\)"),
        ("noisy", 0, np.zeros((8, 8, 3), np.uint8), r"p.hdf5: patch noisy/0 is uint8 \(8, 8, 3\); patches must be"),
        ("noisy", 0, np.zeros((3, 8, 6), np.uint8), r"p.hdf5: clean patches are \(3, 8, 8\) but noisy patches "
         r"\(3, 8, 6\)"),
        ("clean", 7, np.zeros((3, 8, 8), np.uint8), r"p.hdf5: clean/ must hold patches named 0..3, has \['7'\]"),
    ],
)
def test_patch_dataset_refuses_patches_of_the_wrong_dtype_or_shape(tmp_path, group, index, array, message):
    write_pair_hdf5(tmp_path / "p.hdf5", *_pair(16, 16), META, patch=8, stride=8)
    if index == 7:  # a stray name beside patches 0..3
        with h5py.File(tmp_path / "p.hdf5", "r+") as f:
            del f["clean/3"]
    _rewrite(tmp_path / "p.hdf5", group, index, array)
    with pytest.raises(ValueError, match=message):
        PatchDataset(tmp_path / "p.hdf5")


def test_patch_dataset_refuses_mixed_patch_sizes_and_checks_each_read(tmp_path):
    write_pair_hdf5(tmp_path / "a.hdf5", *_pair(16, 16), META, patch=8, stride=8)
    write_pair_hdf5(tmp_path / "b.hdf5", *_pair(16, 16), META, patch=16)
    with pytest.raises(ValueError, match=r"patches of different shapes \[\(3, 8, 8\), \(3, 16, 16\)\], e.g. .*b.hdf5"):
        PatchDataset(tmp_path)
    _rewrite(tmp_path / "a.hdf5", "noisy", 2, np.zeros((3, 8, 8), np.int16))  # a bad patch after the first
    ds = PatchDataset(tmp_path / "a.hdf5")
    assert ds[1]["noisy"].shape == (3, 8, 8)
    with pytest.raises(ValueError, match=r"a.hdf5: patch noisy/2 is int16 \(3, 8, 8\)"):
        ds[2]


def test_prepare_pairs_replaces_a_folder_as_one_unit(tmp_path):
    out = tmp_path / "out"
    first = [MemoryPair(name, "GP", 100, *_pair(8, 8, i)) for i, name in enumerate("abc")]
    prepare_pairs(first, out, patch=8, progress=False)
    second = [MemoryPair("z", "S6", 800, *_pair(8, 8, 9))]
    assert prepare_pairs(second, out, patch=8, progress=False, overwrite=True) == [out / "0000_z.hdf5"]
    assert sorted(p.name for p in out.iterdir()) == ["0000_z.hdf5"]  # no stale files of the first set
    broken = [*second, MemoryPair("small", "S6", 800, *_pair(4, 4))]  # too small for 8×8 patches
    with pytest.raises(ValueError, match="smaller than the patch size 8"):
        prepare_pairs(broken, out, patch=8, progress=False, overwrite=True)
    assert sorted(p.name for p in out.iterdir()) == ["0000_z.hdf5"] and PatchDataset(out).cameras == ["S6"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no temporary folder left
    (out / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match=r"1 file\(s\) that prepare_pairs does not write, e.g. .*notes.txt"):
        prepare_pairs(second, out, patch=8, progress=False, overwrite=True)
    assert (out / "notes.txt").read_text() == "mine"

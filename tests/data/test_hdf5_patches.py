"""HDF5 patch files: positions, writer, PatchDataset, prepare_pairs."""

from __future__ import annotations

import pickle
from dataclasses import dataclass

import h5py
import numpy as np
import pytest
import torch

from nmflowgan_aug.data.hdf5_patches import (
    PAIR_ATTRIBUTES,
    PatchDataset,
    pair_attributes,
    patch_positions,
    prepare_pairs,
    write_pair_hdf5,
)
from nmflowgan_aug.data.sidd import SceneName

META = {"smartphone-code": 3, "ISO-level": 800}


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
        write_pair_hdf5(tmp_path / "a.hdf5", clean, noisy, {"ISO-level": 100}, patch=8)
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
    write_pair_hdf5(tmp_path / "0001_b.h5", *pairs[1], {"smartphone-code": 0, "ISO-level": 100}, patch=8)
    ds = PatchDataset(tmp_path)
    assert len(ds) == 6 + 1 and ds.lengths == [6, 1]
    assert ds.cameras == [3, 0] and ds.isos == [800, 100]
    assert ds.conditions() == {(3, 800): 6, (0, 100): 1}
    item = ds[4]  # file 0, row 1, column 1
    assert item["clean"].dtype == torch.float32 and item["clean"].shape == (3, 8, 8)
    expected = pairs[0][0][8:16, 8:16].transpose(2, 0, 1).astype(np.float32) / 255
    np.testing.assert_array_equal(item["clean"].numpy(), expected)
    assert (item["camera"], item["iso"]) == (3, 800)
    last = ds[-1]
    np.testing.assert_array_equal(last["noisy"].numpy(), pairs[1][1].transpose(2, 0, 1) / np.float32(255))
    assert (last["camera"], last["iso"]) == (0, 100)
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
        meta = {"smartphone-code": i, "ISO-level": 100}
        write_pair_hdf5(tmp_path / f"{i:04d}.hdf5", *_pair(16, 16, seed=i), meta, patch=8, stride=8)
    ds = PatchDataset(tmp_path)
    ds[0]  # open a handle in the parent before the workers start
    loader = torch.utils.data.DataLoader(ds, batch_size=5, num_workers=2)
    batches = list(loader)
    clean = torch.cat([b["clean"] for b in batches])
    camera = torch.cat([b["camera"] for b in batches])
    assert clean.shape == (12, 3, 8, 8)
    torch.testing.assert_close(clean, torch.stack([ds[i]["clean"] for i in range(12)]))
    assert camera.tolist() == [0] * 4 + [1] * 4 + [2] * 4


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
    }
    assert pair_attributes(MemoryPair("x", "IP", 3200, *_pair(8, 8))) == {"smartphone-code": 0, "ISO-level": 3200}
    with pytest.raises(ValueError, match=r"unknown camera 'XX'; supported cameras: \['IP'"):
        pair_attributes(MemoryPair("x", "XX", 100, *_pair(8, 8)))
    with pytest.raises(ValueError, match="ISO must be a positive int, got None"):
        pair_attributes(MemoryPair("x", "GP", None, *_pair(8, 8)))


def test_prepare_pairs_memory_pairs(tmp_path):
    pairs = [MemoryPair("sim/a b", "GP", 1600, *_pair(16, 16)), MemoryPair("b", "G4", 100, *_pair(8, 8, 1))]
    paths = prepare_pairs(pairs, tmp_path / "out", patch=8, stride=8, progress=False)
    assert [p.name for p in paths] == ["0000_sim_a_b.hdf5", "0001_b.hdf5"]
    ds = PatchDataset(tmp_path / "out")
    assert ds.lengths == [4, 1] and ds.conditions() == {(1, 1600): 4, (4, 100): 1}
    assert ds.pair_attributes[0]["scene-instance-number"] == -1
    with pytest.raises(FileExistsError, match="2 output file"):
        prepare_pairs(pairs, tmp_path / "out", patch=8, progress=False)
    assert prepare_pairs(pairs, tmp_path / "out", patch=8, progress=False, overwrite=True) == paths
    with pytest.raises(ValueError, match="unknown camera"):
        prepare_pairs([MemoryPair("c", "D800", 100, *_pair(8, 8))], tmp_path / "bad", patch=8, progress=False)
    assert not (tmp_path / "bad").exists()

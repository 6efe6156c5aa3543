"""SIDD .mat block files (MATLAB v5 and v7.3) and the SubmitSrgb.mat submission, on small fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.io
import torch

from nmflowgan_aug.data.sidd_mat import (
    SIDD_BLOCKS_SHAPE,
    SIDD_VALIDATION_SCENES,
    SUBMISSION_FILENAME,
    iter_blocks,
    load_sidd_blocks,
    load_sidd_submission,
    mat_file_version,
    write_sidd_submission,
)

SMALL = (2, 3, 8, 6, 3)  # images, blocks, H, W, RGB (H != W to catch transposes)


def _blocks(seed: int = 0, shape=SMALL) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=shape, dtype=np.uint8)


def write_v5(path: Path, variables: dict[str, np.ndarray]) -> Path:
    scipy.io.savemat(path, variables, format="5")
    return path


def write_v73(path: Path, variables: dict[str, np.ndarray]) -> Path:
    """MATLAB v7.3 layout: HDF5 behind a 512-byte MATLAB header, arrays stored with reversed axes."""
    with h5py.File(path, "w", userblock_size=512) as f:
        for name, arr in variables.items():
            ds = f.create_dataset(name, data=np.ascontiguousarray(arr.transpose(tuple(range(arr.ndim))[::-1])))
            ds.attrs["MATLAB_class"] = np.bytes_(arr.dtype.name)
    text = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2024 HDF5 schema 1.00 ."
    header = text.ljust(116, b" ") + b"\x00" * 8 + b"\x00\x02" + b"IM"
    with open(path, "r+b") as f:
        f.write(header)
    return path


WRITERS = {"v5": write_v5, "v7.3": write_v73}


# ------------------------------------------------------------------------------------------------ block files


@pytest.mark.parametrize("fmt", ["v5", "v7.3"])
@pytest.mark.parametrize("key", ["ValidationNoisyBlocksSrgb", "ValidationGtBlocksSrgb", "BenchmarkNoisyBlocksSrgb"])
def test_round_trip_key_from_stem(tmp_path, fmt, key):
    blocks = _blocks()
    path = WRITERS[fmt](tmp_path / f"{key}.mat", {key: blocks})
    assert mat_file_version(path) == ("7.3" if fmt == "v7.3" else "5")
    got = load_sidd_blocks(path, expected_shape=SMALL)
    assert got.dtype == np.uint8 and got.shape == SMALL and got.flags.c_contiguous
    np.testing.assert_array_equal(got, blocks)
    np.testing.assert_array_equal(load_sidd_blocks(path, key, expected_shape=None), blocks)


def test_v73_dataset_is_stored_transposed(tmp_path):
    path = write_v73(tmp_path / "ValidationGtBlocksSrgb.mat", {"ValidationGtBlocksSrgb": _blocks()})
    with open(path, "rb") as f:
        assert f.read(19) == b"MATLAB 7.3 MAT-file"
    with h5py.File(path, "r") as f:
        assert f["ValidationGtBlocksSrgb"].shape == SMALL[::-1]  # (3, W, H, M, N), as MATLAB writes it
    assert load_sidd_blocks(path, expected_shape=SMALL).shape == SMALL


@pytest.mark.parametrize("fmt", ["v5", "v7.3"])
def test_wrong_key_lists_variables(tmp_path, fmt):
    path = WRITERS[fmt](tmp_path / "blocks.mat", {"noisy": _blocks(1), "gt": _blocks(2)})
    with pytest.raises(KeyError, match=r"ValidationNoisyBlocksSrgb.*\['gt', 'noisy'\]"):
        load_sidd_blocks(path, "ValidationNoisyBlocksSrgb", expected_shape=SMALL)
    with pytest.raises(KeyError, match="cannot infer"):
        load_sidd_blocks(path, expected_shape=SMALL)  # stem 'blocks' is no variable and there are two
    np.testing.assert_array_equal(load_sidd_blocks(path, "gt", expected_shape=SMALL), _blocks(2))


@pytest.mark.parametrize("fmt", ["v5", "v7.3"])
def test_single_variable_file_with_other_name(tmp_path, fmt):
    path = WRITERS[fmt](tmp_path / "noisy.mat", {"ValidationNoisyBlocksSrgb": _blocks(3)})
    np.testing.assert_array_equal(load_sidd_blocks(path, expected_shape=SMALL), _blocks(3))


@pytest.mark.parametrize("fmt", ["v5", "v7.3"])
def test_wrong_shape_and_dtype(tmp_path, fmt):
    key = "ValidationNoisyBlocksSrgb"
    path = WRITERS[fmt](tmp_path / f"{key}.mat", {key: _blocks()})
    with pytest.raises(ValueError, match=r"\(40, 32, 256, 256, 3\)"):
        load_sidd_blocks(path)  # the default is the full SIDD shape
    with pytest.raises(ValueError, match=r"\(\*, \*, 8, 8, 3\)"):
        load_sidd_blocks(path, expected_shape=(None, None, 8, 8, 3))
    assert load_sidd_blocks(path, expected_shape=(None, 3, None, None, 3)).shape == SMALL
    path2 = WRITERS[fmt](tmp_path / "float.mat", {key: _blocks().astype(np.float64)})
    with pytest.raises(ValueError, match="uint8"):
        load_sidd_blocks(path2, key, expected_shape=SMALL)
    path3 = WRITERS[fmt](tmp_path / "four_d.mat", {key: _blocks()[0]})
    with pytest.raises(ValueError, match="shape"):
        load_sidd_blocks(path3, key, expected_shape=None)


def test_missing_and_invalid_files(tmp_path):
    missing = tmp_path / "ValidationNoisyBlocksSrgb.mat"
    with pytest.raises(FileNotFoundError, match="ValidationNoisyBlocksSrgb.mat"):
        load_sidd_blocks(missing)
    junk = tmp_path / "junk.mat"
    junk.write_bytes(os.urandom(300))
    with pytest.raises(ValueError, match="junk.mat"):
        load_sidd_blocks(junk, expected_shape=None)


def test_sidd_shape_constant():
    assert SIDD_BLOCKS_SHAPE == (40, 32, 256, 256, 3)


def test_validation_scene_table():
    from collections import Counter

    from nmflowgan_aug.data.sidd import SceneName

    scenes = [SceneName.parse(name) for name in SIDD_VALIDATION_SCENES]
    assert len(scenes) == SIDD_BLOCKS_SHAPE[0] and list(SIDD_VALIDATION_SCENES) == sorted(set(SIDD_VALIDATION_SCENES))
    assert Counter(s.camera for s in scenes) == {"S6": 8, "GP": 8, "N6": 8, "G4": 8, "IP": 8}
    assert (scenes[0].camera, scenes[0].iso, scenes[3].camera, scenes[3].iso) == ("S6", 800, "G4", 400)


def test_validation_scene_table_matches_provenance(shared_data):
    import re

    text = (shared_data / "PROVENANCE.md").read_text()
    line = next(ln for ln in text.splitlines() if ln.startswith("Validation/benchmark image i (0-based)"))
    listed = dict(re.findall(r"(\d+):(\d{4}_\d{3}_\w\w_\d{5}_\d{5}_\d{4}_[LNH])", line))
    assert [listed[str(i)] for i in range(len(listed))] == list(SIDD_VALIDATION_SCENES)


def test_iter_blocks():
    noisy, clean = _blocks(4), _blocks(5)
    items = list(iter_blocks(noisy, clean))
    assert [(i, b) for i, b, _, _ in items] == [(i, b) for i in range(2) for b in range(3)]
    for i, b, n, c in items:
        assert n.shape == (8, 6, 3)
        np.testing.assert_array_equal(n, noisy[i, b])
        np.testing.assert_array_equal(c, clean[i, b])
    assert all(c is None for *_, c in iter_blocks(noisy))
    with pytest.raises(ValueError, match="same shape"):
        list(iter_blocks(noisy, clean[:1]))
    with pytest.raises(ValueError, match="shape"):
        list(iter_blocks(noisy[0]))


# ------------------------------------------------------------------------------------------------ submission


def test_submission_round_trip(tmp_path):
    blocks = _blocks(6)
    out = write_sidd_submission(tmp_path, blocks, 0.125, expected_shape=SMALL)
    assert out == tmp_path / SUBMISSION_FILENAME
    raw = scipy.io.loadmat(out)
    cell = raw["DenoisedBlocksSrgb"]
    assert cell.dtype == object and cell.shape == (2, 3)  # a MATLAB cell array
    assert cell[1, 2].dtype == np.uint8 and cell[1, 2].shape == (8, 6, 3)
    np.testing.assert_array_equal(cell[1, 2], blocks[1, 2])
    assert raw["TimeMP"].item() == 0.125
    sub = load_sidd_submission(out)
    np.testing.assert_array_equal(sub.blocks, blocks)
    assert sub.time_mp == 0.125
    assert sorted(p.name for p in tmp_path.iterdir()) == [SUBMISSION_FILENAME]  # no temp files left


def test_submission_overwrite(tmp_path):
    path = tmp_path / "SubmitSrgb.mat"
    write_sidd_submission(path, _blocks(7), 1.0, expected_shape=SMALL)
    before = path.read_bytes()
    with pytest.raises(FileExistsError, match="overwrite=True"):
        write_sidd_submission(path, _blocks(8), 2.0, expected_shape=SMALL)
    assert path.read_bytes() == before
    write_sidd_submission(path, _blocks(8), 2.0, expected_shape=SMALL, overwrite=True)
    sub = load_sidd_submission(path)
    np.testing.assert_array_equal(sub.blocks, _blocks(8))
    assert sub.time_mp == 2.0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["SubmitSrgb.mat"]


def test_submission_inputs(tmp_path):
    blocks = _blocks(9)
    # torch tensors and (N, M) object arrays of blocks are accepted
    write_sidd_submission(tmp_path / "a.mat", torch.from_numpy(blocks), 0, expected_shape=SMALL)
    cell = np.empty((2, 3), dtype=object)
    for i in range(2):
        for b in range(3):
            cell[i, b] = blocks[i, b]
    write_sidd_submission(tmp_path / "b.mat", cell, 0.5, expected_shape=SMALL, optional_data={"MethodName": "x"})
    for name in ("a.mat", "b.mat"):
        np.testing.assert_array_equal(load_sidd_submission(tmp_path / name).blocks, blocks)
    with pytest.raises(ValueError, match=r"\(40, 32, 256, 256, 3\)"):
        write_sidd_submission(tmp_path / "c.mat", blocks, 0.5)
    with pytest.raises(ValueError, match="uint8"):
        write_sidd_submission(tmp_path / "c.mat", blocks.astype(np.float32), 0.5, expected_shape=SMALL)
    with pytest.raises(ValueError, match="time_mp"):
        write_sidd_submission(tmp_path / "c.mat", blocks, -1.0, expected_shape=SMALL)
    with pytest.raises(ValueError, match="time_mp"):
        write_sidd_submission(tmp_path / "c.mat", blocks, float("nan"), expected_shape=SMALL)
    with pytest.raises(TypeError):
        write_sidd_submission(tmp_path / "c.mat", blocks.tolist(), 0.5, expected_shape=SMALL)
    with pytest.raises(ValueError, match=".mat"):
        write_sidd_submission(tmp_path / "c.txt", blocks, 0.5, expected_shape=SMALL)
    with pytest.raises(FileNotFoundError):
        write_sidd_submission(tmp_path / "nope" / "c.mat", blocks, 0.5, expected_shape=SMALL)
    assert not (tmp_path / "c.mat").exists()


def test_load_submission_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_sidd_submission(tmp_path / "SubmitSrgb.mat")
    path = write_v5(tmp_path / "other.mat", {"x": _blocks()})
    with pytest.raises(KeyError, match="DenoisedBlocksSrgb"):
        load_sidd_submission(path)
    path73 = write_v73(tmp_path / "v73.mat", {"DenoisedBlocksSrgb": _blocks()})
    with pytest.raises(ValueError, match="v7.3"):
        load_sidd_submission(path73)

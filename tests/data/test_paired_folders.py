"""nmflowgan-paired-folders: real noisy/clean pairs written as BasicSR gt/ and lq/ PNG folders."""

from __future__ import annotations

import re

import numpy as np
import pytest
from PIL import Image

from nmflowgan_aug.data.paired_folders import main, write_paired_folders


def test_write_paired_folders_round_trips_and_never_overwrites(tmp_path):
    rng = np.random.default_rng(0)
    clean, noisy = (rng.integers(0, 256, (4, 6, 3), dtype=np.uint8) for _ in range(2))
    gt_dir, lq_dir = write_paired_folders([("00_01", clean, noisy)], tmp_path / "val")
    assert (gt_dir, lq_dir) == (tmp_path / "val" / "gt", tmp_path / "val" / "lq")
    assert np.array_equal(np.asarray(Image.open(gt_dir / "00_01.png")), clean)
    assert np.array_equal(np.asarray(Image.open(lq_dir / "00_01.png")), noisy)
    with pytest.raises(FileExistsError, match=r"val is not empty \(it holds gt, lq\)"):
        write_paired_folders([("00_01", noisy, clean)], tmp_path / "val")
    assert np.array_equal(np.asarray(Image.open(gt_dir / "00_01.png")), clean)  # the existing pair is kept


def test_pairs_manifest_ids(shared_data, tmp_path, capsys):
    assert main(["--pairs", str(shared_data / "sidd_native/pairs.csv"), "--ids", "00", "--out", str(tmp_path)]) == 0
    assert [p.name for p in (tmp_path / "gt").iterdir()] == [p.name for p in (tmp_path / "lq").iterdir()] == ["00.png"]
    assert f"dataroot_gt: {tmp_path / 'gt'}" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [[], ["--pairs", "p.csv", "--gt-mat", "g.mat"], ["--noisy-mat", "n.mat"]])
def test_cli_needs_pairs_or_both_mat_files(tmp_path, argv, capsys):
    with pytest.raises(SystemExit):
        main([*argv, "--out", str(tmp_path)])
    assert "give either --pairs, or both --noisy-mat and --gt-mat" in capsys.readouterr().err


def _manifest(root, ids=("a", "b")):
    rng = np.random.default_rng(1)
    for pair_id in ids:
        (root / pair_id).mkdir(parents=True, exist_ok=True)
        for kind in ("clean", "noisy"):
            Image.fromarray(rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)).save(root / pair_id / f"{kind}.png")
    (root / "pairs.csv").write_text("id,camera,iso\n" + "".join(f"{i},GP,800\n" for i in ids))
    return root / "pairs.csv"


def test_cli_checks_inputs_before_writing_and_overwrite_replaces_the_folder(tmp_path, capsys):
    csv = _manifest(tmp_path / "data")
    out = tmp_path / "out"
    (tmp_path / "data" / "b" / "noisy.png").unlink()
    with pytest.raises(SystemExit) as err:
        main(["--pairs", str(csv), "--out", str(out)])
    assert err.value.code == 1 and "pair 'b': image file not found: " in capsys.readouterr().err
    assert not out.exists()  # nothing written, not even pair a

    assert main(["--pairs", str(csv), "--ids", "a", "--out", str(out)]) == 0
    with pytest.raises(SystemExit):
        main(["--pairs", str(csv), "--ids", "a", "--out", str(out)])
    assert "out is not empty (it holds gt, lq); choose a new or empty folder" in capsys.readouterr().err
    _manifest(tmp_path / "data", ids=("c",))
    (tmp_path / ".out.abcd1234.tmp").mkdir()  # left by a killed run
    assert main(["--pairs", str(tmp_path / "data" / "pairs.csv"), "--out", str(out), "--overwrite"]) == 0
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png")) == ["gt/c.png", "lq/c.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "out"]


def test_cli_refuses_inputs_inside_the_output(tmp_path, capsys):
    csv = _manifest(tmp_path / "out" / "src", ids=("a",))
    with pytest.raises(SystemExit):
        main(["--pairs", str(csv), "--out", str(tmp_path / "out"), "--overwrite"])
    assert "3 file(s) that nmflowgan-paired-folders does not write" in capsys.readouterr().err
    # an earlier output read back as input: replacing the folder would delete the images being read
    assert main(["--pairs", str(csv), "--out", str(tmp_path / "prev")]) == 0
    (tmp_path / "again.csv").write_text("id,camera,iso,clean,noisy\na,GP,800,prev/gt/a.png,prev/lq/a.png\n")
    with pytest.raises(SystemExit):
        main(["--pairs", str(tmp_path / "again.csv"), "--out", str(tmp_path / "prev"), "--overwrite"])
    assert re.search(r"pair 'a': input .*prev/gt/a.png is inside the output folder .*prev", capsys.readouterr().err)
    assert (tmp_path / "prev" / "gt" / "a.png").is_file()


@pytest.mark.parametrize(
    "pairs, message",
    [
        ([("a", np.zeros((4, 4, 3), np.float32), np.zeros((4, 4, 3), np.uint8))],
         r"pair 'a': clean must be a uint8 array of shape \(H, W, 3\), got float32"),
        ([("a", np.zeros((4, 4, 3), np.uint8), np.zeros((4, 5, 3), np.uint8))],
         r"pair 'a': clean and noisy must have the same shape"),
        ([("a", np.zeros((4, 4, 3), np.uint8), np.zeros((4, 4, 3), np.uint8))] * 2, r"pair name 'a' is repeated"),
        ([("../a", np.zeros((4, 4, 3), np.uint8), np.zeros((4, 4, 3), np.uint8))], r"pair name '../a' is not a file"),
    ],
)
def test_bad_pairs_leave_no_output(tmp_path, pairs, message):
    with pytest.raises(ValueError, match=message):
        write_paired_folders(pairs, tmp_path / "out")
    assert list(tmp_path.iterdir()) == []

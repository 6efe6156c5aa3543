"""nmflowgan-paired-folders: real noisy/clean pairs written as BasicSR gt/ and lq/ PNG folders."""

from __future__ import annotations

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
    with pytest.raises(FileExistsError, match="00_01.png already exists"):
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

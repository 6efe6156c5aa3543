"""nmflowgan-synthesize: the command line over synthesize_folder / regenerate."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nmflowgan_aug import SIDD_VOCABULARY, NMFlowGAN, NMFlowGANConfig
from nmflowgan_aug.cli import synthesize as cli
from nmflowgan_aug.synthesize import MANIFEST_FILE, read_manifest

cv2 = pytest.importorskip("cv2", reason="OpenCV is needed for 16-bit image files (pip install nmflowgan_aug[synthesize])")


@pytest.fixture
def folders(tmp_path):
    torch.manual_seed(0)
    config = NMFlowGANConfig(cameras=SIDD_VOCABULARY.cameras, isos=SIDD_VOCABULARY.isos, iso_encoding="log",
                             flow_features=4, unet_depth=2, unet_width=4)
    model = NMFlowGAN(config).save_pretrained(tmp_path / "model")
    clean = tmp_path / "clean"
    clean.mkdir()
    for i in range(2):
        cv2.imwrite(str(clean / f"{i}.png"), np.full((20, 24, 3), 60 * i + 40, np.uint8))
    return model, clean, tmp_path


def test_help_describes_the_options(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--help"])
    text = capsys.readouterr().out
    assert exit_info.value.code == 0
    for option in ("--camera", "--iso-range", "--strength", "--repeats", "--conditions", "--bit-depth", "--device",
                   "--overwrite", "--from-manifest"):
        assert option in text, option


def test_run_then_regenerate(folders, capsys):
    model, clean, tmp = folders
    args = [str(clean), str(tmp / "noisy"), "--model", str(model), "--cameras", "GP", "S6", "--iso-range", "800", "3200",
            "--strength", "0.5", "1.0", "--repeats", "2", "--device", "cpu", "--no-progress"]
    assert cli.main(args) == 0
    rows = read_manifest(tmp / "noisy" / MANIFEST_FILE)
    assert len(rows) == 4 and {r.camera for r in rows} <= {"GP", "S6"} and all(0.5 <= r.strength <= 1 for r in rows)
    assert "4 noisy images" in capsys.readouterr().out
    assert cli.main([str(clean), str(tmp / "rebuilt"), "--from-manifest", str(tmp / "noisy" / MANIFEST_FILE),
                     "--no-progress"]) == 0  # bit for bit
    assert (tmp / "rebuilt" / "r1" / "0.png").read_bytes() == (tmp / "noisy" / "r1" / "0.png").read_bytes()


def test_errors_exit_with_the_message(folders, capsys):
    model, clean, tmp = folders
    with pytest.raises(SystemExit) as exit_info:
        cli.main([str(clean), str(tmp / "out"), "--model", str(model), "--iso", "99999", "--no-progress"])
    assert exit_info.value.code == 2 and "trained range" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main([str(clean), str(tmp / "out"), "--model", str(model), "--strength", "1", "2", "3"])
    assert "--strength takes one value or LO HI" in capsys.readouterr().err

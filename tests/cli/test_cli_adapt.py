"""nmflowgan-adapt: the command line over adapt_camera / save_adapted, on a pairs manifest."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch
from PIL import Image

from nmflowgan_aug import SIDD_VOCABULARY, NMFlowGAN, NMFlowGANConfig
from nmflowgan_aug.cli import adapt as cli

FAST = ["--steps", "3", "--patch-size", "16", "--batch-size", "2", "--device", "cpu", "--no-progress"]


@pytest.fixture
def setup(tmp_path):
    """A small saved model and a manifest of two synthetic pairs of camera NEW (ISO 800 and 3200)."""
    torch.manual_seed(0)
    config = NMFlowGANConfig(cameras=SIDD_VOCABULARY.cameras, isos=SIDD_VOCABULARY.isos, iso_encoding="log_camera",
                             flow_features=4, unet_depth=0, spatial_kernel=3)
    model = NMFlowGAN(config).save_pretrained(tmp_path / "model")
    rng = np.random.default_rng(0)
    rows = []
    for i, iso in enumerate((800, 3200)):
        clean = np.full((32, 32, 3), 100 + 40 * i, np.uint8)
        noisy = (clean + rng.integers(-4, 5, clean.shape)).astype(np.uint8)
        Image.fromarray(clean).save(tmp_path / f"clean{i}.png")
        Image.fromarray(noisy).save(tmp_path / f"noisy{i}.png")
        rows.append({"id": f"a{i}", "camera": "NEW", "iso": iso, "clean": f"clean{i}.png", "noisy": f"noisy{i}.png"})
    manifest = tmp_path / "pairs.csv"
    with manifest.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return model, manifest, tmp_path


def test_help_describes_the_options(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--help"])
    text = capsys.readouterr().out
    assert exit_info.value.code == 0
    for option in ("--model", "--pairs", "--camera", "--out", "--steps", "--patch-size", "--train-spatial", "--device",
                   "--seed", "--overwrite", "id,camera,iso,clean,noisy", "bit for bit"):
        assert option in text, option


def test_adapts_and_writes_the_model_folder(setup, capsys):
    model, manifest, tmp = setup
    out = tmp / "adapted"
    args = ["--model", str(model), "--pairs", str(manifest), "--camera", "NEW", "--out", str(out), "--init", "GP"]
    assert cli.main(args + FAST) == 0
    printed = capsys.readouterr().out
    assert "camera 'NEW' added (start: GP); adaptation NLL" in printed and "bits/dim" in printed
    adapted = NMFlowGAN.from_pretrained(out)
    assert adapted.vocabulary.cameras == (*SIDD_VOCABULARY.cameras, "NEW")
    card = (out / "MODEL_CARD.md").read_text()
    assert f"# Model card: camera `NEW` added to `{model}`" in card and "| `a1` | 3200 |" in card
    assert "3 Adam steps" in card and "2 random patches of 16×16" in card
    with pytest.raises(SystemExit) as exit_info:  # the output is not empty now
        cli.main(args + FAST)
    assert exit_info.value.code == 2 and "is not empty" in capsys.readouterr().err
    assert cli.main(args + FAST + ["--overwrite", "--train-spatial"]) == 0
    assert "the noise of every camera changed" in (out / "MODEL_CARD.md").read_text()


def test_a_non_empty_output_is_refused_before_anything_is_read(tmp_path, capsys):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "photo.png").write_bytes(b"mine")
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--pairs", str(tmp_path / "missing.csv"), "--camera", "NEW", "--out", str(tmp_path / "out")] + FAST)
    assert exit_info.value.code == 2 and "output folder" in capsys.readouterr().err
    assert (tmp_path / "out" / "photo.png").read_bytes() == b"mine"


def test_a_pair_of_another_camera_is_named(setup, capsys):
    model, manifest, tmp = setup
    manifest.write_text(manifest.read_text().replace("a1,NEW", "a1,GP"))
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--model", str(model), "--pairs", str(manifest), "--camera", "NEW", "--out", str(tmp / "o")] + FAST)
    assert exit_info.value.code == 2
    assert "pair 'a1' has camera 'GP', but the camera being added is 'NEW'" in capsys.readouterr().err
    assert not (tmp / "o").exists()

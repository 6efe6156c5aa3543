"""train_noise_model.py end to end on the embedded default, with a tiny model and a few steps."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from nmflowgan_aug import NMFlowGAN
from nmflowgan_aug.training.cli import main

REPO = Path(__file__).resolve().parents[2]
TINY = ["--set", "model.unet_depth=2", "--set", "model.unet_width=4", "--set", "critic.width=2",
        "--set", "train.batch_size=4", "--set", "train.steps_per_epoch=2", "--set", "train.epochs=1",
        "--set", "train.val_patches=4", "--device", "cpu"]


def test_embedded_run_writes_model_metrics_and_figures(tmp_path):
    assert main(TINY + ["--output-dir", str(tmp_path), "--name", "run"]) == 0
    run = tmp_path / "run"
    for name in ("config.yaml", "metrics.json", "samples.png", "conditions.png", "checkpoints/last.pt",
                 "model/model.safetensors", "model/config.json"):
        assert (run / name).is_file(), name
    metrics = json.loads((run / "metrics.json").read_text())
    assert set(metrics["final"]) == {"val_nll_bpd", "val_kld", "val_akld"}
    model = NMFlowGAN.from_pretrained(run / "model")
    assert model.vocabulary.cameras == ("SimCam-A", "SimCam-B", "SimCam-C")

    # A second run into the same folder is refused unless asked to resume or overwrite.
    with pytest.raises(SystemExit, match="--resume"):
        main(TINY + ["--output-dir", str(tmp_path), "--name", "run"])
    cut = {p: p.stat().st_mtime_ns for p in (run / "patches").rglob("*") if p.is_file()}
    assert {p.parent.name for p in cut} == {"train", "val"} and len(cut) > 2
    # a refused resume leaves the run's config.yaml as it was
    saved = (run / "config.yaml").read_text()
    with pytest.raises(ValueError, match="different model config"):
        main(TINY + ["--output-dir", str(tmp_path), "--name", "run", "--resume", "--set", "model.unet_width=8"])
    assert (run / "config.yaml").read_text() == saved
    assert main(TINY + ["--output-dir", str(tmp_path), "--name", "run", "--resume", "--set", "train.epochs=2"]) == 0
    assert json.loads((run / "metrics.json").read_text())["history"][-1]["epoch"] == 2
    # the resumed run trained on the patches cut the first time (not re-cut)
    assert {p: p.stat().st_mtime_ns for p in (run / "patches").rglob("*") if p.is_file()} == cut


def test_script_help_runs():
    out = subprocess.run([sys.executable, str(REPO / "train_noise_model.py"), "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "--resume" in out.stdout and "--data" in out.stdout


def test_bad_config_key_on_the_command_line(tmp_path):
    with pytest.raises(ValueError, match="train.lrr"):
        main(["--set", "train.lrr=1", "--output-dir", str(tmp_path)])


def test_missing_data_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        main(TINY + ["--data", str(tmp_path / "nowhere"), "--output-dir", str(tmp_path)])

"""train_noise_model.py end to end on the embedded default, with a tiny model and a few steps."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nmflowgan_aug import NMFlowGAN
from nmflowgan_aug.training.cli import main

REPO = Path(__file__).resolve().parents[2]
TINY = ["--set", "model.unet_depth=2", "--set", "model.unet_width=4", "--set", "critic.width=2",
        "--set", "train.batch_size=4", "--set", "train.steps_per_epoch=2", "--set", "train.epochs=1",
        "--set", "train.val_patches=4", "--device", "cpu"]


def _stamps(folder: Path) -> dict[Path, int]:
    return {p: p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}


def test_embedded_run_writes_model_metrics_and_figures(tmp_path):
    assert main(TINY + ["--output-dir", str(tmp_path), "--name", "run"]) == 0
    run = tmp_path / "run"
    for name in ("config.yaml", "metrics.json", "samples.png", "conditions.png", "checkpoints/last.pt",
                 "model/model.safetensors", "model/config.json"):
        assert (run / name).is_file(), name
    assert not [p for p in run.rglob(".*")]  # no temporary file or folder left
    metrics = json.loads((run / "metrics.json").read_text())
    assert set(metrics["final"]) == {"val_nll_bpd", "val_kld", "val_akld"}
    model = NMFlowGAN.from_pretrained(run / "model")
    assert model.vocabulary.cameras == ("SimCam-A", "SimCam-B", "SimCam-C")

    # A second run into the same folder is refused unless asked to resume or overwrite.
    with pytest.raises(FileExistsError, match="--resume"):
        main(TINY + ["--output-dir", str(tmp_path), "--name", "run"])
    cut = {p: p.stat().st_mtime_ns for p in (run / "patches").rglob("*") if p.is_file()}
    assert {p.parent.name for p in cut} == {"train", "val"} and len(cut) > 2
    # a refused resume leaves the run's config.yaml as it was
    saved = (run / "config.yaml").read_text()
    with pytest.raises(ValueError, match="different model config"):
        main(TINY + ["--output-dir", str(tmp_path), "--name", "run", "--resume", "--set", "model.unet_width=8"])
    assert (run / "config.yaml").read_text() == saved
    # leftovers of killed writes are removed when the run is resumed
    leftovers = [run / "checkpoints" / ".last.pt.abcd1234.tmp", run / "patches" / "train" / ".0000_x.hdf5.abcd1234.tmp"]
    for leftover in leftovers:
        leftover.write_bytes(b"half")
    assert main(TINY + ["--output-dir", str(tmp_path), "--name", "run", "--resume", "--set", "train.epochs=2"]) == 0
    assert json.loads((run / "metrics.json").read_text())["history"][-1]["epoch"] == 2
    assert not any(leftover.exists() for leftover in leftovers)
    # the resumed run trained on the patches cut the first time (not re-cut)
    assert {p: p.stat().st_mtime_ns for p in (run / "patches").rglob("*") if p.is_file()} == cut

    # --overwrite starts over: the run outputs are replaced, the user's other files are kept
    (run / "notes.txt").write_text("mine")
    patch_folder = ["--set", f"data.train.path={run / 'patches' / 'train'}"]
    with pytest.raises(ValueError, match=r"data.train.path .*patches/train is inside .*patches, which --overwrite"):
        main(TINY + ["--output-dir", str(tmp_path), "--name", "run", "--overwrite", *patch_folder])
    fast = ["--set", "train.standardize_init=false"]
    assert main(TINY + ["--output-dir", str(tmp_path), "--name", "run", "--overwrite", *fast]) == 0
    assert [h["epoch"] for h in json.loads((run / "metrics.json").read_text())["history"]] == [1]
    assert (run / "notes.txt").read_text() == "mine"


def test_a_used_run_folder_is_refused_before_anything_is_written(tmp_path):
    """Not only a folder with a checkpoint: any non-empty folder is refused, and nothing in it changes.

    For example a finished run without checkpoints/, or an existing folder named with --name .
    """
    finished = tmp_path / "finished"
    (finished / "model").mkdir(parents=True)
    (finished / "model" / "config.json").write_text("{}")
    (finished / "metrics.json").write_text("{}")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "config.yaml").write_text("my own notes")
    for output_dir, name in ((tmp_path, "finished"), (mine, ".")):
        before = _stamps(tmp_path)
        with pytest.raises(FileExistsError, match=r"is not empty \(it holds .*\); pass --resume .* or --overwrite"):
            main(TINY + ["--output-dir", str(output_dir), "--name", name])
        assert _stamps(tmp_path) == before
    assert (mine / "config.yaml").read_text() == "my own notes"
    with pytest.raises(SystemExit):  # argparse: not allowed with argument --resume
        main(TINY + ["--output-dir", str(tmp_path), "--name", "finished", "--resume", "--overwrite"])


@pytest.fixture
def manifest(tmp_path_factory):
    """Two 96×96 pairs of the quickstart model's camera SimCam-A in a pairs manifest (cheap to cut)."""
    root = tmp_path_factory.mktemp("data")
    rng = np.random.default_rng(0)
    for pair_id in ("a", "b"):
        (root / pair_id).mkdir()
        for kind in ("clean", "noisy"):
            Image.fromarray(rng.integers(0, 256, (96, 96, 3), dtype=np.uint8)).save(root / pair_id / f"{kind}.png")
    (root / "pairs.csv").write_text("id,camera,iso\na,SimCam-A,100\nb,SimCam-A,800\n")
    return root / "pairs.csv"


@pytest.mark.parametrize(
    "args, error, message",
    [
        (["--set", "data.val.path=missing_val"], FileNotFoundError, "data path not found: .*missing_val"),
        (["--set", "data.train.ids=[a, c]"], ValueError, r"ids \['c'\] are not in .*pairs.csv; its ids: \['a', 'b'\]"),
        (["--set", "train.device=tpu"], ValueError, "device must be auto, cpu, cuda or cuda:N, got 'tpu'"),
        (["--resume"], FileNotFoundError, "checkpoint not found: .*new/checkpoints/last.pt"),
        (["--set", "train.batch_size=100000"], ValueError, "fewer than batch_size=100000"),  # known once cut
    ],
)
def test_a_failed_new_run_leaves_no_run_folder(tmp_path, manifest, args, error, message):
    """Everything is checked before anything is written; what fails later (after cutting) is removed."""
    assert TINY[-2:] == ["--device", "cpu"]
    data = ["--data", str(manifest), "--set", f"data.val.path={manifest}"]
    with pytest.raises(error, match=message):
        main(TINY[:-2] + data + ["--output-dir", str(tmp_path), "--name", "new", *args])
    assert list(tmp_path.iterdir()) == []


def test_script_help_runs():
    out = subprocess.run([sys.executable, str(REPO / "train_noise_model.py"), "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "--resume" in out.stdout and "--data" in out.stdout


def test_bad_config_key_on_the_command_line(tmp_path):
    with pytest.raises(ValueError, match="train.lrr"):
        main(["--set", "train.lrr=1", "--output-dir", str(tmp_path)])


def test_missing_data_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        main(TINY + ["--data", str(tmp_path / "nowhere"), "--output-dir", str(tmp_path)])

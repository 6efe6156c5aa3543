"""End-to-end runs of benchmarks/noise_fidelity.py on the real SIDD blocks (small: 1 seed, 2 blocks, a tiny model)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from script_loader import load_script

from nmflowgan_aug import __version__
from nmflowgan_aug.evaluation.fidelity import METRICS
from nmflowgan_aug.evaluation.fidelity_methods import BASELINES
from nmflowgan_aug.evaluation.fidelity_report import MARK_END, MARK_START

nf = load_script("noise_fidelity")

VAL_IDS = ["00", "01"]  # G4/400 (no real-noise donor), GP/6400
TRAIN_IDS = ["05", "07", "10", "12"]  # G4/800, IP/1600, GP/6400, IP/100 (IP fixes the shared ISO slope)


def _base_args(shared_data: Path, out: Path) -> list[str]:
    manifest = str(shared_data / "sidd_native" / "pairs.csv")
    return ["--val-manifest", manifest, "--val-ids", *VAL_IDS, "--train", manifest, "--train-ids", *TRAIN_IDS,
            "--train-crop", "256", "--seeds", "0", "--out", str(out), "--no-progress"]


def test_end_to_end(shared_data, tiny_model, tmp_path, capsys):
    readme = tmp_path / "README.md"
    readme.write_text(f"# Title\n\nbefore\n\n{MARK_START}\nold table\n{MARK_END}\n\nafter\n")
    out = tmp_path / "results"
    argv = [*_base_args(shared_data, out), "--model", f"tiny={tiny_model}", "--readme", str(readme), "--plots"]
    assert nf.main(argv) == 0
    assert "tiny" in capsys.readouterr().out

    results = json.loads((out / "noise_fidelity.json").read_text())
    md = (out / "noise_fidelity.md").read_text()
    methods = [*BASELINES, "tiny"]
    assert list(results["methods"]) == methods
    assert results["version"] == __version__ and results["machine"]["nmflowgan_aug"] == __version__
    assert results["command"][:2] == ["python", "benchmarks/noise_fidelity.py"]
    assert results["command"][2:] == argv
    assert results["command_line"] in md
    assert __version__ in md
    for name in methods:
        assert f"| {name} |" in md
        for metric in METRICS:
            for group in ("G4", "GP", "all"):
                assert group in results["summary"]["methods"][name][metric]
    for cam in ("G4 (1)", "GP (1)", "all (2)"):
        assert cam in md
    # every metric is a finite number for the available blocks, one value per seed
    tiny = results["per_block"]["tiny"]
    assert all(len(tiny[b][m]) == 1 and np.isfinite(tiny[b][m][0]) for b in VAL_IDS for m in METRICS)
    # the real-noise reference: a training donor for 01 (row 10), none for G4/400
    ref = results["per_block"]["real_noise"]
    assert ref["00"]["available"] is False and "n/a" in ref["00"]["note"]
    assert ref["01"]["note"] == "donor 10"
    assert "n/a" in md
    # unseen (camera, ISO) combinations are documented, not silently mapped
    assert results["training_support"]["G4/400"].startswith("extrapolated")
    assert results["training_support"]["GP/6400"].startswith("seen")

    # README block regenerated between the markers, the rest untouched
    text = readme.read_text()
    assert text.startswith("# Title\n\nbefore\n\n") and text.endswith("\n\nafter\n")
    assert "old table" not in text
    block = text[text.index(MARK_START): text.index(MARK_END)]
    assert "| tiny |" in block and results["command_line"] in block
    for png in ("nlf.png", "noise_correlation.png", "noise_histograms.png", "crops.png"):
        assert (out / png).stat().st_size > 10_000


def test_errors_are_clear(shared_data, tmp_path, capsys):
    args = _base_args(shared_data, tmp_path / "out")
    cases = [
        (["--methods", "gaussian", "bogus"], ["unknown method(s) ['bogus']", "heteroscedastic", "real_noise"]),
        (["--val-manifest", str(tmp_path / "missing.csv")], ["validation manifest not found"]),
        (["--model", f"m={tmp_path / 'no_model'}"], ["model m=", "no_model"]),
        (["--val-mat-noisy", str(tmp_path / "ValidationNoisyBlocksSrgb.mat")], ["must be given together"]),
        (["--train-ids", "05", "99"], ["unknown id(s) ['99']"]),
        (["--device", "tpu"], ["device must be auto, cpu, cuda or cuda:N, got 'tpu'"]),
    ]
    for extra, messages in cases:
        with pytest.raises(SystemExit) as exc:
            nf.main([*args, *extra])
        assert exc.value.code == 2
        err = capsys.readouterr().err
        assert all(m in err for m in messages), (extra, err)
    assert not (tmp_path / "out").exists()


def test_validation_mat_files(shared_data, tmp_path):
    """The user's ValidationNoisyBlocksSrgb.mat / ValidationGtBlocksSrgb.mat (here a small stand-in)."""
    rng = np.random.default_rng(0)
    gt = rng.integers(40, 200, (40, 2, 96, 96, 3), dtype=np.uint8)
    noisy = np.clip(gt.astype(int) + rng.integers(-8, 9, gt.shape), 0, 255).astype(np.uint8)
    scipy.io.savemat(tmp_path / "ValidationNoisyBlocksSrgb.mat", {"ValidationNoisyBlocksSrgb": noisy})
    scipy.io.savemat(tmp_path / "ValidationGtBlocksSrgb.mat", {"ValidationGtBlocksSrgb": gt})
    out = tmp_path / "out"
    manifest = str(shared_data / "sidd_native" / "pairs.csv")
    assert nf.main([
        "--val-mat-noisy", str(tmp_path / "ValidationNoisyBlocksSrgb.mat"),
        "--val-mat-gt", str(tmp_path / "ValidationGtBlocksSrgb.mat"), "--val-images", "0", "3",
        "--blocks-per-image", "1", "--train", manifest, "--train-ids", *TRAIN_IDS, "--methods", "gaussian",
        "--seeds", "0", "1", "--out", str(out), "--no-progress",
    ]) == 0
    results = json.loads((out / "noise_fidelity.json").read_text())
    blocks = {b["id"]: (b["camera"], b["iso"], b["scene"]) for b in results["validation"]["blocks"]}
    # validation image 0 is 0009_001_S6_00800..., image 3 is 0026_001_G4_00400... (SIDD scene order)
    assert blocks == {"v00-00": ("S6", 800, "0009_001_S6_00800_00350_3200_L"),
                      "v03-00": ("G4", 400, "0026_001_G4_00400_00160_5500_L")}
    # S6 has no training pair in TRAIN_IDS: its block is n/a with the reason, never silently mapped
    s6 = results["per_block"]["gaussian"]["v00-00"]
    assert s6["available"] is False and "'S6' has no training pairs" in s6["note"]
    assert results["training_support"]["S6/800"] == "camera not in training data"
    stat = results["summary"]["methods"]["gaussian"]["kld_block"]["all"]
    assert stat["n_blocks"] == 1 and stat["of_blocks"] == 2 and len(stat["per_seed"]) == 2 and stat["std"] is not None
    assert "(1/2 blocks)" in (out / "noise_fidelity.md").read_text()

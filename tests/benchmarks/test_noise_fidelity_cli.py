"""End-to-end runs of benchmarks/noise_fidelity.py on the real SIDD blocks (small: 1 seed, 2 blocks, a tiny model).

Output and overlap refusals, leave-one-scene-out with one model per fold.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from script_loader import load_script

from nmflowgan_aug import __version__
from nmflowgan_aug.evaluation.fidelity import METRICS, NOISE_STATS
from nmflowgan_aug.evaluation.fidelity_methods import BASELINES
from nmflowgan_aug.evaluation.fidelity_report import MARK_END, MARK_START
from nmflowgan_aug.evaluation.paths import REPO_ROOT

nf = load_script("noise_fidelity")

pytestmark = pytest.mark.usefixtures("one_thread")  # small tensors: one thread is fastest on busy CI cores

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
    assert all(len(tiny[b][m]) == 1 and np.isfinite(tiny[b][m][0]) for b in VAL_IDS for m in (*METRICS, *NOISE_STATS))
    # the real blocks' own noise statistics: SIDD sRGB noise is correlated with its neighbours
    real = {b["id"]: b["noise"] for b in results["validation"]["blocks"]}
    assert all(0.25 < real[b][f"rho_h1_{c}"] < 0.7 for b in VAL_IDS for c in "RB")
    assert results["headline"] == "kld_block" and "8-bit" in results["scored_output"]
    assert "| real noise (its own values) |" in md and "Targets for the shipped model" in md
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
    for png in nf.PLOT_FILES:
        assert (out / png).stat().st_size > 10_000
    # a second run into the same folder is refused before any work, and allowed with --overwrite
    readme.write_text(f"{MARK_START}\n{MARK_END}\n")
    with pytest.raises(SystemExit) as exc:
        nf.main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "noise_fidelity.json" in err and "nlf.png" in err and "pass --overwrite" in err
    assert readme.read_text() == f"{MARK_START}\n{MARK_END}\n"


def test_default_output_is_not_the_committed_results():
    args = nf.build_parser().parse_args([])
    assert args.out == REPO_ROOT / "runs" / "noise_fidelity" and not args.overwrite
    assert args.out != REPO_ROOT / "benchmarks" / "results"


def test_train_validation_overlap_is_refused_or_reported(shared_data, tmp_path, capsys):
    manifest = str(shared_data / "sidd_native" / "pairs.csv")
    base = ["--val-manifest", manifest, "--train", manifest, "--methods", "gaussian", "--seeds", "0",
            "--no-progress", "--train-crop", "256"]
    # another manifest holding rows 00, 07 and 12: without --train-ids every row of it is a training pair
    rows = (shared_data / "sidd_native" / "pairs.csv").read_text().splitlines()
    own = tmp_path / "own.csv"
    own.write_text("id,camera,iso,scene_instance,clean,noisy\n" + "".join(
        f"{r[0]},{r[3]},{r[4]},{r[5]},{shared_data}/sidd_native/{r[0]}/clean.png,"
        f"{shared_data}/sidd_native/{r[0]}/noisy.png\n"
        for r in (line.split(",") for line in rows[1:]) if r[0] in ("00", "07", "12")))
    cases = [  # the same row; another block of the same scene instance (03 and 04); all rows of one manifest
        (["--val-ids", "01", "--train-ids", "01", "07", "12"], "share the same pairs ['01']"),
        (["--val-ids", "03", "--train-ids", "04", "07", "12"], "scene instance 0021_001_GP_10000_05000_5500_N "
                                                                "(training ['04'], evaluation ['03'])"),
        (["--val-manifest", str(own), "--val-ids", "00", "--train", str(own)], "the same pairs ['00']"),
    ]
    for extra, message in cases:
        with pytest.raises(SystemExit) as exc:
            nf.main([*base, *extra, "--out", str(tmp_path / "refused")])
        assert exc.value.code == 2
        err = capsys.readouterr().err
        assert message in err and "--allow-overlap" in err, err
    assert not (tmp_path / "refused").exists()
    out = tmp_path / "allowed"
    assert nf.main([*base, *cases[1][0], "--allow-overlap", "--out", str(out)]) == 0
    results = json.loads((out / "noise_fidelity.json").read_text())
    assert results["overlap"]["scenes"][0]["evaluation"] == ["03"]
    assert (out / "noise_fidelity.md").read_text().count("**WARNING: training and evaluation data share") == 1


def test_leave_one_scene_out_with_a_model_per_fold(shared_data, tiny_model, tmp_path):
    train_ids = ["05", "07", "12", "13"]  # G4/800, IP/1600, IP/100, IP/1000: 4 folds
    for fold in train_ids:
        (tmp_path / f"loo_{fold}").symlink_to(tiny_model, target_is_directory=True)
    manifest = str(shared_data / "sidd_native" / "pairs.csv")
    out = tmp_path / "out"
    assert nf.main(["--val-manifest", manifest, "--val-ids", "02", "--train", manifest, "--train-ids", *train_ids,
                    "--methods", "gaussian", "--loo-model", f"tiny={tmp_path}/loo_{{fold}}", "--loo-crop", "96",
                    "--seeds", "0", "--train-crop", "256", "--out", str(out), "--no-progress"]) == 0
    results = json.loads((out / "noise_fidelity.json").read_text())
    loo = results["loo"]
    assert [f["name"] for f in loo["folds"]] == train_ids and loo["crop"] == 96
    assert loo["folds"][1]["train"] == ["05", "12", "13"]
    assert list(loo["methods"]) == ["gaussian", "tiny"] and "one model per fold" in loo["methods"]["tiny"]["title"]
    assert [b["size"] for b in loo["blocks"]] == [[96, 96]] * 4
    # G4 occurs only in row 05: held out, the fitted baseline has no answer; the per-fold model has one
    assert loo["per_block"]["gaussian"]["05"]["available"] is False
    assert loo["per_block"]["tiny"]["05"]["available"] is True
    assert loo["summary"]["methods"]["gaussian"]["std_ratio_R"]["all"]["n_blocks"] == 3
    assert "### Leave-one-scene-out over the training crops" in (out / "noise_fidelity.md").read_text()


def test_errors_are_clear(shared_data, tmp_path, capsys):
    args = _base_args(shared_data, tmp_path / "out")
    cases = [
        (["--methods", "gaussian", "bogus"], ["unknown method(s) ['bogus']", "heteroscedastic", "real_noise"]),
        (["--val-manifest", str(tmp_path / "missing.csv")], ["validation manifest not found"]),
        (["--model", f"m={tmp_path / 'no_model'}"], ["model m=", "no_model"]),
        (["--val-mat-noisy", str(tmp_path / "ValidationNoisyBlocksSrgb.mat")], ["must be given together"]),
        (["--train-ids", "05", "99"], ["unknown id(s) ['99']"]),
        (["--device", "tpu"], ["device must be auto, cpu, cuda or cuda:N, got 'tpu'"]),
        (["--loo-model", f"m={tmp_path}/loo_{{fold}}"], ["--loo-model m: no model folder for 4 of 4 folds"]),
        (["--loo-model", "m=runs/loo"], ["must contain {fold}"]),
        (["--loo", "--train", str(tmp_path)], ["--loo needs --train to be a pairs manifest (.csv)"]),
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

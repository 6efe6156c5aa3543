"""End-to-end smoke tests of benchmarks/denoise_sidd.py on the real SIDD crops (tiny DnCNN, 2 iterations).

Seeds, the clean pool with evaluation conditions, checkpoints, train/evaluation overlap, early errors.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.io
import torch
from script_loader import load_script

from nmflowgan_aug.data.sidd_mat import load_sidd_submission
from nmflowgan_aug.evaluation.noise_sources import NoiseSource, register_source, unregister_source

bench = load_script("denoise_sidd")

pytestmark = pytest.mark.usefixtures("one_thread")  # small tensors: one thread is fastest on busy CI cores

TINY = ["--layers", "3", "--features", "4", "--batch-size", "2", "--patch-size", "32", "--iters", "2",
        "--no-progress", "--fit-max-size", "128", "--val-ids", "00", "--seeds", "0", "--eval-at",
        "--clean-pool", "pairs"]
# (SSIM in float64 costs ~1 s per 256×256 block on a small CPU: the tests score one or two blocks)


def test_all_sources_end_to_end(shared_data, tiny_model, tmp_path, capsys):
    manifest = shared_data / "sidd_native" / "pairs.csv"
    out = tmp_path / "out"
    res = bench.run(["--manifest", str(manifest), "--sources", f"real,gaussian,hetero,nmflowgan:{tiny_model}",
                     "--train-ids", "05,12,13", "--out", str(out), "--save-denoisers", *TINY,
                     "--seeds", "0", "1", "--clean-pool", "pairs,skimage,polyu,cc15"])  # (checkpoints: test_denoising)
    names = list(res["sources"])
    assert names == ["real", "gaussian", "hetero", f"nmflowgan:{tiny_model}"]
    assert res["eval_blocks"] == ["00"]
    assert "05, 12, 13" in res["train_data"]
    # the synthetic sources train on the clean pool, every image at the evaluation block's condition (G4/400)
    assert "clean pool of 123 images (pairs 3, skimage 5, polyu 100, cc15 15)" in res["synthetic_data"]
    assert "G4/400 ×1" in res["synthetic_data"]
    assert res["settings"]["seeds"] == [0, 1] and res["settings"]["quantize"] is True
    assert 10 < res["noisy_input"]["psnr"] < 40
    for r in res["sources"].values():
        assert np.isfinite(r["psnr"]) and 0 < r["ssim"] <= 1 and r["psnr_std"] is not None
        assert len(r["per_block_psnr"]) == 1 and [p["seed"] for p in r["per_seed"]] == [0, 1]
        assert r["checkpoints"] == {}
    assert res["sources"]["real"]["gap_psnr_db"] == 0.0
    assert res["sources"]["gaussian"]["gap_psnr_db"] == pytest.approx(
        res["sources"]["gaussian"]["psnr"] - res["sources"]["real"]["psnr"])
    on_disk = json.loads((out / "results.json").read_text())
    assert on_disk["package_version"] and on_disk["command"].startswith("python benchmarks/denoise_sidd.py")
    assert on_disk["machine"]["cpu"] and on_disk["device"].startswith("cpu (CPU ")
    md = (out / "results.md").read_text()
    assert "| gaussian |" in md and "(noisy input)" in md and "ΔPSNR vs real" in md and "rank @ 2 |" in md
    assert "seeds 0, 1 (mean ± sample std over seeds" in md and "rounded to 8-bit levels" in md
    assert "Targets for the shipped model" in md and f"| nmflowgan:{tiny_model} |" in md
    state = torch.load(out / "dncnn_gaussian_seed1.pt", weights_only=True)
    assert state["net.0.weight"].shape == (4, 3, 3, 3)
    # refuses to overwrite without --overwrite, before any training
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        bench.main(["--manifest", str(manifest), "--sources", "real", "--train-ids", "12", "--out", str(out), *TINY])
    assert exc.value.code == 2
    assert "results.json" in capsys.readouterr().err


def test_train_evaluation_overlap_is_refused_or_reported(shared_data, tmp_path, capsys):
    manifest = str(shared_data / "sidd_native" / "pairs.csv")
    # --train-clean CSV without --train-ids: every row of the manifest, the evaluation row 00 included
    argv = ["--manifest", manifest, "--train-clean", manifest, "--sources", "real", *TINY]
    assert bench.main([*argv, "--out", str(tmp_path / "refused")]) == 2
    err = capsys.readouterr().err
    assert "training and evaluation data share the same pairs ['00']" in err and "--allow-overlap" in err
    assert not (tmp_path / "refused").exists()
    assert bench.main([*argv, "--val-ids", "03", "--train-ids", "04,12", "--out", str(tmp_path / "refused")]) == 2
    assert "scene instance 0021_001_GP_10000_05000_5500_N (training ['04'], evaluation ['03'])" in \
        capsys.readouterr().err
    res = bench.run([*argv, "--train-ids", "00,12", "--allow-overlap", "--out", str(tmp_path / "allowed")])
    assert res["overlap"]["ids"] == ["00"]
    assert "**WARNING: training and evaluation data share the same pairs ['00']" in (
        tmp_path / "allowed" / "results.md").read_text()


def test_a_source_that_cannot_synthesize_the_evaluation_conditions_fails_before_training(shared_data, tmp_path,
                                                                                          capsys):
    manifest = str(shared_data / "sidd_native" / "pairs.csv")
    argv = ["--manifest", manifest, "--sources", "real,gaussian", "--train-ids", "12,13", "--out",
            str(tmp_path / "out"), *TINY, "--clean-pool", "pairs,skimage"]
    assert bench.main(argv) == 2  # block 00 is G4/400; the fit saw only IP
    err = capsys.readouterr().err
    assert "noise source 'gaussian' cannot synthesize the training conditions: camera 'G4' has no training pairs" in err
    assert "train DnCNN" not in err and not (tmp_path / "out" / "results.json").exists()


@pytest.fixture
def small_val(tmp_path) -> list[str]:
    """Two 64×64 validation blocks in the SIDD .mat layout (cheap to score)."""
    rng = np.random.default_rng(0)
    clean = rng.integers(40, 200, (2, 1, 64, 64, 3), dtype=np.uint8)
    noisy = np.clip(clean.astype(int) + rng.integers(-20, 21, clean.shape), 0, 255).astype(np.uint8)
    scipy.io.savemat(tmp_path / "ValidationNoisyBlocksSrgb.mat", {"ValidationNoisyBlocksSrgb": noisy})
    scipy.io.savemat(tmp_path / "ValidationGtBlocksSrgb.mat", {"ValidationGtBlocksSrgb": clean})
    return ["--val-noisy", str(tmp_path / "ValidationNoisyBlocksSrgb.mat"),
            "--val-gt", str(tmp_path / "ValidationGtBlocksSrgb.mat"), "--any-block-shape"]


def test_mat_validation_and_submission(shared_data, tmp_path):
    rng = np.random.default_rng(0)
    clean = rng.integers(40, 200, (2, 2, 64, 64, 3), dtype=np.uint8)
    noisy = np.clip(clean.astype(int) + rng.integers(-20, 21, clean.shape), 0, 255).astype(np.uint8)
    scipy.io.savemat(tmp_path / "ValidationNoisyBlocksSrgb.mat", {"ValidationNoisyBlocksSrgb": noisy})
    scipy.io.savemat(tmp_path / "ValidationGtBlocksSrgb.mat", {"ValidationGtBlocksSrgb": clean})
    scipy.io.savemat(tmp_path / "BenchmarkNoisyBlocksSrgb.mat", {"BenchmarkNoisyBlocksSrgb": noisy[:, :, :32]})
    submit = tmp_path / "SubmitSrgb.mat"
    res = bench.run([
        "--manifest", str(shared_data / "sidd_native" / "pairs.csv"), "--train-ids", "11,12", "--sources", "real",
        "--val-noisy", str(tmp_path / "ValidationNoisyBlocksSrgb.mat"),
        "--val-gt", str(tmp_path / "ValidationGtBlocksSrgb.mat"), "--val-step", "2", "--any-block-shape",
        "--submit-benchmark", str(tmp_path / "BenchmarkNoisyBlocksSrgb.mat"), "--submit-out", str(submit),
        "--out", str(tmp_path / "out"), *TINY,
    ])
    assert res["eval_blocks"] == ["00-00", "01-00"]
    sub = load_sidd_submission(submit)
    assert sub.blocks.shape == (2, 2, 32, 64, 3) and sub.blocks.dtype == np.uint8
    assert sub.time_mp is not None and sub.time_mp > 0
    assert res["submission"]["blocks"] == 4 and res["submission"]["source"] == "real"


def test_strict_block_shape_by_default(shared_data, tmp_path, capsys):
    blocks = np.zeros((1, 1, 16, 16, 3), np.uint8)
    for name in ("ValidationNoisyBlocksSrgb", "ValidationGtBlocksSrgb"):
        scipy.io.savemat(tmp_path / f"{name}.mat", {name: blocks})
    argv = ["--manifest", str(shared_data / "sidd_native" / "pairs.csv"), "--sources", "real",
            "--val-noisy", str(tmp_path / "ValidationNoisyBlocksSrgb.mat"),
            "--val-gt", str(tmp_path / "ValidationGtBlocksSrgb.mat"), "--out", str(tmp_path / "o"), *TINY]
    with pytest.raises(ValueError, match=r"shape \(40, 32, 256, 256, 3\)"):
        bench.run(argv)
    assert bench.main(argv) == 2 and "must have shape (40, 32, 256, 256, 3)" in capsys.readouterr().err


def test_bad_arguments_list_what_is_allowed(capsys):
    cases = [
        (["--sources", "gaussian,poisson"], ["poisson", "gaussian", "hetero", "real", "nmflowgan"]),
        (["--sources", "real,real"], ["lists a source twice"]),
        (["--sources", "real", "--iters", "0"], ["iters must be >= 1"]),
        (["--sources", "real", "--submit-source", "gaussian"], ["not one of --sources"]),
        (["--sources", "real", "--device", "cuda:x"], ["device must be auto, cpu, cuda or cuda:N"]),
        (["--sources", "real", "--clean-pool", "pairs,imagenet"], ["distinct parts from ['pairs', 'skimage'"]),
        (["--sources", "real", "--pool-conditions", "own"], ["--pool-conditions own needs --clean-pool pairs"]),
        (["--sources", "real", "--iters", "10", "--eval-at", "10"], ["--eval-at iterations must be in 1..9"]),
        (["--sources", "real", "--seeds", "1", "1"], ["--seeds lists a seed twice"]),
    ]
    for argv, messages in cases:
        with pytest.raises(SystemExit) as exc:
            bench.resolve_args(argv)
        assert exc.value.code == 2
        err = capsys.readouterr().err
        assert all(m in err for m in messages), (argv, err)


def test_presets_and_overrides(tmp_path):
    a = bench.resolve_args(["--sources", "real", "--out", str(tmp_path)])
    assert (a.layers, a.features, a.patch_size) == (6, 32, 64)
    assert a.settings.iters == bench.PRESETS["cpu"]["iters"] and a.settings.lr == 3e-3
    assert a.seeds == [0, 1, 2] and a.settings.seed == 0 and a.eval_at == [a.iters // 2]
    assert a.settings.quantize and a.clean_pool == ("pairs", "skimage", "polyu", "cc15")
    assert not bench.resolve_args(["--sources", "real", "--no-quantize", "--out", str(tmp_path)]).settings.quantize
    f = bench.resolve_args(["--preset", "full", "--sources", "real", "--lr", "2e-4", "--out", str(tmp_path)])
    assert (f.layers, f.features, f.batch_size, f.patch_size, f.lr) == (18, 64, 128, 96, 2e-4)
    assert f.settings.lr == 2e-4 and f.settings.lr_halvings == 5


def test_custom_source_plugs_in(shared_data, small_val, tmp_path):
    calls = []

    class Stub:
        def sample(self, clean, camera, iso, generator=None):
            calls.append((len(camera), len(iso)))
            return (clean + 0.01 * torch.randn(clean.shape, generator=generator, device=clean.device)).clamp(0, 1)

    register_source("stub", lambda arg, ctx: NoiseSource("stub", Stub()))
    try:
        res = bench.run(["--manifest", str(shared_data / "sidd_native" / "pairs.csv"), "--sources", "stub",
                         "--train-ids", "11", "--out", str(tmp_path / "out"), *TINY, *small_val,
                         "--pool-conditions", "own"])  # these .mat blocks have no camera/ISO
    finally:
        unregister_source("stub")
    assert calls == [(1, 1), (2, 2), (2, 2)] and "stub" in res["sources"]  # a probe of S6/800, then 2 iterations


def test_train_clean_sidd_folder(shared_data, small_val, tmp_path):
    folder = shared_data / "sidd_small_256"
    if not (folder / "Data").is_dir():
        pytest.skip(f"{folder} not present")
    ids = "0001_001_S6_00100_00060_3200_L_010,0002_001_S6_00100_00020_3200_N_010"
    res = bench.run(["--train-clean", str(folder), "--train-ids", ids, "--sources", "real",
                     "--patches-per-image", "4", "--out", str(tmp_path / "out"), *TINY, *small_val])
    assert str(folder) in res["train_data"] and "2 pairs" in res["train_data"]
    assert res["settings"]["patches_per_image"] == 4

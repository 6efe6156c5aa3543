"""End-to-end smoke tests of benchmarks/denoise_sidd.py on the real SIDD crops (tiny DnCNN, 2 iterations)."""

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

TINY = ["--layers", "3", "--features", "4", "--batch-size", "2", "--patch-size", "32", "--iters", "2",
        "--no-progress", "--fit-max-size", "128", "--val-ids", "00"]
# (SSIM in float64 costs ~1 s per 256×256 block on a small CPU: the tests score one or two blocks)


def test_all_sources_end_to_end(shared_data, tiny_model, tmp_path, capsys):
    manifest = shared_data / "sidd_native" / "pairs.csv"
    out = tmp_path / "out"
    res = bench.run(["--manifest", str(manifest), "--sources", f"real,gaussian,hetero,nmflowgan:{tiny_model}",
                     "--train-ids", "12,13,14", "--out", str(out), "--save-denoisers", *TINY])
    names = list(res["sources"])
    assert names == ["real", "gaussian", "hetero", f"nmflowgan:{tiny_model}"]
    assert res["eval_blocks"] == ["00"]
    assert "12, 13, 14" in res["train_data"]
    assert 10 < res["noisy_input"]["psnr"] < 40
    for r in res["sources"].values():
        assert np.isfinite(r["psnr"]) and 0 < r["ssim"] <= 1
        assert len(r["per_block_psnr"]) == 1
    assert res["sources"]["real"]["gap_psnr_db"] == 0.0
    assert res["sources"]["gaussian"]["gap_psnr_db"] == pytest.approx(
        res["sources"]["gaussian"]["psnr"] - res["sources"]["real"]["psnr"])
    on_disk = json.loads((out / "results.json").read_text())
    assert on_disk["package_version"] and on_disk["command"].startswith("python benchmarks/denoise_sidd.py")
    assert on_disk["machine"]["cpu"] and on_disk["device"].startswith("cpu (CPU ")
    md = (out / "results.md").read_text()
    assert "| gaussian |" in md and "(noisy input)" in md and "ΔPSNR vs real" in md
    state = torch.load(out / "dncnn_gaussian.pt", weights_only=True)
    assert state["net.0.weight"].shape == (4, 3, 3, 3)
    # refuses to overwrite without --overwrite, before any training
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        bench.main(["--manifest", str(manifest), "--sources", "real", "--train-ids", "12", "--out", str(out), *TINY])
    assert exc.value.code == 2
    assert "results.json exists; pass --overwrite" in capsys.readouterr().err


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
    assert a.settings.iters == 150 and a.settings.lr == 3e-3
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
                         "--train-ids", "11", "--out", str(tmp_path / "out"), *TINY, *small_val])
    finally:
        unregister_source("stub")
    assert calls == [(2, 2), (2, 2)] and "stub" in res["sources"]


def test_train_clean_sidd_folder(shared_data, small_val, tmp_path):
    folder = shared_data / "sidd_small_256"
    if not (folder / "Data").is_dir():
        pytest.skip(f"{folder} not present")
    ids = "0001_001_S6_00100_00060_3200_L_010,0002_001_S6_00100_00020_3200_N_010"
    res = bench.run(["--train-clean", str(folder), "--train-ids", ids, "--sources", "real",
                     "--patches-per-image", "4", "--out", str(tmp_path / "out"), *TINY, *small_val])
    assert str(folder) in res["train_data"] and "2 pairs" in res["train_data"]
    assert res["settings"]["patches_per_image"] == 4

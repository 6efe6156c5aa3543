"""End-to-end smoke tests of benchmarks/denoise_sidd.py on the real SIDD crops (tiny DnCNN, 2 iterations)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch

from nmflowgan_aug import NMFlowGAN, NMFlowGANConfig
from nmflowgan_aug.data.sidd_mat import load_sidd_submission
from nmflowgan_aug.vocab import OFFICIAL_VOCABULARY, SIDD_VOCABULARY

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks import denoise_sidd as bench  # noqa: E402

TINY = ["--layers", "3", "--features", "4", "--batch-size", "2", "--patch-size", "32", "--iters", "2",
        "--no-progress", "--fit-max-size", "128", "--val-ids", "00"]
# (SSIM in float64 costs ~1 s per 256×256 block on a small CPU: the tests score one or two blocks)


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    cfg = NMFlowGANConfig(cameras=SIDD_VOCABULARY.cameras, isos=SIDD_VOCABULARY.isos, iso_encoding="log",
                          unet_depth=2, unet_width=4)
    return NMFlowGAN(cfg).save_pretrained(tmp_path_factory.mktemp("tiny_nmflowgan"))


def test_all_sources_end_to_end(shared_data, tiny_model_dir, tmp_path):
    manifest = shared_data / "sidd_native" / "pairs.csv"
    out = tmp_path / "out"
    res = bench.run(["--manifest", str(manifest), "--sources", f"real,gaussian,hetero,nmflowgan:{tiny_model_dir}",
                     "--train-ids", "12,13,14", "--out", str(out), *TINY])
    names = list(res["sources"])
    assert names == ["real", "gaussian", "hetero", f"nmflowgan:{tiny_model_dir}"]
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
    md = (out / "results.md").read_text()
    assert "| gaussian |" in md and "(noisy input)" in md and "ΔPSNR vs real" in md
    # refuses to overwrite without --overwrite
    with pytest.raises(SystemExit, match="overwrite"):
        bench.run(["--manifest", str(manifest), "--sources", "real", "--train-ids", "12", "--out", str(out), *TINY])


def test_seeded_training_reproduces(shared_data):
    args = bench.resolve_args(["--manifest", str(shared_data / "sidd_native" / "pairs.csv"), "--sources", "gaussian",
                               "--train-ids", "12,13", *TINY])
    pairs, _ = bench.load_training_pairs(args)
    images = bench.load_train_images(pairs, args.patch_size, 0, args.seed)
    ctx = bench.SourceContext(pairs, torch.device("cpu"), 128)
    states = []
    for _ in range(2):
        source = bench._BUILDERS["gaussian"](None, ctx)
        model, info = bench.train_denoiser(source, images, args, torch.device("cpu"))
        states.append(model.state_dict())
        assert np.isfinite(info["final_loss"])
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])


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


def test_strict_block_shape_by_default(shared_data, tmp_path):
    blocks = np.zeros((1, 1, 16, 16, 3), np.uint8)
    for name in ("ValidationNoisyBlocksSrgb", "ValidationGtBlocksSrgb"):
        scipy.io.savemat(tmp_path / f"{name}.mat", {name: blocks})
    with pytest.raises(ValueError, match="shape"):
        bench.run(["--manifest", str(shared_data / "sidd_native" / "pairs.csv"), "--sources", "real",
                   "--val-noisy", str(tmp_path / "ValidationNoisyBlocksSrgb.mat"),
                   "--val-gt", str(tmp_path / "ValidationGtBlocksSrgb.mat"), "--out", str(tmp_path / "o"), *TINY])


def test_unknown_source_lists_known_ones(capsys):
    with pytest.raises(SystemExit):
        bench.resolve_args(["--sources", "gaussian,poisson"])
    err = capsys.readouterr().err
    assert "poisson" in err and "gaussian" in err and "hetero" in err and "real" in err and "nmflowgan" in err
    with pytest.raises(ValueError, match="takes no argument"):
        bench.parse_source_spec("gaussian:3")
    assert bench.parse_source_spec("nmflowgan:some/dir") == ("nmflowgan", "some/dir")


def test_presets_and_overrides():
    a = bench.resolve_args(["--sources", "real"])
    assert (a.layers, a.features, a.patch_size) == (6, 32, 64)
    f = bench.resolve_args(["--preset", "full", "--sources", "real", "--lr", "2e-4"])
    assert (f.layers, f.features, f.batch_size, f.patch_size, f.lr) == (18, 64, 128, 96, 2e-4)


def test_lr_schedule_halves_at_even_points():
    a = bench.resolve_args(["--sources", "real", "--iters", "60", "--lr", "1e-3", "--lr-halvings", "5"])
    assert [bench.lr_at(i, a) for i in (0, 9, 10, 59)] == [1e-3, 1e-3, 5e-4, 1e-3 / 32]


def test_condition_mapping():
    conds = [("GP", 6400), ("IP", 1000), ("S6", 800)]
    mapped, changes = bench.map_conditions(conds, OFFICIAL_VOCABULARY, "nearest")
    assert mapped == [("GP", 3200), ("IP", 800), ("S6", 800)]
    assert changes == {"GP@6400": "GP@3200", "IP@1000": "IP@800"}
    with pytest.raises(ValueError, match="not supported"):
        bench.map_conditions(conds, OFFICIAL_VOCABULARY, "error")
    with pytest.raises(ValueError, match="vocabulary"):
        bench.map_conditions([("X1", 100)], OFFICIAL_VOCABULARY, "nearest")
    assert bench.map_conditions(conds, None, "error") == (conds, {})


def test_custom_source_plugs_in(shared_data, small_val, tmp_path):
    calls = []

    class Stub:
        def sample(self, clean, camera, iso, generator=None):
            calls.append((len(camera), len(iso)))
            return (clean + 0.01 * torch.randn(clean.shape, generator=generator, device=clean.device)).clamp(0, 1)

    bench.register_source("stub", lambda arg, ctx: bench.NoiseSource("stub", Stub()))
    try:
        res = bench.run(["--manifest", str(shared_data / "sidd_native" / "pairs.csv"), "--sources", "stub",
                         "--train-ids", "11", "--out", str(tmp_path / "out"), *TINY, *small_val])
    finally:
        bench._BUILDERS.pop("stub")
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

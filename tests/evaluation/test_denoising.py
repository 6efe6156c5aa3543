"""The denoising benchmark: evaluation blocks, PSNR/SSIM, one DnCNN per source with oracle gaps, SIDD submission."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.io
import torch
from torch import nn

from nmflowgan_aug.data.sidd_mat import load_sidd_submission
from nmflowgan_aug.denoisers import DnCNN, DnCNNTrainingSettings, TrainImages
from nmflowgan_aug.evaluation.denoising import (
    EvalSet,
    compare_noise_sources,
    eval_set_from_manifest,
    eval_set_from_mat,
    score,
    submit_sidd_benchmark,
)
from nmflowgan_aug.evaluation.denoising_report import markdown_table, write_results
from nmflowgan_aug.evaluation.noise_sources import NoiseSource, SourceContext, register_source, unregister_source
from nmflowgan_aug.vocab import OFFICIAL_VOCABULARY

pytestmark = pytest.mark.usefixtures("one_thread")


def _blocks(shape, seed=0):
    rng = np.random.default_rng(seed)
    clean = rng.integers(40, 200, shape, dtype=np.uint8)
    return clean, np.clip(clean.astype(int) + rng.integers(-20, 21, shape), 0, 255).astype(np.uint8)


def test_eval_sets(tmp_path, tiny_manifest):
    clean, noisy = _blocks((2, 3, 16, 16, 3))
    scipy.io.savemat(tmp_path / "N.mat", {"N": noisy})
    scipy.io.savemat(tmp_path / "G.mat", {"G": clean})
    scipy.io.savemat(tmp_path / "G2.mat", {"G2": clean[:1]})
    ev = eval_set_from_mat(tmp_path / "N.mat", tmp_path / "G.mat", step=2, strict_shape=False)
    assert ev.names == ["00-00", "00-02", "01-01"] and ev.noisy.shape == (3, 16, 16, 3)
    assert np.array_equal(ev.noisy[2], noisy[1, 1]) and np.array_equal(ev.clean[1], clean[0, 2])
    with pytest.raises(ValueError, match=r"must have shape \(40, 32, 256, 256, 3\)"):
        eval_set_from_mat(tmp_path / "N.mat", tmp_path / "G.mat")
    with pytest.raises(ValueError, match="differ in shape"):
        eval_set_from_mat(tmp_path / "N.mat", tmp_path / "G2.mat", strict_shape=False)
    rows = eval_set_from_manifest(tiny_manifest, ["a", "b"])
    assert rows.names == ["a", "b"] and rows.clean.shape == (2, 40, 40, 3) and rows.clean.dtype == np.uint8
    with pytest.raises(ValueError, match="must share one size"):
        eval_set_from_manifest(tiny_manifest, ["a", "d"])


def test_score_against_hand_computed_psnr():
    target = np.full((2, 16, 16, 3), 100, np.uint8)
    pred = target.copy()
    pred[0] += 1  # MSE (1/255)² -> PSNR 20·log10(255)
    pred[1, :8] += 2  # MSE (2/255)² / 2 -> PSNR 20·log10(255) − 10·log10(2)
    s = score(pred, target, "uniform")
    expected = [20 * math.log10(255), 20 * math.log10(255) - 10 * math.log10(2)]
    assert s["per_block_psnr"] == pytest.approx(expected, abs=1e-4)
    assert s["psnr"] == pytest.approx(float(np.mean(expected)))
    assert s["per_block_ssim"][0] == pytest.approx(1.0, abs=1e-4) and s["per_block_ssim"][1] < s["per_block_ssim"][0]
    assert s["ssim"] == pytest.approx(float(np.mean(s["per_block_ssim"])), abs=1e-5)


def _images() -> TrainImages:
    clean, noisy = _blocks((3, 3, 24, 24))
    return TrainImages(list(clean), list(noisy), ["GP", "GP", "IP"], [6400, 800, 100], ["p0", "p1", "p2"])


def test_compare_noise_sources_uses_one_protocol_and_reports_oracle_gaps(tmp_path):
    seen = []

    class Recorder:
        def __init__(self, sigma):
            self.sigma = sigma

        def sample(self, clean, camera, iso, generator=None):
            seen.append(list(zip(camera, iso)))
            return clean + self.sigma * torch.randn(clean.shape, generator=generator)

    register_source("vocab", lambda arg, ctx: NoiseSource("vocab", Recorder(0.05), OFFICIAL_VOCABULARY, {"k": 1}))
    register_source("flat", lambda arg, ctx: NoiseSource("flat", Recorder(0.02)))
    clean, noisy = _blocks((2, 16, 16, 3), seed=1)
    evalset = EvalSet(noisy, clean, ["x", "y"], "two blocks")
    kept = []
    try:
        settings = DnCNNTrainingSettings(layers=3, features=4, batch_size=2, patch_size=16, iters=2)
        results = compare_noise_sources(["vocab", "real", "flat"], SourceContext([], torch.device("cpu")), _images(),
                                        evalset, settings, seeds=[0, 1], checkpoints=[1], progress=False,
                                        save_dir=tmp_path,
                                        on_trained=lambda spec, model: kept.append((spec, type(model).__name__)))
        with pytest.raises(ValueError, match="not supported by the noise model"):
            compare_noise_sources(["vocab"], SourceContext([], torch.device("cpu")), _images(), evalset, settings,
                                  unsupported="error", progress=False)
        with pytest.raises(ValueError, match=r"checkpoints must be iterations in 1\.\.2, got \[3\]"):
            compare_noise_sources(["flat"], SourceContext([], torch.device("cpu")), _images(), evalset, settings,
                                  checkpoints=[3], progress=False)
    finally:
        unregister_source("vocab")
        unregister_source("flat")
    assert list(results) == ["vocab", "real", "flat"]
    assert results["vocab"]["notes"] == {"k": 1, "iso_mapping": {"GP@6400": "GP@3200"}}
    # every synthetic source is first tried once on its (mapped) training conditions, before any training
    assert seen[:2] == [[("GP", 800), ("GP", 3200), ("IP", 100)], [("GP", 800), ("GP", 6400), ("IP", 100)]]
    assert {c for batch in seen[2:6] for c in batch} <= {("GP", 3200), ("GP", 800), ("IP", 100)}
    assert {c for batch in seen[6:] for c in batch} <= {("GP", 6400), ("GP", 800), ("IP", 100)} and len(seen) == 10
    flat = results["flat"]
    assert [r["seed"] for r in flat["per_seed"]] == [0, 1]
    psnrs = [r["psnr"] for r in flat["per_seed"]]
    assert flat["psnr"] == pytest.approx(np.mean(psnrs)) and flat["psnr_std"] == pytest.approx(np.std(psnrs, ddof=1))
    assert set(flat["checkpoints"]) == {"1"} and set(flat["per_seed"][0]["checkpoints"]) == {"1"}
    assert flat["checkpoints"]["1"]["psnr"] == pytest.approx(np.mean([r["checkpoints"]["1"]["psnr"]
                                                                     for r in flat["per_seed"]]))
    gaps = [a["psnr"] - b["psnr"] for a, b in zip(flat["per_seed"], results["real"]["per_seed"])]  # paired by seed
    assert flat["gap_psnr_db"] == pytest.approx(np.mean(gaps)) and flat["gap_psnr_std"] == pytest.approx(
        np.std(gaps, ddof=1))
    assert results["real"]["gap_psnr_db"] == 0.0 and results["real"]["gap_psnr_std"] == 0.0
    assert flat["gap_ssim"] == pytest.approx(flat["ssim"] - results["real"]["ssim"])
    assert kept == [("vocab", "DnCNN"), ("real", "DnCNN"), ("flat", "DnCNN")]  # the first seed's DnCNN
    assert sorted(p.name for p in tmp_path.glob("dncnn_*.pt")) == [
        f"dncnn_{s}_seed{k}.pt" for s in ("flat", "real", "vocab") for k in (0, 1)]
    table = markdown_table({"noisy_input": score(noisy, clean, "gaussian"), "sources": results,
                            "settings": {"iters": 2}})
    assert table.splitlines()[0].startswith("| noise source | PSNR (dB) | SSIM | ΔPSNR vs real (dB) |")
    assert "PSNR @ 1 |" in table.splitlines()[0] and "rank @ 1 / 2 |" in table.splitlines()[0]


def test_synthetic_sources_train_on_their_own_images():
    calls = []

    class Recorder:
        def sample(self, clean, camera, iso, generator=None):
            calls.append((clean.shape[-1], list(zip(camera, iso))))
            return clean

    register_source("rec", lambda arg, ctx: NoiseSource("rec", Recorder()))
    pool = TrainImages([np.full((3, 20, 20), 128, np.uint8)], None, [""], [0], ["pool:a"])
    clean, noisy = _blocks((1, 16, 16, 3), seed=1)
    settings = DnCNNTrainingSettings(layers=3, features=4, batch_size=2, patch_size=8, iters=1)
    try:
        compare_noise_sources(["rec", "real"], SourceContext([], torch.device("cpu")), _images(),
                              EvalSet(noisy, clean, ["x"], "one block"), settings, seeds=[4, 5], progress=False,
                              synthetic_images=lambda seed: pool.with_conditions([("S6", 100 * seed)]))
    finally:
        unregister_source("rec")
    # a probe of both seeds' conditions, then per seed its own conditions; the oracle synthesizes nothing
    assert calls == [(64, [("S6", 400), ("S6", 500)]), (8, [("S6", 400)] * 2), (8, [("S6", 500)] * 2)]


def test_submission_and_result_files(tmp_path):
    model = DnCNN(num_layers=3, features=4)
    nn.init.zeros_(model.last.weight)
    nn.init.zeros_(model.last.bias)  # identity denoiser
    _, noisy = _blocks((2, 2, 8, 8, 3))
    scipy.io.savemat(tmp_path / "BenchmarkNoisyBlocksSrgb.mat", {"BenchmarkNoisyBlocksSrgb": noisy})
    info = submit_sidd_benchmark(model, tmp_path / "BenchmarkNoisyBlocksSrgb.mat", tmp_path, torch.device("cpu"),
                                 strict_shape=False, progress=False)
    sub = load_sidd_submission(tmp_path)
    assert np.array_equal(sub.blocks, noisy) and info["blocks"] == 4
    assert sub.time_mp == pytest.approx(info["TimeMP"]) and info["TimeMP"] > 0
    with pytest.raises(FileExistsError):
        submit_sidd_benchmark(model, tmp_path / "BenchmarkNoisyBlocksSrgb.mat", tmp_path, torch.device("cpu"),
                              strict_shape=False, progress=False)
    results = {"command": "c", "package_version": "v", "torch_version": "t", "device": "cpu", "train_data": "tr",
               "eval_data": "ev", "noisy_input": {"psnr": 20.0, "ssim": 0.5}, "submission": {**info, "source": "real"},
               "settings": {"layers": 3, "features": 4, "iters": 2, "batch_size": 2, "patch_size": 16, "lr": 1e-3,
                            "lr_halvings": 0, "seed": 0, "ssim_window": "gaussian"},
               "sources": {"real": {"psnr": 25.0, "ssim": 0.7, "gap_psnr_db": 0.0, "gap_ssim": 0.0,
                                    "train_seconds": 1.0, "synthesis_seconds": 0.0, "checkpoints": {}}}}
    jpath, mpath = write_results(results, tmp_path / "out", overwrite=False)
    assert "| real | 25.00 | 0.7000 | +0.00 | +0.0000 | 1 | 1 | 0 |" in mpath.read_text()  # rank 1 at the end
    assert "Submission: `" in mpath.read_text() and jpath.is_file()
    with pytest.raises(FileExistsError, match="--overwrite"):
        write_results(results, tmp_path / "out", overwrite=False)

"""Reports of the denoising benchmark: ranks per scored iteration, ranking stability, denoiser targets."""

from __future__ import annotations

import numpy as np

from nmflowgan_aug.evaluation.denoising_report import markdown_table, ranking_is_stable, ranks, targets_table
from nmflowgan_aug.evaluation.targets import check_denoiser_targets

PSNR = {  # per seed, at the end; the half-way checkpoint is 0.5 dB lower for every source
    "nmflowgan:sidd": [27.0, 27.2, 27.1],
    "gaussian": [26.5, 26.8, 26.6],
    "hetero": [26.9, 27.3, 27.0],
    "real": [28.0, 28.1, 27.9],
}


def _results(flip_at_checkpoint: bool = False) -> dict:
    sources = {}
    for name, values in PSNR.items():
        at_half = np.array(values) - 0.5 - (1.0 if flip_at_checkpoint and name == "real" else 0.0)
        sources[name] = {
            "psnr": float(np.mean(values)), "psnr_std": float(np.std(values, ddof=1)), "ssim": 0.6, "ssim_std": 0.01,
            "per_seed": [{"seed": s, "psnr": v} for s, v in enumerate(values)],
            "checkpoints": {"300": {"psnr": float(at_half.mean()), "psnr_std": 0.1, "ssim": 0.5, "ssim_std": 0.01}},
            "gap_psnr_db": float(np.mean(values) - np.mean(PSNR["real"])), "gap_psnr_std": 0.1,
            "gap_ssim": 0.0, "gap_ssim_std": 0.0, "train_seconds": 100.0, "synthesis_seconds": 10.0,
        }
    return {"sources": sources, "settings": {"iters": 600}, "noisy_input": {"psnr": 19.41, "ssim": 0.2491}}


def test_ranks_and_stability():
    results = _results()
    assert ranks(results) == {300: {"real": 1, "nmflowgan:sidd": 2, "hetero": 3, "gaussian": 4},
                              600: {"real": 1, "nmflowgan:sidd": 2, "hetero": 3, "gaussian": 4}}
    assert ranking_is_stable(results)
    flipped = _results(flip_at_checkpoint=True)  # real drops to 27.5 at iteration 300: below ours and hetero
    assert ranks(flipped)[300]["real"] == 3 and not ranking_is_stable(flipped)
    table = markdown_table(results)
    assert "| nmflowgan:sidd | 27.10 ± 0.10 | 0.6000 ± 0.0100 | -0.90 ± 0.10 | +0.0000 ± 0.0000 | 26.60 ± 0.10 | " \
           "2 / 2 | 100 | 10 |" in table
    assert table.splitlines()[2] == "| (noisy input) | 19.41 | 0.2491 | | | | | | |"


def test_denoiser_targets():
    results = _results()
    got = check_denoiser_targets(results["sources"], ["nmflowgan:sidd"], ["gaussian", "hetero"], "real")
    beats = got["nmflowgan:sidd"]["beats_baselines"]
    # paired differences: vs gaussian 0.5, 0.4, 0.5 (mean 0.47 > std 0.06); vs hetero 0.1, -0.1, 0.1 (0.03 < 0.12)
    assert beats == {"ok": False, "value": "+0.47 ± 0.06 dB vs gaussian; +0.03 ± 0.12 dB vs hetero"}
    half = got["nmflowgan:sidd"]["half_gap"]
    assert half["ok"] is False and half["value"] == "4 % of the 0.93 dB from hetero to real"
    one_seed = {k: {**v, "per_seed": v["per_seed"][:1]} for k, v in results["sources"].items()}
    assert check_denoiser_targets(one_seed, ["nmflowgan:sidd"], ["gaussian"], "real")[
        "nmflowgan:sidd"]["beats_baselines"]["ok"] is None  # one seed: no spread to beat
    assert "| nmflowgan:sidd | ✗ +0.47 ± 0.06 dB vs gaussian" in targets_table(results)
    assert targets_table({"sources": {k: v for k, v in results["sources"].items() if k != "nmflowgan:sidd"}}) == ""

"""Throughput measurements with torch.utils.benchmark.Timer: predicted skips, single slow calls, series, workloads."""

from __future__ import annotations

import time

import pytest
import torch

from nmflowgan_aug import NMFlowGAN, NMFlowGANConfig
from nmflowgan_aug.evaluation.throughput import (
    Settings,
    autocast,
    flow_workload,
    kornia_workload,
    measure,
    measure_series,
    n_params,
    sampler_workload,
    stand_in_model,
    step_overhead,
    unet_macs,
)

CPU = torch.device("cpu")


def _sleep(batch):
    return lambda: time.sleep(0.002 * batch)


def test_slow_calls_are_skipped_with_reason():
    s = Settings(warmup=1, repeats=2, budget_s=1.0, max_call_s=0.5, slow_call_s=0.1)
    skipped = measure(_sleep, 1000, CPU, s)
    assert skipped.median_s is None and "max-call-s" in skipped.skipped
    slow = measure(_sleep, 100, CPU, s)  # ~0.2 s: probe as warm-up, one timed call
    # sleep() lasts at least as long as asked and, on a busy machine, longer: bound it on both sides loosely
    assert 0.2 <= slow.median_s < 1.0 and "probe" in slow.warmup and len(slow.times_s) == 1
    assert "1 timed call (slow)" in slow.warmup
    hinted = measure(_sleep, 100, CPU, s, seconds_per_image=1.0)  # predicted 100 s
    assert hinted.median_s is None and "predicted 100 s" in hinted.skipped
    fast = measure(_sleep, 2, CPU, s)
    assert 0.004 <= fast.median_s < 0.1 and fast.warmup == "1× at batch 2" and fast.times_s


def test_series_predicts_each_batch_from_the_previous_one():
    s = Settings(warmup=1, repeats=1, budget_s=0.05, max_call_s=0.3, slow_call_s=0.25)
    rows = measure_series("sleep", "sleep 2 ms/img", _sleep, [100, 10, 1000], "fp32", 0, CPU, s)
    assert [r["batch"] for r in rows] == [10, 100, 1000]
    assert 50 < rows[0]["img_s"] <= 500 * 1.01 and 200 <= rows[1]["ms_per_call"] < 1000
    assert rows[2]["img_s"] is None and rows[2]["timing"]["skipped"].startswith("skipped: predicted 2 s")
    assert rows[2]["timing"]["warmup"] == ""  # skipped from the prediction alone: no probe call


def test_workloads_run_and_autocast():
    model = stand_in_model(1, 4)
    assert model.config.unet_depth == 1 and model.vocabulary.iso_encoding == "log"
    for make in (sampler_workload(model, 16, CPU, "bf16"), flow_workload(model, 16, CPU), kornia_workload(16, CPU)):
        out = make(2)()
        assert out.shape == (2, 3, 16, 16) and 0 <= float(out.min()) and float(out.max()) <= 1
    assert not autocast(CPU, "fp32")._enabled and autocast(CPU, "bf16").fast_dtype == torch.bfloat16
    assert n_params(model) == sum(p.numel() for p in model.parameters()) > n_params(model.unet)


def test_step_overhead_alternates_rounds_within_the_budget():
    s = Settings(warmup=1, repeats=3, budget_s=60.0, max_call_s=60.0, slow_call_s=60.0)
    r = step_overhead(stand_in_model(1, 4), CPU, s, "fp32", layers=3, features=4, batch=2, patch=16)
    assert r["repeats"] == 3 and len(r["times_kornia_s"]) == len(r["times_model_s"]) == 3
    assert r["overhead"] == pytest.approx(r["model_step_s"] / r["kornia_step_s"] - 1)
    assert r["dncnn"] == "3 layers × 4 features" and (r["batch"], r["patch"]) == (2, 16)
    tight = step_overhead(stand_in_model(1, 4), CPU, Settings(1, 10, 1e-6, 60.0, 60.0), "fp32", layers=3, features=4,
                          batch=2, patch=16)
    assert tight["repeats"] == 1


def test_unet_macs_official_size():
    # reference §7: the official U-Net costs about 6.78 GMAC per 96×96 sample
    assert abs(unet_macs(NMFlowGAN(NMFlowGANConfig()), 96) / 1e9 - 6.78) < 0.1

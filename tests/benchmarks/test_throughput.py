"""Smoke tests of benchmarks/throughput.py: a tiny run finishes and prints the tables."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks import throughput as bench  # noqa: E402


def test_tiny_run_prints_tables(tmp_path, capsys):
    from nmflowgan_aug import NMFlowGAN, NMFlowGANConfig

    out = tmp_path / "tp.json"
    tiny = NMFlowGAN(NMFlowGANConfig(unet_depth=2, unet_width=4)).save_pretrained(tmp_path / "tiny")
    res = bench.run([
        "--model", str(tiny),
        "--device", "cpu", "--threads", "1", "--size", "32", "--batch-sizes", "2", "--warmup", "1", "--repeats", "1",
        "--step-batch", "2", "--step-patch", "32", "--step-layers", "3", "--step-features", "4",
        "--sweep", "--sweep-configs", "2x4,1x4", "--sweep-batch", "2",
        "--json", str(out),
    ])
    text = capsys.readouterr().out
    assert "| model | batch | dtype | img/s |" in text
    assert f"shipped '{tiny}' (U-Net 2×4)" in text
    assert "official size" in text and "kornia RandomGaussianNoise" in text and "flow part alone" in text
    assert "DnCNN training step" in text and "U-Net size sweep" in text and "### Targets" in text
    assert "machine:" in text and "torch " in text
    whats = {r["what"] for r in res["rows"]}
    assert whats == {"shipped", "official", "flow", "kornia"}
    assert all(r["img_s"] > 0 for r in res["rows"])
    assert [(r["depth"], r["width"]) for r in res["sweep"]] == [(2, 4), (1, 4)]
    assert res["dncnn_step"][0]["batch"] == 2 and "overhead" in res["dncnn_step"][0]
    saved = json.loads(out.read_text())
    assert saved["machine"]["torch"] == torch.__version__ and saved["size"] == 32


def test_slow_calls_are_skipped_with_reason():
    def make(batch):
        return lambda: time.sleep(0.002 * batch)

    s = bench.Settings(warmup=1, repeats=2, budget_s=1.0, max_call_s=0.5, slow_call_s=0.1)
    skipped = bench.measure(make, 1000, torch.device("cpu"), s)
    assert skipped.median_s is None and "max-call-s" in skipped.skipped
    slow = bench.measure(make, 100, torch.device("cpu"), s)  # ~0.2 s: probe as warm-up, one timed call
    assert slow.median_s is not None and "probe" in slow.warmup and len(slow.times_s) == 1
    hinted = bench.measure(make, 100, torch.device("cpu"), s, seconds_per_image=1.0)  # predicted 100 s
    assert hinted.median_s is None and "predicted 100 s" in hinted.skipped
    fast = bench.measure(make, 2, torch.device("cpu"), s)
    assert len(fast.times_s) == 2


def test_unet_macs_official_size():
    model = bench.NMFlowGAN(bench.NMFlowGANConfig())
    # reference §7: the official U-Net costs about 6.78 GMAC per 96×96 sample
    assert abs(bench.unet_macs(model, 96) / 1e9 - 6.78) < 0.1

"""Smoke test of benchmarks/throughput.py: a tiny run finishes, prints the tables and writes the JSON."""

from __future__ import annotations

import json

import pytest
import torch
from script_loader import load_script

from nmflowgan_aug import NMFlowGAN, NMFlowGANConfig

bench = load_script("throughput")
TRAIN_TINY = ["--train-set", "model.unet_depth=2", "--train-set", "model.unet_width=4", "--train-set", "critic.width=2",
              "--train-set", "model.flow_features=4", "--train-set", "train.batch_size=4", "--train-steps", "1",
              "--train-warmup", "0", "--train-world-sizes", "1"]


def test_tiny_run_prints_tables(tmp_path, capsys):
    out = tmp_path / "tp.json"
    tiny = NMFlowGAN(NMFlowGANConfig(unet_depth=2, unet_width=4)).save_pretrained(tmp_path / "tiny")
    res = bench.run([
        "--model", str(tiny),
        "--device", "cpu", "--threads", "1", "--size", "32", "--batch-sizes", "2", "--warmup", "1", "--repeats", "1",
        "--step-batch", "2", "--step-patch", "32", "--step-layers", "3", "--step-features", "4",
        "--sweep", "--sweep-configs", "2x4,1x4", "--sweep-batch", "2",
        *TRAIN_TINY, "--json", str(out),
    ])
    text = capsys.readouterr().out
    assert "| model | batch | dtype | img/s |" in text
    assert f"shipped '{tiny}' (U-Net 2×4)" in text
    assert "official size" in text and "kornia RandomGaussianNoise" in text and "flow part alone" in text
    assert "DnCNN training step" in text and "U-Net size sweep" in text and "### Targets" in text
    assert "machine:" in text and "torch " in text and "torch.utils.benchmark.Timer" in text
    whats = {r["what"] for r in res["rows"]}
    assert whats == {"shipped", "official", "flow", "kornia"}
    assert all(r["img_s"] > 0 for r in res["rows"])
    assert [(r["depth"], r["width"]) for r in res["sweep"]] == [(2, 4), (1, 4)]
    assert res["dncnn_step"][0]["batch"] == 2 and "overhead" in res["dncnn_step"][0]
    saved = json.loads(out.read_text())
    assert saved["machine"]["torch"] == torch.__version__ and saved["size"] == 32
    assert saved["settings"] == {"warmup": 1, "repeats": 1, "budget_s": 30.0, "max_call_s": 300.0, "slow_call_s": 30.0}
    assert "1 process vs several" in text and saved["train_config"].endswith("quickstart.yaml")
    assert [(r["world_size"], r["steps"], r["global_batch"]) for r in saved["training_steps"]] == [(1, 1, 4)]


def test_training_steps_alone(capsys):
    res = bench.run(["--device", "cpu", "--only-train-step", "--threads", "1", *TRAIN_TINY])
    text = capsys.readouterr().out
    assert "| model | batch |" not in text and "| 1 | - | cpu | 1 | none | 4 |" in text and "machine:" in text
    assert [r["world_size"] for r in res["training_steps"]] == [1] and res["training_steps"][0]["patches_s"] > 0


@pytest.mark.parametrize("argv, message", [
    (["--batch-sizes", "2,x"], "--batch-sizes must be comma-separated integers"),
    (["--dtypes", "fp32,int8"], "unknown --dtypes ['int8']"),
    (["--sweep", "--sweep-configs", "3by16"], "entries must look like 3x16"),
])
def test_bad_arguments(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        bench.resolve_args(argv)
    assert exc.value.code == 2 and message in capsys.readouterr().err

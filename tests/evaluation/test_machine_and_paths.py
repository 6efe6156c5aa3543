"""What a benchmark ran on, the real-data folder, the argparse device type."""

from __future__ import annotations

import argparse
import os

import pytest
import torch

from nmflowgan_aug import __version__
from nmflowgan_aug.evaluation.cli import device_argument
from nmflowgan_aug.evaluation.machine import machine_info, machine_summary
from nmflowgan_aug.evaluation.paths import REPO_ROOT, display_path, shared_data_dir, sidd_native_manifest


def test_machine_info_on_cpu():
    info = machine_info(torch.device("cpu"))
    assert info["torch"] == torch.__version__ and info["nmflowgan_aug"] == __version__ and info["gpu"] is None
    assert info["torch_threads"] == torch.get_num_threads()
    assert 1 <= info["cpu_cores_usable"] <= info["cpu_cores_visible"]
    assert info["device"] == "cpu" and isinstance(info["cpu_native_bf16"], bool) and info["cpu"]
    assert machine_summary(info) == f"CPU {info['cpu']}, {info['torch_threads']} threads"
    assert machine_summary({**info, "gpu": "NVIDIA H200", "cuda": "13.0"}) == "NVIDIA H200 (CUDA 13.0)"


def test_shared_data_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("NMFLOWGAN_SHARED_DATA", str(tmp_path))
    assert shared_data_dir() == tmp_path and sidd_native_manifest() == tmp_path / "sidd_native" / "pairs.csv"
    monkeypatch.delenv("NMFLOWGAN_SHARED_DATA")
    assert shared_data_dir() == REPO_ROOT.parent / "shared" / "data"
    assert (REPO_ROOT / "nmflowgan_aug" / "evaluation" / "paths.py").is_file()
    assert display_path(REPO_ROOT / "benchmarks" / "results") == os.path.join("benchmarks", "results")


def test_device_argument():
    assert device_argument("cpu") == torch.device("cpu")
    assert device_argument("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(argparse.ArgumentTypeError, match="device must be auto, cpu, cuda or cuda:N, got 'gpu'"):
        device_argument("gpu")

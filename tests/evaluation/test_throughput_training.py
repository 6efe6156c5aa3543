"""Training-step throughput: patches/s of Trainer.train_step on 1 process and on 2 gloo processes."""

import pytest
import torch

from nmflowgan_aug.evaluation.throughput_report import render
from nmflowgan_aug.evaluation.throughput_training import SyntheticPatches, training_step_rows
from nmflowgan_aug.training.config import load_config

TINY = ["model.unet_depth=2", "model.unet_width=4", "model.flow_features=4", "critic.width=2", "train.batch_size=4",
        "train.critic_steps=2", "train.flow_warmup_steps=5", "train.device=cpu"]


def test_one_and_two_processes_time_the_same_global_batch():
    config = load_config(None, TINY)
    rows = training_step_rows(config, [1, 2], ["none"], steps=2, warmup=0, cores=1)
    assert [(r["world_size"], r["backend"], r["threads_per_process"]) for r in rows] == [(1, "-", 1), (2, "gloo", 1)]
    for r in rows:
        assert r["global_batch"] == 4 and r["steps"] == 2 and r["seconds"] > 0
        assert r["patches_s"] == pytest.approx(4 * 2 / r["seconds"]) and r["step_ms"] == pytest.approx(500 * r["seconds"])
    assert config.train.flow_warmup_steps == 5  # the caller's config is left as it was
    text = render({"machine": {"cpu": "x", "cpu_cores_usable": 2, "gpu": None, "torch": torch.__version__,
                               "load_average_1min": 1.0}, "train_config": "q.yaml", "training_steps": rows})
    assert "| 2 | gloo | cpu | 1 | none | 4 |" in text and "1 process vs several" in text


def test_synthetic_patches_cycle_the_vocabulary_and_are_seeded():
    config = load_config(None, TINY)
    a, b = SyntheticPatches(config, 6), SyntheticPatches(config, 6)
    assert torch.equal(a[3]["noisy"], b[3]["noisy"]) and a[3]["clean"].shape == (3, 96, 96)
    assert [a[i]["camera"] for i in range(6)] == [*config.model.cameras, *config.model.cameras][:6]
    assert torch.equal(torch.round(a[0]["noisy"] * 255), a[0]["noisy"] * 255)  # 8-bit levels


def test_a_batch_the_processes_cannot_share_is_refused():
    with pytest.raises(ValueError, match="train.batch_size 4 is the global batch .* 3 processes"):
        training_step_rows(load_config(None, TINY), [3], ["none"], steps=1, warmup=0, cores=2)

"""DnCNN training on synthesized or real noisy inputs: seeded reproduction, lr schedule, conditions, inference."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from nmflowgan_aug.baselines import GaussianNoiseModel, LogIsoLaw
from nmflowgan_aug.denoisers import DnCNN, DnCNNTrainingSettings, TrainImages, denoise_blocks, step_lr, train_dncnn

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = dict(layers=3, features=4, batch_size=2, patch_size=16, iters=3, lr=1e-3, lr_halvings=1)


def _images(n=3, size=24) -> TrainImages:
    rng = np.random.default_rng(0)
    clean = [rng.integers(40, 200, (3, size, size), dtype=np.uint8) for _ in range(n)]
    noisy = [np.clip(c.astype(int) + rng.integers(-9, 10, c.shape), 0, 255).astype(np.uint8) for c in clean]
    return TrainImages(clean, noisy, ["GP", "IP", "GP"][:n], [800, 100, 3200][:n], [f"p{i}" for i in range(n)])


def _gaussian() -> GaussianNoiseModel:
    law = LogIsoLaw(("GP", "IP"), ((math.log(0.02),) * 3, (math.log(0.01),) * 3), (0.5,) * 3, ((800,), (100,)),
                    ("sigma_R", "sigma_G", "sigma_B"))
    return GaussianNoiseModel(law)


def test_seeded_training_reproduces():
    images, cpu = _images(), torch.device("cpu")
    for noise in (_gaussian(), None):  # synthetic and real noisy inputs
        runs = [train_dncnn(images, DnCNNTrainingSettings(**TINY, seed=s), cpu, noise, progress=False)
                for s in (0, 0, 1)]
        (m0, info), (m1, _), (m2, _) = runs
        assert all(torch.equal(v, m1.state_dict()[k]) for k, v in m0.state_dict().items())
        assert not all(torch.equal(v, m2.state_dict()[k]) for k, v in m0.state_dict().items())
        assert np.isfinite(info["final_loss"]) and not m0.training
        if noise is None:
            assert info["synthesis_seconds"] == 0.0


def test_lr_schedule_halves_at_even_points():
    assert [step_lr(i, 1e-3, 5, 60) for i in (0, 9, 10, 59)] == [1e-3, 1e-3, 5e-4, 1e-3 / 32]
    assert step_lr(59, 1e-3, 0, 60) == 1e-3


def test_the_noise_model_gets_the_given_conditions():
    calls = []

    class Recorder:
        def sample(self, clean, camera, iso, generator=None):
            calls.append((list(camera), list(iso)))
            return clean

    images = _images()
    mapped = [("GP", 3200), ("IP", 800), ("GP", 3200)]
    train_dncnn(images, DnCNNTrainingSettings(**TINY), torch.device("cpu"), Recorder(), mapped, progress=False)
    assert len(calls) == 3 and all(len(c) == 2 for c, _ in calls)
    assert {(c, i) for cams, isos in calls for c, i in zip(cams, isos)} <= set(mapped)
    with pytest.raises(ValueError, match="2 conditions for 3 training images"):
        train_dncnn(images, DnCNNTrainingSettings(**TINY), torch.device("cpu"), Recorder(), mapped[:2])


def test_checkpoints_score_a_copy_without_changing_the_training():
    images, cpu = _images(), torch.device("cpu")
    settings = DnCNNTrainingSettings(**TINY)
    plain, _ = train_dncnn(images, settings, cpu, _gaussian(), progress=False)
    seen = []

    def at_checkpoint(iteration, model):
        seen.append((iteration, model.training, {k: v.clone() for k, v in model.state_dict().items()}))
        model(torch.rand(1, 3, 16, 16))  # an evaluation pass: eval mode keeps the BatchNorm statistics

    checked, _ = train_dncnn(images, settings, cpu, _gaussian(), checkpoints=[1, 2], on_checkpoint=at_checkpoint,
                             progress=False)
    assert [(it, training) for it, training, _ in seen] == [(1, False), (2, False)]
    assert all(torch.equal(v, checked.state_dict()[k]) for k, v in plain.state_dict().items())
    assert not all(torch.equal(v, seen[0][2][k]) for k, v in seen[1][2].items())  # iteration 2 moved on
    with pytest.raises(ValueError, match=r"checkpoints must be iterations in 1\.\.3, got \[4\]"):
        train_dncnn(images, settings, cpu, _gaussian(), checkpoints=[4], progress=False)


def test_clean_only_images_train_on_synthetic_noise_only():
    images = _images()
    clean_only = TrainImages(images.clean, None, images.cameras, images.isos, images.names)
    settings, cpu = DnCNNTrainingSettings(**TINY), torch.device("cpu")
    with_pairs, _ = train_dncnn(images, settings, cpu, _gaussian(), progress=False)
    without, _ = train_dncnn(clean_only, settings, cpu, _gaussian(), progress=False)
    # the same clean patches and noise draws whether or not the images carry noisy partners
    assert all(torch.equal(v, without.state_dict()[k]) for k, v in with_pairs.state_dict().items())
    with pytest.raises(ValueError, match="needs images with noisy partners; these are clean only"):
        train_dncnn(clean_only, settings, cpu, None, progress=False)


def test_settings_are_checked():
    assert DnCNNTrainingSettings().layers == 18 and DnCNNTrainingSettings().batch_size == 128
    for bad, match in (({"iters": 0}, "iters must be >= 1"), ({"lr": 0.0}, "lr must be > 0"),
                       ({"lr_halvings": -1}, "lr_halvings must be >= 0")):
        with pytest.raises(ValueError, match=match):
            DnCNNTrainingSettings(**bad)


def test_denoise_blocks_with_an_identity_denoiser_returns_the_input():
    model = DnCNN(num_layers=3, features=4)
    nn.init.zeros_(model.last.weight)
    nn.init.zeros_(model.last.bias)
    blocks = np.random.default_rng(0).integers(0, 256, (5, 12, 10, 3), dtype=np.uint8)
    out = denoise_blocks(model, blocks, torch.device("cpu"), batch=2, progress=False)
    assert out.dtype == np.uint8 and np.array_equal(out, blocks)

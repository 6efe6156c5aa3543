"""The training loop: one iteration updates what it should, and resuming continues exactly."""

import copy
import math

import numpy as np
import pytest
import torch

from nmflowgan_aug.devices import resolve_device
from nmflowgan_aug.training.config import load_config
from nmflowgan_aug.training.loop import CHECKPOINT_VERSION, Trainer, read_checkpoint


class PatchList(torch.utils.data.Dataset):
    """A tiny in-memory patch dataset with correlated, intensity-dependent noise."""

    def __init__(self, n=8, seed=0):
        g = torch.Generator().manual_seed(seed)
        self.items = []
        for i in range(n):
            clean = torch.rand(3, 96, 96, generator=g) * 0.6 + 0.2
            noise = torch.randn(3, 96, 96, generator=g) * 0.02 * (1 + clean)
            noisy = torch.round((clean + noise).clamp(0, 1) * 255) / 255
            clean = torch.round(clean * 255) / 255
            self.items.append({"clean": clean, "noisy": noisy, "camera": i % 2, "iso": [100, 800][i % 2]})

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


def tiny_config(tmp_path, **train):
    overrides = [
        "model.unet_depth=2", "model.unet_width=4", "model.flow_features=4", "critic.width=2",
        "train.batch_size=4", "train.critic_steps=2", "train.lr=1e-3", "train.device=cpu", "train.val_patches=4",
        f"output_dir={tmp_path}",
    ] + [f"train.{k}={v}" for k, v in train.items()]
    return load_config(None, overrides)


def test_train_step_updates_flow_unet_and_critic(tmp_path):
    config = tiny_config(tmp_path, critic_steps=1)
    trainer = Trainer(config, PatchList(), None, tmp_path)
    states = list(trainer.model.state_dict().items()) + [("c." + k, v) for k, v in trainer.critic.state_dict().items()]
    before = {k: v.clone() for k, v in states}
    batch = torch.utils.data.default_collate([PatchList()[i] for i in range(4)])
    logs = trainer.train_step(batch)
    assert set(logs) == {"wasserstein", "nll_bpd", "std_z"}
    after = dict(trainer.model.state_dict())
    assert not torch.equal(after["flow.bijectors.3.log_scale"], before["flow.bijectors.3.log_scale"])
    assert not torch.equal(after["unet.last.weight"], before["unet.last.weight"])
    assert not torch.equal(trainer.critic.state_dict()["classifier.2.weight"], before["c.classifier.2.weight"])


def test_critic_only_iterations_leave_the_generator_alone(tmp_path):
    config = tiny_config(tmp_path, critic_steps=5, nll_every_step="false")
    trainer = Trainer(config, PatchList(), None, tmp_path)
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    batch = torch.utils.data.default_collate([PatchList()[i] for i in range(4)])
    assert set(trainer.train_step(batch)) == {"wasserstein"}
    for k, v in trainer.model.state_dict().items():
        if "running" not in k and "num_batches" not in k:
            assert torch.equal(v, before[k]), k


def test_resume_gives_the_same_weights_as_an_uninterrupted_run(tmp_path):
    data, val = PatchList(12), PatchList(4, seed=1)
    straight = Trainer(tiny_config(tmp_path, epochs=2), data, val, tmp_path / "a")
    straight.fit()

    first = Trainer(tiny_config(tmp_path, epochs=1), data, val, tmp_path / "b")
    first.fit()
    torch.manual_seed(12345)  # disturb the global RNG: the checkpoint must restore it
    np.random.seed(7)
    resumed = Trainer(tiny_config(tmp_path, epochs=2), data, val, tmp_path / "b")
    resumed.load_checkpoint(first.checkpoint_path)
    resumed.fit()

    assert resumed.state.epoch == straight.state.epoch == 2
    assert resumed.state.step == straight.state.step
    for (k, a), b in zip(straight.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(a, b), k
    for a, b in zip(straight.critic.state_dict().values(), resumed.critic.state_dict().values()):
        assert torch.equal(a, b)
    assert straight.history[-1]["val_kld"] == resumed.history[-1]["val_kld"]


def test_logged_nll_is_the_models_likelihood(tmp_path):
    """The generator step's NLL is NMFlowGAN.log_prob_levels of the batch (same dequantization draws)."""
    trainer = Trainer(tiny_config(tmp_path, flow_warmup_steps=1), PatchList(), None, tmp_path)
    before = copy.deepcopy(trainer.model)
    batch = torch.utils.data.default_collate([PatchList()[i] for i in range(4)])
    clean, noisy, cams, isos = trainer._batch(batch)
    torch.manual_seed(3)
    logged = trainer.train_step(batch)["nll_bpd"]
    torch.manual_seed(3)
    with torch.no_grad():
        log_p = before.log_prob_levels(torch.round(noisy * 255), torch.round(clean * 255), cams, isos)
    assert logged == float(-log_p.mean()) / (3 * 96 * 96 * math.log(2.0))


def test_checkpoint_is_plain_data_with_a_checked_version(tmp_path):
    config = tiny_config(tmp_path, epochs=1, steps_per_epoch=1, critic_steps=1)
    trainer = Trainer(config, PatchList(), None, tmp_path / "a")
    trainer.fit()
    ckpt = torch.load(trainer.checkpoint_path, weights_only=True)  # no pickled code, no NumPy objects
    assert ckpt["version"] == CHECKPOINT_VERSION == 5
    assert ckpt["world_size"] == 1 and ckpt["scaler_g"] is None and ckpt["scaler_c"] is None  # fp32: no loss scalers
    torch.save({**ckpt, "version": 4}, tmp_path / "v4.pt")
    with pytest.raises(ValueError, match=r"v4.pt has format version 4; this version of nmflowgan_aug reads version 5"):
        trainer.load_checkpoint(tmp_path / "v4.pt")
    torch.save({k: v for k, v in ckpt.items() if k != "seconds"}, tmp_path / "cut.pt")
    with pytest.raises(ValueError, match=r"cut.pt lacks \['seconds'\]; version 5 has \['version', 'config'"):
        trainer.load_checkpoint(tmp_path / "cut.pt")
    torch.save({**ckpt, "rng": {"numpy": np.random.get_state()}}, tmp_path / "numpy.pt")  # the version-1 layout
    with pytest.raises(ValueError, match="cannot read checkpoint .*numpy.pt with weights_only=True"):
        trainer.load_checkpoint(tmp_path / "numpy.pt")


def test_resume_refuses_a_different_architecture(tmp_path):
    first = Trainer(tiny_config(tmp_path, epochs=1), PatchList(), None, tmp_path / "a")
    first.fit()
    other = load_config(None, ["model.unet_depth=3", "model.unet_width=4", "train.device=cpu", "train.batch_size=4"])
    with pytest.raises(ValueError, match="different model config"):
        Trainer(other, PatchList(), None, tmp_path / "b").load_checkpoint(first.checkpoint_path)
    wider = tiny_config(tmp_path, epochs=1)
    wider.critic.width = 3
    with pytest.raises(ValueError, match=r"a critic of width 2; this run's critic.width is 3"):
        read_checkpoint(first.checkpoint_path, wider)
    with pytest.raises(FileNotFoundError):
        first.load_checkpoint(tmp_path / "nope.pt")


def test_too_small_dataset_and_bad_device(tmp_path):
    with pytest.raises(ValueError, match="fewer than batch_size"):
        Trainer(tiny_config(tmp_path, batch_size=64), PatchList(), None, tmp_path).fit()
    with pytest.raises(ValueError, match="device"):
        resolve_device("tpu")


def test_flow_warmup_trains_the_flow_alone(tmp_path):
    trainer = Trainer(tiny_config(tmp_path, flow_warmup_steps=1, critic_steps=1), PatchList(), None, tmp_path)
    unet, critic = trainer.model.unet.last.weight.clone(), trainer.critic.classifier[2].weight.clone()
    batch = torch.utils.data.default_collate([PatchList()[i] for i in range(4)])
    assert set(trainer.train_step(batch)) == {"nll_bpd", "std_z"}
    assert torch.equal(unet, trainer.model.unet.last.weight)
    assert torch.equal(critic, trainer.critic.classifier[2].weight)
    assert set(trainer.train_step(batch)) == {"wasserstein", "nll_bpd", "std_z"}
    assert not torch.equal(unet, trainer.model.unet.last.weight)


def test_critic_input_is_scaled_noise_and_clean_over_256(tmp_path):
    """Reference §2.3: concat(noise, clean) / 256; critic.noise_scale multiplies the noise channels only."""
    clean = torch.tensor([10.0, 200.0]).view(1, 1, 1, 2).expand(1, 3, 1, 2)
    noisy = clean + torch.tensor([3.0, -5.0]).view(1, 1, 1, 2)
    official = Trainer(tiny_config(tmp_path), PatchList(), None, tmp_path / "a")._critic_input(noisy, clean)
    torch.testing.assert_close(official[0, :, 0, 1], torch.tensor([-5.0] * 3 + [200.0] * 3) / 256)
    config = tiny_config(tmp_path)
    config.critic.noise_scale = 10.0
    scaled = Trainer(config, PatchList(), None, tmp_path / "b")._critic_input(noisy, clean)
    torch.testing.assert_close(scaled[:, :3], 10 * official[:, :3])
    torch.testing.assert_close(scaled[:, 3:], official[:, 3:])


def test_critic_noise_scale_must_be_positive():
    from nmflowgan_aug.training.config import ConfigError

    with pytest.raises(ConfigError, match=r"critic.noise_scale must be a finite number > 0, got -1.0"):
        load_config(None, ["critic.noise_scale=-1"])


def test_time_budget_counts_over_resumes(tmp_path):
    """A run stopped by train.max_minutes trains no further epoch when resumed with the same budget."""
    data = PatchList()
    tiny = dict(epochs=3, steps_per_epoch=1, critic_steps=1)
    first = Trainer(tiny_config(tmp_path, max_minutes=1e-6, **tiny), data, None, tmp_path / "a")
    first.fit()
    assert first.state.epoch == 1 and first.state.seconds > 0  # the budget ended the run after one epoch
    assert torch.load(first.checkpoint_path, weights_only=True)["seconds"] == first.state.seconds
    resumed = Trainer(tiny_config(tmp_path, max_minutes=1e-6, **tiny), data, None, tmp_path / "a")
    resumed.load_checkpoint(first.checkpoint_path)
    assert resumed.fit() == first.history and resumed.state.epoch == 1
    more = Trainer(tiny_config(tmp_path, max_minutes=60, **tiny), data, None, tmp_path / "a")
    more.load_checkpoint(first.checkpoint_path)
    more.fit()
    assert more.state.epoch == 3 and more.state.seconds > first.state.seconds


def ours_config(tmp_path, **train):
    """A flow-only model (no U-Net, no critic) with our options, on 32×32 patches."""
    overrides = [
        "model.unet_depth=0", "model.flow_features=4", "model.noise_domain=linear", "model.spatial_kernel=3",
        "model.iso_encoding=log_camera", "model.cameras=[IP, GP]", "model.isos=[100, 800]", "data.patch_size=32",
        "train.batch_size=4", "train.lr=1e-3", "train.device=cpu", "train.val_patches=4", f"output_dir={tmp_path}",
    ] + [f"train.{k}={v}" for k, v in train.items()]
    return load_config(None, overrides)


class CroppedPatches(PatchList):
    """PatchList cut to 32×32, with an optional ``resampled`` flag per sample."""

    def __init__(self, n=8, seed=0, resampled=None):
        super().__init__(n, seed)
        for i, item in enumerate(self.items):
            item["clean"], item["noisy"] = item["clean"][:, :32, :32], item["noisy"][:, :32, :32]
            if resampled is not None:
                item["resampled"] = torch.tensor(resampled[i])


def test_a_model_without_unet_trains_its_flow_alone_and_resumes_exactly(tmp_path):
    data = CroppedPatches(8)
    straight = Trainer(ours_config(tmp_path, epochs=2), data, None, tmp_path / "a")
    assert straight.critic is None and straight.opt_c is None and straight.resampled_layer is None
    before = copy.deepcopy(straight.model.state_dict())
    straight.fit()
    assert set(straight.history[-1]) >= {"train_nll_bpd", "train_std_z"} and "train_wasserstein" not in straight.history[-1]
    assert not torch.equal(before["flow.bijectors.7.weight"], straight.model.state_dict()["flow.bijectors.7.weight"])
    first = Trainer(ours_config(tmp_path, epochs=1), data, None, tmp_path / "b")
    first.fit()
    ckpt = torch.load(first.checkpoint_path, weights_only=True)
    assert ckpt["critic"] is None and ckpt["opt_c"] is None and ckpt["resampled"] is None
    resumed = Trainer(ours_config(tmp_path, epochs=2), data, None, tmp_path / "b")
    resumed.load_checkpoint(first.checkpoint_path)
    resumed.fit()
    for (k, a), b in zip(straight.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(a, b), k


def test_resampled_patches_train_the_resampled_scale_and_not_the_spatial_layer(tmp_path):
    config = ours_config(tmp_path)
    config.data.train.resampled = True  # every patch resampled: the spatial layer gets no gradient
    trainer = Trainer(config, CroppedPatches(8, resampled=[True] * 8), None, tmp_path)
    assert trainer.resampled_layer is not None
    spatial_before = trainer.model.flow.spatial.weight.clone()
    batch = torch.utils.data.default_collate([trainer.train_set[i] for i in range(4)])
    trainer.train_step(batch)
    assert torch.equal(trainer.model.flow.spatial.weight, spatial_before)
    assert trainer.resampled_layer.log_scale.abs().sum() > 0
    ckpt_path = trainer.save_checkpoint()
    assert torch.equal(torch.load(ckpt_path, weights_only=True)["resampled"]["log_scale"], trainer.resampled_layer.log_scale)

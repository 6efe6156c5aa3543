"""Mixed precision in training: the U-Net and critic under autocast, the flow's likelihood in float32, fp16 loss scaling."""

import copy
import math

import pytest
import torch
from test_loop import PatchList, tiny_config

from nmflowgan_aug.training.amp import autocast, grad_scaler
from nmflowgan_aug.training.loop import Trainer


def _batch():
    return torch.utils.data.default_collate([PatchList()[i] for i in range(4)])


def _dtypes(module: torch.nn.Module) -> list[torch.dtype]:
    """Records the output dtype of every call of ``module``."""
    seen = []
    module.register_forward_hook(lambda m, i, out: seen.append(out.dtype))
    return seen


@pytest.mark.parametrize("amp, dtype", [("bf16", torch.bfloat16), ("fp16", torch.float16)])
def test_unet_and_critic_run_under_autocast_and_the_likelihood_in_float32(tmp_path, amp, dtype):
    """The logged NLL is the float32 model's log_prob_levels exactly (same dequantization draws).

    Meanwhile the U-Net and the critic compute in the autocast dtype.
    """
    trainer = Trainer(tiny_config(tmp_path, critic_steps=1, amp=amp), PatchList(), None, tmp_path)
    before = copy.deepcopy(trainer.model)
    unet, critic = _dtypes(trainer.model.unet.last), _dtypes(trainer.critic.classifier)
    clean, noisy, cams, isos = trainer._batch(_batch())
    torch.manual_seed(3)
    with torch.no_grad(), torch.autocast("cpu", dtype=dtype):  # the critic step's draws, replayed
        before.synthesize_levels(clean, cams, isos)
        expected = before.log_prob_levels(torch.round(noisy * 255), torch.round(clean * 255), cams, isos)
    torch.manual_seed(3)
    logs = trainer.train_step(_batch())
    assert logs["nll_bpd"] == float(-expected.mean()) / (3 * 96 * 96 * math.log(2.0))
    assert unet == [dtype, dtype] and set(critic) == {dtype}  # critic step, then generator step


def test_fp16_scales_the_losses_and_checkpoints_the_scalers(tmp_path):
    trainer = Trainer(tiny_config(tmp_path, critic_steps=1, amp="fp16", epochs=1, steps_per_epoch=2), PatchList(),
                      None, tmp_path / "a")  # fmt: skip
    assert trainer.scaler_g.is_enabled() and trainer.scaler_c.is_enabled()
    trainer.fit()
    ckpt = torch.load(trainer.checkpoint_path, weights_only=True)
    assert ckpt["scaler_g"]["scale"] == trainer.scaler_g.get_scale() > 0
    assert ckpt["scaler_c"]["scale"] == trainer.scaler_c.get_scale()
    resumed = Trainer(tiny_config(tmp_path, critic_steps=1, amp="fp16", epochs=2, steps_per_epoch=2), PatchList(),
                      None, tmp_path / "a")  # fmt: skip
    resumed.scaler_g.load_state_dict({**ckpt["scaler_g"], "scale": 8.0, "_growth_tracker": 1})  # restore replaces it
    resumed.restore(ckpt)
    assert resumed.scaler_g.state_dict() == ckpt["scaler_g"] and resumed.scaler_c.state_dict() == ckpt["scaler_c"]
    fp32 = Trainer(tiny_config(tmp_path, epochs=2, steps_per_epoch=2), PatchList(), None, tmp_path / "a")
    fp32.restore(ckpt)  # an fp16 checkpoint resumes in float32: its scalers are not needed
    assert not fp32.scaler_g.is_enabled()


def test_autocast_and_scaler_are_off_for_none():
    cpu = torch.device("cpu")
    assert not autocast(cpu, "none")._enabled and autocast(cpu, "bf16").fast_dtype == torch.bfloat16
    loss = torch.tensor(2.0, requires_grad=True)
    assert grad_scaler(cpu, "none").scale(loss) is loss and grad_scaler(cpu, "fp16").scale(loss).item() == 2.0 * 2**16

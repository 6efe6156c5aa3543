"""The generator side of a step as one module (what DDP wraps and torch.compile compiles)."""

import torch
from test_loop import CroppedPatches, PatchList, ours_config, tiny_config

from nmflowgan_aug.training.loop import Trainer


def _batch(data):
    return torch.utils.data.default_collate([data[i] for i in range(4)])


def test_objective_holds_the_generator_parameters_that_exist(tmp_path):
    adversarial = Trainer(tiny_config(tmp_path), PatchList(), None, tmp_path)
    names = {n.split(".")[1] for n, _ in adversarial.objective.named_parameters()}
    assert names == {"flow", "unet"}
    config = ours_config(tmp_path)
    config.data.train.resampled = True
    flow_only = Trainer(config, CroppedPatches(8, resampled=[True] * 8), None, tmp_path)
    params = dict(flow_only.objective.named_parameters())
    assert "resampled_layer.log_scale" in params and not any(".unet." in n for n in params)
    assert len(params) == len(list(flow_only.model.parameters())) + 1
    clean, noisy, cams, isos = flow_only._batch(_batch(flow_only.train_set))
    levels = torch.round(clean * 255), torch.round(noisy * 255)
    z, log_p, fake = flow_only.objective(clean, *levels, cams, isos, torch.ones(4, dtype=torch.bool), False)
    assert z.shape == clean.shape and log_p.shape == (4,) and fake is None


def test_compiled_training_steps_equal_eager_ones(tmp_path):
    """train.compile with the eager backend (graph capture, no code generation): the same numbers, step for step."""
    eager = Trainer(tiny_config(tmp_path, critic_steps=2, nll_every_step="true"), PatchList(), None, tmp_path / "a")
    compiled = Trainer(tiny_config(tmp_path, critic_steps=2, nll_every_step="true", compile="true",
                                   compile_backend="eager"), PatchList(), None, tmp_path / "b")  # fmt: skip
    batch = _batch(PatchList())
    for step in range(3):  # critic + NLL, critic + generator (U-Net), critic + NLL
        torch.manual_seed(step)
        expected = eager.train_step(batch)
        torch.manual_seed(step)
        assert compiled.train_step(batch) == expected
    assert compiled._generator is not compiled.objective  # it really was compiled
    for (k, a), b in zip(eager.model.state_dict().items(), compiled.model.state_dict().values()):
        assert torch.equal(a, b), k

"""Methods of the fidelity benchmark: fitted baselines, the real-noise reference, trained models, their errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from block_factory import make_block

from nmflowgan_aug import NMFlowGAN, NMFlowGANConfig
from nmflowgan_aug.evaluation.fidelity import NotAvailable
from nmflowgan_aug.evaluation.fidelity_methods import (
    BASELINES,
    build_methods,
    check_baseline_names,
    model_method,
    parse_model_specs,
)

pytestmark = pytest.mark.usefixtures("one_thread")


def _pairs():
    rng = np.random.default_rng(0)
    out = []
    for iso, sigma in ((1600, 0.01), (3200, 0.02)):
        clean = rng.uniform(0.1, 0.9, (64, 64, 3))
        out.append((clean, np.clip(clean + rng.normal(0, sigma, clean.shape), 0, 1), "GP", iso))
    return out


def test_model_specs_and_baseline_names():
    assert parse_model_specs(["a=runs/x", " b =y=z"]) == [("a", "runs/x"), ("b", "y=z")]
    for specs, match in ((["nofolder"], "NAME=DIR"), (["=x"], "NAME=DIR"), (["a=x", "a=y"], "'a' is already used"),
                         (["gaussian=x"], "'gaussian' is already used")):
        with pytest.raises(ValueError, match=match):
            parse_model_specs(specs)
    check_baseline_names(list(BASELINES))
    with pytest.raises(ValueError, match=r"unknown method\(s\) \['poisson'\]; known methods: \['gaussian'"):
        check_baseline_names(["gaussian", "poisson"])


def test_build_methods_fits_in_table_order_and_never_donates_a_block_to_itself():
    blocks = [make_block("b1", "GP", 800, 5, 0, scene="s"), make_block("b2", "GP", 800, 5, 1, scene="s"),
              make_block("b3", "IP", 100, 5, 2)]
    methods = build_methods(["real_noise", "gaussian"], _pairs(), blocks, [], torch.device("cpu"), None, progress=False)
    assert [(m.name, m.kind) for m in methods] == [("gaussian", "baseline"), ("real_noise", "reference")]
    gaussian, reference = methods
    assert gaussian.params["law"]["train_isos"] == {"GP": [1600, 3200]}
    assert gaussian.support(blocks[0]) == "extrapolated"
    assert gaussian.support(blocks[2]) == "camera not in training data"
    fake, note = gaussian.sample(blocks[0], torch.Generator().manual_seed(0))
    assert fake.shape == blocks[0].clean.shape and note is None
    assert float((fake - blocks[0].clean).std()) == pytest.approx(0.005, rel=0.15)  # σ ∝ ISO: 0.01 at 1600
    with pytest.raises(NotAvailable, match="'IP' has no training pairs"):
        gaussian.sample(blocks[2], torch.Generator())
    fake, note = reference.sample(blocks[0], torch.Generator().manual_seed(0))
    assert note == "donor b2 (same scene instance)"
    assert torch.allclose(fake, (blocks[0].clean + blocks[1].noisy - blocks[1].clean).clamp(0, 1), atol=1e-6)
    with pytest.raises(NotAvailable, match="no other pair at IP/100"):
        reference.sample(blocks[2], torch.Generator())


def test_model_method(tmp_path):
    folder = NMFlowGAN(NMFlowGANConfig(unet_depth=1, unet_width=4)).save_pretrained(tmp_path / "m")  # official vocab
    method = model_method("m", str(folder), torch.device("cpu"))
    assert method.kind == "model" and method.params["vocabulary"]["isos"] == [100, 400, 800, 1600, 3200]
    fake, _ = method.sample(make_block("b", "GP", 800, 5, 0), torch.Generator().manual_seed(0))
    assert fake.shape == (1, 3, 96, 96) and 0 <= float(fake.min()) and float(fake.max()) <= 1
    with pytest.raises(NotAvailable, match="unsupported ISO 6400"):
        method.sample(make_block("b", "GP", 6400, 5, 0), torch.Generator())
    with pytest.raises(FileNotFoundError, match="model x="):
        model_method("x", str(tmp_path / "missing"), torch.device("cpu"))

"""add_camera and camera_slots: the new camera's columns and rows, and nothing else, change with it."""

from __future__ import annotations

import pytest
import torch
from adaptation_helpers import VARIANTS, tiny_model

from nmflowgan_aug import NMFlowGAN, NMFlowGANConfig
from nmflowgan_aug.adaptation import add_camera, camera_slots

CLEAN = torch.rand(2, 3, 24, 24, generator=torch.Generator().manual_seed(3))


def _sample(model, camera, iso=1600):
    return model.sample(CLEAN, camera, iso, generator=torch.Generator().manual_seed(1))


def _log_prob(model, camera, noisy, iso=1600):
    return model.log_prob(noisy, CLEAN, camera, iso, generator=torch.Generator().manual_seed(2))


@pytest.mark.parametrize("variant", VARIANTS)
def test_old_cameras_keep_their_noise_bit_for_bit_and_a_copy_has_its_source_noise(variant):
    base = tiny_model(variant)
    before = {k: v.clone() for k, v in base.state_dict().items()}
    rng = torch.get_rng_state()
    grown = add_camera(base, "NEW", ["S6"])
    assert torch.equal(torch.get_rng_state(), rng)  # building the model does not advance the global RNG
    assert all(torch.equal(before[k], v) for k, v in base.state_dict().items())  # the base model is not changed
    assert grown.vocabulary.cameras == (*base.vocabulary.cameras, "NEW") and grown.config.cameras[-1] == "NEW"
    assert not grown.training and grown.metadata == {}
    for camera in (*base.vocabulary.cameras, "NEW"):
        for iso in (100, 1000, 6400):
            source = "S6" if camera == "NEW" else camera
            noisy = _sample(base, source, iso)
            assert torch.equal(_sample(grown, camera, iso), noisy), (camera, iso)
            assert torch.equal(_log_prob(grown, camera, noisy, iso), _log_prob(base, source, noisy, iso)), (camera, iso)


def test_mean_start_is_the_mean_of_the_cameras_rows_and_columns():
    base = tiny_model("log_camera_spatial")  # condition vector [onehot(5) ‖ t·onehot(5)] → [onehot(6) ‖ t·onehot(6)]
    grown = add_camera(base, "NEW", base.vocabulary.cameras)
    old_table, new_table = base.flow.bijectors[3].log_scale, grown.flow.bijectors[3].log_scale  # (10, 3) → (12, 3)
    assert new_table.shape == (12, 3)
    torch.testing.assert_close(new_table[5], old_table[0:5].mean(0))  # offset row of NEW
    torch.testing.assert_close(new_table[11], old_table[5:10].mean(0))  # ISO-slope row of NEW
    assert torch.equal(new_table[0:5], old_table[0:5]) and torch.equal(new_table[6:11], old_table[5:10])
    old_in, new_in = (m.flow.bijectors[1].meta_encoder.initial_layer.weight for m in (base, grown))
    assert new_in.shape == (5, 12)
    torch.testing.assert_close(new_in[:, 11], old_in[:, 5:10].mean(1))
    assert torch.equal(new_in[:, 6:11], old_in[:, 5:10])


def test_log_model_gets_one_offset_entry_and_keeps_the_shared_iso_slope():
    base = tiny_model("log_unet")  # condition vector [t ‖ onehot(5)]: the meta encoders skip t
    grown = add_camera(base, "NEW", ["IP", "GP"])
    old_sal, new_sal = (m.flow.bijectors[1].meta_encoder for m in (base, grown))
    old_cl2, new_cl2 = (m.flow.bijectors[3] for m in (base, grown))
    assert new_cl2.bias.shape == (7, 3) and new_sal.initial_layer.weight.shape == (5, 6)
    torch.testing.assert_close(new_cl2.bias[6], old_cl2.bias[1:3].mean(0))
    assert torch.equal(new_cl2.bias[0], old_cl2.bias[0])  # the shared t row
    assert torch.equal(new_sal.iso_slope.weight, old_sal.iso_slope.weight)
    torch.testing.assert_close(new_sal.initial_layer.weight[:, 5], old_sal.initial_layer.weight[:, 0:2].mean(1))


@pytest.mark.parametrize("variant, expected", [
    ("log_unet", {"bijectors.1.meta_encoder.initial_layer.weight": (1, (5,)), "bijectors.3.log_scale": (0, (6,)),
                  "bijectors.3.bias": (0, (6,)), "bijectors.4.meta_encoder.initial_layer.weight": (1, (5,)),
                  "bijectors.6.log_scale": (0, (6,)), "bijectors.6.bias": (0, (6,))}),
    ("log_camera_spatial", {"bijectors.1.meta_encoder.initial_layer.weight": (1, (5, 11)),
                            "bijectors.3.log_scale": (0, (5, 11)), "bijectors.3.bias": (0, (5, 11)),
                            "bijectors.4.meta_encoder.initial_layer.weight": (1, (5, 11)),
                            "bijectors.6.log_scale": (0, (5, 11)), "bijectors.6.bias": (0, (5, 11))}),
])  # fmt: skip
def test_camera_slots_are_the_sal_columns_and_cl2_rows_of_the_camera(variant, expected):
    grown = add_camera(tiny_model(variant), "NEW", ["GP"])
    slots = camera_slots(grown, "NEW")
    assert {s.name: (s.dim, s.index) for s in slots} == expected  # SDL meta encoders (bijectors 2, 5) left out


def test_changing_a_cameras_slots_changes_its_noise_and_no_other():
    model = add_camera(tiny_model("log_camera_spatial"), "NEW", ["GP"])
    noisy = {c: _sample(model, c) for c in model.vocabulary.cameras}
    log_p = {c: _log_prob(model, c, noisy[c]) for c in model.vocabulary.cameras}
    params = dict(model.flow.named_parameters())
    with torch.no_grad():
        for slot in camera_slots(model, "GP"):
            param, index = params[slot.name], torch.tensor(slot.index)
            param.index_add_(slot.dim, index, torch.full_like(param.index_select(slot.dim, index), 0.2))
    for camera in model.vocabulary.cameras:
        changed = not torch.equal(_log_prob(model, camera, noisy[camera]), log_p[camera])
        assert changed == (camera == "GP"), camera


def test_one_hot_models_are_refused_with_the_reason():
    official = NMFlowGAN(NMFlowGANConfig(unet_depth=1, unet_width=4))
    with pytest.raises(ValueError, match=r"'onehot' ISO encoding: its CL2 tables have one row per \(camera, ISO\).*"
                                         r"log-ISO encoding \['log', 'log_camera'\]"):
        add_camera(official, "NEW", ["GP"])
    with pytest.raises(ValueError, match="'onehot' ISO encoding"):
        camera_slots(official, "GP")


@pytest.mark.parametrize("name, init_from, message", [
    ("GP", ["IP"], r"camera 'GP' is already in the vocabulary \['IP', 'GP', 'S6', 'N6', 'G4'\]"),
    ("", ["IP"], "a camera name must be a non-empty string"),
    (" NEW", ["IP"], "without surrounding spaces"),
    ("NEW", [], "init_from must be a non-empty sequence of camera names"),
    ("NEW", "IP", "init_from must be a non-empty sequence of camera names"),
    ("NEW", ["IP", "D800"], r"unknown camera 'D800'; supported cameras: \['IP', 'GP', 'S6', 'N6', 'G4'\]"),
])  # fmt: skip
def test_bad_names_are_refused(name, init_from, message):
    with pytest.raises(ValueError, match=message):
        add_camera(tiny_model("log_unet"), name, init_from)

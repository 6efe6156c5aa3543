"""adapt_camera: a new camera fine-tuned on a few pairs changes only its own entries and fits them better."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from adaptation_helpers import MemoryPair, synthetic_pairs, tiny_model

from nmflowgan_aug import NMFlowGAN, NMFlowGANConfig, list_pretrained
from nmflowgan_aug.adaptation import AdaptationSettings, adapt_camera, add_camera, camera_slots
from nmflowgan_aug.adaptation.unseen_cameras import polyu_pairs

FAST = AdaptationSettings(steps=6, patch_size=16, batch_size=4, eval_patches=6)
CLEAN = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(5))


def _changed_entries(start: NMFlowGAN, adapted: NMFlowGAN) -> dict[str, torch.Tensor]:
    """Per state-dict key, the mask of entries that differ (keys without any difference left out)."""
    a, b = start.state_dict(), adapted.state_dict()
    return {k: a[k] != b[k] for k in a if not torch.equal(a[k], b[k])}


def _slot_masks(model: NMFlowGAN, camera: str) -> dict[str, torch.Tensor]:
    masks = {}
    for slot in camera_slots(model, camera):
        mask = torch.zeros_like(dict(model.flow.named_parameters())[slot.name], dtype=torch.bool)
        mask.index_fill_(slot.dim, torch.tensor(slot.index), True)
        masks[f"flow.{slot.name}"] = mask
    return masks


def _same_noise(a: NMFlowGAN, b: NMFlowGAN, camera: str) -> bool:
    return torch.equal(*(m.sample(CLEAN, camera, 1600, generator=torch.Generator().manual_seed(0)) for m in (a, b)))


@pytest.mark.skipif("sidd" not in list_pretrained(), reason="shipped 'sidd' weights not installed")
def test_two_polyu_pairs_adapt_the_shipped_model(polyu):
    """The CI-sized run on real data: two PolyU pairs of a camera SIDD does not have, small patches, a few steps."""
    pairs = [p for p in polyu_pairs(polyu) if p.camera == "Canon600D"][:2]
    base = NMFlowGAN.from_pretrained("sidd")
    settings = AdaptationSettings(steps=12, patch_size=32, batch_size=4, eval_patches=8)
    result = adapt_camera(base, pairs, "Canon600D", settings, progress=False)
    adapted = result.model
    assert adapted.vocabulary.cameras == (*base.vocabulary.cameras, "Canon600D")
    assert result.pairs == tuple((p.name, 1600) for p in pairs) and result.nll_patches == 8
    # started from the SIDD camera that explains the pairs best: its NLL is the new camera's NLL before fine-tuning
    assert result.init_cameras == (min(result.camera_nll, key=result.camera_nll.get),)
    assert result.nll_before == pytest.approx(result.camera_nll[result.init_cameras[0]], rel=1e-6)
    assert result.nll_after < result.nll_before - 0.05
    # only the new camera's own entries changed: SAL meta-encoder columns and CL2 rows
    changed = _changed_entries(add_camera(base, "Canon600D", result.init_cameras), adapted)
    masks = _slot_masks(adapted, "Canon600D")
    assert set(changed) == set(masks)
    for key, diff in changed.items():
        assert not (diff & ~masks[key]).any(), key
    for camera in base.vocabulary.cameras:  # the other cameras keep their noise bit for bit
        assert _same_noise(base, adapted, camera), camera
    assert not _same_noise(adapted, add_camera(base, "Canon600D", result.init_cameras), "Canon600D")


@pytest.mark.parametrize("variant", ["log_unet", "log_camera_spatial"])
def test_synthetic_pairs_fit_better_and_only_the_camera_entries_change(variant):
    base = tiny_model(variant)
    result = adapt_camera(base, synthetic_pairs(), "NEW", replace(FAST, steps=20), progress=False)
    assert result.nll_after < result.nll_before
    changed = _changed_entries(add_camera(base, "NEW", result.init_cameras), result.model)
    masks = _slot_masks(result.model, "NEW")
    assert changed and set(changed) <= set(masks)
    assert all(not (diff & ~masks[key]).any() for key, diff in changed.items())
    assert all(_same_noise(base, result.model, c) for c in base.vocabulary.cameras)


def test_train_spatial_also_trains_the_shared_kernel_and_says_so():
    base = tiny_model("log_camera_spatial")
    result = adapt_camera(base, synthetic_pairs(), "NEW", replace(FAST, train_spatial=True), progress=False)
    changed = _changed_entries(add_camera(base, "NEW", result.init_cameras), result.model)
    assert "flow.bijectors.7.weight" in changed and changed["flow.bijectors.7.weight"].all()
    assert result.trained[-1] == "flow.bijectors.7.weight (all 81 values)"
    assert not _same_noise(base, result.model, "GP")  # the kernel is shared: every camera's noise changes


def test_start_choices_and_reproducibility():
    base = tiny_model("log_unet")
    pairs = synthetic_pairs()
    mean = adapt_camera(base, pairs, "NEW", replace(FAST, init_from="mean"), progress=False)
    named = adapt_camera(base, pairs, "NEW", replace(FAST, init_from="G4"), progress=False)
    assert mean.init_cameras == base.vocabulary.cameras and named.init_cameras == ("G4",)
    assert named.nll_before == pytest.approx(named.camera_nll["G4"], rel=1e-6)
    again = adapt_camera(base, pairs, "NEW", replace(FAST, init_from="G4"), progress=False)
    assert all(torch.equal(a, b) for a, b in zip(named.model.state_dict().values(), again.model.state_dict().values()))
    assert named.trained == (
        "flow.bijectors.1.meta_encoder.initial_layer.weight columns [5] (5 values)",
        "flow.bijectors.3.log_scale rows [6] (3 values)", "flow.bijectors.3.bias rows [6] (3 values)",
        "flow.bijectors.4.meta_encoder.initial_layer.weight columns [5] (5 values)",
        "flow.bijectors.6.log_scale rows [6] (3 values)", "flow.bijectors.6.bias rows [6] (3 values)",
    )  # fmt: skip


class UnreadablePair(MemoryPair):
    """A pair whose pixels must not be read: the metadata checks come first."""

    def load(self):
        raise AssertionError(f"pixels of {self.name} read before the metadata was checked")


def _pair(camera="NEW", iso=800):
    return UnreadablePair("p0", camera, iso, None, None)


@pytest.mark.parametrize("variant, camera, pairs, settings, message", [
    ("log_unet", "NEW", [_pair(camera="GP")], FAST,
     "pair 'p0' has camera 'GP', but the camera being added is 'NEW'; every pair must be of that camera"),
    ("log_unet", "NEW", [_pair(iso=None)], FAST, "pair 'p0' has no ISO"),
    ("log_unet", "NEW", [_pair(iso=12800)], FAST,
     r"pair 'p0': unsupported ISO 12800: .* accepts any whole ISO in its trained range \[50, 10000\]"),
    ("log_unet", "NEW", [], FAST, "no adaptation pairs given"),
    ("log_unet", "GP", [_pair(camera="GP")], FAST, "camera 'GP' is already in the vocabulary"),
    ("log_unet", "NEW", [_pair()], replace(FAST, init_from="D800"),
     r"init_from must be one of \['closest', 'mean'\] or an existing camera \['IP', 'GP', .*\], got 'D800'"),
    ("log_unet", "NEW", [_pair()], replace(FAST, train_spatial=True),
     "train_spatial needs a model with a spatial-correlation layer .*spatial_kernel=0"),
])  # fmt: skip
def test_bad_input_is_refused_before_any_pixel_is_read(variant, camera, pairs, settings, message):
    with pytest.raises(ValueError, match=message):
        adapt_camera(tiny_model(variant), pairs, camera, settings, progress=False)


def test_one_hot_models_and_small_pairs_are_refused():
    official = NMFlowGAN(NMFlowGANConfig(unet_depth=1, unet_width=4))
    with pytest.raises(ValueError, match="'onehot' ISO encoding"):
        adapt_camera(official, [_pair(iso=800)], "NEW", FAST, progress=False)
    with pytest.raises(ValueError, match="pair 'p0' is 48×48 pixels, smaller than the patch size 64"):
        adapt_camera(tiny_model("log_unet"), synthetic_pairs(), "NEW", replace(FAST, patch_size=64), progress=False)


@pytest.mark.parametrize("field, value, message", [
    ("steps", 0, "steps must be an int >= 1, got 0"),
    ("patch_size", 8, "patch_size must be an int >= 16, got 8"),
    ("batch_size", 2.0, "batch_size must be an int >= 1, got 2.0"),
    ("eval_patches", True, "eval_patches must be an int >= 1, got True"),
    ("lr", float("nan"), "lr must be a finite number > 0, got nan"),
    ("lr", 0, "lr must be a finite number > 0, got 0"),
    ("init_from", "", "init_from must be 'closest' or 'mean' or a camera name, got ''"),
    ("train_spatial", 1, "train_spatial must be True or False, got 1"),
    ("seed", -1, "seed must be an int >= 0, got -1"),
])  # fmt: skip
def test_settings_are_validated(field, value, message):
    with pytest.raises(ValueError, match=message):
        AdaptationSettings(**{field: value})


def test_adaptation_runs_on_the_models_device(device):
    base = tiny_model("log_camera_spatial").to(device)
    result = adapt_camera(base, synthetic_pairs(), "NEW", replace(FAST, steps=10), progress=False)
    assert next(result.model.parameters()).device.type == device.type and result.nll_after < result.nll_before
    clean = CLEAN.to(device)
    for camera in ("IP", "G4"):
        a, b = (m.sample(clean, camera, 1600, generator=torch.Generator(device).manual_seed(0))
                for m in (base, result.model))
        assert torch.equal(a, b), camera

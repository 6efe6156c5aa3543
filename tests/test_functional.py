"""add_camera_noise: images and camera/ISO validated once, missing camera/ISO drawn once, exact replay."""

from __future__ import annotations

import math

import pytest
import torch

import nmflowgan_aug.functional as functional
import nmflowgan_aug.model.nmflowgan as nmflowgan_module
from nmflowgan_aug import (
    SIDD_VOCABULARY,
    ConditionSampler,
    ConditionVocabulary,
    NMFlowGAN,
    NMFlowGANConfig,
    add_camera_noise,
    list_pretrained,
)
from nmflowgan_aug.pretrained import _loading, registry

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny tensors: see tests/conftest.py


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> NMFlowGAN:
    torch.manual_seed(0)
    config = NMFlowGANConfig(
        cameras=SIDD_VOCABULARY.cameras, isos=SIDD_VOCABULARY.isos, iso_encoding="log",
        flow_features=4, unet_depth=2, unet_width=4,
    )
    folder = NMFlowGAN(config).save_pretrained(tmp_path_factory.mktemp("tiny"))
    return NMFlowGAN.from_pretrained(folder).requires_grad_(False)


@pytest.fixture(scope="module")
def flow_only_model() -> NMFlowGAN:
    """No U-Net, a spatial-correlation layer: the shipped model's kind."""
    torch.manual_seed(0)
    config = NMFlowGANConfig(cameras=SIDD_VOCABULARY.cameras, isos=SIDD_VOCABULARY.isos, iso_encoding="log_camera",
                             flow_features=4, unet_depth=0, spatial_kernel=3, noise_domain="linear")
    return NMFlowGAN(config).eval().requires_grad_(False)


def _gen(seed: int = 0, device="cpu") -> torch.Generator:
    return torch.Generator(device=device).manual_seed(seed)


def test_batch_keeps_shape_dtype_device_and_adds_noise(model, device):
    model.to(device)
    try:
        clean = torch.rand(3, 3, 24, 20, device=device, dtype=torch.float64)
        noisy, cams, isos, _ = add_camera_noise(clean, model=model, generator=_gen(0, device))
    finally:
        model.to("cpu")
    assert noisy.shape == clean.shape and noisy.dtype == clean.dtype and noisy.device == clean.device
    assert cams.shape == isos.shape == (3,) and cams.dtype == isos.dtype == torch.long
    assert all(int(i) in SIDD_VOCABULARY.isos for i in isos)
    assert 0 <= float(noisy.min()) and float(noisy.max()) <= 1 and not torch.equal(noisy, clean)
    assert not noisy.is_inference()  # usable in autograd afterwards


def test_single_image_and_uint8(model):
    clean = (torch.rand(3, 16, 16) * 255).round().to(torch.uint8)
    noisy, cam, iso, _ = add_camera_noise(clean, "GP", 800, model=model, generator=_gen())
    assert noisy.dtype == torch.uint8 and noisy.shape == clean.shape
    assert cam.ndim == 0 and int(cam) == 1 and int(iso) == 800
    as_float, _, _, _ = add_camera_noise(clean.float() / 255, "GP", 800, model=model, generator=_gen())
    assert torch.equal(noisy, torch.round(as_float * 255).to(torch.uint8))  # float noise, then 8-bit rounding


def test_replay_with_returned_conditions(model):
    clean = torch.rand(4, 3, 16, 16)
    noisy, cams, isos, _ = add_camera_noise(clean, model=model, generator=_gen(7))
    again, cams2, isos2, _ = add_camera_noise(clean, cams, isos, model=model, generator=_gen(7))
    assert torch.equal(noisy, again) and torch.equal(cams, cams2) and torch.equal(isos, isos2)
    other, _, _, _ = add_camera_noise(clean, cams, isos, model=model, generator=_gen(8))
    assert not torch.equal(noisy, other)


def test_per_sample_names_codes_and_tensors_agree(model):
    clean = torch.rand(2, 3, 16, 16)
    by_name, _, _, _ = add_camera_noise(clean, ["GP", "N6"], [100, 3200], model=model, generator=_gen())
    codes, values = torch.tensor([1, 3]), torch.tensor([100, 3200])
    by_code, cams, isos, _ = add_camera_noise(clean, codes, values, model=model, generator=_gen())
    assert torch.equal(by_name, by_code) and cams.tolist() == [1, 3] and isos.tolist() == [100, 3200]


def test_model_given_as_folder(model, tmp_path):
    folder = model.save_pretrained(tmp_path / "m")
    clean = torch.rand(1, 3, 16, 16)
    a, _, _, _ = add_camera_noise(clean, "IP", 400, model=folder, generator=_gen())
    b, _, _, _ = add_camera_noise(clean, "IP", 400, model=model, generator=_gen())
    assert torch.equal(a, b)


@pytest.mark.parametrize(
    ("images", "kwargs", "error", "match"),
    [
        (torch.rand(1, 1, 8, 8), {}, ValueError, "3 \\(RGB\\) channels"),  # grayscale
        (torch.rand(1, 4, 8, 8), {}, ValueError, "3 \\(RGB\\) channels"),  # RGBA
        (torch.rand(8, 8), {}, ValueError, "shape"),
        (torch.randint(0, 255, (1, 3, 8, 8), dtype=torch.int32), {}, TypeError, "uint8"),
        (torch.rand(1, 3, 8, 8) * 2, {}, ValueError, "\\[0, 1\\]"),
        (torch.full((1, 3, 8, 8), math.nan), {}, ValueError, "NaN"),
        (torch.rand(1, 3, 8, 8), {"camera": "D800"}, ValueError, "unknown camera"),
        (torch.rand(1, 3, 8, 8), {"iso": 12800}, ValueError, "unsupported ISO"),
        (torch.rand(2, 3, 8, 8), {"camera": ["GP"]}, ValueError, "1 camera values for a batch of 2"),
        (torch.rand(2, 3, 8, 8), {"iso": torch.tensor([100, 200, 400])}, ValueError, "3 iso values"),
    ],
)
def test_bad_inputs(model, images, kwargs, error, match):
    with pytest.raises(error, match=match):
        add_camera_noise(images, model=model, **kwargs)


def test_not_a_tensor(model):
    with pytest.raises(TypeError, match="torch.Tensor"):
        add_camera_noise([[0.5]], model=model)


def test_model_on_other_device(model, device):
    if device.type == "cpu":
        pytest.skip("needs a second device")
    with pytest.raises(ValueError, match="model.to"):
        add_camera_noise(torch.rand(1, 3, 8, 8, device=device), model=model)


def test_given_conditions_draw_nothing_and_the_generator_drives_only_the_noise(model):
    """Camera and ISO given: the global RNG is untouched and the output is the model's sample.

    The sample is the one with the same generator (no uniforms drawn and discarded before the noise).
    """
    clean = torch.rand(2, 3, 16, 16)
    state = torch.get_rng_state()
    noisy, _, _, _ = add_camera_noise(clean, ["GP", "N6"], 800, model=model, generator=_gen(5), quantize=False)
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(noisy, model.sample(clean, ["GP", "N6"], 800, generator=_gen(5)))


def test_missing_conditions_are_drawn_once_from_the_global_rng(model):
    clean = torch.rand(3, 3, 16, 16)
    torch.manual_seed(11)
    noisy, cams, isos, _ = add_camera_noise(clean, model=model, generator=_gen(2))
    torch.manual_seed(11)
    expected = ConditionSampler().sample(model.vocabulary, 3)
    assert torch.equal(cams, expected.camera_codes) and torch.equal(isos, expected.iso_values)
    torch.manual_seed(11)
    again, _, _, _ = add_camera_noise(clean, model=model, generator=_gen(2))
    assert torch.equal(noisy, again)
    torch.manual_seed(12)
    _, cams2, _, _ = add_camera_noise(clean, iso=3200, model=model, generator=_gen(2))  # camera drawn, ISO given
    torch.manual_seed(12)
    assert torch.equal(cams2, ConditionSampler().sample(model.vocabulary, 3).camera_codes)


def test_images_and_conditions_are_validated_once(model, monkeypatch):
    calls = {"images": 0, "conditions": 0}

    def counting(function, key):
        def wrapped(*args, **kwargs):
            calls[key] += 1
            return function(*args, **kwargs)

        return wrapped

    monkeypatch.setattr(functional, "check_srgb_batch", counting(functional.check_srgb_batch, "images"))
    monkeypatch.setattr(nmflowgan_module, "check_srgb_batch", counting(nmflowgan_module.check_srgb_batch, "images"))
    monkeypatch.setattr(ConditionVocabulary, "conditions", counting(ConditionVocabulary.conditions, "conditions"))
    add_camera_noise(torch.rand(2, 3, 8, 8), ["GP", "S6"], torch.tensor([100, 800]), model=model)
    assert calls == {"images": 1, "conditions": 1}


def test_sampler_is_used_by_add_camera_noise(model):
    sampler = ConditionSampler(cameras=("N6",), isos=(6400,))
    _, cams, isos, _ = add_camera_noise(torch.rand(3, 3, 8, 8), model=model, camera_iso_sampler=sampler)
    assert cams.tolist() == [3, 3, 3] and isos.tolist() == [6400] * 3


def test_first_call_after_seeding_equals_later_calls(model, tmp_path, monkeypatch):
    """Issue 9 item 7: loading the model inside the first call must not shift the global RNG.

    So the first drawn camera/ISO after torch.manual_seed equal those of a call with the model already
    loaded.
    """
    folder = model.save_pretrained(tmp_path / "m")
    monkeypatch.setattr(_loading, "_MODEL_CACHE", {})
    clean = torch.rand(3, 3, 8, 8)
    torch.manual_seed(21)
    first = add_camera_noise(clean, model=folder, generator=_gen(1))  # loads the model
    torch.manual_seed(21)
    later = add_camera_noise(clean, model=folder, generator=_gen(1))  # cached
    assert torch.equal(first.camera, later.camera) and torch.equal(first.iso, later.iso)
    assert torch.equal(first.noisy, later.noisy)


# ------------------------------------------------------------------------------ default model
def test_default_model_missing_gives_a_hint(monkeypatch):
    monkeypatch.setattr(registry, "REGISTRY", {})  # an installation without shipped weights
    monkeypatch.setattr(_loading, "_MODEL_CACHE", {})
    with pytest.raises(FileNotFoundError, match="save_pretrained"):
        add_camera_noise(torch.rand(1, 3, 8, 8))


def test_default_shipped_model():
    if "sidd" not in list_pretrained():
        pytest.skip("shipped 'sidd' weights are not registered yet (list_pretrained() has no 'sidd')")
    clean = torch.rand(1, 3, 32, 32)
    noisy, cams, isos, _ = add_camera_noise(clean, "GP", 800, generator=_gen())
    again, _, _, _ = add_camera_noise(clean, "GP", 800, generator=_gen())
    assert noisy.shape == clean.shape and cams.tolist() == [1] and isos.tolist() == [800]
    assert not torch.equal(noisy, clean) and torch.equal(noisy, again)


# ------------------------------------------------------------------------------ strength, quantize, clip
@pytest.mark.parametrize("kind", ["model", "flow_only_model"])
def test_strength_scales_the_noise_and_replays(kind, request):
    """Issue 12 item 3: noisy = clean + strength · noise before the clip; replay with the returned strength.

    A model without a U-Net once ignored the strength: both kinds are checked.
    """
    model = request.getfixturevalue(kind)
    clean = torch.full((3, 3, 16, 16), 0.5)
    full, *_ = add_camera_noise(clean, "GP", 800, model=model, generator=_gen(3), quantize=False)
    scaled, _, _, used = add_camera_noise(
        clean, "GP", 800, strength=[1.0, 0.5, 0.0], model=model, generator=_gen(3), quantize=False
    )
    assert used.dtype == torch.float32 and used.tolist() == [1.0, 0.5, 0.0]
    torch.testing.assert_close(scaled[0], full[0])
    inside = (full[1] > 0) & (full[1] < 1)  # the untrained model's noise is large: compare where it was not clipped
    assert inside.float().mean() > 0.3
    torch.testing.assert_close((scaled[1] - 0.5)[inside], ((full[1] - 0.5) * 0.5)[inside], rtol=0, atol=1e-6)
    assert torch.equal(scaled[2], clean[2])
    torch.manual_seed(0)
    drawn = add_camera_noise(clean, model=model, generator=_gen(4), camera_iso_sampler=ConditionSampler(strength=(0.2, 0.4)))
    assert ((drawn.strength >= 0.2) & (drawn.strength <= 0.4)).all() and len(set(drawn.strength.tolist())) == 3
    again = add_camera_noise(clean, drawn.camera, drawn.iso, strength=drawn.strength, model=model, generator=_gen(4))
    assert torch.equal(again.noisy, drawn.noisy)


def test_default_strength_draws_nothing(model):
    clean = torch.rand(2, 3, 8, 8)
    state = torch.get_rng_state()
    out = add_camera_noise(clean, "GP", 800, model=model, generator=_gen())
    assert torch.equal(torch.get_rng_state(), state) and out.strength.tolist() == [1.0, 1.0]


def test_quantize_is_the_default_and_can_be_turned_off(model):
    """Issue 10: real noisy sRGB images are 8-bit; float output is rounded to 8-bit levels by default."""
    clean = torch.rand(2, 3, 16, 16)
    rounded = add_camera_noise(clean, "GP", 800, model=model, generator=_gen(1)).noisy
    raw = add_camera_noise(clean, "GP", 800, model=model, generator=_gen(1), quantize=False).noisy
    assert torch.equal(rounded * 255, torch.round(rounded * 255)) and not torch.equal(raw * 255, torch.round(raw * 255))
    assert torch.equal(rounded, torch.round(raw * 255) / 255)


def test_clip_clamps_overshooting_input_first(model):
    """Issue 9 item 16: bicubic resizing overshoots [0, 1]; clip=True clamps it, the default refuses it."""
    clean = torch.rand(1, 3, 16, 16) * 1.04 - 0.02
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        add_camera_noise(clean, "GP", 800, model=model)
    clipped = add_camera_noise(clean, "GP", 800, model=model, generator=_gen(2), clip=True).noisy
    assert torch.equal(clipped, add_camera_noise(clean.clamp(0, 1), "GP", 800, model=model, generator=_gen(2)).noisy)
    with pytest.raises(ValueError, match="NaN"):
        add_camera_noise(torch.full((1, 3, 4, 4), math.nan), "GP", 800, model=model, clip=True)


def test_numpy_and_string_conditions(model):
    """Issue 9 item 11: numpy scalars/arrays and CSV strings work where the value is valid."""
    import numpy as np

    clean = torch.rand(2, 3, 8, 8)
    ref = add_camera_noise(clean, ["GP", "GP"], [800, 1600], model=model, generator=_gen())
    for camera, iso in ((np.int64(1), np.array([800, 1600])), (np.array(["GP", "GP"]), ["800", "1600"])):
        out = add_camera_noise(clean, camera, iso, model=model, generator=_gen())
        assert torch.equal(out.noisy, ref.noisy) and out.iso.tolist() == [800, 1600]


def test_any_iso_in_the_trained_range_for_a_log_iso_model(model):
    """Issue 12 item 2: ISO 1000 or 2500 sit between trained values; outside the range the error says it."""
    clean = torch.rand(1, 3, 8, 8)
    assert add_camera_noise(clean, "GP", 2500, model=model).iso.tolist() == [2500]
    with pytest.raises(ValueError, match=r"trained range \[50, 10000\]"):
        add_camera_noise(clean, "GP", 12800, model=model)

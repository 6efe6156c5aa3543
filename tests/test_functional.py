"""The functional core: add_camera_noise, ConditionSampler and the forked-worker CUDA guard."""

from __future__ import annotations

import math

import pytest
import torch

from nmflowgan_aug import SIDD_VOCABULARY, ConditionVocabulary, NMFlowGAN, NMFlowGANConfig, list_pretrained
from nmflowgan_aug.devices import forked_worker_cuda_error
from nmflowgan_aug.functional import ConditionSampler, add_camera_noise, load_model
from nmflowgan_aug.srgb import quantize_8bit

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny tensors: see tests/conftest.py


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> NMFlowGAN:
    torch.manual_seed(0)
    config = NMFlowGANConfig(
        cameras=SIDD_VOCABULARY.cameras, isos=SIDD_VOCABULARY.isos, iso_encoding="log",
        flow_features=4, unet_depth=2, unet_width=4,
    )
    folder = NMFlowGAN(config).save_pretrained(tmp_path_factory.mktemp("tiny"))
    return load_model(folder)


def _gen(seed: int = 0, device="cpu") -> torch.Generator:
    return torch.Generator(device=device).manual_seed(seed)


def test_batch_keeps_shape_dtype_device_and_adds_noise(model, device):
    model.to(device)
    try:
        clean = torch.rand(3, 3, 24, 20, device=device, dtype=torch.float64)
        noisy, cams, isos = add_camera_noise(clean, model=model, generator=_gen(0, device))
    finally:
        model.to("cpu")
    assert noisy.shape == clean.shape and noisy.dtype == clean.dtype and noisy.device == clean.device
    assert cams.shape == isos.shape == (3,) and cams.dtype == isos.dtype == torch.long
    assert all(int(i) in SIDD_VOCABULARY.isos for i in isos)
    assert 0 <= float(noisy.min()) and float(noisy.max()) <= 1 and not torch.equal(noisy, clean)
    assert not noisy.is_inference()  # usable in autograd afterwards


def test_single_image_and_uint8(model):
    clean = (torch.rand(3, 16, 16) * 255).round().to(torch.uint8)
    noisy, cam, iso = add_camera_noise(clean, "GP", 800, model=model, generator=_gen())
    assert noisy.dtype == torch.uint8 and noisy.shape == clean.shape
    assert cam.ndim == 0 and int(cam) == 1 and int(iso) == 800
    as_float, _, _ = add_camera_noise(clean.float() / 255, "GP", 800, model=model, generator=_gen())
    assert torch.equal(noisy, torch.round(as_float * 255).to(torch.uint8))  # float noise, then 8-bit rounding


def test_replay_with_returned_conditions(model):
    clean = torch.rand(4, 3, 16, 16)
    noisy, cams, isos = add_camera_noise(clean, model=model, generator=_gen(7))
    again, cams2, isos2 = add_camera_noise(clean, cams, isos, model=model, generator=_gen(7))
    assert torch.equal(noisy, again) and torch.equal(cams, cams2) and torch.equal(isos, isos2)
    other, _, _ = add_camera_noise(clean, cams, isos, model=model, generator=_gen(8))
    assert not torch.equal(noisy, other)


def test_per_sample_names_codes_and_tensors_agree(model):
    clean = torch.rand(2, 3, 16, 16)
    by_name, _, _ = add_camera_noise(clean, ["GP", "N6"], [100, 3200], model=model, generator=_gen())
    codes, values = torch.tensor([1, 3]), torch.tensor([100, 3200])
    by_code, cams, isos = add_camera_noise(clean, codes, values, model=model, generator=_gen())
    assert torch.equal(by_name, by_code) and cams.tolist() == [1, 3] and isos.tolist() == [100, 3200]


def test_model_given_as_folder(model, tmp_path):
    folder = model.save_pretrained(tmp_path / "m")
    clean = torch.rand(1, 3, 16, 16)
    a, _, _ = add_camera_noise(clean, "IP", 400, model=folder, generator=_gen())
    b, _, _ = add_camera_noise(clean, "IP", 400, model=model, generator=_gen())
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


def test_quantize_8bit():
    x = torch.tensor([0.0, 0.5, 1.0, 1.2, -0.1])
    assert torch.allclose(quantize_8bit(x) * 255, torch.tensor([0.0, 128.0, 255.0, 255.0, 0.0]))


# ------------------------------------------------------------------------------ ConditionSampler
def test_sampler_default_is_uniform_cameras_log_uniform_iso():
    vocab = ConditionVocabulary(("IP", "GP"), (100, 1000, 10000))
    cams, isos = ConditionSampler().sample(vocab, 20000, _gen(1))
    assert abs(float((cams == 0).double().mean()) - 0.5) < 0.02
    # log-uniform over [100, 10000], snapped to the nearest allowed ISO in log space: 1/4, 1/2, 1/4
    shares = [float((isos == v).double().mean()) for v in (100, 1000, 10000)]
    assert shares == pytest.approx([0.25, 0.5, 0.25], abs=0.02)


def test_sampler_restrictions_and_weights():
    sampler = ConditionSampler(cameras=("GP", "S6", "G4"), iso_range=(400, 1600), weights=(1, 0, 3))
    cams, isos = sampler.sample(SIDD_VOCABULARY, 4000, _gen(2))
    assert set(cams.tolist()) == {1, 4} and abs(float((cams == 4).double().mean()) - 0.75) < 0.03
    assert set(isos.tolist()) <= {400, 500, 640, 800, 1000, 1250, 1600}
    cams, isos = ConditionSampler(isos=(100, 3200)).sample(SIDD_VOCABULARY, 100, _gen(3))
    assert set(isos.tolist()) <= {100, 3200}


def test_sampler_is_reproducible_and_used_by_add_camera_noise(model):
    sampler = ConditionSampler(cameras=("N6",), isos=(6400,))
    _, cams, isos = add_camera_noise(torch.rand(3, 3, 8, 8), model=model, camera_iso_sampler=sampler)
    assert cams.tolist() == [3, 3, 3] and isos.tolist() == [6400] * 3
    a = ConditionSampler().sample(SIDD_VOCABULARY, 5, _gen(4))
    b = ConditionSampler().sample(SIDD_VOCABULARY, 5, _gen(4))
    assert all(torch.equal(x, y) for x, y in zip(a, b))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"weights": (1, -1)}, "non-negative"),
        ({"weights": (0, 0)}, "positive sum"),
        ({"iso_range": (800, 100)}, "lo <= hi"),
    ],
)
def test_sampler_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ConditionSampler(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"cameras": ("D800",)}, "unknown camera"),
        ({"isos": (12800,)}, "unsupported ISO"),
        ({"iso_range": (4000, 5000)}, "no allowed ISO"),
        ({"weights": (1, 2)}, "2 weights for 5 cameras"),
    ],
)
def test_sampler_not_matching_the_vocabulary(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ConditionSampler(**kwargs).sample(SIDD_VOCABULARY, 1)


# ------------------------------------------------------------------------------ worker guard, default model
@pytest.mark.parametrize("device_type", ["cpu", "cuda"])
@pytest.mark.parametrize("in_worker", [False, True])
@pytest.mark.parametrize("forked", [False, True])
@pytest.mark.parametrize("parent_cuda", [False, True])
def test_forked_worker_cuda_guard_logic(device_type, in_worker, forked, parent_cuda):
    message = forked_worker_cuda_error(device_type, in_worker, forked, parent_cuda)
    if device_type == "cuda" and in_worker and forked and parent_cuda:
        assert "after the DataLoader" in message and "multiprocessing_context='spawn'" in message
    else:
        assert message is None


def test_default_model_missing_gives_a_hint(monkeypatch):
    import nmflowgan_aug.functional as functional

    monkeypatch.setattr(functional, "list_pretrained", lambda: [])  # an installation without shipped weights
    monkeypatch.setattr(functional, "_MODEL_CACHE", {})
    with pytest.raises(FileNotFoundError, match="save_pretrained"):
        add_camera_noise(torch.rand(1, 3, 8, 8))


def test_default_shipped_model():
    if "sidd" not in list_pretrained():
        pytest.skip("shipped 'sidd' weights are not registered yet (list_pretrained() has no 'sidd')")
    clean = torch.rand(1, 3, 32, 32)
    noisy, cams, isos = add_camera_noise(clean, "GP", 800, generator=_gen())
    again, _, _ = add_camera_noise(clean, "GP", 800, generator=_gen())
    assert noisy.shape == clean.shape and cams.tolist() == [1] and isos.tolist() == [800]
    assert not torch.equal(noisy, clean) and torch.equal(noisy, again)

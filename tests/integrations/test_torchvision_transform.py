"""NMFlowGANNoise, the torchvision transforms.v2 wrapper: real torchvision, real DataLoader workers."""

from __future__ import annotations

import pickle

import numpy as np
import PIL.Image
import pytest
import torch
from torch.utils.data import DataLoader, Dataset
from torchvision import tv_tensors
from torchvision.transforms import v2

from nmflowgan_aug import NMFlowGAN, add_camera_noise
from nmflowgan_aug.devices import check_worker_device
from nmflowgan_aug.integrations.torchvision_transform import NMFlowGANNoise


class Recording(NMFlowGANNoise):
    """Records the params of the last call (to check what the transform decided)."""

    def transform(self, inpt, params):
        self.last_params = params
        return super().transform(inpt, params)


class NoisyDataset(Dataset):
    """Clean Image + camera/ISO per sample, noise added by the transform inside the DataLoader worker."""

    def __init__(self, transform, n: int = 4) -> None:
        self.transform, self.n = transform, n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int):
        clean = tv_tensors.Image(torch.full((3, 16, 16), 0.25 + 0.1 * i))
        sample = self.transform({"image": clean, "camera": "GP", "iso": 800, "index": i})
        return sample["image"].as_subclass(torch.Tensor), sample["lq"].as_subclass(torch.Tensor)


class GuardDataset(Dataset):
    """Runs the CUDA guard inside the worker; returns the error message or ''."""

    def __len__(self) -> int:
        return 2

    def __getitem__(self, i: int) -> str:
        try:
            check_worker_device("cuda")
        except RuntimeError as err:
            return str(err)
        return ""


@pytest.fixture(scope="module")
def noise(tiny_model_dir) -> NMFlowGANNoise:
    return NMFlowGANNoise(tiny_model_dir)


def test_in_compose_on_image(noise):
    pipeline = v2.Compose([v2.RandomHorizontalFlip(), v2.ToDtype(torch.float32, scale=True), noise])
    clean = tv_tensors.Image(torch.randint(0, 256, (3, 16, 16), dtype=torch.uint8))
    out = pipeline(clean)
    assert isinstance(out, tv_tensors.Image) and out.dtype == torch.float32 and out.shape == clean.shape
    assert 0 <= float(out.min()) and float(out.max()) <= 1


@pytest.mark.parametrize("shape", [(3, 16, 16), (2, 3, 16, 16)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.uint8])
@pytest.mark.parametrize("wrap", [False, True])
def test_plain_batched_uint8_float(noise, shape, dtype, wrap):
    clean = torch.randint(0, 256, shape, dtype=torch.uint8)
    clean = clean if dtype == torch.uint8 else clean.float() / 255
    clean = tv_tensors.Image(clean) if wrap else clean
    out = noise(clean)
    assert type(out) is type(clean) and out.dtype == dtype and out.shape == clean.shape
    assert not torch.equal(out, clean)


def test_boxes_masks_labels_untouched(noise):
    sample = {
        "image": tv_tensors.Image(torch.rand(3, 16, 16)),
        "boxes": tv_tensors.BoundingBoxes([[1, 2, 8, 9]], format="XYXY", canvas_size=(16, 16)),
        "masks": tv_tensors.Mask(torch.ones(1, 16, 16, dtype=torch.uint8)),
        "labels": torch.tensor([3]),
    }
    out = noise(sample)
    for key in ("boxes", "masks", "labels"):
        assert out[key] is sample[key]
    assert not torch.equal(out["image"], sample["image"])


def test_conditions_from_sample_drive_the_noise(tiny_model_dir):
    t = Recording(tiny_model_dir)
    clean = tv_tensors.Image(torch.rand(3, 16, 16))
    out = t({"image": clean, "Camera": "S6", "ISO": 1600})  # keys matched case-insensitively
    params = t.last_params
    assert (params["camera"], params["iso"]) == ("S6", 1600)
    generator = torch.Generator().manual_seed(params["seed"])
    expected, _, _, _ = add_camera_noise(clean.as_subclass(torch.Tensor), "S6", 1600, model=t.model, generator=generator)
    assert params["strength"].tolist() == [1.0]
    assert torch.equal(out["image"].as_subclass(torch.Tensor), expected)
    t((clean, {"camera": "IP", "iso": 100}))  # (image, dict) tuple
    assert (t.last_params["camera"], t.last_params["iso"]) == ("IP", 100)


def test_condition_getter_callable_and_none(tiny_model_dir):
    t = Recording(tiny_model_dir, condition_getter=None)
    t({"image": tv_tensors.Image(torch.rand(3, 8, 8)), "camera": "S6", "iso": 1600})
    assert isinstance(t.last_params["camera"], torch.Tensor)  # drawn, the sample's camera/ISO ignored
    t = Recording(tiny_model_dir, condition_getter=lambda s: ("N6", None))
    image = tv_tensors.Image(torch.rand(3, 8, 8))
    torch.manual_seed(2)
    t({"image": image})
    assert t.last_params["camera"] == "N6" and int(t.last_params["iso"][0]) in t.model.vocabulary.isos
    torch.manual_seed(2)  # only the missing ISO was drawn, once, from the global RNG
    assert torch.equal(t.last_params["iso"], t.sampler.sample(t.model.vocabulary, 1).iso_values)


def test_sample_conditions_are_not_drawn(tiny_model_dir):
    """With camera and ISO in the sample, the only draw is the noise seed."""
    t = Recording(tiny_model_dir)
    image = tv_tensors.Image(torch.rand(3, 8, 8))
    torch.manual_seed(4)
    t({"image": image, "camera": "S6", "iso": 1600})
    torch.manual_seed(4)
    assert t.last_params["seed"] == int(torch.randint(0, 2**62, ()))


def test_batch_after_dataloader_with_per_sample_conditions(noise):
    samples = [{"image": torch.rand(3, 8, 8), "camera": c, "iso": i} for c, i in [("GP", 100), ("G4", 3200)]]
    loader = DataLoader(samples, batch_size=2)
    batch = next(iter(loader))
    out = noise(batch)
    assert out["image"].shape == (2, 3, 8, 8) and out["camera"] == ["GP", "G4"]
    assert not torch.equal(out["image"], batch["image"])


def test_pair_mode(tiny_model_dir):
    t = NMFlowGANNoise(tiny_model_dir, pair_key="lq")
    clean = tv_tensors.Image(torch.rand(3, 16, 16))
    labels = torch.tensor([1])
    out = t({"image": clean, "labels": labels, "camera": "GP", "iso": 800})
    assert out["image"] is clean and out["labels"] is labels and isinstance(out["lq"], tv_tensors.Image)
    assert not torch.equal(out["lq"], clean)
    noisy, target = v2.Compose([v2.RandomCrop(8), t])(clean)  # geometric ops first: the pair stays aligned
    assert target.shape == noisy.shape == (3, 8, 8)
    with pytest.raises(ValueError, match="already has a 'lq'"):
        t({"image": clean, "lq": clean})
    with pytest.raises(TypeError, match="dict sample or a single image"):
        t((clean, labels))


def test_pickles_without_weights_and_reloads(tiny_model_dir):
    t = NMFlowGANNoise(tiny_model_dir)
    weights_bytes = sum(p.numel() * p.element_size() for p in t.model.parameters())
    blob = pickle.dumps(t)
    assert len(blob) < weights_bytes
    clone = pickle.loads(blob)
    assert "noise_model" not in clone._modules
    params = {"camera": "GP", "iso": 800, "strength": torch.ones(1), "seed": 5}
    x = torch.rand(3, 16, 16)
    assert torch.equal(clone.transform(x, params), t.transform(x, params))  # lazily reloaded on the CPU
    assert next(clone.model.parameters()).device.type == "cpu"
    assert "tiny_nmflowgan" in repr(clone)


def test_in_memory_model_is_pickled_with_it(tiny_model_dir):
    t = NMFlowGANNoise(NMFlowGAN.from_pretrained(tiny_model_dir))
    clone = pickle.loads(pickle.dumps(t))
    assert clone.model_source is None and "noise_model" in clone._modules


@pytest.mark.parametrize("context", ["fork", "spawn"])
def test_dataloader_workers(tiny_model_dir, context):
    loader = DataLoader(
        NoisyDataset(NMFlowGANNoise(tiny_model_dir, pair_key="lq")),
        batch_size=2, num_workers=2, multiprocessing_context=context,
    )
    batches = list(loader)
    assert len(batches) == 2
    for clean, noisy in batches:
        assert clean.shape == noisy.shape == (2, 3, 16, 16) and not torch.equal(clean, noisy)


def test_pil_input_is_rejected(noise):
    with pytest.raises(TypeError, match="v2.ToImage"):
        noise(PIL.Image.new("RGB", (8, 8)))


@pytest.mark.parametrize(
    ("sample", "error", "match"),
    [
        (tv_tensors.Image(torch.rand(1, 8, 8)), ValueError, "3 \\(RGB\\) channels"),
        (torch.zeros(3, 8, 8, dtype=torch.int16), TypeError, "uint8"),
        (torch.full((3, 8, 8), float("nan")), ValueError, "NaN"),  # out of [0, 1] is clipped by default
        ({"image": tv_tensors.Image(torch.rand(3, 8, 8)), "camera": "D800"}, ValueError, "unknown camera"),
        ({"image": tv_tensors.Image(torch.rand(3, 8, 8)), "iso": 12800}, ValueError, "unsupported ISO"),
    ],
)
def test_bad_inputs(noise, sample, error, match):
    with pytest.raises(error, match=match):
        noise(sample)


@pytest.mark.parametrize(
    "sample",
    [np.random.rand(8, 8, 3), {"image": np.zeros((8, 8, 3), dtype=np.uint8), "camera": "GP"}],
    ids=["array", "in-dict"],
)
def test_numpy_input_is_rejected_not_passed_through(noise, sample):
    """Issue 9 item 2: a numpy image used to come back unchanged, so "noisy" equalled clean."""
    with pytest.raises(TypeError, match="not numpy arrays.*v2.ToImage"):
        noise(sample)


@pytest.mark.parametrize("pair_key", [None, "lq"])
def test_sample_without_an_image_says_so(tiny_model_dir, pair_key):
    t = NMFlowGANNoise(tiny_model_dir, pair_key=pair_key)
    with pytest.raises(ValueError, match="holds no image"):
        t({"camera": "GP", "iso": 800, "label": 3})


def test_params_key_returns_the_values_used(tiny_model_dir):
    """Issue 12 item 6: camera/ISO/strength used are returned in the sample, and survive collation."""
    from nmflowgan_aug import ConditionSampler

    t = NMFlowGANNoise(tiny_model_dir, params_key="noise", sampler=ConditionSampler(strength=(0.5, 0.7)), clip=False)
    image = tv_tensors.Image(torch.rand(3, 16, 16))
    torch.manual_seed(0)
    out = t({"image": image, "iso": "1600"})
    used = out["noise"]
    assert set(used) == {"camera", "iso", "strength", "seed"} and used["iso"].ndim == 0 and int(used["iso"]) == 1600
    assert 0.5 <= float(used["strength"]) <= 0.7 and used["camera"].dtype == torch.long
    replay = add_camera_noise(image.as_subclass(torch.Tensor), used["camera"], used["iso"], strength=used["strength"],
                              model=t.model, generator=torch.Generator().manual_seed(used["seed"]))
    assert torch.equal(replay.noisy, out["image"].as_subclass(torch.Tensor))
    batch = torch.utils.data.default_collate([out, t({"image": image, "iso": "800"})])
    assert batch["noise"]["camera"].shape == (2,) and batch["noise"]["strength"].dtype == torch.float32
    with pytest.raises(TypeError, match="params_key needs a dict sample"):
        t(image)
    with pytest.raises(ValueError, match="already has a 'noise' entry"):
        t({"image": image, "noise": 1})


def test_wrapper_defaults_clip_and_quantize(tiny_model_dir):
    """Issue 9 item 16 and issue 10: overshooting (bicubic) input is clamped; output is on 8-bit levels."""
    t = NMFlowGANNoise(tiny_model_dir)
    out = t(torch.rand(3, 16, 16) * 1.04 - 0.02)
    assert torch.equal(out * 255, torch.round(out * 255))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        NMFlowGANNoise(tiny_model_dir, clip=False)(torch.rand(3, 16, 16) + 0.5)
    raw = NMFlowGANNoise(tiny_model_dir, quantize=False)(torch.rand(3, 16, 16))
    assert not torch.equal(raw * 255, torch.round(raw * 255))


def test_bad_condition_getter(tiny_model_dir):
    with pytest.raises(TypeError, match="condition_getter"):
        NMFlowGANNoise(tiny_model_dir, condition_getter="camera")


def test_cuda_guard_is_quiet_in_forked_cpu_workers():
    """In a real forked worker whose parent never initialized CUDA, the guard lets CUDA through."""
    if torch.cuda.is_initialized():
        pytest.skip("CUDA already initialized in this process (covered by the CUDA test)")
    loader = DataLoader(GuardDataset(), batch_size=None, num_workers=1, multiprocessing_context="fork")
    assert list(loader) == ["", ""]


def test_cuda_model_in_forked_worker_gets_a_clear_error(tiny_model_dir, device):
    if device.type != "cuda":
        pytest.skip("needs CUDA (run with --device cuda)")
    loader = DataLoader(
        NoisyDataset(NMFlowGANNoise(tiny_model_dir, pair_key="lq").to(device)),
        batch_size=2, num_workers=1, multiprocessing_context="fork",
    )
    with pytest.raises(RuntimeError, match="multiprocessing_context='spawn'"):
        list(loader)


def test_on_device_batch(tiny_model_dir, device):
    t = NMFlowGANNoise(tiny_model_dir).to(device)
    clean = torch.rand(2, 3, 16, 16, device=device)
    out = t(clean)
    assert out.device == clean.device and out.shape == clean.shape

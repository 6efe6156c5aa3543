"""NMFlowGAN: official sizes and checkpoint layout, sample()/log_prob() contract, persistence.

Small U-Nets (depth 2, width 4) everywhere except where the official size is the point.
"""

from __future__ import annotations

import json
import math

import pytest
import torch

from nmflowgan_aug.model.config import NMFlowGANConfig
from nmflowgan_aug.model.critic import Critic96
from nmflowgan_aug.model.flow_layers import ConditionalLinearTable
from nmflowgan_aug.model.nmflowgan import NMFlowGAN
from nmflowgan_aug.model.official import convert_official_state_dict, read_official_checkpoint
from nmflowgan_aug.vocab import OFFICIAL_VOCABULARY, SIDD_VOCABULARY

SMALL = dict(unet_depth=2, unet_width=4)


def seeded(seed=0, device="cpu"):
    return torch.Generator(device=device).manual_seed(seed)


def as_device(device) -> torch.device:
    """The ``device`` fixture value as a torch.device; skip CUDA where it is not available."""
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        pytest.skip("CUDA is not available on this machine")
    return dev


def liven_(model: NMFlowGAN, seed: int = 0, log_scale: float = -1.0) -> NMFlowGAN:
    """Give the zero-initialised CL2 tables values so that samples carry visible noise."""
    g = seeded(seed)
    with torch.no_grad():
        for layer in model.flow.bijectors:
            if isinstance(layer, ConditionalLinearTable):
                layer.log_scale.copy_(log_scale + 0.3 * torch.randn(layer.log_scale.shape, generator=g))
                layer.bias.copy_(0.3 * torch.randn(layer.bias.shape, generator=g))
    return model


def small_model(seed=0, **overrides) -> NMFlowGAN:
    torch.manual_seed(seed)
    return liven_(NMFlowGAN(NMFlowGANConfig(**{**SMALL, **overrides})), seed).eval()


def clean_batch(b=2, h=16, w=16, seed=1, dtype=torch.float32, device="cpu"):
    return torch.rand(b, 3, h, w, generator=seeded(seed), dtype=dtype).to(device)


@pytest.fixture(scope="module")
def model():
    return small_model()


# ============================================================================ official size
@pytest.fixture(scope="module")
def official():
    torch.manual_seed(0)
    return liven_(NMFlowGAN(), seed=1).eval()


def test_official_parameter_counts(official):
    """Reference §1.7, §2.1, §2.3, §7."""

    def count(m):
        return sum(p.numel() for p in m.parameters())

    assert count(official.flow) == 25_484
    assert count(official.unet) == 31_031_875
    assert count(official) == 31_057_359
    assert count(Critic96()) == 14_160_969


def _meta_encoder_keys(prefix: str) -> set[str]:
    """State-dict keys of an nflows ResidualNet(hidden 5, 3 blocks, batch norm) as used by the official SAL/SDL."""
    keys = {f"{prefix}.{layer}.{p}" for layer in ("initial_layer", "final_layer") for p in ("weight", "bias")}
    for b in range(3):
        for j in range(2):
            keys |= {f"{prefix}.blocks.{b}.linear_layers.{j}.{p}" for p in ("weight", "bias")}
            keys |= {
                f"{prefix}.blocks.{b}.batch_norm_layers.{j}.{p}"
                for p in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
            }
    return keys


def official_generator_keys() -> set[str]:
    """The official generator state-dict keys, written out from reference §3.2 (not from our modules)."""
    keys = {"pre_bijectors.0.ldj_per_dim", "dist.buffer"}
    wb = ("weight", "bias")
    for i in (1, 4):  # SAL
        keys |= _meta_encoder_keys(f"bijectors.{i}.meta_encoder")
        keys |= {f"bijectors.{i}.structure_encoder.body.{j}.{p}" for j in (0, 2, 4, 6, 8, 10) for p in wb}
    for i in (2, 5):  # SDL
        keys |= _meta_encoder_keys(f"bijectors.{i}.meta_encoder")
        keys |= {
            f"bijectors.{i}.scale_and_bias.body.{j}.{p}" for j in ("0", "1.0", "1.1", "2.0", "2.1", "3.0", "3.1", "4") for p in wb
        }
    for i in (3, 6):  # CL2
        keys |= {f"bijectors.{i}.log_scale", f"bijectors.{i}.bias"}
    for i in range(5):
        keys |= {f"generator.down_path.{i}.block.{j}.{p}" for j in (0, 2) for p in wb}
    for i in range(4):
        keys |= {f"generator.up_path.{i}.up.{p}" for p in wb}
        keys |= {f"generator.up_path.{i}.conv_block.block.{j}.{p}" for j in (0, 2) for p in wb}
    keys |= {f"generator.last.{p}" for p in wb}
    return keys


OFFICIAL_SHAPES = {
    "bijectors.1.meta_encoder.initial_layer.weight": (5, 10),
    "bijectors.1.meta_encoder.final_layer.weight": (6, 5),
    "bijectors.2.meta_encoder.final_layer.weight": (3, 5),
    "bijectors.4.structure_encoder.body.0.weight": (16, 3, 1, 1),
    "bijectors.4.structure_encoder.body.2.weight": (16, 16, 3, 3),
    "bijectors.4.structure_encoder.body.10.weight": (6, 16, 1, 1),
    "bijectors.2.scale_and_bias.body.0.weight": (16, 6, 1, 1),
    "bijectors.2.scale_and_bias.body.1.0.weight": (32, 16, 1, 1),
    "bijectors.2.scale_and_bias.body.1.1.weight": (32,),
    "bijectors.5.scale_and_bias.body.3.0.weight": (16, 32, 1, 1),
    "bijectors.5.scale_and_bias.body.4.weight": (6, 16, 1, 1),
    "bijectors.3.log_scale": (25, 3),
    "bijectors.6.bias": (25, 3),
    "generator.down_path.0.block.0.weight": (64, 3, 3, 3),
    "generator.down_path.4.block.2.weight": (1024, 1024, 3, 3),
    "generator.up_path.0.up.weight": (1024, 512, 2, 2),
    "generator.up_path.0.conv_block.block.0.weight": (512, 1024, 3, 3),
    "generator.up_path.3.up.weight": (128, 64, 2, 2),
    "generator.last.weight": (3, 64, 1, 1),
}


def to_official_state_dict(model: NMFlowGAN, ldj_shape=()) -> dict[str, torch.Tensor]:
    """Rename our state dict back to the official layout: flow.X → X, unet.X → generator.X."""
    out = {}
    for key, value in model.state_dict().items():
        if key.startswith("flow."):
            out[key[len("flow.") :]] = value
        elif key.startswith("unet."):
            out["generator." + key[len("unet.") :]] = value
        else:
            raise AssertionError(f"unexpected top-level key {key}")
    out["pre_bijectors.0.ldj_per_dim"] = torch.tensor(-8 * math.log(2.0)).reshape(ldj_shape)
    out["dist.buffer"] = torch.zeros(1)
    return out


def save_official(path, generator_sd, critic_sd=None):
    critic_sd = critic_sd if critic_sd is not None else Critic96(width=4).state_dict()
    torch.save({"epoch": 40, "model_weight": {"generator": generator_sd, "critic": critic_sd}, "optimizer_weight": {}}, path)
    return path


def test_official_key_names_and_shapes(official):
    """Our module names, renamed back, give EXACTLY the official key set (fails if names drift)."""
    sd = to_official_state_dict(official)
    expected = official_generator_keys()
    assert set(sd) - expected == set(), "keys the official checkpoint does not have"
    assert expected - set(sd) == set(), "official keys we do not produce"
    for key, shape in OFFICIAL_SHAPES.items():
        assert tuple(sd[key].shape) == shape, key
    assert "bijectors.2.scale_and_bias.body.1.1.weight" in sd
    # InstanceNorm2d(affine) without running stats, as in the official PointwiseConvs
    assert "bijectors.2.scale_and_bias.body.1.1.running_mean" not in sd


def test_load_official_checkpoint_gives_identical_model(official, tmp_path):
    path = save_official(tmp_path / "NMFlowGAN_NoiseModeler.pth", to_official_state_dict(official))
    loaded = NMFlowGAN.from_official_checkpoint(path)
    assert not loaded.training
    assert loaded.config == NMFlowGANConfig()
    ours, theirs = official.state_dict(), loaded.state_dict()
    assert set(ours) == set(theirs)
    for key in ours:
        assert torch.equal(ours[key], theirs[key]), key
    clean = clean_batch(2, 32, 32)
    a = official.sample(clean, ["IP", "S6"], [100, 3200], generator=seeded(5))
    b = loaded.sample(clean, ["IP", "S6"], [100, 3200], generator=seeded(5))
    assert torch.equal(a, b)
    assert (a - clean).abs().mean() > 1e-3


@pytest.mark.parametrize("ldj_shape", [(), (1,)])
def test_convert_official_state_dict_accepts_both_ldj_shapes(official, ldj_shape):
    converted = convert_official_state_dict(to_official_state_dict(official, ldj_shape))
    assert "flow.dist.buffer" not in converted and converted["flow.pre_bijectors.0.ldj_per_dim"].shape == ()
    assert set(converted) == set(official.state_dict())
    official.load_state_dict(converted, strict=True)  # same values: a no-op that checks every key and shape


def test_read_official_checkpoint_accepts_a_bare_generator_state_dict(tmp_path):
    sd = {"bijectors.3.log_scale": torch.ones(25, 3), "dist.buffer": torch.zeros(1)}
    torch.save(sd, tmp_path / "bare.pth")
    got = read_official_checkpoint(tmp_path / "bare.pth")
    assert set(got) == set(sd) and torch.equal(got["bijectors.3.log_scale"], sd["bijectors.3.log_scale"])


def test_official_checkpoint_with_missing_and_unexpected_keys_lists_them(official, tmp_path):
    sd = to_official_state_dict(official)
    del sd["bijectors.3.log_scale"]
    sd["bijectors.7.log_scale"] = torch.zeros(25, 3)
    path = save_official(tmp_path / "missing.pth", sd)
    with pytest.raises(ValueError, match=r"missing keys .*bijectors\.3\.log_scale") as e:
        NMFlowGAN.from_official_checkpoint(path)
    assert "unexpected keys" in str(e.value) and "bijectors.7.log_scale" in str(e.value)


def test_official_checkpoint_with_wrong_shape_is_value_error(tmp_path):
    # a shape mismatch is reported even when the other keys are absent
    path = save_official(tmp_path / "shape.pth", {"bijectors.3.log_scale": torch.zeros(24, 3)})
    with pytest.raises(ValueError, match=r"bijectors\.3\.log_scale"):
        NMFlowGAN.from_official_checkpoint(path)


def test_official_checkpoint_with_wrong_dequantization_constant(tmp_path):
    sd = {"pre_bijectors.0.ldj_per_dim": torch.tensor(-16 * math.log(2.0)), "dist.buffer": torch.zeros(1)}
    with pytest.raises(ValueError, match="ldj_per_dim"):
        NMFlowGAN.from_official_checkpoint(save_official(tmp_path / "bits.pth", sd))


def test_official_checkpoint_file_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        NMFlowGAN.from_official_checkpoint(tmp_path / "nope.pth")
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"this is not a checkpoint\x00\x01" * 10)
    with pytest.raises(ValueError, match="garbage.pth"):
        NMFlowGAN.from_official_checkpoint(garbage)
    no_gen = tmp_path / "critic_only.pth"
    torch.save({"epoch": 1, "model_weight": {"critic": {}}, "optimizer_weight": {}}, no_gen)
    with pytest.raises(ValueError, match="generator"):
        NMFlowGAN.from_official_checkpoint(no_gen)
    other = tmp_path / "list.pth"
    torch.save([1, 2, 3], other)
    with pytest.raises(ValueError):
        NMFlowGAN.from_official_checkpoint(other)


# ============================================================================ sample()
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_sample_shape_dtype_device_range(device, dtype):
    dev = as_device(device)
    m = small_model().to(dev)
    clean = clean_batch(3, 16, 24, dtype=dtype, device=dev)
    clean[0, :, :4] = 0.0
    clean[1, :, :4] = 1.0  # saturated regions must stay inside [0, 1]
    out = m.sample(clean, "GP", 3200, generator=seeded(0, dev))
    assert out.shape == clean.shape and out.dtype == dtype and out.device == clean.device
    assert out.min() >= 0 and out.max() <= 1
    assert (out - clean).abs().mean() > 1e-3, "the liven_ed model must add visible noise"


@pytest.mark.parametrize("hw", [(37, 53), (5, 7), (1, 2), (16, 16)])
@pytest.mark.parametrize("depth", [2, 5])
def test_sample_odd_sizes(hw, depth):
    m = small_model(unet_depth=depth)
    clean = clean_batch(2, *hw)
    out = m.sample(clean, ["IP", "G4"], [100, 800], generator=seeded(0))
    assert out.shape == clean.shape
    assert torch.isfinite(out).all() and out.min() >= 0 and out.max() <= 1


def test_sample_single_pixel_image_is_rejected(model):
    """1×1 images cannot be sampled: the SDL's instance norm needs more than one pixel (reference §1.4)."""
    with pytest.raises(ValueError, match=r"1×1 pixels; at least 2"):
        model.sample(clean_batch(1, 1, 1), "GP", 800)


def test_sample_seeded_reproducibility(model):
    clean = clean_batch()
    a = model.sample(clean, "S6", 800, generator=seeded(42))
    b = model.sample(clean, "S6", 800, generator=seeded(42))
    c = model.sample(clean, "S6", 800, generator=seeded(43))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_sample_keeps_the_callers_memory_format(model):
    """The model runs channels-last inside; the output has the input's layout, whichever it is."""
    clean = clean_batch()
    a = model.sample(clean, "S6", 800, generator=seeded(42))
    b = model.sample(clean.contiguous(memory_format=torch.channels_last), "S6", 800, generator=seeded(42))
    assert a.is_contiguous() and b.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(a, b, rtol=0, atol=1e-6)


def test_sample_under_cpu_bf16_autocast_stays_close_to_fp32():
    """Under bf16 autocast only the U-Net runs in bf16 (the flow is forced to fp32).

    With the same generator the output stays float32 and close to the fp32 one.
    """
    m = small_model(seed=3, unet_depth=3, unet_width=8)
    clean = clean_batch(2, 32, 32)
    flow_only = m.sample(clean, "S6", 800, generator=seeded(5))  # the U-Net head starts at zero
    with torch.no_grad():  # move the head so that the U-Net changes the noise by several levels
        m.unet.last.weight.normal_(0, 0.5, generator=seeded(4))
    ref = m.sample(clean, "S6", 800, generator=seeded(5))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = m.sample(clean, "S6", 800, generator=seeded(5))
    assert out.dtype == torch.float32
    unet_effect = (ref - flow_only).abs().mean()
    assert unet_effect * 255 > 2  # 8-bit levels
    # bf16 keeps 8 significant bits: its error is a small part of the U-Net's change, far below the
    # 1-level steps a bf16 flow would make on values near 255
    assert (out - ref).abs().max() < 0.1 * unet_effect


def test_sample_condition_forms_are_equivalent(model):
    clean = clean_batch(2)
    same = [
        ("GP", 800),
        (1, 800),
        (["GP", "GP"], [800, 800]),
        ([1, "GP"], (800, 800)),
        (torch.tensor([1, 1]), torch.tensor([800, 800])),
        (torch.tensor(1), torch.tensor(800)),
        ("GP", 800.0),
    ]
    ref = model.sample(clean, *same[0], generator=seeded(3))
    for camera, iso in same[1:]:
        assert torch.equal(model.sample(clean, camera, iso, generator=seeded(3)), ref), (camera, iso)
    mixed = [(["IP", "G4"], [100, 3200]), ([0, 4], [100, 3200]), (torch.tensor([0, 4]), torch.tensor([100, 3200]))]
    ref_mixed = model.sample(clean, *mixed[0], generator=seeded(3))
    assert not torch.equal(ref_mixed, ref)
    for camera, iso in mixed[1:]:
        assert torch.equal(model.sample(clean, camera, iso, generator=seeded(3)), ref_mixed), (camera, iso)


def test_sample_depends_on_condition(model):
    clean = clean_batch(1)
    a = model.sample(clean, "IP", 100, generator=seeded(3))
    b = model.sample(clean, "IP", 3200, generator=seeded(3))
    assert not torch.equal(a, b)


@pytest.mark.parametrize(
    "camera, iso, exc, match",
    [
        ("XX", 800, ValueError, r"unknown camera 'XX'.*\['IP', 'GP', 'S6', 'N6', 'G4'\]"),
        (7, 800, ValueError, "camera code 7 out of range"),
        ("GP", 200, ValueError, r"unsupported ISO 200.*\[100, 400, 800, 1600, 3200\]"),
        (["GP"], 800, ValueError, "got 1 camera values for a batch of 2"),
        ("GP", [800, 800, 800], ValueError, "got 3 iso values for a batch of 2"),
        (1.5, 800, TypeError, "camera"),
    ],
)
def test_sample_rejects_bad_conditions(model, camera, iso, exc, match):
    with pytest.raises(exc, match=match):
        model.sample(clean_batch(2), camera, iso)


def _bad_images():
    ok = clean_batch(2, 8, 8)
    nan = ok.clone()
    nan[0, 0, 0, 0] = float("nan")
    return [
        ("1 channel", torch.rand(2, 1, 8, 8), ValueError, "3 \\(RGB\\) channels"),
        ("4 channels", torch.rand(2, 4, 8, 8), ValueError, "3 \\(RGB\\) channels"),
        ("3-D", torch.rand(3, 8, 8), ValueError, "shape"),
        ("above 1", ok * 255, ValueError, r"\[0, 1\]"),
        ("below 0", ok - 0.5, ValueError, r"\[0, 1\]"),
        ("NaN", nan, ValueError, "NaN"),
        ("uint8", (ok * 255).to(torch.uint8), TypeError, "dtype"),
        ("int64", (ok * 255).long(), TypeError, "dtype"),
        ("not a tensor", ok.numpy(), TypeError, "torch.Tensor"),
        ("empty", torch.rand(0, 3, 8, 8), ValueError, "empty"),
    ]


@pytest.mark.parametrize("what, image, exc, match", _bad_images(), ids=[b[0] for b in _bad_images()])
def test_sample_rejects_bad_images(model, what, image, exc, match):
    with pytest.raises(exc, match=match):
        model.sample(image, "GP", 800)


def test_sample_restores_train_mode_and_runs_in_inference_mode():
    m = small_model().train()
    clean = clean_batch(2)
    modes = []
    handle = m.unet.register_forward_hook(lambda *_: modes.append(torch.is_inference_mode_enabled()))
    try:
        out_train = m.sample(clean, "GP", 800, generator=seeded(0))
    finally:
        handle.remove()
    assert modes == [True]  # computed under inference mode ...
    assert m.training and all(sub.training for sub in m.modules())
    assert not out_train.requires_grad and not torch.is_inference(out_train)  # ... and copied out (issue 9 item 12)
    m.eval()
    out_eval = m.sample(clean, "GP", 800, generator=seeded(0))
    assert not m.training and not any(sub.training for sub in m.modules())
    # sampling always uses eval mode (BatchNorm running statistics), whatever the module's mode
    assert torch.equal(out_train, out_eval)
    # also a batch of one works from a training model (train-mode BatchNorm would raise)
    m.train()
    assert m.sample(clean[:1], "GP", 800).shape == (1, 3, 16, 16)


def test_sample_output_enters_a_denoisers_backward_pass(model):
    """Issue 9 item 12: inference tensors cannot be saved for backward; sample() returns normal tensors."""
    denoiser = torch.nn.Conv2d(3, 3, 3, padding=1)
    noisy = model.sample(clean_batch(2), "GP", 800, generator=seeded(0))
    loss = (denoiser(noisy) - noisy).square().mean()
    loss.backward()
    assert denoiser.weight.grad is not None and torch.isfinite(denoiser.weight.grad).all()


def test_iso_none_says_iso_is_required(model):
    """Issue 9 item 11."""
    with pytest.raises(TypeError, match="iso is required"):
        model.sample(clean_batch(1), "GP", None)


def test_half_keeps_the_flow_in_float32_and_samples(model):
    """Issue 9 item 13: model.half() casts the U-Net only; fp16 sampling at batch 2, 64² stays finite."""
    m = small_model(seed=2).half()
    assert {p.dtype for p in m.flow.parameters()} == {torch.float32}
    assert {p.dtype for p in m.unet.parameters()} == {torch.float16}
    out = m.sample(clean_batch(2, 64, 64), "GP", 800, generator=seeded(0))
    assert out.dtype == torch.float32 and torch.isfinite(out).all() and 0 <= out.min() and out.max() <= 1
    m.to(torch.bfloat16)
    assert {p.dtype for p in m.flow.parameters()} == {torch.float32}
    assert m.float().unet.last.weight.dtype == torch.float32


def test_calling_the_module_samples_and_fires_hooks(model):
    """``model(clean, camera, iso)`` is the sampling call (forward), and ``sample`` goes through it."""
    calls = []
    handle = model.register_forward_hook(lambda module, args, kwargs, out: calls.append((args, kwargs, out)),
                                         with_kwargs=True)
    try:
        clean = clean_batch(2)
        called = model(clean, "GP", 800, generator=seeded(4))
        sampled = model.sample(clean, "GP", 800, generator=seeded(4))
    finally:
        handle.remove()
    assert torch.equal(called, sampled) and len(calls) == 2
    assert calls[0][0][1:] == ("GP", 800) and calls[1][2] is sampled


def test_sample_conditioned_takes_validated_conditions(model):
    clean = clean_batch(2)
    conditions = model.encode_conditions(["IP", "G4"], [100, 3200], 2, clean.device)
    assert conditions.camera_codes.tolist() == [0, 4] and conditions.iso_values.tolist() == [100, 3200]
    out = model.sample_conditioned(clean, conditions, seeded(6))
    assert torch.equal(out, model.sample(clean, ["IP", "G4"], [100, 3200], generator=seeded(6)))
    with pytest.raises(ValueError, match=r"1×1 pixels; at least 2"):
        model.sample_conditioned(clean_batch(1, 1, 1), conditions, seeded(6))


def test_sample_on_clean_requiring_grad_is_fine(model):
    clean = clean_batch(1).requires_grad_(True)
    out = model.sample(clean, "IP", 100)
    assert not out.requires_grad


# ============================================================================ log_prob()
def test_log_prob_shape_units_and_bits_per_dim(model):
    clean = clean_batch(3, 8, 12)
    noisy = model.sample(clean, ["IP", "GP", "S6"], [100, 800, 3200], generator=seeded(1))
    lp = model.log_prob(noisy, clean, ["IP", "GP", "S6"], [100, 800, 3200], generator=seeded(2))
    assert lp.shape == (3,) and torch.isfinite(lp).all()
    bpd = model.nll_bits_per_dim(noisy, clean, ["IP", "GP", "S6"], [100, 800, 3200], generator=seeded(2))
    torch.testing.assert_close(bpd, -lp / (3 * 8 * 12 * math.log(2)))
    # same seed → same estimate; the estimate is the flow's log-likelihood on 8-bit levels
    torch.testing.assert_close(lp, model.log_prob(noisy, clean, ["IP", "GP", "S6"], [100, 800, 3200], generator=seeded(2)))
    levels = torch.round(noisy * 255), torch.round(clean * 255)
    cams = torch.tensor([0, 1, 2])
    isos = torch.tensor([100, 800, 3200])
    torch.testing.assert_close(lp, model.log_prob_levels(*levels, cams, isos, seeded(2)))


def test_log_prob_prefers_the_right_noise_level():
    """A model whose CL2 tables say 'ISO 3200 is noisy, ISO 100 is clean' prefers heavy noise at ISO 3200.

    It assigns higher likelihood to heavy noise under ISO 3200 (sanity of the sign conventions).
    """
    m = small_model()
    clean = clean_batch(1, 8, 8)
    with torch.no_grad():
        for layer in m.flow.bijectors:
            if isinstance(layer, ConditionalLinearTable):
                layer.bias.zero_()
                layer.log_scale[0 * 5 + 0] = 4.0  # ISO 100, IP: sharp (σ = e^-8 in 1/256 units)
                layer.log_scale[4 * 5 + 0] = 1.5  # ISO 3200, IP: wide (σ = e^-3 ≈ 0.05)
    noisy = (clean + 0.05 * torch.randn(clean.shape, generator=seeded(1))).clamp(0, 1)
    lp_high = m.log_prob(noisy, clean, "IP", 3200, generator=seeded(2))
    lp_low = m.log_prob(noisy, clean, "IP", 100, generator=seeded(2))
    assert lp_high > lp_low


def test_log_prob_rejects_bad_input(model):
    clean = clean_batch(2, 8, 8)
    with pytest.raises(ValueError, match="same shape"):
        model.log_prob(clean_batch(2, 8, 9), clean, "GP", 800)
    with pytest.raises(ValueError, match="same shape"):
        model.log_prob(clean_batch(1, 8, 8), clean, "GP", 800)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        model.log_prob(clean * 2, clean, "GP", 800)
    with pytest.raises(ValueError, match="ISO"):
        model.log_prob(clean, clean, "GP", 200)
    with pytest.raises(ValueError, match="camera"):
        model.log_prob(clean, clean, ["GP"], 800)


def test_log_prob_backpropagates_to_the_flow_only():
    m = small_model().train()
    clean = clean_batch(2, 8, 8)
    noisy = (clean + 0.02 * torch.randn(clean.shape, generator=seeded(1))).clamp(0, 1)
    (-m.log_prob(noisy, clean, ["IP", "GP"], [100, 800], generator=seeded(2)).mean()).backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in m.flow.parameters())
    assert all(p.grad is None for p in m.unet.parameters())


# ============================================================================ persistence
def test_save_and_load_pretrained_round_trip(tmp_path):
    m = small_model(seed=4)
    meta = {"trained_on": "unit-test", "kld": 0.123}
    folder = m.save_pretrained(tmp_path / "m", metadata=meta)
    assert (folder / "model.safetensors").is_file() and (folder / "config.json").is_file()
    doc = json.loads((folder / "config.json").read_text())
    assert doc["metadata"] == meta
    assert doc["config"]["cameras"] == list(OFFICIAL_VOCABULARY.cameras)
    assert doc["config"]["isos"] == list(OFFICIAL_VOCABULARY.isos)
    assert doc["config"]["iso_encoding"] == "onehot"
    assert doc["config"]["unet_depth"] == 2 and doc["config"]["unet_width"] == 4
    loaded = NMFlowGAN.from_pretrained(folder)
    assert not loaded.training and loaded.config == m.config and loaded.metadata == meta
    clean = clean_batch(2, 12, 12)
    assert torch.equal(
        m.sample(clean, ["N6", "G4"], [1600, 400], generator=seeded(9)),
        loaded.sample(clean, ["N6", "G4"], [1600, 400], generator=seeded(9)),
    )
    for key, value in m.state_dict().items():
        assert torch.equal(value, loaded.state_dict()[key]), key
    # no stray temporary files left beside the model
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors"]


def test_save_pretrained_refuses_to_overwrite(tmp_path):
    m = small_model(seed=5)
    m.save_pretrained(tmp_path, metadata={"v": 1})
    with pytest.raises(FileExistsError, match="overwrite=True"):
        m.save_pretrained(tmp_path, metadata={"v": 2})
    assert json.loads((tmp_path / "config.json").read_text())["metadata"] == {"v": 1}
    m.save_pretrained(tmp_path, metadata={"v": 2}, overwrite=True)
    assert NMFlowGAN.from_pretrained(tmp_path).metadata == {"v": 2}


def test_from_pretrained_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        NMFlowGAN.from_pretrained(tmp_path / "does-not-exist")
    with pytest.raises(FileNotFoundError):
        NMFlowGAN.from_pretrained(tmp_path)  # exists, but holds no model
    small_model(seed=6).save_pretrained(tmp_path / "bad")
    weights = tmp_path / "bad" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])  # truncated
    with pytest.raises(ValueError, match="model.safetensors"):
        NMFlowGAN.from_pretrained(tmp_path / "bad")
    weights.write_bytes(b"\x00garbage" * 50)
    with pytest.raises(ValueError, match="model.safetensors"):
        NMFlowGAN.from_pretrained(tmp_path / "bad")
    small_model(seed=6).save_pretrained(tmp_path / "badcfg")
    (tmp_path / "badcfg" / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match="config.json"):
        NMFlowGAN.from_pretrained(tmp_path / "badcfg")


def test_loading_does_not_touch_the_global_rng(tmp_path):
    """Issue 9 item 7: the random init that the weights replace runs on a forked RNG."""
    folder = small_model(seed=3).save_pretrained(tmp_path / "m")
    torch.manual_seed(123)
    expected = torch.rand(4)
    torch.manual_seed(123)
    NMFlowGAN.from_pretrained(folder)
    assert torch.equal(torch.rand(4), expected)


def test_edited_config_json_is_refused_naming_the_field(tmp_path):
    """Issue 9 item 6: reordered cameras in config.json would silently swap the cameras' noise."""
    folder = small_model(seed=3).save_pretrained(tmp_path / "m")
    doc = json.loads((folder / "config.json").read_text())
    doc["config"]["cameras"] = list(reversed(doc["config"]["cameras"]))
    (folder / "config.json").write_text(json.dumps(doc))
    with pytest.raises(ValueError, match=r"config.json does not match its weights .*field 'cameras'"):
        NMFlowGAN.from_pretrained(folder)


def test_config_json_of_another_architecture_is_a_value_error(tmp_path):
    """Weights saved without the config header (older saves): the shape mismatch names the config fields."""
    from safetensors.torch import save_file

    m = small_model(seed=3)
    folder = m.save_pretrained(tmp_path / "m")
    save_file({k: v.contiguous() for k, v in m.state_dict().items()}, str(folder / "model.safetensors"))  # no header
    doc = json.loads((folder / "config.json").read_text())
    doc["config"]["unet_width"] = 8
    (folder / "config.json").write_text(json.dumps(doc))
    with pytest.raises(ValueError, match=r"does not match its weights .*unet_depth, unet_width.*size mismatch"):
        NMFlowGAN.from_pretrained(folder)


def test_map_location_without_the_device_says_so(tmp_path, monkeypatch):
    """Issue 9 item 13: not 'corrupt weights file'."""
    folder = small_model(seed=3).save_pretrained(tmp_path / "m")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="'cuda' requested but CUDA is not available"):
        NMFlowGAN.from_pretrained(folder, map_location="cuda")
    with pytest.raises(ValueError, match="is not a device"):
        NMFlowGAN.from_pretrained(folder, map_location="gpu0")


# ============================================================================ log-ISO vocabulary
def test_log_iso_model_handles_extreme_sidd_isos(tmp_path):
    v = SIDD_VOCABULARY
    m = small_model(seed=7, cameras=v.cameras, isos=v.isos, iso_encoding="log")
    assert m.flow.bijectors[3].log_scale.shape == (v.table_rows, 3)
    clean = clean_batch(2, 16, 16)
    hi = m.sample(clean, ["S6", "IP"], [10000, 10000], generator=seeded(0))
    lo = m.sample(clean, ["S6", "IP"], [50, 50], generator=seeded(0))
    assert hi.shape == lo.shape == clean.shape
    assert hi.min() >= 0 and hi.max() <= 1 and lo.min() >= 0 and lo.max() <= 1
    assert not torch.equal(hi, lo)  # ISO enters continuously
    lp = m.log_prob(hi, clean, ["S6", "IP"], [10000, 50], generator=seeded(1))
    assert lp.shape == (2,) and torch.isfinite(lp).all()
    with pytest.raises(ValueError, match="10000"):
        m.sample(clean, "S6", 12345)
    # round trip keeps the vocabulary
    loaded = NMFlowGAN.from_pretrained(m.save_pretrained(tmp_path / "log"))
    assert loaded.vocabulary == m.vocabulary and loaded.config.iso_encoding == "log"
    assert torch.equal(loaded.sample(clean, "S6", 10000, generator=seeded(2)), m.sample(clean, "S6", 10000, generator=seeded(2)))

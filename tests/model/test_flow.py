"""The whole NoiseFlow bijector chain (nmflowgan_aug.model.flow).

Invertibility, log-det against the autograd Jacobian, NLL gradients reaching every parameter, and the
base distribution.
"""

from __future__ import annotations

import math

import pytest
import torch
from flow_helpers import DT, make_cond, randomize_
from torch.autograd.functional import jacobian

from nmflowgan_aug.model.flow import NoiseFlow, standard_normal_log_prob
from nmflowgan_aug.model.flow_layers import ConditionalLinearTable
from nmflowgan_aug.vocab import OFFICIAL_VOCABULARY, SIDD_VOCABULARY, ConditionVocabulary

VOCABS = {"onehot": OFFICIAL_VOCABULARY, "logiso": SIDD_VOCABULARY}


def make_flow(vocab, seed=0) -> NoiseFlow:
    torch.manual_seed(seed)
    return randomize_(NoiseFlow(vocab.meta_features, vocab.table_rows).to(DT), seed).eval()


def seeded(seed=0):
    return torch.Generator().manual_seed(seed)


# ---------------------------------------------------------------------------- base distribution
def test_standard_normal_log_prob_matches_torch_distributions():
    z = torch.randn(4, 3, 5, 6, dtype=DT, generator=seeded(0)) * 2
    expected = torch.distributions.Normal(0.0, 1.0).log_prob(z).flatten(1).sum(1)
    got = standard_normal_log_prob(z)
    assert got.shape == (4,)
    torch.testing.assert_close(got, expected)


# ---------------------------------------------------------------------------- structure
def test_layer_order_matches_official_arch():
    """pre_arch 'UD', arch 'NE|SAL|SDL|CL2|SAL|SDL|CL2' (reference §1.1)."""
    flow = NoiseFlow(10, 25)
    names = [type(m).__name__ for m in flow.bijectors]
    assert names == [
        "NoiseExtraction",
        "StructureAwareLinear",
        "SignalDependentLinear",
        "ConditionalLinearTable",
        "StructureAwareLinear",
        "SignalDependentLinear",
        "ConditionalLinearTable",
    ]
    assert [type(m).__name__ for m in flow.pre_bijectors] == ["UniformDequantization"]
    assert sum(p.numel() for p in flow.parameters()) == 25_484


# ---------------------------------------------------------------------------- invertibility
@pytest.mark.parametrize("enc", list(VOCABS))
def test_bijector_chain_inverse_of_forward(enc):
    """The continuous chain NE…CL2 (no quantization) inverts to float64 precision."""
    vocab = VOCABS[enc]
    flow = make_flow(vocab, seed=1)
    cond = make_cond(vocab, ["IP", "S6", "G4"], [vocab.isos[0], vocab.isos[-1], 800], (3, 3, 6, 5), seed=2)
    x = torch.rand(3, 3, 6, 5, dtype=DT, generator=seeded(3))
    z, total = x, torch.zeros(3, dtype=DT)
    for layer in flow.bijectors:
        z, ld = layer(z, cond)
        total = total + ld
    back = z
    for layer in reversed(flow.bijectors):
        back = layer.inverse(back, cond)
    torch.testing.assert_close(back, x, rtol=0, atol=1e-12)
    assert not torch.allclose(z, x - cond.clean)


@pytest.mark.parametrize("enc", list(VOCABS))
def test_flow_inverse_of_forward_recovers_integer_levels(enc):
    """inverse(forward(levels)) == levels exactly: dequantize, map to z, map back, floor."""
    vocab = VOCABS[enc]
    flow = make_flow(vocab, seed=4)
    cond = make_cond(vocab, ["GP", "N6"], [vocab.isos[1], vocab.isos[-1]], (2, 3, 16, 16), seed=5)
    levels = torch.randint(0, 256, (2, 3, 16, 16), generator=seeded(6)).to(DT)
    levels[0, 0, 0, :2] = torch.tensor([0.0, 255.0])  # the extreme levels
    z, log_det = flow(levels, cond, seeded(7))
    assert z.shape == levels.shape and log_det.shape == (2,)
    assert torch.equal(flow.inverse(z, cond), levels)


# ---------------------------------------------------------------------------- log-det
@pytest.mark.parametrize("enc", list(VOCABS))
def test_flow_log_det_equals_autograd_jacobian(enc):
    """Whole flow incl. dequantization (fixed u): returned log-det == log|det ∂z/∂x| (1×3×2×2, float64)."""
    vocab = VOCABS[enc]
    flow = make_flow(vocab, seed=8)
    # make the CL2 tables clearly non-identity
    with torch.no_grad():
        for layer in flow.bijectors:
            if isinstance(layer, ConditionalLinearTable):
                layer.log_scale.copy_(torch.randn(layer.log_scale.shape, generator=seeded(9), dtype=DT))
                layer.bias.copy_(torch.randn(layer.bias.shape, generator=seeded(10), dtype=DT))
    cond = make_cond(vocab, ["S6"], [vocab.isos[-1]], (1, 3, 2, 2), seed=11)
    levels = torch.randint(0, 256, (1, 3, 2, 2), generator=seeded(12)).to(DT)
    _, log_det = flow(levels, cond, seeded(13))
    jac = jacobian(lambda t: flow(t, cond, seeded(13))[0], levels).reshape(12, 12)
    sign, logabsdet = torch.linalg.slogdet(jac)
    assert sign != 0
    torch.testing.assert_close(log_det[0], logabsdet, rtol=1e-10, atol=1e-9)
    # the learnable part contributes (not only the constant −8·ln2·D of the dequantization)
    assert abs(log_det[0].item() + 8 * math.log(2) * 12) > 1e-2


def test_flow_log_prob_is_base_log_prob_plus_log_det():
    vocab = OFFICIAL_VOCABULARY
    flow = make_flow(vocab, seed=14)
    cond = make_cond(vocab, ["IP", "GP"], [100, 400], (2, 3, 4, 4), seed=15)
    levels = torch.randint(0, 256, (2, 3, 4, 4), generator=seeded(16)).to(DT)
    z, log_det = flow(levels, cond, seeded(17))
    lp = flow.log_prob(levels, cond, seeded(17))
    torch.testing.assert_close(lp, standard_normal_log_prob(z) + log_det)
    # the training loop's one-pass variant returns the same latent and log-likelihood
    z2, lp2 = flow.latent_and_log_prob(levels, cond, seeded(17))
    assert torch.equal(z2, z) and torch.equal(lp2, lp)


# ---------------------------------------------------------------------------- gradients
SDL_DEAD_BIASES = {
    "scale_and_bias.body.0.bias",
    "scale_and_bias.body.1.0.bias",
    "scale_and_bias.body.2.0.bias",
    "scale_and_bias.body.3.0.bias",
}
FUSED_AWAY_BIASES = {"scale_and_bias.body.0.bias", "scale_and_bias.body.1.0.bias"}
BN_FED_BIASES = {f"meta_encoder.blocks.{i}.linear_layers.0.bias" for i in range(3)}


def _dead_by_design(name: str, train: bool) -> bool:
    """Parameters whose NLL gradient is zero up to rounding by construction.

    * SDL (reference §1.4): the meta embedding is spatially constant and reaches the first
      InstanceNorm only through linear 1×1 convs, so the norm's mean subtraction removes it: the whole
      SDL meta encoder gets no gradient. For the same reason every conv bias that feeds an
      InstanceNorm (directly, or through the linear first conv) is cancelled:
      ``scale_and_bias.body.0.bias`` and ``scale_and_bias.body.{1,2,3}.0.bias``.
    * Train mode only: in each meta-encoder residual block the first Linear feeds a BatchNorm1d that
      normalises with the batch mean, so that Linear's bias (``blocks.{i}.linear_layers.0.bias``)
      is cancelled as well (in eval mode the running statistics are fixed and it does learn).
    """
    layer, rest = int(name.split(".")[1]), name.split(".", 2)[2]
    if layer in (2, 5):  # SDL
        return rest.startswith("meta_encoder.") or rest in SDL_DEAD_BIASES
    return train and rest in BN_FED_BIASES


@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("enc", list(VOCABS))
def test_every_parameter_gets_nll_gradient(enc, train):
    vocab = VOCABS[enc]
    torch.manual_seed(18)
    flow = NoiseFlow(vocab.meta_features, vocab.table_rows, linear_iso=vocab.iso_encoding == "log").to(DT)
    # The subnetworks' output layers and the tables start at zero (identity flow): move every parameter,
    # to a point where every ReLU of the meta encoders is live for these three samples.
    randomize_(flow, seed=21).train(train)
    cond = make_cond(vocab, ["IP", "S6", "G4"], [vocab.isos[0], vocab.isos[-1], 800], (3, 3, 8, 8), seed=21)
    noise = 8 * torch.randn(3, 3, 8, 8, generator=seeded(22), dtype=DT)
    levels = torch.clamp(torch.round(cond.clean * 255 + noise), 0, 255)
    nll = -flow.log_prob(levels, cond, seeded(23)).mean()
    nll.backward()

    live, dead = {}, {}
    for name, p in flow.named_parameters():
        if p.grad is None:  # PointwiseNet.forward drops the two biases that cancel, so they are not used
            assert name.split(".", 2)[2] in FUSED_AWAY_BIASES, f"{name} got no gradient"
            dead[name] = 0.0
            continue
        assert torch.isfinite(p.grad).all(), name
        (dead if _dead_by_design(name, train) else live)[name] = p.grad.abs().max().item()
    n_sdl_meta = sum(1 for _ in flow.bijectors[2].meta_encoder.parameters())
    assert len(dead) == 2 * (n_sdl_meta + len(SDL_DEAD_BIASES)) + (2 * len(BN_FED_BIASES) if train else 0)
    for name, g in live.items():
        assert g > 1e-6, f"{name}: gradient {g:.3g} should be non-zero"
    # documented fact, not a wish: these are zero up to float64 rounding
    for name, g in dead.items():
        assert g < 1e-9, f"{name}: expected a zero gradient by design, got {g:.3g}"
    # in the SDL's first 1×1 conv only the clean-image input columns (3:6) learn
    for idx in (2, 5):
        w = flow.bijectors[idx].scale_and_bias.body[0].weight.grad
        assert w[:, :3].abs().max() < 1e-9 < w[:, 3:].abs().max()
    # one-hot tables: only the rows used by the batch receive gradient
    if enc == "onehot":
        g = flow.bijectors[3].log_scale.grad.abs().sum(1)
        assert {i for i in range(25) if g[i] > 0} == set(cond.table_row.tolist())


# ---------------------------------------------------------------------------- our options
LOG_CAMERA = ConditionVocabulary(SIDD_VOCABULARY.cameras, SIDD_VOCABULARY.isos, "log_camera")


def make_ours(seed=0) -> NoiseFlow:
    """Linear-light noise extraction, a 3×3 spatial layer and the per-camera log-ISO encoding."""
    torch.manual_seed(seed)
    flow = NoiseFlow(LOG_CAMERA.meta_features, LOG_CAMERA.table_rows, noise_domain="linear", spatial_kernel=3)
    return randomize_(flow.to(DT), seed, scale=0.1).eval()


def test_our_flow_layers_and_their_order():
    names = [type(m).__name__ for m in make_ours().bijectors]
    assert names[0] == "LinearNoiseExtraction" and names[-1] == "SpatialCorrelation" and len(names) == 8
    assert make_ours().spatial is not None
    assert NoiseFlow(10, 25).spatial is None


def test_our_flow_inverse_recovers_integer_levels_and_its_log_det_is_exact():
    flow = make_ours(seed=1)
    cond = make_cond(LOG_CAMERA, ["GP", "IP"], [800, 3200], (2, 3, 6, 5), seed=2)
    levels = torch.randint(1, 255, (2, 3, 6, 5), generator=seeded(3)).to(DT)
    z, _ = flow(levels, cond, seeded(4))
    assert torch.equal(flow.inverse(z, cond), levels)
    one = make_cond(LOG_CAMERA, ["S6"], [1600], (1, 3, 3, 3), seed=5)
    small = torch.randint(1, 255, (1, 3, 3, 3), generator=seeded(6)).to(DT)
    _, log_det = flow(small, one, seeded(7))
    jac = jacobian(lambda t: flow(t, one, seeded(7))[0], small).reshape(27, 27)
    torch.testing.assert_close(log_det[0], torch.linalg.slogdet(jac)[1], rtol=1e-10, atol=1e-9)


def test_resampled_samples_skip_the_spatial_layer_for_the_resampled_scale():
    from nmflowgan_aug.model.flow_layers import ResampledNoiseScale

    flow, scale = make_ours(seed=8), ResampledNoiseScale().to(DT)
    with torch.no_grad():
        scale.log_scale.copy_(torch.tensor([0.1, -0.2, 0.3], dtype=DT))
    cond = make_cond(LOG_CAMERA, ["GP", "IP"], [800, 3200], (2, 3, 6, 6), seed=9)
    levels = torch.randint(0, 256, (2, 3, 6, 6), generator=seeded(10)).to(DT)
    mask = torch.tensor([False, True])
    z, lp = flow.latent_and_log_prob(levels, cond, seeded(11), resampled=mask, resampled_layer=scale)
    z_native, lp_native = flow.latent_and_log_prob(levels, cond, seeded(11))
    torch.testing.assert_close(z[0], z_native[0])
    torch.testing.assert_close(lp[0], lp_native[0])
    # sample 1: everything up to the spatial layer, then u·exp(−s) with log-det −H·W·Σs
    x, log_det = flow.dequantize(levels, seeded(11))
    for layer in flow.bijectors[:-1]:
        x, ld = layer(x, cond)
        log_det = log_det + ld
    expected_z = x[1] * torch.exp(-scale.log_scale)[:, None, None]
    torch.testing.assert_close(z[1], expected_z)
    expected_lp = standard_normal_log_prob(expected_z[None])[0] + log_det[1] - 36 * scale.log_scale.sum()
    torch.testing.assert_close(lp[1], expected_lp)
    with pytest.raises(ValueError, match="need a resampled_layer"):
        flow(levels, cond, resampled=mask)

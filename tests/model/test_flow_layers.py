"""The bijector contract on every flow layer (nmflowgan_aug.model.flow_layers).

For each layer: inverse(forward(x)) == x, the returned log-det equals log|det J| of the autograd
Jacobian (float64, parameters moved away from their identity initialisation so the test can fail),
log-dets are per sample, plus the layer-specific facts of reference §1.2-§1.4 and §1.7.
"""

from __future__ import annotations

import math

import pytest
import torch
from flow_helpers import DT, make_cond, randomize_
from torch import nn
from torch.autograd.functional import jacobian

from nmflowgan_aug.model.flow_layers import (
    ConditionalAffine,
    ConditionalLinearTable,
    LinearNoiseExtraction,
    MetaEncoder,
    NoiseExtraction,
    PointwiseNet,
    SignalDependentLinear,
    StructureAwareLinear,
    UniformDequantization,
)
from nmflowgan_aug.vocab import OFFICIAL_VOCABULARY, SIDD_VOCABULARY

# name -> (factory, vocabulary); the CL2 table is exercised in both its modes.
LAYERS = {
    "NE": (lambda v: NoiseExtraction(), OFFICIAL_VOCABULARY),
    "NE-linear": (lambda v: LinearNoiseExtraction(), SIDD_VOCABULARY),
    "SAL": (lambda v: StructureAwareLinear(v.meta_features), OFFICIAL_VOCABULARY),
    "SDL": (lambda v: SignalDependentLinear(v.meta_features), OFFICIAL_VOCABULARY),
    "CL2-table": (lambda v: ConditionalLinearTable(v.table_rows), OFFICIAL_VOCABULARY),
    "CL2-logiso": (lambda v: ConditionalLinearTable(v.table_rows), SIDD_VOCABULARY),
    "SAL-logiso": (lambda v: StructureAwareLinear(v.meta_features), SIDD_VOCABULARY),
    "SDL-logiso": (lambda v: SignalDependentLinear(v.meta_features), SIDD_VOCABULARY),
}
LEARNABLE = [name for name in LAYERS if not name.startswith("NE")]


def build(name: str, seed: int = 0):
    factory, vocab = LAYERS[name]
    torch.manual_seed(seed)
    layer = randomize_(factory(vocab).to(DT), seed).eval()
    return layer, vocab


def conditions(vocab, batch: int):
    cams = ["IP", "GP", "S6", "N6", "G4"][:batch]
    isos = [vocab.isos[0], vocab.isos[-1], vocab.isos[len(vocab.isos) // 2], vocab.isos[1], vocab.isos[-2]][:batch]
    return cams, isos


@pytest.mark.parametrize("name", list(LAYERS))
def test_inverse_of_forward_is_identity(name):
    layer, vocab = build(name)
    cams, isos = conditions(vocab, 3)
    cond = make_cond(vocab, cams, isos, (3, 3, 5, 4))
    x = torch.randn(3, 3, 5, 4, generator=torch.Generator().manual_seed(1), dtype=DT)
    y, log_det = layer(x, cond)
    assert y.shape == x.shape and y.dtype == DT
    assert log_det.shape == (3,) and log_det.dtype == DT
    torch.testing.assert_close(layer.inverse(y, cond), x, rtol=0, atol=1e-12)
    # and the other way round
    y2, _ = layer(layer.inverse(x, cond), cond)
    torch.testing.assert_close(y2, x, rtol=0, atol=1e-12)
    if name in LEARNABLE:
        assert not torch.allclose(y, x), "randomised layer should not be the identity"


@pytest.mark.parametrize("name", list(LAYERS))
def test_log_det_equals_autograd_jacobian(name):
    """Tiny 1×3×2×2 float64 input: the returned log-det is log|det ∂y/∂x|."""
    layer, vocab = build(name, seed=3)
    cams, isos = conditions(vocab, 1)
    cond = make_cond(vocab, cams, isos, (1, 3, 2, 2), seed=4)
    x = torch.randn(1, 3, 2, 2, generator=torch.Generator().manual_seed(5), dtype=DT)
    _, log_det = layer(x, cond)
    jac = jacobian(lambda t: layer(t, cond)[0], x).reshape(12, 12)
    sign, logabsdet = torch.linalg.slogdet(jac)
    assert sign != 0
    torch.testing.assert_close(log_det[0], logabsdet, rtol=1e-10, atol=1e-10)
    if name == "NE":
        torch.testing.assert_close(jac, torch.eye(12, dtype=DT))
        assert log_det[0] == 0
    else:
        assert abs(log_det[0].item()) > 1e-3, "parameters were randomised: the log-det must be non-trivial"


@pytest.mark.parametrize("name", LEARNABLE)
def test_log_det_is_per_sample(name):
    """With a batch of two different conditions the Jacobian is block diagonal.

    Each block's log|det| is that sample's log-det (nothing is mixed across the batch in eval mode).
    """
    layer, vocab = build(name, seed=6)
    cams, isos = conditions(vocab, 2)
    cond = make_cond(vocab, cams, isos, (2, 3, 2, 2), seed=7)
    x = torch.randn(2, 3, 2, 2, generator=torch.Generator().manual_seed(8), dtype=DT)
    _, log_det = layer(x, cond)
    jac = jacobian(lambda t: layer(t, cond)[0], x).reshape(2, 12, 2, 12)
    assert torch.count_nonzero(jac[0, :, 1]) == 0 and torch.count_nonzero(jac[1, :, 0]) == 0
    for b in range(2):
        torch.testing.assert_close(log_det[b], torch.linalg.slogdet(jac[b, :, b])[1], rtol=1e-10, atol=1e-10)
    if name.startswith(("CL2", "SAL")):
        # these layers do depend on camera/ISO: two different conditions give different log-dets
        assert not torch.isclose(log_det[0], log_det[1])


@pytest.mark.parametrize("name", LEARNABLE)
def test_learnable_layers_are_conditional_affine_maps(name):
    """SAL, SDL and CL2 share forward/inverse from ConditionalAffine and only compute (log_s, b).

    y = exp(log_s)·x + b, log-det = Σ log_s over (C, H, W).
    """
    layer, vocab = build(name, seed=18)
    assert isinstance(layer, ConditionalAffine)
    assert "forward" not in vars(type(layer)) and "inverse" not in vars(type(layer))
    cams, isos = conditions(vocab, 2)
    cond = make_cond(vocab, cams, isos, (2, 3, 4, 5), seed=19)
    x = torch.randn(2, 3, 4, 5, generator=torch.Generator().manual_seed(20), dtype=DT)
    log_s, b = layer.affine_params(cond)
    y, log_det = layer(x, cond)
    torch.testing.assert_close(y, x * log_s.exp() + b, rtol=0, atol=1e-12)
    torch.testing.assert_close(log_det, log_s.expand_as(x).sum((1, 2, 3)), rtol=0, atol=1e-12)
    torch.testing.assert_close(layer.inverse(y, cond), (y - b) * (-log_s).exp(), rtol=0, atol=1e-12)


def test_conditional_affine_needs_affine_params():
    with pytest.raises(TypeError, match="affine_params"):
        ConditionalAffine()


def test_cl2_table_row_indexing():
    """Official mode: y = exp(log_scale[row])·x + bias[row] with row = iso_index·5 + camera."""
    layer, vocab = build("CL2-table", seed=9)
    cond = make_cond(vocab, ["N6"], [1600], (1, 3, 2, 3))
    row = 3 * 5 + 3
    assert int(cond.table_row[0]) == row
    x = torch.randn(1, 3, 2, 3, dtype=DT)
    y, log_det = layer(x, cond)
    expected = x * layer.log_scale[row].exp()[None, :, None, None] + layer.bias[row][None, :, None, None]
    torch.testing.assert_close(y, expected)
    torch.testing.assert_close(log_det[0], layer.log_scale[row].sum() * 6)


def test_cl2_logiso_is_linear_in_condition():
    """Log-ISO mode: [s, b] = [t ‖ onehot(camera)] @ tables (gain per camera + shared log-ISO slope)."""
    layer, vocab = build("CL2-logiso", seed=10)
    cond = make_cond(vocab, ["GP"], [3200], (1, 3, 2, 2))
    assert cond.table_row is None
    t = math.log2(3200 / 100) / 7
    s = t * layer.log_scale[0] + layer.log_scale[1 + 1]
    b = t * layer.bias[0] + layer.bias[1 + 1]
    x = torch.randn(1, 3, 2, 2, dtype=DT)
    y, log_det = layer(x, cond)
    torch.testing.assert_close(y, x * s.exp()[None, :, None, None] + b[None, :, None, None])
    torch.testing.assert_close(log_det[0], s.sum() * 4)


def test_layers_start_at_identity_for_tables():
    """CL2 tables are zero-initialised: the layer starts as the identity map (reference §1.2)."""
    layer = ConditionalLinearTable(25).to(DT)
    cond = make_cond(OFFICIAL_VOCABULARY, ["IP"], [100], (1, 3, 2, 2))
    x = torch.randn(1, 3, 2, 2, dtype=DT)
    y, log_det = layer(x, cond)
    assert torch.equal(y, x) and log_det[0] == 0


def test_official_parameter_counts_per_layer():
    """Reference §1.3/§1.4/§1.7: SAL 9,777 (meta 331 + conv 9,446), SDL 2,815 (313 + 2,502), CL2 150."""
    sal, sdl, cl2 = StructureAwareLinear(10), SignalDependentLinear(10), ConditionalLinearTable(25)

    def count(m):
        return sum(p.numel() for p in m.parameters())

    assert (count(sal), count(sal.meta_encoder), count(sal.structure_encoder)) == (9777, 331, 9446)
    assert (count(sdl), count(sdl.meta_encoder), count(sdl.scale_and_bias)) == (2815, 313, 2502)
    assert count(cl2) == 150 and cl2.log_scale.shape == (25, 3) and cl2.bias.shape == (25, 3)


def test_sdl_channel_order_matches_official():
    """Official SDL input is cat((embedding, clean)).

    Input columns 0:3 of scale_and_bias.body.0 act on the meta embedding, columns 3:6 on the clean image.
    Zeroing the clean columns must make the layer independent of the clean image; zeroing the embedding
    columns must not.
    """
    layer, vocab = build("SDL", seed=11)
    a = make_cond(vocab, ["IP", "S6"], [100, 800], (2, 3, 4, 4), seed=12)
    b = make_cond(vocab, ["IP", "S6"], [100, 800], (2, 3, 4, 4), seed=13)
    x = torch.randn(2, 3, 4, 4, dtype=DT)
    first = layer.scale_and_bias.body[0].weight
    with torch.no_grad():
        saved = first.clone()
        first[:, 3:] = 0  # cut the clean image
    ya, yb = layer(x, a)[0], layer(x, b)[0]
    torch.testing.assert_close(ya, yb, rtol=0, atol=1e-12)
    with torch.no_grad():
        first.copy_(saved)
        first[:, :3] = 0  # cut the embedding
    assert not torch.allclose(layer(x, a)[0], layer(x, b)[0])


def test_pointwise_net_fused_forward_equals_layer_by_layer():
    """PointwiseNet.forward() composes the first two 1×1 convs and drops their biases.

    The result must equal running ``body`` layer by layer with ``nn.InstanceNorm2d``, for non-constant
    input in every channel.
    """
    torch.manual_seed(21)
    net = randomize_(PointwiseNet(6, 6, 16).to(DT), 21)
    x = torch.randn(2, 6, 5, 7, dtype=DT) * 3 + 1
    h = x
    for layer in net.body:
        if isinstance(layer, nn.Sequential):
            conv, norm, act = layer
            reference_norm = nn.InstanceNorm2d(norm.num_channels, affine=True, eps=norm.eps).to(DT)
            reference_norm.load_state_dict(norm.state_dict())  # same keys as the official layer
            h = act(reference_norm(conv(h)))
        else:
            h = layer(h)
    torch.testing.assert_close(net(x), h, rtol=0, atol=1e-12)


def test_sdl_ignores_camera_and_iso():
    """Documented fact (reference §1.4): the SDL output does not depend on camera/ISO (up to rounding).

    The instance norm removes the spatially constant embedding.
    """
    layer, vocab = build("SDL", seed=14)
    x = torch.randn(2, 3, 4, 4, dtype=DT)
    c1 = make_cond(vocab, ["IP", "IP"], [100, 100], (2, 3, 4, 4), seed=15)
    c2 = make_cond(vocab, ["G4", "N6"], [3200, 1600], (2, 3, 4, 4), seed=15)
    assert not torch.allclose(c1.condition_vector, c2.condition_vector)
    y1, ld1 = layer(x, c1)
    y2, ld2 = layer(x, c2)
    torch.testing.assert_close(y1, y2, rtol=0, atol=1e-9)
    torch.testing.assert_close(ld1, ld2, rtol=0, atol=1e-9)


def test_sal_depends_on_camera_and_iso():
    layer, vocab = build("SAL", seed=16)
    x = torch.randn(1, 3, 4, 4, dtype=DT)
    y1 = layer(x, make_cond(vocab, ["IP"], [100], (1, 3, 4, 4), seed=17))[0]
    y2 = layer(x, make_cond(vocab, ["IP"], [3200], (1, 3, 4, 4), seed=17))[0]
    assert not torch.allclose(y1, y2)


def test_meta_encoder_batch_of_one_in_train_mode_raises():
    """BatchNorm1d as in the official model (reference §1.2): batch statistics in train mode."""
    enc = MetaEncoder(10, 6).train()
    with pytest.raises(ValueError):
        enc(torch.zeros(1, 10))
    assert enc.eval()(torch.zeros(1, 10)).shape == (1, 6)


# ---------------------------------------------------------------------------- dequantization
def test_uniform_dequantization_log_det_and_inverse():
    ud = UniformDequantization(8).to(DT)
    assert ud.ldj_per_dim.shape == ()  # the official buffer is a 0-d tensor
    levels = torch.arange(256, dtype=DT).reshape(1, 1, 16, 16).expand(2, 3, 16, 16).clone()
    x, log_det = ud(levels, torch.Generator().manual_seed(0))
    d = 3 * 16 * 16
    assert log_det.shape == (2,)
    # exact in float64 (computed from num_bits, not from the float32 buffer)
    torch.testing.assert_close(log_det, torch.full((2,), -8 * math.log(2) * d, dtype=DT), rtol=1e-15, atol=0)
    assert x.min() >= 0 and x.max() < 1
    assert ((x * 256 - levels) >= 0).all() and ((x * 256 - levels) < 1).all()
    assert torch.equal(ud.inverse(x), levels)
    # two independent draws differ, the same seed repeats
    x2, _ = ud(levels, torch.Generator().manual_seed(1))
    x3, _ = ud(levels, torch.Generator().manual_seed(0))
    assert not torch.equal(x, x2) and torch.equal(x, x3)


def test_uniform_dequantization_inverse_clamps():
    ud = UniformDequantization(8)
    out = ud.inverse(torch.tensor([-0.5, 0.0, 0.999, 1.0, 2.0]))
    assert out.tolist() == [0.0, 0.0, 255.0, 255.0, 255.0]


@pytest.mark.parametrize("bits", [4, 8, 10])
def test_uniform_dequantization_log_det_matches_jacobian(bits):
    """UD maps x ↦ (x + u)/2**bits with fixed u: log|det J| = −bits·ln2·D."""
    ud = UniformDequantization(bits).to(DT)
    levels = torch.randint(0, 2**bits, (1, 3, 2, 2)).to(DT)
    _, log_det = ud(levels, torch.Generator().manual_seed(0))
    jac = jacobian(lambda t: ud(t, torch.Generator().manual_seed(0))[0], levels).reshape(12, 12)
    torch.testing.assert_close(log_det[0], torch.linalg.slogdet(jac)[1], rtol=1e-13, atol=0)
    torch.testing.assert_close(log_det[0], torch.tensor(-bits * math.log(2) * 12, dtype=DT), rtol=1e-15, atol=0)


def test_log_iso_meta_encoder_is_linear_in_t_with_a_slope_shared_by_cameras():
    from nmflowgan_aug.model.flow_layers import MetaEncoder

    torch.manual_seed(0)
    enc = MetaEncoder(1 + 5, 6, linear_iso=True).eval()
    torch.nn.init.normal_(enc.iso_slope.weight)
    cams = torch.nn.functional.one_hot(torch.tensor([0, 0, 3, 3]), 5).float()
    t = torch.tensor([[0.1], [0.6], [0.1], [0.6]])
    out = enc(torch.cat([t, cams], 1))
    # The change with t is the same for every camera and equals the shared slope times the change in t.
    assert torch.allclose(out[1] - out[0], out[3] - out[2], atol=1e-6)
    assert torch.allclose(out[1] - out[0], 0.5 * enc.iso_slope.weight[:, 0], atol=1e-6)


def test_linear_noise_extraction_uses_the_srgb_decoding_function():
    """LinearNoiseExtraction computes n = f(x) − f(clean) with kornia's sRGB decoding f.

    Its log-derivative matches autograd on both segments.
    """
    from kornia.color import rgb_to_linear_rgb

    from nmflowgan_aug.model.flow_layers import srgb_to_linear_log_derivative

    x = torch.linspace(0.0005, 0.9995, 300, dtype=DT).view(1, 3, 10, 10).requires_grad_(True)
    (grad,) = torch.autograd.grad(rgb_to_linear_rgb(x).sum(), x)
    torch.testing.assert_close(srgb_to_linear_log_derivative(x.detach()), grad.log(), rtol=0, atol=1e-12)
    cond = make_cond(SIDD_VOCABULARY, ["GP"], [800], (1, 3, 10, 10))
    n, _ = LinearNoiseExtraction()(x.detach(), cond)
    torch.testing.assert_close(n, rgb_to_linear_rgb(x.detach()) - rgb_to_linear_rgb(cond.clean), rtol=0, atol=0)


def test_symmetric_linear_noise_is_negatively_skewed_in_srgb():
    """The reason for the layer: Gaussian noise in linear light, mapped back to sRGB, has negative skew."""
    layer = LinearNoiseExtraction()
    clean = torch.full((1, 3, 128, 128), 0.5, dtype=DT)
    cond = make_cond(SIDD_VOCABULARY, ["GP"], [800], (1, 3, 128, 128))
    cond.clean = clean
    noise = layer.inverse(0.05 * torch.randn(1, 3, 128, 128, generator=torch.Generator().manual_seed(0), dtype=DT), cond) - clean
    centred = noise - noise.mean()
    skew = (centred**3).mean() / (centred**2).mean() ** 1.5
    assert skew.item() < -0.1

"""Bijective layers of the NM-FlowGAN pixel-wise noise flow (Han & Yu, arXiv 2312.10112, §3.2).

Convention (stated once, for every layer here): ``forward(x, cond)`` maps the data side towards the
latent side and returns ``(y, log_det)`` with ``log_det = log |det ∂y/∂x|`` summed per sample, shape
``(B,)``; ``inverse(y, cond)`` maps back and returns ``x`` only. All tensors are ``(B, 3, H, W)``.

Every learnable layer is an elementwise affine map ``y = exp(s(c)) · x + b(c)`` whose scale and shift
depend only on the condition ``c`` (dequantized clean image, camera, ISO), never on ``x``. The whole
flow is therefore a heteroscedastic diagonal Gaussian on the noise (reference §1.5).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass

import torch
from kornia.color import linear_rgb_to_rgb, rgb_to_linear_rgb
from torch import nn

__all__ = [
    "ConditionalAffine",
    "ConditionalLinearTable",
    "FlowCondition",
    "LinearNoiseExtraction",
    "MetaEncoder",
    "NoiseExtraction",
    "PointwiseNet",
    "ResampledNoiseScale",
    "SignalDependentLinear",
    "StructureAwareLinear",
    "StructureEncoder",
    "UniformDequantization",
]


@dataclass
class FlowCondition:
    """What every conditional layer sees.

    Attributes:
        clean: dequantized clean image ``(clean_uint8 + u) / 2**num_bits``, ``(B, 3, H, W)``.
        condition_vector: camera/ISO vector ``(B, F)`` fed to the meta encoders, from
            :meth:`ConditionVocabulary.encode` (``F = ConditionVocabulary.meta_features``).
        table_row: CL2 table row ``(B,)`` (one-hot ISO vocabularies) or ``None`` (log-ISO encoding).
    """

    clean: torch.Tensor
    condition_vector: torch.Tensor
    table_row: torch.Tensor | None


def _zero_(layer: nn.Module) -> None:
    """Zero a subnetwork's output layer so that its affine layer starts as the identity.

    Glow does the same for its coupling networks. A new flow is then the identity and its data-dependent
    initialisation (``NMFlowGAN.standardize_latent_``) sets the noise scale exactly.
    """
    nn.init.zeros_(layer.weight)
    nn.init.zeros_(layer.bias)


def _affine_forward(x: torch.Tensor, log_s: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``y = exp(log_s)·x + b``; log-det = Σ log_s over (C, H, W), broadcast to the batch."""
    log_det = log_s.expand_as(x).flatten(1).sum(1)
    return x * torch.exp(log_s) + b, log_det


def _affine_inverse(y: torch.Tensor, log_s: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``x = (y − b)·exp(−log_s)``."""
    return (y - b) * torch.exp(-log_s)


class ConditionalAffine(nn.Module, ABC):
    """An elementwise affine bijector ``y = exp(log_s(c))·x + b(c)`` whose parameters depend on the condition only.

    Subclasses say how they compute ``(log_s, b)`` in :meth:`affine_params`.

    ``forward(x, cond)`` returns ``(y, log_det)`` with ``log_det = Σ log_s`` over (C, H, W), shape
    ``(B,)``; ``inverse(y, cond)`` returns ``(y − b)·exp(−log_s)``.
    """

    @abstractmethod
    def affine_params(self, cond: FlowCondition) -> tuple[torch.Tensor, torch.Tensor]:
        """``(log_s, b)``, each broadcastable to ``(B, 3, H, W)``."""

    def forward(self, x: torch.Tensor, cond: FlowCondition) -> tuple[torch.Tensor, torch.Tensor]:
        """Towards the latent: ``(exp(log_s)·x + b, log_det)``, ``log_det`` of shape ``(B,)``."""
        return _affine_forward(x, *self.affine_params(cond))

    def inverse(self, y: torch.Tensor, cond: FlowCondition) -> torch.Tensor:
        """Towards the data: ``x = (y − b)·exp(−log_s)``."""
        return _affine_inverse(y, *self.affine_params(cond))


class UniformDequantization(nn.Module):
    """UD: ``x = (x_int + u) / 2**num_bits`` with ``u ~ U[0, 1)`` per element.

    Forward takes integer levels (float tensor of values 0..2**num_bits − 1) and returns values in
    [0, 1) with the constant log-det ``−num_bits·ln2`` per dimension (the discrete-likelihood
    convention of Flow-sRGB / Noise2NoiseFlow). Inverse is ``clamp(floor(2**num_bits · x), 0, 2**num_bits − 1)``.
    """

    def __init__(self, num_bits: int = 8) -> None:
        super().__init__()
        self.num_bits = num_bits
        # Mirrors the official state-dict key ``pre_bijectors.0.ldj_per_dim`` (reference §3.2).
        self.register_buffer("ldj_per_dim", torch.tensor(-num_bits * math.log(2.0)))

    @property
    def levels(self) -> int:
        """Number of quantization levels, ``2**num_bits``."""
        return 2**self.num_bits

    def forward(
        self, x_int: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Towards the latent: ``((x_int + u) / 2**num_bits, log_det)``, ``u ~ U[0, 1)`` from ``generator``."""
        u = torch.rand(x_int.shape, generator=generator, device=x_int.device, dtype=x_int.dtype)
        # From num_bits in double precision, not from the float32 buffer (exact in float64 models too).
        log_det = x_int.new_full((x_int.shape[0],), -self.num_bits * math.log(2.0) * x_int[0].numel())
        return (x_int + u) / self.levels, log_det

    def inverse(self, x: torch.Tensor) -> torch.Tensor:
        """Towards the data: integer levels ``clamp(floor(2**num_bits · x), 0, 2**num_bits − 1)`` (float tensor)."""
        return torch.floor(x * self.levels).clamp(0, self.levels - 1)


class NoiseExtraction(nn.Module):
    """NE: ``n = x_noisy − clean`` (log-det 0); inverse adds the clean image back."""

    def forward(self, x: torch.Tensor, cond: FlowCondition) -> tuple[torch.Tensor, torch.Tensor]:
        """Towards the latent: the noise ``x − clean`` and a zero ``log_det`` ``(B,)``."""
        return x - cond.clean, x.new_zeros(x.shape[0])

    def inverse(self, n: torch.Tensor, cond: FlowCondition) -> torch.Tensor:
        """Towards the data: the noisy image ``n + clean``."""
        return n + cond.clean


def srgb_to_linear_log_derivative(x: torch.Tensor) -> torch.Tensor:
    """``log d/dx`` of the sRGB decoding function (IEC 61966-2-1; :func:`kornia.color.rgb_to_linear_rgb`).

    ``f(x) = x / 12.92`` for ``x ≤ 0.04045``, else ``((x + 0.055) / 1.055) ** 2.4``; so
    ``log f'(x) = −log 12.92`` on the linear segment and ``log(2.4 / 1.055) + 1.4·log((x + 0.055) / 1.055)``
    above it. Elementwise, any shape.
    """
    power = math.log(2.4 / 1.055) + 1.4 * torch.log((x.clamp_min(0.04045) + 0.055) / 1.055)
    return torch.where(x <= 0.04045, torch.full_like(x, -math.log(12.92)), power)


class LinearNoiseExtraction(nn.Module):
    """NE in linear light: ``n = f(x_noisy) − f(clean)`` with ``f`` the sRGB decoding function.

    The SIDD sRGB images were rendered from raw with a gamma (sRGB) curve and no tone mapping, so noise
    that is symmetric in linear light, where the sensor adds it and the demosaicing and colour matrix mix
    it, becomes skewed in sRGB (measured skewness of real SIDD noise −0.5 to −0.75 per channel at high
    ISO); the pixel-wise flow, a heteroscedastic Gaussian (reference §1.5), cannot produce that skew in
    the sRGB domain but does so in linear light. Elementwise and monotone, so
    ``log_det = Σ log f'(x_noisy)`` over (C, H, W); the inverse is ``f⁻¹(n + f(clean))``, which extends
    linearly below 0 and by the power law above 1 (values outside [0, 1] are clipped when quantized).
    Uses :func:`kornia.color.rgb_to_linear_rgb` and :func:`kornia.color.linear_rgb_to_rgb` for ``f`` and ``f⁻¹``.
    """

    def forward(self, x: torch.Tensor, cond: FlowCondition) -> tuple[torch.Tensor, torch.Tensor]:
        """Towards the latent: the linear-light noise ``f(x) − f(clean)`` and ``log_det`` ``(B,)``."""
        n = rgb_to_linear_rgb(x) - rgb_to_linear_rgb(cond.clean)
        return n, srgb_to_linear_log_derivative(x).flatten(1).sum(1)

    def inverse(self, n: torch.Tensor, cond: FlowCondition) -> torch.Tensor:
        """Towards the data: the sRGB noisy image ``f⁻¹(n + f(clean))``."""
        return linear_rgb_to_rgb(n + rgb_to_linear_rgb(cond.clean))


class ResampledNoiseScale(ConditionalAffine):
    """Latent-side layer for training images whose noise was resized: ``z = u · exp(−s)``, one ``s`` per channel.

    Resizing a noisy image (e.g. the 256×256 SIDD-Small copies, made with bilinear interpolation from
    full frames) averages neighbouring noise values: it removes the spatial correlation of the noise and
    lowers its level (to about 0.83× native in SIDD-Small). Patches of such images are still informative
    about how the noise level changes with intensity, camera and ISO, so the trainer passes them through
    the pixel-wise layers and then through this layer instead of the flow's
    :class:`~nmflowgan_aug.model.spatial.SpatialCorrelation` layer. ``s`` is learned with the flow (it
    starts at 0) and is not part of the noise model: it describes the resized data.
    """

    def __init__(self, channels: int = 3) -> None:
        super().__init__()
        self.log_scale = nn.Parameter(torch.zeros(channels))

    def affine_params(self, cond: FlowCondition) -> tuple[torch.Tensor, torch.Tensor]:
        """``(−s, 0)``: ``−s`` of shape ``(1, C, 1, 1)`` and a zero shift; ``cond`` is not used."""
        return -self.log_scale[None, :, None, None], torch.zeros((), device=self.log_scale.device)


class _ResidualBlock(nn.Module):
    """Pre-activation block ``x + L2(ReLU(BN(L1(ReLU(BN(x))))))``, last layer initialised near zero."""

    def __init__(self, features: int) -> None:
        super().__init__()
        self.batch_norm_layers = nn.ModuleList([nn.BatchNorm1d(features, eps=1e-3) for _ in range(2)])
        self.linear_layers = nn.ModuleList([nn.Linear(features, features) for _ in range(2)])
        nn.init.uniform_(self.linear_layers[1].weight, -1e-3, 1e-3)
        nn.init.uniform_(self.linear_layers[1].bias, -1e-3, 1e-3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x
        for bn, linear in zip(self.batch_norm_layers, self.linear_layers):
            h = linear(torch.relu(bn(h)))
        return x + h


class MetaEncoder(nn.Module):
    """Camera/ISO embedding MLP: ``Linear(F→5)``, three residual blocks of width 5, ``Linear(5→out)``.

    Args:
        in_features: length F of the condition vector (10 for the official vocabulary).
        out_features: 6 in SAL (log-scale and bias per channel), 3 in SDL.
        hidden: hidden width (official: 5).
        linear_iso: the condition vector is ``[t ‖ onehot(camera)]`` (log-ISO encoding): the MLP sees the
            camera only and ``t`` enters additively, ``MLP(camera) + t·v`` with a slope ``v`` shared by all
            cameras. Each camera's response to ISO then follows the trend learnt from every camera, so an
            ISO a camera was never trained at is extrapolated along that trend instead of through an MLP
            that never saw that (camera, ISO) input.

    Note:
        Contains BatchNorm1d, as the official model does: in train mode the statistics come from the batch
        (a batch of one raises), in eval mode the running statistics are used.
    """

    def __init__(
        self, in_features: int, out_features: int, hidden: int = 5, blocks: int = 3, linear_iso: bool = False
    ) -> None:
        super().__init__()
        self.linear_iso = linear_iso
        self.initial_layer = nn.Linear(in_features - int(linear_iso), hidden)
        self.blocks = nn.ModuleList([_ResidualBlock(hidden) for _ in range(blocks)])
        self.final_layer = nn.Linear(hidden, out_features)
        if linear_iso:
            self.iso_slope = nn.Linear(1, out_features, bias=False)
            nn.init.zeros_(self.iso_slope.weight)  # ISO trend starts in the CL2 layers (see standardize_latent_)

    def forward(self, condition_vector: torch.Tensor) -> torch.Tensor:
        """``(B, F)`` condition vector → ``(B, out_features)`` embedding."""
        v = condition_vector
        h = self.initial_layer(v[:, 1:] if self.linear_iso else v)
        for block in self.blocks:
            h = block(h)
        out = self.final_layer(h)
        return out + self.iso_slope(v[:, :1]) if self.linear_iso else out


class StructureEncoder(nn.Module):
    """SAL's image encoder, receptive field 9×9: ``Conv1×1 → ReLU → 4×[Conv3×3 → ReLU] → Conv1×1 → Tanh``.

    Input ``(B, 3, H, W)`` dequantized clean image in [0, 1]; output ``(B, 6, H, W)`` in [−1, 1].
    """

    def __init__(self, in_channels: int = 3, out_channels: int = 6, features: int = 16) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(in_channels, features, 1), nn.ReLU()]
        for _ in range(4):
            layers += [nn.Conv2d(features, features, 3, padding=1), nn.ReLU()]
        layers += [nn.Conv2d(features, out_channels, 1), nn.Tanh()]
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` clean image → ``(B, 6, H, W)`` structure map in [−1, 1]."""
        return self.body(x)


class PointwiseNet(nn.Module):
    """SDL's per-pixel network (all 1×1 convs), ``(B, 6, H, W) → (B, 6, H, W)`` in [−1, 1].

    ``Conv(6→f)``, then ``[Conv → InstanceNorm(affine) → LeakyReLU(0.2)]`` with widths f→2f→2f→f,
    then ``Conv(f→6) → Tanh``. The instance-norm statistics are taken over the whole input tensor, so
    the output for a pixel depends on the tile it is computed in (reference §1.4).
    """

    def __init__(self, in_channels: int = 6, out_channels: int = 6, features: int = 16) -> None:
        super().__init__()

        def stage(cin: int, cout: int) -> nn.Sequential:
            # GroupNorm with one group per channel is instance norm with an affine map; it has the same
            # state-dict keys as ``nn.InstanceNorm2d(affine=True)`` and a faster channels-last CPU kernel.
            return nn.Sequential(nn.Conv2d(cin, cout, 1), nn.GroupNorm(cout, cout), nn.LeakyReLU(0.2))

        f = features
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, f, 1),
            stage(f, 2 * f),
            stage(2 * f, 2 * f),
            stage(2 * f, f),
            nn.Conv2d(f, out_channels, 1),
            nn.Tanh(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 6, H, W)`` → ``(B, 6, H, W)`` in [−1, 1]."""
        # The first two 1×1 convs have no nonlinearity between them, so they compose into one conv, and
        # both biases are constant over the image and cancel in the instance norm that follows: an exact
        # rewrite that skips one f-channel pass over the image.
        first, (second, *rest) = self.body[0], self.body[1]
        weight = torch.einsum("oc,ci->oi", second.weight[:, :, 0, 0], first.weight[:, :, 0, 0])
        h = nn.functional.conv2d(x, weight[:, :, None, None])
        for layer in (*rest, *self.body[2:]):
            h = layer(h)
        return h


class StructureAwareLinear(ConditionalAffine):
    """SAL: ``y = exp(log_s)·x + b`` with ``[log_s ‖ b] = StructureEncoder(clean) ⊙ MetaEncoder(condition_vector)``.

    The camera/ISO embedding ``(B, 6, 1, 1)`` sets the amplitude of a clean-image-dependent map.
    """

    def __init__(self, meta_features: int, features: int = 16, linear_iso: bool = False) -> None:
        super().__init__()
        self.meta_encoder = MetaEncoder(meta_features, 6, linear_iso=linear_iso)
        self.structure_encoder = StructureEncoder(3, 6, features)
        _zero_(self.meta_encoder.final_layer)

    def affine_params(self, cond: FlowCondition) -> tuple[torch.Tensor, torch.Tensor]:
        """``(log_s, b)``, each ``(B, 3, H, W)``: the structure map scaled by the camera/ISO embedding."""
        e = self.structure_encoder(cond.clean) * self.meta_encoder(cond.condition_vector)[:, :, None, None]
        return e[:, :3], e[:, 3:]


class SignalDependentLinear(ConditionalAffine):
    """SDL: ``[log_s ‖ b] = PointwiseNet([MetaEncoder(condition_vector) broadcast ‖ clean])``, then the affine map.

    The embedding comes first and the clean image second, as in the official layer, so that the input
    columns of ``scale_and_bias.body.0.weight`` in an official checkpoint act on the right channels.

    Note (reference §1.4): because the embedding is spatially constant and the first instance norm
    removes any spatially constant term, this layer is in effect independent of camera/ISO and of a
    global affine change of the patch brightness. It is kept as in the official model so that official
    checkpoints load.
    """

    def __init__(self, meta_features: int, features: int = 16, linear_iso: bool = False) -> None:
        super().__init__()
        self.meta_encoder = MetaEncoder(meta_features, 3, linear_iso=linear_iso)
        self.scale_and_bias = PointwiseNet(6, 6, features)
        _zero_(self.scale_and_bias.body[4])

    def affine_params(self, cond: FlowCondition) -> tuple[torch.Tensor, torch.Tensor]:
        """``(log_s, b)``, each ``(B, 3, H, W)``, from :class:`PointwiseNet` on ``[embedding ‖ clean]``."""
        m = self.meta_encoder(cond.condition_vector)[:, :, None, None].expand(-1, -1, *cond.clean.shape[2:])
        out = self.scale_and_bias(torch.cat([m, cond.clean], dim=1))
        return out[:, :3], out[:, 3:]


class ConditionalLinearTable(ConditionalAffine):
    """CL2: per-channel gain and offset per condition, ``y = exp(s)·x + b``.

    With a one-hot ISO vocabulary (official), ``s = log_scale[row]`` and ``b = bias[row]`` with
    ``row = iso_index·num_cameras + camera`` (a 25×3 table for the official vocabulary). With the
    log-ISO encoding, ``[s, b]`` are linear in the condition vector ``[t ‖ onehot(camera)]``: a gain per
    camera plus a log-ISO slope shared by all cameras, so ISO levels without training data are
    interpolated instead of left at their initial value. Both tables start at zero (identity map).

    Args:
        rows: number of table rows, ``ConditionVocabulary.table_rows``.
    """

    def __init__(self, rows: int, channels: int = 3) -> None:
        super().__init__()
        self.log_scale = nn.Parameter(torch.zeros(rows, channels))
        self.bias = nn.Parameter(torch.zeros(rows, channels))

    def affine_params(self, cond: FlowCondition) -> tuple[torch.Tensor, torch.Tensor]:
        """``(s, b)``, each ``(B, C, 1, 1)``: table rows ``cond.table_row``, else linear in the condition vector."""
        if cond.table_row is not None:
            s, b = self.log_scale[cond.table_row], self.bias[cond.table_row]
        else:
            s, b = cond.condition_vector @ self.log_scale, cond.condition_vector @ self.bias
        return s[:, :, None, None], b[:, :, None, None]

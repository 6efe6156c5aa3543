"""NM-FlowGAN: clean sRGB image + camera + ISO → realistic noisy sRGB image (Han & Yu, arXiv 2312.10112).

Pixel-wise noise comes from a conditional normalizing flow (:class:`NoiseFlow`); spatial correlation is
added by a residual U-Net trained adversarially (:class:`UNet`). Public images are float sRGB in
[0, 1], shape ``(B, 3, H, W)``; internally the official convention is kept: 8-bit levels, scaled by
1/256 inside the flow and the U-Net (reference §4).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict
from pathlib import Path

import torch
from torch import nn

from .._io import atomic_write
from ..srgb import check_same_shape, check_srgb_batch
from ..vocab import CameraLike, Conditions, IsoLike
from .config import NMFlowGANConfig
from .flow import NoiseFlow
from .flow_layers import ConditionalLinearTable, FlowCondition
from .unet import UNet

__all__ = ["NMFlowGAN", "NMFlowGANConfig"]

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
#: Key of the architecture/vocabulary copy in the safetensors header, checked against ``config.json`` on load.
HEADER_CONFIG_KEY = "nmflowgan_config"
#: Which config fields decide the shapes under a state-dict prefix (named when a ``config.json`` does not fit).
_SHAPE_FIELDS = (("unet.", "unet_depth, unet_width"), ("flow.", "cameras, isos, iso_encoding, flow_features"))


class NMFlowGAN(nn.Module):
    """The NM-FlowGAN noise generator (flow + spatial-correlation U-Net).

    Calling the module is sampling: ``model(clean, "GP", 800)`` is ``model.sample(clean, "GP", 800)``
    (so forward hooks, ``torch.compile`` and model summaries see the sampling call).

    Example:
        >>> model = NMFlowGAN().eval()
        >>> clean = torch.rand(2, 3, 64, 64)
        >>> noisy = model.sample(clean, camera="GP", iso=800, generator=torch.Generator().manual_seed(0))
        >>> noisy.shape
        torch.Size([2, 3, 64, 64])
    """

    def __init__(self, config: NMFlowGANConfig | None = None) -> None:
        super().__init__()
        self.config = config or NMFlowGANConfig()
        self.vocabulary = self.config.vocabulary
        v = self.vocabulary
        c = self.config
        self.flow = NoiseFlow(
            v.meta_features, v.table_rows, c.num_bits, c.flow_features, v.iso_encoding == "log",
            noise_domain=c.noise_domain, spatial_kernel=c.spatial_kernel,
        )  # fmt: skip
        #: The GAN-trained spatial-correlation network, or ``None`` (``unet_depth=0``: the flow alone).
        self.unet = UNet(3, c.unet_depth, c.unet_width) if c.unet_depth > 0 else None
        # Channels-last (NHWC) weights and activations let oneDNN use its NHWC kernels: sampling the
        # shipped model on 2 CPU cores went from 5.2 to 6.9-7.6 img/s (batch 16, 256², fp32, same process).
        self.to(memory_format=torch.channels_last)
        #: Provenance and metrics recorded with saved weights (``config.json`` ``metadata``).
        self.metadata: dict = {}

    def _apply(self, fn, recurse=True):
        """``half()``, ``bfloat16()`` and ``to(dtype)`` cast the U-Net only: the flow stays in float32.

        The flow's exp/log-scale arithmetic overflows in float16 (batch >= 2 at 64² already), so it is
        kept in float32 whatever the module dtype, as autocast does (:meth:`synthesize_levels` runs it
        with autocast off); the U-Net takes the requested precision.
        """
        super()._apply(fn, recurse)
        if next(self.flow.parameters()).dtype in (torch.float16, torch.bfloat16):
            self.flow.float()
        return self

    # ------------------------------------------------------------------ conditions
    @property
    def levels(self) -> int:
        """Internal scale: 2**num_bits (256)."""
        return 2**self.config.num_bits

    @property
    def max_level(self) -> int:
        """Largest 8-bit level (255): public images are ``levels / max_level``."""
        return self.levels - 1

    def encode_conditions(self, camera: CameraLike, iso: IsoLike, batch: int, device: torch.device) -> Conditions:
        """Validate camera/ISO against this model's vocabulary (:meth:`ConditionVocabulary.conditions`).

        Returns:
            :class:`~nmflowgan_aug.vocab.Conditions` on ``device``: ``(camera_codes, iso_values)``,
            LongTensors ``(B,)``.

        Raises:
            ValueError: a camera or ISO outside this model's vocabulary (the message lists the supported
                values), or a per-sample sequence whose length is not B.
            TypeError: a camera that is neither a name nor an integer code.
        """
        return self.vocabulary.conditions(camera, iso, batch, device)

    def condition(
        self,
        clean_levels: torch.Tensor,
        camera_codes: torch.Tensor,
        iso_values: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> FlowCondition:
        """Dequantize the clean image (its log-det is discarded, as in the official code) and encode c."""
        clean_deq, _ = self.flow.dequantize(clean_levels, generator)
        meta, row = self.vocabulary.encode(camera_codes, iso_values)
        return FlowCondition(clean_deq, condition_vector=meta.to(clean_deq.dtype), table_row=row)

    def _to_levels(self, image: torch.Tensor) -> torch.Tensor:
        dtype = next(self.parameters()).dtype
        return torch.round(image.to(dtype) * self.max_level)

    # ------------------------------------------------------------------ likelihood
    def log_prob(
        self,
        noisy: torch.Tensor,
        clean: torch.Tensor,
        camera: CameraLike,
        iso: IsoLike,
        *,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Log-likelihood of the 8-bit noisy image under the pixel-wise flow, in nats per image.

        Both images are rounded to 8-bit levels and dequantized with ``U[0, 1)`` noise (drawn from
        ``generator``), so the value is a single-sample estimate of the discrete log-likelihood
        (reference §1.6). Bits per dimension: ``-log_prob / (3·H·W·ln 2)``; see :meth:`nll_bits_per_dim`.

        Args:
            noisy: sRGB in [0, 1], ``(B, 3, H, W)``.
            clean: sRGB in [0, 1], same shape as ``noisy``.
            camera: see :meth:`sample`.
            iso: see :meth:`sample`.
            generator: optional ``torch.Generator`` on ``clean.device`` for the dequantization noise.

        Returns:
            ``(B,)`` tensor, nats.

        Raises:
            ValueError, TypeError: bad shapes, dtypes, ranges, NaN, unknown camera or unsupported ISO.
        """
        check_srgb_batch(noisy, "noisy")
        check_srgb_batch(clean, "clean")
        check_same_shape(noisy, clean)
        cams, isos = self.encode_conditions(camera, iso, clean.shape[0], clean.device)
        return self.log_prob_levels(self._to_levels(noisy), self._to_levels(clean), cams, isos, generator)

    def log_prob_levels(
        self,
        noisy_levels: torch.Tensor,
        clean_levels: torch.Tensor,
        camera_codes: torch.Tensor,
        iso_values: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """:meth:`log_prob` on validated 8-bit levels (float tensors of integers 0..255); used in training."""
        cond = self.condition(clean_levels, camera_codes, iso_values, generator)
        return self.flow.log_prob(noisy_levels, cond, generator)

    @torch.no_grad()
    def standardize_latent_(
        self, noisy_levels: torch.Tensor, clean_levels: torch.Tensor, camera_codes: torch.Tensor, iso_values: torch.Tensor
    ) -> None:
        """Data-dependent initialisation of the last CL2 layer (in the spirit of ActNorm, Kingma & Dhariwal 2018).

        Afterwards ``z`` of these patches has about zero mean and unit variance, per channel and per
        condition.

        The log std of each patch's ``z`` is regressed on the CL2 features by least squares: per
        (camera, ISO) row for the one-hot encoding (rows absent from the patches get the average), and
        ``log σ = a_camera + b·t`` for the log-ISO encoding, the same law the fitted baselines use, so
        the flow starts with the ISO trend of the data. Real sRGB noise is a few 8-bit levels (about 0.02
        in the flow's 1/256 units), so without this a flow starting at the identity spends thousands of
        steps on the overall scale. Call once, before training, on a few hundred training patches
        (8-bit levels, ``(B, 3, H, W)``) covering the training conditions.
        """
        meta, row = self.vocabulary.encode(camera_codes, iso_values)
        last = [layer for layer in self.flow.bijectors if isinstance(layer, ConditionalLinearTable)][-1]
        cond = self.condition(clean_levels, camera_codes, iso_values)

        def latent(levels: torch.Tensor) -> torch.Tensor:  # same dequantization draw for every call
            return self.flow(levels, cond, torch.Generator(levels.device).manual_seed(0))[0]

        # z = a(c)·n + b(c): the noise scale is that of z − z(n = 0); b(c) depends on the clean image only.
        log_std = (latent(noisy_levels) - latent(clean_levels)).std((2, 3)).clamp_min(1e-6).log()  # (B, 3)
        if row is None:
            last.log_scale -= torch.linalg.lstsq(meta.to(log_std.dtype), log_std).solution
        else:
            onehot = torch.nn.functional.one_hot(row, last.log_scale.shape[0]).to(log_std.dtype)
            counts = onehot.sum(0)
            per_row = (onehot.T @ log_std) / counts.clamp_min(1)[:, None]
            per_row[counts == 0] = log_std.mean(0)
            last.log_scale -= per_row
        # One-hot: every row is an offset; log encodings: only the camera rows carry the offset.
        rows = slice(None) if row is not None else self.vocabulary.offset_features
        last.bias[rows] -= latent(noisy_levels).mean((0, 2, 3))

    def nll_bits_per_dim(
        self, noisy: torch.Tensor, clean: torch.Tensor, camera: CameraLike, iso: IsoLike, *, generator=None
    ) -> torch.Tensor:
        """Negative log-likelihood in bits per dimension, ``(B,)``: ``-log_prob / (3·H·W·ln 2)``."""
        return -self.log_prob(noisy, clean, camera, iso, generator=generator) / (noisy[0].numel() * math.log(2.0))

    # ------------------------------------------------------------------ sampling
    def sample_pixelwise_levels(
        self,
        clean_levels: torch.Tensor,
        camera_codes: torch.Tensor,
        iso_values: torch.Tensor,
        generator: torch.Generator | None = None,
        latent: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Flow-only noisy image in 8-bit levels (integers 0..255 as float), ``(B, 3, H, W)``.

        ``latent`` is the flow's standard-normal input ``z`` of ``clean_levels``' shape; by default it is drawn
        from ``generator`` (before the dequantization noise of the clean image). :func:`~nmflowgan_aug.tiling.
        synthesize_tiled` passes windows of one latent drawn for the whole image, so that the flow's spatial
        layer correlates the noise across tile borders as inside a tile.
        """
        if latent is None:
            latent = torch.randn(
                clean_levels.shape, generator=generator, device=clean_levels.device, dtype=clean_levels.dtype
            )
        cond = self.condition(clean_levels, camera_codes, iso_values, generator)
        return self.flow.inverse(latent, cond)

    def add_spatial_correlation(self, noise_levels: torch.Tensor) -> torch.Tensor:
        """Apply the U-Net to a noise map in 8-bit levels, any H and W.

        The map is padded (reflect, or replicate when the image is smaller than the pad) to a multiple
        of ``2**(depth−1)`` and cropped back, so the output has the input's shape.
        """
        h, w = noise_levels.shape[-2:]
        m = self.unet.multiple
        ph, pw = (-h) % m, (-w) % m
        x = (noise_levels / self.levels).to(next(self.unet.parameters()).dtype)  # the U-Net may be half
        if ph or pw:
            mode = "reflect" if ph < h and pw < w else "replicate"
            x = nn.functional.pad(x, (0, pw, 0, ph), mode=mode)
        return self.unet(x)[..., :h, :w] * self.levels

    def synthesize_levels(
        self,
        clean: torch.Tensor,
        camera_codes: torch.Tensor,
        iso_values: torch.Tensor,
        generator: torch.Generator | None = None,
        strength: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Noisy image in (unrounded) 8-bit levels, clipped to [0, 255]; gradients reach the U-Net only.

        The flow sample is drawn without gradient, as in the official generator, so the adversarial
        loss trains the U-Net and the likelihood trains the flow (reference §2.4).

        Args:
            clean: validated sRGB in [0, 1] (any float dtype), ``(B, 3, H, W)``.
            camera_codes: camera codes, LongTensor ``(B,)`` (as :meth:`encode_conditions` returns them).
            iso_values: ISO values, LongTensor ``(B,)`` (as :meth:`encode_conditions` returns them).
            generator: optional ``torch.Generator`` on ``clean.device`` for the flow sample.
            strength: optional float ``(B,)`` factor on the synthesized noise, applied before the clip
                (see :func:`~nmflowgan_aug.condition_sampler.strength_values`).
        """
        clean_scaled = clean.to(next(self.parameters()).dtype, memory_format=torch.channels_last) * self.max_level
        clean_levels = torch.round(clean_scaled)
        device_type = clean.device.type
        with torch.no_grad(), torch.autocast(device_type, enabled=False):
            noisy_flow = self.sample_pixelwise_levels(clean_levels, camera_codes, iso_values, generator)
        noise = noisy_flow - clean_levels
        if self.unet is not None:
            noise = self.add_spatial_correlation(noise)
        noise = noise.to(clean_scaled.dtype)
        if strength is not None:
            noise = noise * strength.to(noise.dtype).view(-1, 1, 1, 1)
        # Clip to [0, 255] (the official code clips to 256, an off-by-one; reference §2.2).
        return (clean_scaled + noise).clamp(0, self.max_level)

    def forward(
        self, clean: torch.Tensor, camera: CameraLike, iso: IsoLike, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """The sampling call, ``model(clean, camera, iso)``: see :meth:`sample`."""
        check_srgb_batch(clean, "clean")
        conditions = self.encode_conditions(camera, iso, clean.shape[0], clean.device)
        return self.sample_conditioned(clean, conditions, generator)

    def sample(
        self,
        clean: torch.Tensor,
        camera: CameraLike,
        iso: IsoLike,
        *,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Synthesize realistic camera noise on clean sRGB images (the same as calling the module).

        Runs in eval mode (the module's mode is restored afterwards) under ``torch.inference_mode()``;
        the result is copied out into a normal tensor, so it can enter a denoiser's autograd graph.
        Works on CPU and CUDA, under bf16/fp16 autocast on CUDA or bf16 autocast on CPU, and after
        ``model.half()``: only the U-Net follows autocast or the module dtype, the flow always runs in
        float32.

        Args:
            clean: clean sRGB images in [0, 1], float, ``(B, 3, H, W)``, any H and W.
            camera: camera name (``"GP"``), code (``1``), a sequence of B names/codes or a LongTensor ``(B,)``.
            iso: ISO value (``800``), a sequence of B values or a tensor ``(B,)``; required. A log-ISO
                model accepts any whole ISO in its trained range, a one-hot model its ISO values.
            generator: optional ``torch.Generator`` on ``clean.device``; seeded runs reproduce exactly.

        Returns:
            Noisy sRGB in [0, 1], same shape, dtype and device as ``clean`` (not re-quantized to 8 bits).

        Raises:
            TypeError: non-float input, or a camera/ISO that is ``None`` or of the wrong type.
            ValueError: wrong shape or channel count, values outside [0, 1], NaN, unknown camera,
                unsupported ISO, per-sample camera/ISO of the wrong length, or a 1-pixel image.
        """
        return self(clean, camera, iso, generator=generator)

    def sample_conditioned(
        self,
        clean: torch.Tensor,
        conditions: Conditions,
        generator: torch.Generator | None = None,
        strength: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """:meth:`sample` on validated input.

        The entry point of :meth:`forward` and :func:`~nmflowgan_aug.functional.add_camera_noise`, which
        check their input once.

        Args:
            clean: sRGB in [0, 1], float, ``(B, 3, H, W)``, already checked (see
                :func:`~nmflowgan_aug.srgb.check_srgb_batch`).
            conditions: from :meth:`encode_conditions` or
                :meth:`~nmflowgan_aug.condition_sampler.ConditionSampler.sample` for this model's
                vocabulary, on ``clean.device``.
            generator: optional ``torch.Generator`` on ``clean.device``.
            strength: optional validated float ``(B,)`` noise factor on ``clean.device``.

        Returns:
            Noisy sRGB, same shape, dtype and device as ``clean``: a normal tensor (computed under
            ``torch.inference_mode()``, copied out), usable in autograd.

        Raises:
            ValueError: a 1-pixel image (the SDL normalises over the image, reference §1.4).
        """
        if clean.shape[-2] * clean.shape[-1] < 2:
            raise ValueError(
                f"clean is {clean.shape[-2]}×{clean.shape[-1]} pixels; at least 2 pixels per image are needed "
                "(the SDL normalises over the image, reference §1.4)"
            )
        was_training = self.training
        self.eval()
        try:
            with torch.inference_mode():
                levels = self.synthesize_levels(clean, *conditions, generator, strength)
        finally:
            self.train(was_training)
        # Outside inference mode: a normal tensor in the caller's dtype and memory format.
        return torch.empty_like(clean).copy_(levels / self.max_level)

    # ------------------------------------------------------------------ persistence
    def save_pretrained(self, directory: str | os.PathLike, metadata: dict | None = None, overwrite: bool = False) -> Path:
        """Write ``model.safetensors`` and ``config.json`` to ``directory``.

        ``config.json`` holds the architecture, the vocabulary and ``metadata`` such as training data and
        metrics.

        Files are written to temporary names and renamed, so an interrupted save never leaves a
        half-written model. The safetensors header holds a copy of the config, so that
        :meth:`from_pretrained` refuses a ``config.json`` edited afterwards (e.g. reordered cameras).

        Raises:
            FileExistsError: the directory already holds a saved model and ``overwrite`` is False.
        """
        from safetensors.torch import save_file

        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        targets = [out / WEIGHTS_FILE, out / CONFIG_FILE]
        if not overwrite and any(t.exists() for t in targets):
            raise FileExistsError(f"{out} already holds a saved model; pass overwrite=True to replace it")
        state = {k: v.detach().contiguous().cpu() for k, v in self.state_dict().items()}
        doc = {"architecture": "NMFlowGAN", "config": asdict(self.config), "metadata": metadata or {}}
        header = {HEADER_CONFIG_KEY: json.dumps(asdict(self.config))}
        atomic_write(targets[0], lambda p: save_file(state, str(p), metadata=header))
        atomic_write(targets[1], lambda p: Path(p).write_text(json.dumps(doc, indent=2) + "\n"))
        return out

    @classmethod
    def from_pretrained(cls, name_or_path: str | os.PathLike, map_location: str | torch.device = "cpu") -> NMFlowGAN:
        """Load a model saved by :meth:`save_pretrained`, or a shipped one by name (see ``list_pretrained()``).

        The one public way to load a model; it comes back in eval mode (call ``requires_grad_(False)``
        for a frozen noise source). Loading does not touch torch's global RNG (the random
        initialisation that the weights replace runs on a forked RNG), so seeded code after a load
        draws the same numbers as without it.

        Args:
            name_or_path: a folder with ``model.safetensors`` + ``config.json``, or a shipped name.
            map_location: device of the weights (``"cpu"``, ``"cuda"``, ``"cuda:1"``, a ``torch.device``).

        Raises:
            FileNotFoundError: neither a folder with ``model.safetensors`` + ``config.json`` nor a known name.
            ValueError: a device that does not exist here (e.g. ``"cuda"`` without CUDA), corrupt files
                (the error names the file), a ``config.json`` that does not match its weights (the error
                names both files and the mismatching field), or a checksum mismatch for shipped models.
        """
        from safetensors import safe_open

        from ..pretrained._loading import weights_folder

        device = _available_device(map_location)
        folder = weights_folder(name_or_path)
        config_file, weights_file = folder / CONFIG_FILE, folder / WEIGHTS_FILE
        try:
            doc = json.loads(config_file.read_text())
            config = NMFlowGANConfig.from_dict(doc["config"])
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:  # ValueError: a bad field value
            raise ValueError(f"corrupt model config {config_file}: {e}") from e
        try:
            with safe_open(str(weights_file), framework="pt", device="cpu") as f:
                header = f.metadata() or {}
                state = {key: f.get_tensor(key) for key in f.keys()}
        except Exception as e:  # safetensors raises its own error types for truncated/corrupt files
            raise ValueError(f"corrupt weights file {weights_file}: {e}") from e
        if HEADER_CONFIG_KEY in header:
            saved = json.loads(header[HEADER_CONFIG_KEY])
            for field, value in asdict(config).items():
                if field in saved and list(_as_list(saved[field])) != list(_as_list(value)):
                    raise ValueError(
                        f"{config_file} does not match its weights {weights_file}: field {field!r} is {value!r} in "
                        f"{CONFIG_FILE} but {saved[field]!r} in the weights; restore {CONFIG_FILE} or save the model again"
                    )
        with torch.random.fork_rng(devices=[]):  # the random init below must not advance the global RNG
            model = cls(config)
        try:
            model.load_state_dict(state)
        except RuntimeError as e:  # missing/unexpected keys or wrong shapes: config.json describes another model
            first = str(e).split("\n\t")[1] if "\n\t" in str(e) else str(e)
            fields = next((f for prefix, f in _SHAPE_FIELDS if f" {prefix}" in first or f'"{prefix}' in first), "")
            raise ValueError(
                f"{config_file} does not match its weights {weights_file} (check the fields {fields or 'of the config'}): "
                f"{first.strip()}"
            ) from e
        model.metadata = doc.get("metadata", {})
        return model.to(device).eval()

    @classmethod
    def from_official_checkpoint(cls, path: str | os.PathLike) -> NMFlowGAN:
        """Load the official ``NMFlowGAN_NoiseModeler.pth`` (generator weights; reference §3.2).

        The official vocabulary (IP, GP, S6, N6, G4; ISO 100…3200), depth-5 width-64 U-Net.

        Raises:
            FileNotFoundError: missing file.
            ValueError: a file that is not an NM-FlowGAN generator checkpoint (the message lists the
                keys that were missing or unexpected).
        """
        from .official import convert_official_state_dict, read_official_checkpoint

        with torch.random.fork_rng(devices=[]):  # loading must not advance the global RNG
            model = cls(NMFlowGANConfig())
        state = convert_official_state_dict(read_official_checkpoint(path))
        try:
            missing, unexpected = model.load_state_dict(state, strict=False)
        except RuntimeError as e:  # tensors of the wrong shape (strict=False still checks shapes)
            raise ValueError(f"{path} does not match the official NM-FlowGAN generator layout: {e}") from e
        if missing or unexpected:
            raise ValueError(
                f"{path} does not match the official NM-FlowGAN generator layout: "
                f"missing keys {missing[:8]}{'…' if len(missing) > 8 else ''}, "
                f"unexpected keys {unexpected[:8]}{'…' if len(unexpected) > 8 else ''}"
            )
        return model.eval()


def _as_list(value: object) -> object:
    """Tuples and lists compare equal (JSON has only lists)."""
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _available_device(map_location: str | torch.device) -> torch.device:
    """``map_location`` as a device that exists on this machine.

    Raises:
        ValueError: an unknown device string, CUDA without CUDA, or a CUDA index beyond the device count.
    """
    try:
        device = torch.device(map_location)
    except (RuntimeError, TypeError) as e:
        raise ValueError(f"map_location {map_location!r} is not a device: {e}") from e
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"map_location {str(map_location)!r} requested but CUDA is not available on this machine; "
                             "use map_location='cpu'")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(f"map_location {str(map_location)!r}: only {torch.cuda.device_count()} CUDA device(s) here")
    return device

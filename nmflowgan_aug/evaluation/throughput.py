"""Throughput of noise synthesis: timed workloads and their measurement with ``torch.utils.benchmark.Timer``.

Workloads (each a factory ``make(batch) -> call``): :func:`sampler_workload` (``NMFlowGAN.sample``
under an autocast dtype), :func:`flow_workload` (the flow alone: pixel-wise noise, no U-Net) and
:func:`kornia_workload` (kornia's ``RandomGaussianNoise``); :func:`step_overhead` times one DnCNN
training step fed by kornia noise against one fed by the model.

Timing (:func:`measure`): ``Timer.blocked_autorange`` (it synchronizes CUDA around the timed blocks and
reports the median over blocks) after warm-up calls, at the torch thread count of the caller. On the
CPU the call time is predicted first from a small probe, so that calls that would take too long are
skipped or timed once.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.benchmark import Timer

from ..denoisers import DnCNN
from ..model import NMFlowGAN, NMFlowGANConfig
from ..vocab import SIDD_VOCABULARY

__all__ = [
    "DTYPES",
    "Settings",
    "Timing",
    "autocast",
    "flow_workload",
    "kornia_noise",
    "kornia_workload",
    "measure",
    "measure_series",
    "mixed_conditions",
    "n_params",
    "sampler_workload",
    "stand_in_model",
    "step_overhead",
    "unet_macs",
]

#: Sampling dtypes: fp32, or autocast to bf16 / fp16.
DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}

Workload = Callable[[int], Callable[[], Any]]


@dataclass
class Timing:
    """One measurement: median seconds per call (None when skipped), per-block times, how it was warmed up."""

    median_s: float | None
    times_s: list[float] = field(default_factory=list)
    warmup: str = ""
    skipped: str | None = None
    peak_mib: float | None = None


@dataclass
class Settings:
    """How to measure.

    Attributes:
        warmup: untimed calls before timing.
        repeats: aim for about this many timed calls (Timer's run time is ``repeats ×`` the predicted call time).
        budget_s: at most this much timed work per measurement.
        max_call_s: CPU: skip a measurement whose call is predicted to take longer.
        slow_call_s: CPU: above this predicted call time, warm up on the probe only and time one call.
    """

    warmup: int
    repeats: int
    budget_s: float
    max_call_s: float
    slow_call_s: float


def _timer(fn: Callable[[], Any]) -> Timer:
    return Timer(stmt="fn()", globals={"fn": fn}, num_threads=torch.get_num_threads())


def _time_once(fn: Callable[[], Any]) -> float:
    """Seconds of one call after one untimed call (Timer's block-size estimate)."""
    return _timer(fn).blocked_autorange(min_run_time=0.0).median


def measure(
    make_fn: Workload,
    batch: int,
    device: torch.device,
    s: Settings,
    seconds_per_image: float | None = None,
) -> Timing:
    """Time ``make_fn(batch)()`` with :class:`torch.utils.benchmark.Timer`; the median over timed blocks is reported.

    The call time is predicted first from ``seconds_per_image`` (e.g. the same workload at a smaller
    batch) or else from a probe at batch ``min(batch, 4)`` (one untimed and one timed call). On the
    CPU, calls predicted above ``s.max_call_s`` are skipped (the reason is recorded) and calls above
    ``s.slow_call_s`` are timed once after Timer's one untimed call. Otherwise ``s.warmup`` untimed
    calls precede ``Timer.blocked_autorange`` with a run time of ``min(s.budget_s, s.repeats ×
    predicted)``. On CUDA the peak memory allocated during the timed calls is recorded too.
    """
    note = "warm-up: smaller batch"
    if seconds_per_image is None:
        pb = min(batch, 4)
        seconds_per_image = _time_once(make_fn(pb)) / pb
        note = f"warm-up: batch-{pb} probe"
    predicted = seconds_per_image * batch
    if device.type == "cpu":
        if predicted > s.max_call_s:
            reason = f"skipped: predicted {predicted:.0f} s per call > --max-call-s {s.max_call_s:g}"
            return Timing(None, skipped=reason)
        if predicted > s.slow_call_s:
            m = _timer(make_fn(batch)).blocked_autorange(min_run_time=0.0)
            return Timing(m.median, m.times, f"{note}; 1 timed call (slow)")
    fn = make_fn(batch)
    for _ in range(max(1, s.warmup)):
        fn()
    peak = None
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
    m = _timer(fn).blocked_autorange(min_run_time=min(s.budget_s, s.repeats * predicted))
    if device.type == "cuda":
        peak = (torch.cuda.max_memory_allocated(device) - base) / 2**20
    return Timing(m.median, m.times, f"{max(1, s.warmup)}× at batch {batch}", None, peak)


def measure_series(
    what: str,
    label: str,
    make: Workload,
    batches: Sequence[int],
    dtype: str,
    params: int,
    device: torch.device,
    s: Settings,
) -> list[dict[str, Any]]:
    """Rows of :func:`measure` for increasing batch sizes; each batch's call time is predicted from the previous one.

    Each row: ``what``, ``label``, ``batch``, ``dtype``, ``img_s``, ``ms_per_call``, ``peak_mib``, ``params``,
    ``timing`` (the :class:`Timing` as a dict); ``img_s`` and ``ms_per_call`` are None when skipped.
    """
    rows = []
    hint = None  # seconds per image from the previous (smaller) batch
    for b in sorted(batches):
        t = measure(make, b, device, s, hint)
        rows.append({"what": what, "label": label, "batch": b, "dtype": dtype,
                     "img_s": b / t.median_s if t.median_s else None,
                     "ms_per_call": t.median_s * 1000 if t.median_s else None, "peak_mib": t.peak_mib,
                     "params": params, "timing": asdict(t)})
        if t.median_s:
            hint = t.median_s / b
    return rows


def autocast(device: torch.device, dtype_name: str) -> torch.autocast:
    """``torch.autocast`` for a :data:`DTYPES` name (disabled for fp32)."""
    dt = DTYPES[dtype_name]
    if dt is None:
        return torch.autocast(device.type, enabled=False)
    return torch.autocast(device.type, dtype=dt)


def mixed_conditions(model: NMFlowGAN, batch: int) -> tuple[list[str], list[int]]:
    """Per-sample cameras and ISOs cycling through the model's vocabulary (as in a real training batch)."""
    v = model.vocabulary
    cams = [v.cameras[i % v.num_cameras] for i in range(batch)]
    isos = [v.isos[(i * 7 + 3) % v.num_isos] for i in range(batch)]
    return cams, isos


def sampler_workload(model: NMFlowGAN, size: int, device: torch.device, dtype_name: str) -> Workload:
    """``model.sample`` on random ``size``×``size`` sRGB batches, mixed conditions, under ``dtype_name`` autocast."""

    def make(batch: int) -> Callable[[], Any]:
        g = torch.Generator(device=device).manual_seed(0)
        clean = torch.rand(batch, 3, size, size, generator=g, device=device)
        cams, isos = mixed_conditions(model, batch)

        def call():
            with autocast(device, dtype_name):
                return model.sample(clean, cams, isos, generator=g)

        return call

    return make


def flow_workload(model: NMFlowGAN, size: int, device: torch.device) -> Workload:
    """The flow part alone: pixel-wise noise (condition encoding + inverse flow), no U-Net."""

    def make(batch: int) -> Callable[[], Any]:
        g = torch.Generator(device=device).manual_seed(0)
        clean = torch.rand(batch, 3, size, size, generator=g, device=device)
        cams, isos = mixed_conditions(model, batch)

        @torch.inference_mode()
        def call():
            c, i = model.encode_conditions(cams, isos, batch, clean.device)
            levels = torch.round(clean * model.max_level)
            return (model.sample_pixelwise_levels(levels, c, i, g) / model.max_level).clamp(0, 1)

        return call

    return make


def kornia_noise(std: float = 0.03) -> torch.nn.Module:
    """The ``RandomGaussianNoise`` of kornia (always applied), the cheap baseline of the timings."""
    from kornia.augmentation import RandomGaussianNoise

    return RandomGaussianNoise(mean=0.0, std=std, p=1.0)


def kornia_workload(size: int, device: torch.device) -> Workload:
    """The kornia ``RandomGaussianNoise`` (std 0.03) on random ``size``×``size`` batches, clipped to [0, 1]."""
    aug = kornia_noise().to(device)

    def make(batch: int) -> Callable[[], Any]:
        clean = torch.rand(batch, 3, size, size, device=device)

        @torch.inference_mode()
        def call():
            return aug(clean).clamp(0, 1)

        return call

    return make


def unet_macs(model: NMFlowGAN, size: int) -> float:
    """Multiply-accumulates of the U-Net for one ``size``×``size`` image (conv and transposed conv)."""
    total = [0]

    def conv_hook(m, inp, out):
        k = m.kernel_size[0] * m.kernel_size[1] * (m.in_channels // m.groups)
        total[0] += out.numel() * k

    def tconv_hook(m, inp, out):
        total[0] += inp[0].numel() * m.out_channels * m.kernel_size[0] * m.kernel_size[1] // m.groups

    hooks = []
    for mod in model.unet.modules():
        if isinstance(mod, torch.nn.ConvTranspose2d):
            hooks.append(mod.register_forward_hook(tconv_hook))
        elif isinstance(mod, torch.nn.Conv2d):
            hooks.append(mod.register_forward_hook(conv_hook))
    try:
        with torch.inference_mode():
            model.unet(torch.zeros(1, 3, size, size, device=next(model.parameters()).device))
    finally:
        for h in hooks:
            h.remove()
    return float(total[0])


def n_params(module: torch.nn.Module) -> int:
    """Number of parameters of ``module``."""
    return sum(p.numel() for p in module.parameters())


def stand_in_model(depth: int, width: int) -> NMFlowGAN:
    """An untrained NM-FlowGAN with the SIDD vocabulary and a U-Net of ``depth`` × ``width`` (seed 0).

    Weights do not change the speed, so it stands in for a trained model of the same size.
    """
    torch.manual_seed(0)
    cfg = NMFlowGANConfig(cameras=SIDD_VOCABULARY.cameras, isos=SIDD_VOCABULARY.isos, iso_encoding="log",
                          unet_depth=depth, unet_width=width)
    return NMFlowGAN(cfg)


def step_overhead(
    model: NMFlowGAN,
    device: torch.device,
    s: Settings,
    sample_dtype: str,
    *,
    layers: int = 18,
    features: int = 64,
    batch: int = 64,
    patch: int = 96,
) -> dict[str, Any]:
    """Median time of one DnCNN training step fed by kornia noise vs by ``model.sample``.

    Both variants share the DnCNN (``layers`` × ``features``, Adam, L2 loss), optimizer and clean batch
    ``(batch, 3, patch, patch)``. The two are timed in alternating rounds (kornia, model, kornia, ...;
    one timed step each per round, after Timer's untimed one) so that drift affects both equally; the
    number of rounds is ``s.repeats``, fewer when the first round predicts more than ``s.budget_s``.
    The DnCNN step itself runs in fp32; only the synthesis uses ``sample_dtype`` autocast.

    Returns:
        ``dncnn``, ``batch``, ``patch``, ``sample_dtype``, ``kornia_step_s``, ``model_step_s``,
        ``overhead`` (``model / kornia − 1``), ``repeats`` (rounds), ``times_kornia_s``, ``times_model_s``.
    """
    torch.manual_seed(0)
    dn = DnCNN(3, layers, features).to(device).train()
    opt = torch.optim.Adam(dn.parameters(), lr=1e-4)
    clean = torch.rand(batch, 3, patch, patch, device=device)
    cams, isos = mixed_conditions(model, batch)
    aug = kornia_noise().to(device)
    g = torch.Generator(device=device).manual_seed(0)

    def train_step(noisy: torch.Tensor) -> None:
        loss = F.mse_loss(dn(noisy), clean)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def step_kornia():
        with torch.no_grad():
            noisy = aug(clean).clamp(0, 1)
        train_step(noisy)

    def step_model():
        with autocast(device, sample_dtype):
            noisy = model.sample(clean, cams, isos, generator=g)
        train_step(noisy.clone())  # inference tensor -> normal tensor

    for _ in range(max(1, s.warmup)):
        step_kornia()
        step_model()
    tk, tm = [_time_once(step_kornia)], [_time_once(step_model)]
    repeats = max(1, min(s.repeats, int(s.budget_s / max(tk[0] + tm[0], 1e-9))))
    for _ in range(repeats - 1):
        tk.append(_time_once(step_kornia))
        tm.append(_time_once(step_model))
    mk, mm = statistics.median(tk), statistics.median(tm)
    return {
        "dncnn": f"{layers} layers × {features} features",
        "batch": batch,
        "patch": patch,
        "sample_dtype": sample_dtype,
        "kornia_step_s": mk,
        "model_step_s": mm,
        "overhead": (mm - mk) / mk,
        "repeats": repeats,
        "times_kornia_s": tk,
        "times_model_s": tm,
    }

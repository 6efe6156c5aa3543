#!/usr/bin/env python
"""Throughput of noise synthesis with NM-FlowGAN, and its cost inside a denoiser training step.

Measured in one process, on one device, so that the ratios are meaningful:

* images per second of ``NMFlowGAN.sample`` at 256×256 for batch sizes 16 and 64, in fp32 and under
  bf16 / fp16 autocast (on CUDA; bf16 also on CPUs with native bf16, AVX512-BF16 or AMX), for the **shipped** model and the **official-size** model
  (flow + U-Net depth 5 × width 64, 31 M parameters), with peak GPU memory;
* the same for two baselines: the flow part alone (pixel-wise noise, no U-Net) and kornia's
  ``RandomGaussianNoise``;
* the overhead that synthesizing the noisy inputs on the fly adds to one training step of DnCNN
  (18 layers, 64 features, batch 64 of 96×96, Adam, L2), against the same step fed by kornia's
  ``RandomGaussianNoise``;
* with ``--sweep``: img/s of a few U-Net (depth, width) settings, to choose the shipped size.

Timing: warm-up calls first; on CUDA each call is timed with CUDA events after a synchronize; the
reported time is the median of the repeats. Sampling runs under ``torch.inference_mode`` (inside
``NMFlowGAN.sample``). Weights do not change the speed, so untrained models are timed when no
trained one is available (and labelled so).

Examples::

    python benchmarks/throughput.py --quick --sweep          # ~3 min on 2 CPU cores
    python benchmarks/throughput.py --device cuda --json throughput.json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shlex
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script from a checkout
    sys.path.insert(0, str(REPO))

import nmflowgan_aug  # noqa: E402
from benchmarks._cli import HelpFormatter  # noqa: E402
from nmflowgan_aug import NMFlowGAN, NMFlowGANConfig  # noqa: E402
from nmflowgan_aug._io import atomic_write  # noqa: E402
from nmflowgan_aug.denoisers import DnCNN  # noqa: E402
from nmflowgan_aug.devices import resolve_device  # noqa: E402
from nmflowgan_aug.vocab import SIDD_VOCABULARY  # noqa: E402

DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}

#: Targets for the shipped model (issue text).
TARGETS = {
    "cpu_img_s_256": 5.0,  # on 2 CPU cores, fp32
    "cuda_img_s_256_bf16": 2000.0,  # one H200-class GPU
    "cuda_step_overhead": 0.15,  # DnCNN step, vs kornia RandomGaussianNoise
}

DEFAULT_SWEEP = "5x64,4x32,4x16,3x16,3x8,2x8"


# ==================================================================================================
# machine and timing


def machine_info(device: torch.device) -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        usable = os.cpu_count()
    info = {
        "cpu": cpu,
        "cpu_cores_visible": os.cpu_count(),
        "cpu_cores_usable": usable,
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "nmflowgan_aug": nmflowgan_aug.__version__,
        "platform": platform.platform(),
        "device": str(device),
        "cpu_native_bf16": cpu_has_native_bf16(),
        # glibc returns large freed blocks to the OS, so every big CPU tensor is page-faulted afresh;
        # these variables (or a caching allocator in LD_PRELOAD) change CPU timings by up to 2x.
        "allocator_env": {k: v for k, v in os.environ.items() if k.startswith("MALLOC_") or k == "LD_PRELOAD"},
        "load_average_1min": _loadavg(),
    }
    try:
        import kornia

        info["kornia"] = kornia.__version__
    except ImportError:  # pragma: no cover
        info["kornia"] = None
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info.update(
            gpu=props.name,
            gpu_memory_gib=round(props.total_memory / 2**30, 1),
            gpu_capability=f"{props.major}.{props.minor}",
            cuda=torch.version.cuda,
            cudnn=torch.backends.cudnn.version(),
        )
    else:
        info["gpu"] = None
    return info


def _loadavg() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):  # not available on this platform
        return None


def _busy(load_start: float | None, load_end: float | None, cores: int) -> bool:
    """Other work on the machine: load before we started above half the cores, or at the end above
    the cores plus one (our own threads account for up to one load per core)."""
    return (load_start or 0) > 0.5 * cores or (load_end or 0) > cores + 1


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_call(fn: Callable[[], Any], device: torch.device) -> float:
    """Seconds for one call: CUDA events on CUDA (after a synchronize), perf_counter on CPU."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        return start.elapsed_time(end) / 1000.0
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


@dataclass
class Timing:
    median_s: float | None
    times_s: list[float] = field(default_factory=list)
    warmup: str = ""
    skipped: str | None = None
    peak_mib: float | None = None


@dataclass
class Settings:
    warmup: int
    repeats: int
    budget_s: float  # aim for at most this much timed work per measurement
    max_call_s: float  # skip a measurement whose calls are predicted to take longer (CPU)
    slow_call_s: float  # above this predicted call time, warm up on batch 1 and time one call


def measure(
    make_fn: Callable[[int], Callable[[], Any]],
    batch: int,
    device: torch.device,
    s: Settings,
    seconds_per_image: float | None = None,
) -> Timing:
    """Time ``make_fn(batch)()``: warm-up, then repeats; the median is reported.

    On CPU the call time is predicted first, from ``seconds_per_image`` (e.g. the same workload at a
    smaller batch) or else from a probe at batch ``min(batch, 4)``. Calls predicted above
    ``max_call_s`` are skipped (the reason is recorded), calls above ``slow_call_s`` are warmed up by
    the probe only and timed once. Repeats are reduced so that the timed work stays near ``budget_s``.
    """
    if device.type == "cpu":
        note = "warm-up: smaller batch"
        if seconds_per_image is None:
            pb = min(batch, 4)
            probe = make_fn(pb)
            probe()
            seconds_per_image = time_call(probe, device) / pb
            note = f"warm-up: batch-{pb} probe"
        predicted = seconds_per_image * batch
        if predicted > s.max_call_s:
            return Timing(None, skipped=f"skipped: predicted {predicted:.0f} s per call > --max-call-s {s.max_call_s:g}")
        if predicted > s.slow_call_s:
            t = time_call(make_fn(batch), device)
            return Timing(t, [t], f"{note}; 1 timed call (slow)")
    fn = make_fn(batch)
    first = 0.0
    for _ in range(max(1, s.warmup)):
        first = time_call(fn, device)
    repeats = max(1, min(s.repeats, int(s.budget_s / max(first, 1e-9))))
    peak = None
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
    times = [time_call(fn, device) for _ in range(repeats)]
    if device.type == "cuda":
        peak = (torch.cuda.max_memory_allocated(device) - base) / 2**20
    return Timing(statistics.median(times), times, f"{max(1, s.warmup)}× at batch {batch}", None, peak)


def cpu_has_native_bf16() -> bool:
    """oneDNN has native bf16 kernels here (AVX512-BF16 or AMX); elsewhere CPU bf16 is emulated and slow."""
    return torch.backends.mkldnn.is_available() and bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def autocast_ctx(device: torch.device, dtype_name: str):
    dt = DTYPES[dtype_name]
    if dt is None:
        return torch.autocast(device.type, enabled=False)
    return torch.autocast(device.type, dtype=dt)


# ==================================================================================================
# workloads


def conditions(model: NMFlowGAN, batch: int) -> tuple[list[str], list[int]]:
    """Mixed per-sample conditions cycling through the vocabulary (as in a real training batch)."""
    v = model.vocabulary
    cams = [v.cameras[i % v.num_cameras] for i in range(batch)]
    isos = [v.isos[(i * 7 + 3) % v.num_isos] for i in range(batch)]
    return cams, isos


def sampler_fn(model: NMFlowGAN, size: int, device: torch.device, dtype_name: str) -> Callable[[int], Callable[[], Any]]:
    def make(batch: int) -> Callable[[], Any]:
        g = torch.Generator(device=device).manual_seed(0)
        clean = torch.rand(batch, 3, size, size, generator=g, device=device)
        cams, isos = conditions(model, batch)

        def call():
            with autocast_ctx(device, dtype_name):
                return model.sample(clean, cams, isos, generator=g)

        return call

    return make


def flow_fn(model: NMFlowGAN, size: int, device: torch.device) -> Callable[[int], Callable[[], Any]]:
    """The flow part alone: pixel-wise noise (condition encoding + inverse flow), no U-Net."""

    def make(batch: int) -> Callable[[], Any]:
        g = torch.Generator(device=device).manual_seed(0)
        clean = torch.rand(batch, 3, size, size, generator=g, device=device)
        cams, isos = conditions(model, batch)

        @torch.inference_mode()
        def call():
            c, i = model.encode_conditions(cams, isos, batch, clean.device)
            levels = torch.round(clean * model.max_level)
            return (model.sample_pixelwise_levels(levels, c, i, g) / model.max_level).clamp(0, 1)

        return call

    return make


def kornia_noise(std: float = 0.03):
    from kornia.augmentation import RandomGaussianNoise

    return RandomGaussianNoise(mean=0.0, std=std, p=1.0)


def kornia_fn(size: int, device: torch.device) -> Callable[[int], Callable[[], Any]]:
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
    return sum(p.numel() for p in module.parameters())


# ==================================================================================================
# DnCNN step overhead


def step_overhead(
    model: NMFlowGAN, args: argparse.Namespace, device: torch.device, s: Settings, sample_dtype: str
) -> dict[str, Any]:
    """Median time of one DnCNN training step fed by kornia noise vs by ``model.sample``.

    Both variants share the DnCNN, optimizer and clean batch; their repeats are interleaved
    (A, B, A, B, …) so that drift affects both equally. The DnCNN step itself runs in fp32; only
    the synthesis uses ``sample_dtype`` autocast.
    """
    torch.manual_seed(0)
    dn = DnCNN(3, args.step_layers, args.step_features).to(device).train()
    opt = torch.optim.Adam(dn.parameters(), lr=1e-4)
    b, p = args.step_batch, args.step_patch
    clean = torch.rand(b, 3, p, p, device=device)
    cams, isos = conditions(model, b)
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
        with autocast_ctx(device, sample_dtype):
            noisy = model.sample(clean, cams, isos, generator=g)
        train_step(noisy.clone())  # inference tensor -> normal tensor

    for _ in range(max(1, s.warmup)):
        first_k = time_call(step_kornia, device)
        first_m = time_call(step_model, device)
    repeats = max(1, min(s.repeats, int(s.budget_s / max(first_k + first_m, 1e-9))))
    tk, tm = [], []
    for _ in range(repeats):
        tk.append(time_call(step_kornia, device))
        tm.append(time_call(step_model, device))
    mk, mm = statistics.median(tk), statistics.median(tm)
    return {
        "dncnn": f"{args.step_layers} layers × {args.step_features} features",
        "batch": b,
        "patch": p,
        "sample_dtype": sample_dtype,
        "kornia_step_s": mk,
        "model_step_s": mm,
        "overhead": (mm - mk) / mk,
        "repeats": repeats,
        "times_kornia_s": tk,
        "times_model_s": tm,
    }


# ==================================================================================================
# command line


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="throughput.py",
        description=(
            "Images/s of NM-FlowGAN noise synthesis at 256×256 (shipped and official-size model, fp32, bf16 autocast "
            "on CUDA and on CPUs with native bf16, fp16 autocast on CUDA), peak GPU memory, the flow alone and kornia RandomGaussianNoise as baselines, and the "
            "overhead of on-the-fly synthesis in one DnCNN training step, all measured in one process."
        ),
        formatter_class=HelpFormatter,
    )
    p.add_argument("--model", default=None, metavar="DIR_OR_NAME",
                   help="the shipped model: a saved-model folder or a shipped name. Default: 'sidd' if "
                        "nmflowgan_aug.list_pretrained() has it, else an untrained model of the same architecture "
                        "as --shipped-depth/--shipped-width (speed does not depend on weights)")
    p.add_argument("--shipped-depth", type=int, default=3, help="U-Net depth of the untrained stand-in model")
    p.add_argument("--shipped-width", type=int, default=16, help="U-Net width of the untrained stand-in model")
    p.add_argument("--no-official", action="store_true", help="skip the official-size model (U-Net 5×64)")
    p.add_argument("--device", default="auto", help="auto (CUDA if available), cpu, cuda or cuda:N")
    p.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads (default: torch's choice; on a busy machine 1 thread can be faster, "
                        "since 2-thread parallel regions stall while another process holds a core)")
    p.add_argument("--size", type=int, default=256, help="image side for the sampling measurements")
    p.add_argument("--batch-sizes", default="16,64", help="comma-separated batch sizes")
    p.add_argument("--dtypes", default="fp32,bf16,fp16",
                   help="fp32 and autocast dtypes to time; fp16 is measured on CUDA only, bf16 on CUDA and on "
                        "CPUs with native bf16")
    p.add_argument("--warmup", type=int, default=None, help="warm-up calls per measurement (default 3; --quick 1)")
    p.add_argument("--repeats", type=int, default=None, help="timed calls per measurement, median reported "
                                                              "(default 10; --quick 3)")
    p.add_argument("--budget-s", type=float, default=None,
                   help="reduce repeats so that timed work per measurement stays near this (default 30; --quick 6)")
    p.add_argument("--max-call-s", type=float, default=None,
                   help="CPU: skip measurements whose single call is predicted (from a small probe batch or the "
                        "previous batch size) to exceed this many seconds, noted in the table (default 300; "
                        "--quick 40)")
    p.add_argument("--slow-call-s", type=float, default=None,
                   help="CPU: above this predicted call time, warm up on a small probe batch only and time a single call "
                        "(default 30; --quick 5)")
    p.add_argument("--quick", action="store_true",
                   help="CPU-friendly: fewer warm-ups/repeats, tighter skips, and on CPU a DnCNN step of batch 4 "
                        "(instead of 64) and a sweep at batch 8; finishes in about 3 min on 2 cores")
    g = p.add_argument_group("DnCNN training-step overhead")
    g.add_argument("--step-layers", type=int, default=18, help="DnCNN layers")
    g.add_argument("--step-features", type=int, default=64, help="DnCNN features")
    g.add_argument("--step-batch", type=int, default=None, help="batch of the DnCNN step (default 64; --quick on CPU 4)")
    g.add_argument("--step-patch", type=int, default=96, help="patch side of the DnCNN step")
    g.add_argument("--no-step", action="store_true", help="skip the DnCNN step measurement")
    g = p.add_argument_group("U-Net size sweep")
    g.add_argument("--sweep", action="store_true", help="time sampling for several U-Net (depth, width) settings")
    g.add_argument("--sweep-configs", default=DEFAULT_SWEEP, help="comma-separated DEPTHxWIDTH settings")
    g.add_argument("--sweep-batch", type=int, default=None, help="batch for the sweep (default 16; --quick on CPU 8)")
    p.add_argument("--json", default=None, metavar="OUT", help="also write all numbers to this JSON file (atomic)")
    return p


def _ints(text: str, what: str) -> list[int]:
    try:
        out = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise SystemExit(f"{what} must be comma-separated integers, got {text!r}")
    if not out or min(out) < 1:
        raise SystemExit(f"{what} must be positive integers, got {text!r}")
    return out


def parse_sweep(text: str) -> list[tuple[int, int]]:
    out = []
    for item in text.split(","):
        d, sep, w = item.strip().lower().partition("x")
        if not sep or not d.isdigit() or not w.isdigit() or int(d) < 1 or int(w) < 1:
            raise SystemExit(f"--sweep-configs entries must look like 3x16 (depth x width), got {item!r}")
        out.append((int(d), int(w)))
    return out


def load_shipped(args: argparse.Namespace, device: torch.device) -> tuple[NMFlowGAN, str]:
    name = args.model
    if name is None and "sidd" in nmflowgan_aug.list_pretrained():
        name = "sidd"
    if name is not None:
        model = NMFlowGAN.from_pretrained(name, map_location=device)
        c = model.config
        return model.eval(), f"shipped '{name}' (U-Net {c.unet_depth}×{c.unet_width})"
    model = stand_in(args.shipped_depth, args.shipped_width).to(device).eval()
    return model, f"untrained, same architecture (U-Net {args.shipped_depth}×{args.shipped_width})"


def stand_in(depth: int, width: int) -> NMFlowGAN:
    torch.manual_seed(0)
    cfg = NMFlowGANConfig(cameras=SIDD_VOCABULARY.cameras, isos=SIDD_VOCABULARY.isos, iso_encoding="log",
                          unet_depth=depth, unet_width=width)
    return NMFlowGAN(cfg)


def fmt(x: float | None, spec: str = ".1f") -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, spec)


def run(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = build_parser().parse_args(argv)
    device = resolve_device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    quick_cpu = args.quick and device.type == "cpu"
    s = Settings(
        warmup=args.warmup if args.warmup is not None else (1 if args.quick else 3),
        repeats=args.repeats if args.repeats is not None else (3 if args.quick else 10),
        budget_s=args.budget_s if args.budget_s is not None else (6.0 if args.quick else 30.0),
        max_call_s=args.max_call_s if args.max_call_s is not None else (40.0 if args.quick else 300.0),
        slow_call_s=args.slow_call_s if args.slow_call_s is not None else (5.0 if args.quick else 30.0),
    )
    if args.step_batch is None:
        args.step_batch = 4 if quick_cpu else 64
    if args.sweep_batch is None:
        args.sweep_batch = 8 if quick_cpu else 16
    batches = _ints(args.batch_sizes, "--batch-sizes")
    dtypes = [d.strip() for d in args.dtypes.split(",") if d.strip()]
    unknown = [d for d in dtypes if d not in DTYPES]
    if unknown:
        raise SystemExit(f"unknown --dtypes {unknown}; known: {list(DTYPES)}")
    run_dtypes = [
        d for d in dtypes if d == "fp32" or device.type == "cuda" or (d == "bf16" and cpu_has_native_bf16())
    ]
    sweep = parse_sweep(args.sweep_configs) if args.sweep else []
    command = shlex.join(["python", "benchmarks/throughput.py", *(sys.argv[1:] if argv is None else argv)])

    info = machine_info(device)
    shipped, shipped_label = load_shipped(args, device)
    models: list[tuple[str, NMFlowGAN]] = [("shipped", shipped)]
    if not args.no_official:
        torch.manual_seed(0)
        models.append(("official", NMFlowGAN(NMFlowGANConfig()).to(device).eval()))
    labels = {"shipped": shipped_label, "official": "official size, untrained (U-Net 5×64)"}
    print(f"# nmflowgan_aug throughput\n\nmachine: {info['cpu']} ({info['cpu_cores_usable']} usable cores, "
          f"{info['torch_threads']} torch threads); GPU: {info['gpu'] or 'none'}; torch {info['torch']}; "
          f"device {device}\n", file=sys.stderr, flush=True)

    rows: list[dict[str, Any]] = []

    def record(what: str, label: str, batch: int, dtype: str, t: Timing, params: int | None) -> None:
        ips = batch / t.median_s if t.median_s else None
        rows.append({"what": what, "label": label, "batch": batch, "dtype": dtype, "img_s": ips,
                     "ms_per_call": t.median_s * 1000 if t.median_s else None, "peak_mib": t.peak_mib,
                     "params": params, "timing": asdict(t)})
        status = t.skipped or f"{ips:.1f} img/s"
        print(f"  {what:9s} b{batch:<3d} {dtype:5s} {status}", file=sys.stderr, flush=True)

    def series(what: str, label: str, make: Callable, dtype: str, params: int) -> None:
        hint = None  # seconds per image from the previous (smaller) batch
        for b in sorted(batches):
            t = measure(make, b, device, s, hint)
            record(what, label, b, dtype, t, params)
            if t.median_s:
                hint = t.median_s / b

    for what, model in models:
        for dt in run_dtypes:
            series(what, labels[what], sampler_fn(model, args.size, device, dt), dt, n_params(model))
    series("flow", "flow part alone (pixel-wise noise, no U-Net)", flow_fn(shipped, args.size, device), "fp32",
           n_params(shipped.flow))
    series("kornia", "kornia RandomGaussianNoise (std 0.03)", kornia_fn(args.size, device), "fp32", 0)

    steps = []
    if not args.no_step:
        for dt in run_dtypes if device.type == "cuda" else ["fp32"]:
            r = step_overhead(shipped, args, device, s, dt)
            steps.append(r)
            print(f"  DnCNN step b{r['batch']} {dt}: kornia {r['kornia_step_s'] * 1e3:.1f} ms, model "
                  f"{r['model_step_s'] * 1e3:.1f} ms, overhead {r['overhead'] * 100:+.1f}%", file=sys.stderr, flush=True)

    sweep_rows = []
    for depth, width in sweep:
        m = stand_in(depth, width).to(device).eval()
        t = measure(sampler_fn(m, args.size, device, "fp32"), args.sweep_batch, device, s)
        ips = args.sweep_batch / t.median_s if t.median_s else None
        sweep_rows.append({"depth": depth, "width": width, "unet_params": n_params(m.unet),
                           "unet_gmac_per_image": unet_macs(m, args.size) / 1e9, "batch": args.sweep_batch,
                           "img_s": ips, "timing": asdict(t)})
        print(f"  sweep {depth}x{width}: {t.skipped or f'{ips:.1f} img/s'}", file=sys.stderr, flush=True)
        del m

    results = {"command": command, "machine": info, "size": args.size, "settings": asdict(s),
               "shipped": shipped_label, "rows": rows, "dncnn_step": steps, "sweep": sweep_rows,
               "targets": evaluate_targets(rows, steps, device), "load_average_end": _loadavg()}
    print(render(results))
    if args.json:
        atomic_write(args.json, lambda p: Path(p).write_text(json.dumps(results, indent=2) + "\n"))
        print(f"\nwrote {args.json}", file=sys.stderr)
    return results


def _best(rows: list[dict], what: str, dtype: str, batch: int | None = None) -> float | None:
    vals = [r["img_s"] for r in rows if r["what"] == what and r["dtype"] == dtype and r["img_s"]
            and (batch is None or r["batch"] == batch)]
    return max(vals) if vals else None


def evaluate_targets(rows: list[dict], steps: list[dict], device: torch.device) -> list[dict]:
    out = []
    if device.type == "cpu":
        v = _best(rows, "shipped", "fp32")
        out.append({"target": f"CPU: shipped model ≥ {TARGETS['cpu_img_s_256']:g} img/s (fp32, best batch)",
                    "value": v, "met": None if v is None else v >= TARGETS["cpu_img_s_256"]})
    else:
        v = _best(rows, "shipped", "bf16")
        out.append({"target": f"GPU: shipped model ≥ {TARGETS['cuda_img_s_256_bf16']:g} img/s (bf16, best batch)",
                    "value": v, "met": None if v is None else v >= TARGETS["cuda_img_s_256_bf16"]})
        for st in steps:
            out.append({"target": f"GPU: DnCNN step overhead < {TARGETS['cuda_step_overhead']:.0%} "
                                  f"(synthesis {st['sample_dtype']})",
                        "value": st["overhead"], "met": st["overhead"] < TARGETS["cuda_step_overhead"]})
    return out


def render(results: dict[str, Any]) -> str:
    info, rows = results["machine"], results["rows"]
    lines = [
        f"## Noise-synthesis throughput at {results['size']}×{results['size']}",
        "",
        f"- machine: {info['cpu']}; {info['cpu_cores_usable']} usable cores ({info['cpu_cores_visible']} visible), "
        f"{info['torch_threads']} torch threads; GPU: {info['gpu'] or 'none'}"
        + (f" ({info['gpu_memory_gib']} GiB, CUDA {info['cuda']})" if info.get("gpu") else ""),
        f"- 1-min load average at start {fmt(info['load_average_1min'], '.2f')}, at end "
        f"{fmt(results.get('load_average_end'), '.2f')}"
        + (" (**busy machine: other processes compete for the cores, numbers are pessimistic**)"
           if _busy(info['load_average_1min'], results.get('load_average_end'), info['cpu_cores_usable']) else ""),
        f"- torch {info['torch']}, kornia {info['kornia']}, nmflowgan_aug {info['nmflowgan_aug']}, "
        f"python {info['python']}, device {info['device']}"
        + (f"; CPU native bf16: {'yes' if info.get('cpu_native_bf16') else 'no'}" if info["device"] == "cpu" else ""),
        "- bf16/fp16 rows: autocast applies to the U-Net; the flow always runs in fp32",
        "- allocator settings: "
        + (", ".join(f"`{k}={v}`" for k, v in info.get("allocator_env", {}).items()) or "defaults (no MALLOC_* or LD_PRELOAD)"),
        f"- shipped model: {results['shipped']}",
        f"- timing: median of repeats after warm-up ({results['settings']['warmup']} warm-up, up to "
        f"{results['settings']['repeats']} repeats); sampling under torch.inference_mode; CUDA events on GPU",
        f"- command: `{results['command']}`",
        "",
        "| model | batch | dtype | img/s | ms/call | peak MiB | speed × official | flow alone is × faster | "
        "kornia is × faster | params | note |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        off = _best(rows, "official", r["dtype"], r["batch"]) or _best(rows, "official", "fp32", r["batch"])
        kor = _best(rows, "kornia", "fp32", r["batch"])
        ratio_off = r["img_s"] / off if (r["img_s"] and off and r["what"] != "official") else None
        ratio_k = kor / r["img_s"] if (r["img_s"] and kor and r["what"] != "kornia") else None
        flo = _best(rows, "flow", "fp32", r["batch"])
        ratio_f = flo / r["img_s"] if (r["img_s"] and flo and r["what"] in ("shipped", "official")) else None
        note = r["timing"]["skipped"] or (r["timing"]["warmup"] if "1 timed call" in r["timing"]["warmup"] else "")
        lines.append(
            f"| {r['what']}: {r['label']} | {r['batch']} | {r['dtype']} | {fmt(r['img_s'])} | {fmt(r['ms_per_call'])} | "
            f"{fmt(r['peak_mib'], '.0f')} | {fmt(ratio_off, '.2f')} | {fmt(ratio_f, '.2f')} | {fmt(ratio_k, '.1f')} | "
            f"{r['params']:,} | {note} |"
        )
    if results["dncnn_step"]:
        lines += ["", "### Overhead of on-the-fly synthesis in one DnCNN training step", "",
                  "| DnCNN | batch × patch | synthesis dtype | step with kornia noise (ms) | "
                  "step with shipped model (ms) | overhead |",
                  "|---|---|---|---|---|---|"]
        for st in results["dncnn_step"]:
            lines.append(f"| {st['dncnn']} | {st['batch']} × {st['patch']}² | {st['sample_dtype']} | "
                         f"{st['kornia_step_s'] * 1e3:.1f} | {st['model_step_s'] * 1e3:.1f} | {st['overhead']:+.1%} |")
        if results["dncnn_step"][0]["batch"] != 64:
            lines.append(f"\n(batch reduced from the protocol's 64 to {results['dncnn_step'][0]['batch']} for this run)")
    if results["sweep"]:
        lines += ["", f"### U-Net size sweep ({results['size']}×{results['size']}, fp32, untrained, "
                      f"batch {results['sweep'][0]['batch']})", "",
                  "| U-Net depth × width | U-Net params | U-Net GMAC/image | img/s | note |", "|---|---|---|---|---|"]
        for r in results["sweep"]:
            lines.append(f"| {r['depth']} × {r['width']} | {r['unet_params']:,} | {r['unet_gmac_per_image']:.2f} | "
                         f"{fmt(r['img_s'])} | {r['timing']['skipped'] or ''} |")
    lines += ["", "### Targets", ""]
    for t in results["targets"]:
        mark = "n/a" if t["met"] is None else ("met" if t["met"] else "NOT met")
        val = t["value"]
        val_s = "–" if val is None else (f"{val:+.1%}" if "overhead" in t["target"] else f"{val:.1f} img/s")
        lines.append(f"- {t['target']}: {val_s} → {mark}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    run(argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())

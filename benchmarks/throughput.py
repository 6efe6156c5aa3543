#!/usr/bin/env python
"""Throughput of noise synthesis with NM-FlowGAN, and its cost inside a denoiser training step.

A command line over :mod:`nmflowgan_aug.evaluation.throughput` (workloads and
``torch.utils.benchmark.Timer`` measurements) and :mod:`nmflowgan_aug.evaluation.throughput_report`.
Measured in one process, on one device, so that the ratios are meaningful:

* images per second of ``NMFlowGAN.sample`` at 256×256 for batch sizes 16 and 64, in fp32 and under
  bf16 / fp16 autocast (on CUDA; bf16 also on CPUs with native bf16, AVX512-BF16 or AMX), for the
  **shipped** model and the **official-size** model (flow + U-Net depth 5 × width 64, 31 M
  parameters), with peak GPU memory;
* the same for two baselines: the flow part alone (no U-Net) and kornia's
  ``RandomGaussianNoise``;
* the overhead that synthesizing the noisy inputs on the fly adds to one training step of DnCNN
  (18 layers, 64 features, batch 64 of 96×96, Adam, L2), against the same step fed by kornia's
  ``RandomGaussianNoise``;
* with ``--sweep``: img/s of a few U-Net (depth, width) settings, to choose the shipped size;
* the training-step throughput of the noise model (patches/s of ``Trainer.train_step``, NLL + WGAN-GP) on one
  process and on several joined with ``torch.distributed`` (gloo on the CPU, with the cores shared equally;
  NCCL on CUDA, one GPU per process), for the quickstart recipe on the CPU and the official one on CUDA.

Weights do not change the speed, so untrained models are timed when no trained one is available (and
labelled so).

Examples::

    python benchmarks/throughput.py --quick --sweep          # a few minutes on 2 CPU cores
    python benchmarks/throughput.py --device cuda --json throughput.json
    python benchmarks/throughput.py --device cpu --only-train-step     # 1 process vs 2 gloo processes
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from nmflowgan_aug import NMFlowGAN, NMFlowGANConfig, list_pretrained
from nmflowgan_aug.configs import config_path
from nmflowgan_aug.evaluation.cli import HelpFormatter, device_argument
from nmflowgan_aug.evaluation.machine import cpu_has_native_bf16, load_average, machine_info
from nmflowgan_aug.evaluation.throughput import (
    DTYPES,
    Settings,
    flow_workload,
    kornia_workload,
    measure,
    measure_series,
    n_params,
    sampler_workload,
    stand_in_model,
    step_overhead,
    unet_macs,
)
from nmflowgan_aug.evaluation.throughput_report import evaluate_targets, render, write_json
from nmflowgan_aug.evaluation.throughput_training import training_step_rows
from nmflowgan_aug.training.config import load_config

DEFAULT_SWEEP = "5x64,4x32,4x16,3x16,3x8,2x8"
CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``throughput.py``."""
    p = argparse.ArgumentParser(
        prog="throughput.py",
        description=(
            "Images/s of NM-FlowGAN noise synthesis at 256×256 (shipped and official-size model, fp32, bf16 autocast "
            "on CUDA and on CPUs with native bf16, fp16 autocast on CUDA), peak GPU memory, the flow alone and kornia "
            "RandomGaussianNoise as baselines, and the overhead of on-the-fly synthesis in one DnCNN training step, "
            "all measured in one process with torch.utils.benchmark.Timer."
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
    p.add_argument("--device", type=device_argument, default="auto",
                   help="auto (CUDA if available), cpu, cuda or cuda:N")
    p.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads (default: torch's choice; on a busy machine 1 thread can be faster, "
                        "since 2-thread parallel regions stall while another process holds a core); the training "
                        "steps share this many threads (default: the usable cores) equally among their processes")
    p.add_argument("--size", type=int, default=256, help="image side for the sampling measurements")
    p.add_argument("--batch-sizes", default="16,64", help="comma-separated batch sizes")
    p.add_argument("--dtypes", default="fp32,bf16,fp16",
                   help="fp32 and autocast dtypes to time; fp16 is measured on CUDA only, bf16 on CUDA and on "
                        "CPUs with native bf16")
    p.add_argument("--warmup", type=int, default=None,
                   help="untimed warm-up calls per measurement (default 3; --quick 1)")
    p.add_argument("--repeats", type=int, default=None,
                   help="aim for about this many timed calls per measurement (default 10; --quick 3)")
    p.add_argument("--budget-s", type=float, default=None,
                   help="at most this much timed work per measurement (default 30; --quick 6)")
    p.add_argument("--max-call-s", type=float, default=None,
                   help="CPU: skip measurements whose single call is predicted (from a small probe batch or the "
                        "previous batch size) to exceed this many seconds, noted in the table (default 300; "
                        "--quick 40)")
    p.add_argument("--slow-call-s", type=float, default=None,
                   help="CPU: above this predicted call time, warm up on a small probe batch only and time a single "
                        "call (default 30; --quick 5)")
    p.add_argument("--quick", action="store_true",
                   help="CPU-friendly: fewer warm-ups/repeats, tighter skips, and on CPU a DnCNN step of batch 4 "
                        "(instead of 64) and a sweep at batch 8; a few minutes on 2 cores")
    g = p.add_argument_group("DnCNN training-step overhead")
    g.add_argument("--step-layers", type=int, default=18, help="DnCNN layers")
    g.add_argument("--step-features", type=int, default=64, help="DnCNN features")
    g.add_argument("--step-batch", type=int, default=None,
                   help="batch of the DnCNN step (default 64; --quick on CPU 4)")
    g.add_argument("--step-patch", type=int, default=96, help="patch side of the DnCNN step")
    g.add_argument("--no-step", action="store_true", help="skip the DnCNN step measurement")
    g = p.add_argument_group("U-Net size sweep")
    g.add_argument("--sweep", action="store_true", help="time sampling for several U-Net (depth, width) settings")
    g.add_argument("--sweep-configs", default=DEFAULT_SWEEP, help="comma-separated DEPTHxWIDTH settings")
    g.add_argument("--sweep-batch", type=int, default=None, help="batch for the sweep (default 16; --quick on CPU 8)")
    g = p.add_argument_group("noise-model training steps (1 process vs several, torch.distributed)")
    g.add_argument("--no-train-step", action="store_true", help="skip the training-step measurement")
    g.add_argument("--only-train-step", action="store_true", help="measure the training steps only")
    g.add_argument("--train-config", default=None,
                   help="training config (a YAML file or a packaged config name) whose model, critic, batch and "
                        "critic_steps are timed (default: the packaged quickstart on the CPU, configs/nmflowgan_sidd.yaml, the official recipe, on CUDA)")
    g.add_argument("--train-set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a key of --train-config, e.g. train.batch_size=8 (repeatable)")
    g.add_argument("--train-world-sizes", default=None,
                   help="numbers of processes (default: 1,2 on the CPU; 1 and the GPU count on CUDA)")
    g.add_argument("--train-amps", default=None,
                   help="train.amp values to time (default: none on the CPU, none,bf16 on CUDA)")
    g.add_argument("--train-steps", type=int, default=None, help="timed steps (default 10; --quick 2)")
    g.add_argument("--train-warmup", type=int, default=None, help="untimed steps first (default 3; --quick 1)")
    p.add_argument("--json", default=None, metavar="OUT", help="also write all numbers to this JSON file (atomic)")
    return p


def _ints(parser: argparse.ArgumentParser, text: str, what: str) -> list[int]:
    try:
        out = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        parser.error(f"{what} must be comma-separated integers, got {text!r}")
    if not out or min(out) < 1:
        parser.error(f"{what} must be positive integers, got {text!r}")
    return out


def _sweep(parser: argparse.ArgumentParser, text: str) -> list[tuple[int, int]]:
    out = []
    for item in text.split(","):
        d, sep, w = item.strip().lower().partition("x")
        if not sep or not d.isdigit() or not w.isdigit() or int(d) < 1 or int(w) < 1:
            parser.error(f"--sweep-configs entries must look like 3x16 (depth x width), got {item!r}")
        out.append((int(d), int(w)))
    return out


def resolve_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse ``argv`` and fill the (``--quick``-dependent) defaults; argparse errors exit with status 2."""
    parser = build_parser()
    args = parser.parse_args(argv)
    quick_cpu = args.quick and args.device.type == "cpu"
    args.settings = Settings(
        warmup=args.warmup if args.warmup is not None else (1 if args.quick else 3),
        repeats=args.repeats if args.repeats is not None else (3 if args.quick else 10),
        budget_s=args.budget_s if args.budget_s is not None else (6.0 if args.quick else 30.0),
        max_call_s=args.max_call_s if args.max_call_s is not None else (40.0 if args.quick else 300.0),
        slow_call_s=args.slow_call_s if args.slow_call_s is not None else (5.0 if args.quick else 30.0),
    )
    args.step_batch = args.step_batch or (4 if quick_cpu else 64)
    args.sweep_batch = args.sweep_batch or (8 if quick_cpu else 16)
    args.batch_sizes = _ints(parser, args.batch_sizes, "--batch-sizes")
    args.dtypes = [d.strip() for d in args.dtypes.split(",") if d.strip()]
    unknown = [d for d in args.dtypes if d not in DTYPES]
    if unknown:
        parser.error(f"unknown --dtypes {unknown}; known: {list(DTYPES)}")
    args.sweep = _sweep(parser, args.sweep_configs) if args.sweep else []
    cuda = args.device.type == "cuda"
    args.train_config = config_path(args.train_config or (CONFIGS / "nmflowgan_sidd.yaml" if cuda else "quickstart"))
    gpus = torch.cuda.device_count() if cuda else 0
    default_sizes = ("1" if gpus < 2 else f"1,{gpus}") if cuda else "1,2"
    args.train_world_sizes = _ints(parser, args.train_world_sizes or default_sizes, "--train-world-sizes")
    args.train_amps = [a.strip() for a in (args.train_amps or ("none,bf16" if cuda else "none")).split(",") if a.strip()]
    args.train_steps = args.train_steps or (2 if args.quick else 10)
    args.train_warmup = args.train_warmup if args.train_warmup is not None else (1 if args.quick else 3)
    return args


def load_shipped(args: argparse.Namespace, device: torch.device) -> tuple[NMFlowGAN, str]:
    """The shipped model (or its untrained stand-in) on ``device`` and its label."""
    name = args.model if args.model is not None else ("sidd" if "sidd" in list_pretrained() else None)
    if name is not None:
        model = NMFlowGAN.from_pretrained(name, map_location=device)
        c = model.config
        parts = [f"U-Net {c.unet_depth}×{c.unet_width}" if c.unet_depth else "no U-Net"]
        parts += [f"{c.spatial_kernel}×{c.spatial_kernel} spatial flow layer"] if c.spatial_kernel else []
        return model.eval(), f"shipped '{name}' ({', '.join(parts)})"
    model = stand_in_model(args.shipped_depth, args.shipped_width).to(device).eval()
    return model, f"untrained, same architecture (U-Net {args.shipped_depth}×{args.shipped_width})"


def log(text: str) -> None:
    """Print ``text`` to stderr at once (progress messages; the report goes to stdout)."""
    print(text, file=sys.stderr, flush=True)


def run(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the benchmark; prints the report, returns the results dict (also written to ``--json``)."""
    args = resolve_args(argv)
    device, s = args.device, args.settings
    if args.threads:
        torch.set_num_threads(args.threads)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    run_dtypes = [d for d in args.dtypes
                  if d == "fp32" or device.type == "cuda" or (d == "bf16" and cpu_has_native_bf16())]
    command = shlex.join(["python", "benchmarks/throughput.py", *(sys.argv[1:] if argv is None else argv)])

    info = machine_info(device)
    train_rows = []
    if not args.no_train_step:
        config = load_config(args.train_config, [*args.train_set, f"train.device={device.type}"])
        log(f"training steps of {args.train_config.name} (global batch {config.train.batch_size}) on "
            f"{args.train_world_sizes} process(es), amp {args.train_amps}")
        train_rows = training_step_rows(config, args.train_world_sizes, args.train_amps, args.train_steps,
                                        args.train_warmup, args.threads or info["cpu_cores_usable"])
        for r in train_rows:
            log(f"  {r['world_size']} process(es) × {r['threads_per_process']} thread(s), {r['amp']}: "
                f"{r['patches_s']:.1f} patches/s")
    if args.only_train_step:
        results = {"command": command, "machine": info, "train_config": str(args.train_config),
                   "training_steps": train_rows, "load_average_end": load_average()}
        print(render(results))
        if args.json:
            write_json(results, args.json)
        return results
    shipped, shipped_label = load_shipped(args, device)
    models: list[tuple[str, str, NMFlowGAN]] = [("shipped", shipped_label, shipped)]
    if not args.no_official:
        torch.manual_seed(0)
        official = NMFlowGAN(NMFlowGANConfig()).to(device).eval()
        models.append(("official", "official size, untrained (U-Net 5×64)", official))
    log(f"# nmflowgan_aug throughput\n\nmachine: {info['cpu']} ({info['cpu_cores_usable']} usable cores, "
        f"{info['torch_threads']} torch threads); GPU: {info['gpu'] or 'none'}; torch {info['torch']}; "
        f"device {device}\n")

    series = [(what, label, sampler_workload(model, args.size, device, dt), dt, n_params(model))
              for what, label, model in models for dt in run_dtypes]
    series += [("flow", "flow part alone (sample_pixelwise_levels, no U-Net)", flow_workload(shipped, args.size, device),
                "fp32", n_params(shipped.flow)),
               ("kornia", "kornia RandomGaussianNoise (std 0.03)", kornia_workload(args.size, device), "fp32", 0)]
    rows: list[dict[str, Any]] = []
    for what, label, make, dt, params in series:
        for r in measure_series(what, label, make, args.batch_sizes, dt, params, device, s):
            rows.append(r)
            speed = r["timing"]["skipped"] or f"{r['img_s']:.1f} img/s"
            log(f"  {what:9s} b{r['batch']:<3d} {dt:5s} {speed}")

    steps = []
    for dt in ([] if args.no_step else run_dtypes if device.type == "cuda" else ["fp32"]):
        r = step_overhead(shipped, device, s, dt, layers=args.step_layers, features=args.step_features,
                          batch=args.step_batch, patch=args.step_patch)
        steps.append(r)
        log(f"  DnCNN step b{r['batch']} {dt}: kornia {r['kornia_step_s'] * 1e3:.1f} ms, model "
            f"{r['model_step_s'] * 1e3:.1f} ms, overhead {r['overhead'] * 100:+.1f}%")

    sweep_rows = []
    for depth, width in args.sweep:
        m = stand_in_model(depth, width).to(device).eval()
        t = measure(sampler_workload(m, args.size, device, "fp32"), args.sweep_batch, device, s)
        ips = args.sweep_batch / t.median_s if t.median_s else None
        sweep_rows.append({"depth": depth, "width": width, "unet_params": n_params(m.unet),
                           "unet_gmac_per_image": unet_macs(m, args.size) / 1e9, "batch": args.sweep_batch,
                           "img_s": ips, "timing": asdict(t)})
        log(f"  sweep {depth}x{width}: {t.skipped or f'{ips:.1f} img/s'}")
        del m

    results = {"command": command, "machine": info, "size": args.size, "settings": asdict(s),
               "shipped": shipped_label, "rows": rows, "dncnn_step": steps, "sweep": sweep_rows,
               "targets": evaluate_targets(rows, steps, device), "train_config": str(args.train_config),
               "training_steps": train_rows, "load_average_end": load_average()}
    print(render(results))
    if args.json:
        write_json(results, args.json)
        log(f"\nwrote {args.json}")
    return results


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point: :func:`run`; returns 0."""
    run(argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Reports of the throughput benchmark: the markdown tables and the targets of the shipped model."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import torch

from .._io import atomic_write

__all__ = ["TARGETS", "evaluate_targets", "render", "render_training_steps", "write_json"]

#: Targets for the shipped model (issue text).
TARGETS = {
    "cpu_img_s_256": 5.0,  # on 2 CPU cores, fp32
    "cuda_img_s_256_bf16": 2000.0,  # one H200-class GPU
    "cuda_step_overhead": 0.15,  # DnCNN step, vs kornia RandomGaussianNoise
}


def _busy(load_start: float | None, load_end: float | None, cores: int) -> bool:
    """Whether other work was on the machine.

    Load before we started above half the cores, or at the end above the cores plus one (our own
    threads account for up to one load per core).
    """
    return (load_start or 0) > 0.5 * cores or (load_end or 0) > cores + 1


def _fmt(x: float | None, spec: str = ".1f") -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, spec)


def _best(rows: list[dict], what: str, dtype: str, batch: int | None = None) -> float | None:
    vals = [r["img_s"] for r in rows if r["what"] == what and r["dtype"] == dtype and r["img_s"]
            and (batch is None or r["batch"] == batch)]
    return max(vals) if vals else None


def evaluate_targets(rows: list[dict], steps: list[dict], device: torch.device) -> list[dict]:
    """The :data:`TARGETS` that apply to ``device``: ``{"target", "value", "met"}`` (met None: not measured)."""
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
    """Markdown report of a results dict.

    The sampling tables (``rows``, ``dncnn_step``, ``sweep``, ``targets``) when measured, then the
    training steps (``training_steps``) when measured.
    """
    parts = [_render_sampling(results)] if "rows" in results else []
    if results.get("training_steps"):
        parts.append(render_training_steps(results))
    return "\n\n".join(parts)


def render_training_steps(results: dict[str, Any]) -> str:
    """Markdown table of ``results["training_steps"]``, with the machine.

    The rows are those of :func:`~nmflowgan_aug.evaluation.throughput_training.measure_training_steps`.
    """
    info, rows = results["machine"], results["training_steps"]
    lines = [
        "### Noise-model training steps: 1 process vs several (torch.distributed)",
        "",
        f"- machine: {info['cpu']}; {info['cpu_cores_usable']} usable cores; GPU: {info['gpu'] or 'none'}; "
        f"torch {info['torch']}; 1-min load average at start {_fmt(info['load_average_1min'], '.2f')}, at end "
        f"{_fmt(results.get('load_average_end'), '.2f')}",
        f"- config: `{Path(results['train_config']).name}`; in-memory patches (data loading not timed); steps mix "
        "critic and generator iterations as train.critic_steps says; torch.utils.benchmark.Timer.timeit, rank 0's time",
        "",
        "| processes | backend | device | threads/process | amp | global batch | ms/step | patches/s | × 1 process |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        one = next((o["patches_s"] for o in rows if o["world_size"] == 1 and o["amp"] == r["amp"]), None)
        lines.append(f"| {r['world_size']} | {r['backend']} | {r['device']} | {r['threads_per_process']} | {r['amp']} | "
                     f"{r['global_batch']} | {r['step_ms']:.1f} | {r['patches_s']:.1f} | "
                     f"{_fmt(r['patches_s'] / one if one else None, '.2f')} |")
    return "\n".join(lines)


def _render_sampling(results: dict[str, Any]) -> str:
    info, rows = results["machine"], results["rows"]
    lines = [
        f"## Noise-synthesis throughput at {results['size']}×{results['size']}",
        "",
        f"- machine: {info['cpu']}; {info['cpu_cores_usable']} usable cores ({info['cpu_cores_visible']} visible), "
        f"{info['torch_threads']} torch threads; GPU: {info['gpu'] or 'none'}"
        + (f" ({info['gpu_memory_gib']} GiB, CUDA {info['cuda']})" if info.get("gpu") else ""),
        f"- 1-min load average at start {_fmt(info['load_average_1min'], '.2f')}, at end "
        f"{_fmt(results.get('load_average_end'), '.2f')}"
        + (" (**busy machine: other processes compete for the cores, numbers are pessimistic**)"
           if _busy(info['load_average_1min'], results.get('load_average_end'), info['cpu_cores_usable']) else ""),
        f"- torch {info['torch']}, kornia {info['kornia']}, nmflowgan_aug {info['nmflowgan_aug']}, "
        f"python {info['python']}, device {info['device']}"
        + (f"; CPU native bf16: {'yes' if info.get('cpu_native_bf16') else 'no'}" if info["device"] == "cpu" else ""),
        "- bf16/fp16 rows: autocast applies to the U-Net; the flow always runs in fp32",
        "- allocator settings: "
        + (", ".join(f"`{k}={v}`" for k, v in info.get("allocator_env", {}).items())
           or "defaults (no MALLOC_* or LD_PRELOAD)"),
        f"- shipped model: {results['shipped']}",
        f"- timing: torch.utils.benchmark.Timer (blocked_autorange: median over timed blocks, CUDA synchronized) "
        f"after {results['settings']['warmup']} warm-up call(s), about {results['settings']['repeats']} timed calls "
        f"(at most {results['settings']['budget_s']:g} s) per measurement; sampling under torch.inference_mode",
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
            f"| {r['what']}: {r['label']} | {r['batch']} | {r['dtype']} | {_fmt(r['img_s'])} | "
            f"{_fmt(r['ms_per_call'])} | {_fmt(r['peak_mib'], '.0f')} | {_fmt(ratio_off, '.2f')} | "
            f"{_fmt(ratio_f, '.2f')} | {_fmt(ratio_k, '.1f')} | "
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
            batch = results["dncnn_step"][0]["batch"]
            lines.append(f"\n(batch reduced from the protocol's 64 to {batch} for this run)")
    if results["sweep"]:
        lines += ["", f"### U-Net size sweep ({results['size']}×{results['size']}, fp32, untrained, "
                      f"batch {results['sweep'][0]['batch']})", "",
                  "| U-Net depth × width | U-Net params | U-Net GMAC/image | img/s | note |", "|---|---|---|---|---|"]
        for r in results["sweep"]:
            lines.append(f"| {r['depth']} × {r['width']} | {r['unet_params']:,} | {r['unet_gmac_per_image']:.2f} | "
                         f"{_fmt(r['img_s'])} | {r['timing']['skipped'] or ''} |")
    lines += ["", "### Targets", ""]
    for t in results["targets"]:
        mark = "n/a" if t["met"] is None else ("met" if t["met"] else "NOT met")
        val = t["value"]
        val_s = "–" if val is None else (f"{val:+.1%}" if "overhead" in t["target"] else f"{val:.1f} img/s")
        lines.append(f"- {t['target']}: {val_s} → {mark}")
    return "\n".join(lines)


def write_json(results: dict[str, Any], path: str | os.PathLike) -> Path:
    """Write the results as JSON to ``path`` atomically (temporary file, then rename); returns the path."""
    return atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(results, indent=2) + "\n"))

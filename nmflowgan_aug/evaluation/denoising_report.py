"""Reports of the denoising benchmark: the markdown table (with the gap to the real-pair oracle) and result files."""

from __future__ import annotations

import json
import os
from pathlib import Path

from .._io import atomic_write, refuse_overwrite
from .noise_sources import ORACLE

__all__ = ["RESULT_FILES", "markdown_table", "write_results"]

#: Files written into the output folder.
RESULT_FILES = ("results.json", "results.md")


def markdown_table(results: dict) -> str:
    """Markdown table: PSNR/SSIM of the noisy input and of each source's denoiser, gaps to the oracle, times."""
    has_oracle = ORACLE in results["sources"]
    head = "| noise source | PSNR (dB) | SSIM |" + (" ΔPSNR vs real | ΔSSIM vs real |" if has_oracle else "")
    head += " train s | of which synthesis s |"
    sep = "|" + "---|" * (head.count("|") - 1)
    rows = [head, sep]
    ni = results["noisy_input"]
    rows.append(f"| (noisy input) | {ni['psnr']:.2f} | {ni['ssim']:.4f} |" + (" | |" if has_oracle else "") + " | |")
    for name, r in results["sources"].items():
        line = f"| {name} | {r['psnr']:.2f} | {r['ssim']:.4f} |"
        if has_oracle:
            line += f" {r['gap_psnr_db']:+.2f} | {r['gap_ssim']:+.4f} |"
        line += f" {r['train_seconds']:.0f} | {r['synthesis_seconds']:.0f} |"
        rows.append(line)
    return "\n".join(rows)


def write_results(results: dict, out_dir: str | os.PathLike, overwrite: bool) -> tuple[Path, Path]:
    """Write ``results.json`` (everything) and ``results.md`` (settings and :func:`markdown_table`) atomically.

    Raises:
        FileExistsError: a result file exists and ``overwrite`` is False (checked before writing).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    jpath, mpath = (out_dir / name for name in RESULT_FILES)
    for p in (jpath, mpath):
        refuse_overwrite(p, overwrite)
    s = results["settings"]
    md = [
        "# DnCNN trained on synthetic noise, scored on real SIDD noise",
        "",
        f"- command: `{results['command']}`",
        f"- nmflowgan_aug {results['package_version']}, torch {results['torch_version']}, device {results['device']}",
        f"- DnCNN {s['layers']} layers × {s['features']} features; {s['iters']} iterations of batch "
        f"{s['batch_size']} × {s['patch_size']}²; Adam lr {s['lr']:g} halved {s['lr_halvings']}×; L2 loss; "
        f"seed {s['seed']}",
        f"- training: {results['train_data']}",
        f"- evaluation: {results['eval_data']}; PSNR/SSIM ({s['ssim_window']} window) per block, data range 1, "
        "denoised output clipped and rounded to 8 bits, plain mean over blocks",
        "",
        markdown_table(results),
        "",
    ]
    if "submission" in results:
        sub = results["submission"]
        md.append(f"Submission: `{sub['path']}` ({sub['blocks']} blocks, source {sub['source']}, "
                  f"TimeMP {sub['TimeMP']:.4g} s/MP)")
        md.append("")
    atomic_write(jpath, lambda p: Path(p).write_text(json.dumps(results, indent=2) + "\n"))
    atomic_write(mpath, lambda p: Path(p).write_text("\n".join(md)))
    return jpath, mpath

"""Reports of the denoising benchmark: the markdown table, the denoiser targets, and the result files.

The table gives the mean ± std over seeds, gaps to the real-pair oracle and ranks at every scored iteration.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .._io import atomic_write, refuse_overwrite
from .noise_sources import BASELINE_CLASSES, ORACLE
from .targets import DENOISER_TARGETS, check_denoiser_targets

__all__ = ["RESULT_FILES", "markdown_table", "ranks", "ranking_is_stable", "targets_table", "write_results"]

#: Files written into the output folder.
RESULT_FILES = ("results.json", "results.md")


def _pm(mean: float, std: float | None, digits: int, sign: bool = False) -> str:
    text = f"{mean:+.{digits}f}" if sign else f"{mean:.{digits}f}"
    return text + ("" if std is None else f" ± {std:.{digits}f}")


def _iterations(results: dict[str, Any]) -> list[int]:
    """The scored iterations: the checkpoints, then the last iteration."""
    first = next(iter(results["sources"].values()))
    return [*sorted(int(i) for i in first.get("checkpoints", {})), int(results["settings"]["iters"])]


def _psnr_at(entry: dict[str, Any], iteration: int, last: int) -> float:
    return entry["psnr"] if iteration == last else entry["checkpoints"][str(iteration)]["psnr"]


def ranks(results: dict[str, Any]) -> dict[int, dict[str, int]]:
    """``{iteration: {source: rank}}`` by mean PSNR at each scored iteration (1 = best)."""
    its = _iterations(results)
    out = {}
    for it in its:
        order = sorted(results["sources"], key=lambda s: -_psnr_at(results["sources"][s], it, its[-1]))
        out[it] = {s: k + 1 for k, s in enumerate(order)}
    return out


def ranking_is_stable(results: dict[str, Any]) -> bool:
    """The sources rank in the same order at every scored iteration."""
    orders = [sorted(r, key=r.get) for r in ranks(results).values()]
    return all(o == orders[0] for o in orders)


def markdown_table(results: dict[str, Any]) -> str:
    """Markdown table of the denoising results.

    PSNR/SSIM of the noisy input and of each source's denoiser (mean ± std over seeds), gaps to the oracle,
    PSNR and rank at the earlier scored iterations, and training times.
    """
    sources = results["sources"]
    has_oracle = ORACLE in sources
    its = _iterations(results)
    rank = ranks(results)
    head = "| noise source | PSNR (dB) | SSIM |" + (" ΔPSNR vs real (dB) | ΔSSIM vs real |" if has_oracle else "")
    head += "".join(f" PSNR @ {it} |" for it in its[:-1])
    head += " rank @ " + " / ".join(str(i) for i in its) + " | train s per seed | of which synthesis s |"
    rows = [head, "|" + "---|" * (head.count("|") - 1)]
    ni = results["noisy_input"]
    blank = (" | |" if has_oracle else "") + " |" * (len(its) - 1) + " | | |"
    rows.append(f"| (noisy input) | {ni['psnr']:.2f} | {ni['ssim']:.4f} |" + blank)
    for name, r in sources.items():
        line = f"| {name} | {_pm(r['psnr'], r.get('psnr_std'), 2)} | {_pm(r['ssim'], r.get('ssim_std'), 4)} |"
        if has_oracle:
            line += (f" {_pm(r['gap_psnr_db'], r.get('gap_psnr_std'), 2, sign=True)} |"
                     f" {_pm(r['gap_ssim'], r.get('gap_ssim_std'), 4, sign=True)} |")
        line += "".join(f" {_pm(c['psnr'], c['psnr_std'], 2)} |" for c in
                        (r["checkpoints"][str(it)] for it in its[:-1]))
        line += " " + " / ".join(str(rank[it][name]) for it in its) + " |"
        line += f" {r['train_seconds']:.0f} | {r['synthesis_seconds']:.0f} |"
        rows.append(line)
    return "\n".join(rows)


def targets_table(results: dict[str, Any]) -> str:
    """The denoiser targets (:func:`~.targets.check_denoiser_targets`) of every ``nmflowgan`` source.

    Empty without an ``nmflowgan`` source.
    """
    sources = results["sources"]
    ours = [s for s in sources if s.split(":")[0] == "nmflowgan"]
    if not ours:
        return ""
    checks = check_denoiser_targets(sources, ours, [s for s in sources if s in BASELINE_CLASSES], ORACLE)
    mark = {True: "✓", False: "✗", None: "—"}
    rows = ["| source | " + " | ".join(DENOISER_TARGETS.values()) + " |", "|---|" + "---|" * len(DENOISER_TARGETS)]
    for name, c in checks.items():
        rows.append(f"| {name} | " + " | ".join(f"{mark[c[t]['ok']]} {c[t]['value']}" for t in DENOISER_TARGETS)
                    + " |")
    return "\n".join(rows)


def write_results(results: dict[str, Any], out_dir: str | os.PathLike, overwrite: bool) -> tuple[Path, Path]:
    """Write ``results.json`` (everything) and ``results.md`` (settings, :func:`markdown_table`, targets) atomically.

    Raises:
        FileExistsError: a result file exists and ``overwrite`` is False (checked before writing).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    jpath, mpath = (out_dir / name for name in RESULT_FILES)
    for p in (jpath, mpath):
        refuse_overwrite(p, overwrite)
    s = results["settings"]
    seeds = s.get("seeds", [s.get("seed")])
    md = ["# DnCNN trained on synthetic noise, scored on real SIDD noise", ""]
    if results.get("overlap_warning"):
        md += [f"**{results['overlap_warning']}**", ""]
    md += [
        f"- command: `{results['command']}`",
        f"- nmflowgan_aug {results['package_version']}, torch {results['torch_version']}, device {results['device']}",
        f"- DnCNN {s['layers']} layers × {s['features']} features; {s['iters']} iterations of batch "
        f"{s['batch_size']} × {s['patch_size']}²; Adam lr {s['lr']:g} halved {s['lr_halvings']}×; L2 loss; "
        f"seeds {', '.join(map(str, seeds))} (mean ± sample std over seeds; gaps paired by seed)",
        f"- training: {results['train_data']}",
    ]
    if results.get("synthetic_data"):
        md.append(f"- synthetic sources: {results['synthetic_data']}")
    if "quantize" in s:
        md.append("- synthetic noisy inputs " + ("rounded to 8-bit levels, as real noisy images"
                                                 if s["quantize"] else "not rounded (float, the official protocol)"))
    md += [
        f"- evaluation: {results['eval_data']}; PSNR/SSIM ({s['ssim_window']} window) per block, data range 1, "
        "denoised output clipped and rounded to 8 bits, plain mean over blocks",
        "",
        markdown_table(results),
        "",
    ]
    if len(_iterations(results)) > 1:
        md += ["Ranking of the sources by mean PSNR " + ("is the same" if ranking_is_stable(results) else
                                                         "**changes**") + " at every scored iteration.", ""]
    targets = targets_table(results)
    if targets:
        md += ["Targets for the shipped model (issue 10 §3; ✓ met, ✗ not met, — cannot be decided):", "", targets, ""]
    if "submission" in results:
        sub = results["submission"]
        md.append(f"Submission: `{sub['path']}` ({sub['blocks']} blocks, source {sub['source']}, "
                  f"TimeMP {sub['TimeMP']:.4g} s/MP)")
        md.append("")
    atomic_write(jpath, lambda p: Path(p).write_text(json.dumps(results, indent=2) + "\n"))
    atomic_write(mpath, lambda p: Path(p).write_text("\n".join(md)))
    return jpath, mpath

"""Reports of the noise-fidelity benchmark: markdown tables, a console summary, and tables kept in README files.

The markdown has a compact headline table (every method on all blocks: KLDs on 8-bit output, AKLD,
noise correlation against the real noise, std ratios, NLF error), the targets of the shipped model
(:mod:`.targets`), and the details (per camera, per channel, per block) inside ``<details>``; a
leave-one-scene-out section (:mod:`.loo`) follows when the run has one. A README keeps a generated table
between :data:`MARK_START` and :data:`MARK_END`; :func:`rewrite_readme` replaces only that part.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from .._io import atomic_write
from .fidelity import CHANNELS, HEADLINE, MAX_LAG, METRICS
from .targets import TARGETS, check_targets

__all__ = ["MARK_END", "MARK_START", "MAX_BLOCK_ROWS", "render_markdown", "render_summary", "rewrite_readme",
           "write_results"]

MARK_START = "<!-- fidelity-table:start -->"
MARK_END = "<!-- fidelity-table:end -->"

#: Per-block tables are written for at most this many blocks (the JSON always has every block).
MAX_BLOCK_ROWS = 64

#: Columns of the console summary.
SUMMARY_KEYS = ("kld_block", "kld_official", "akld", "corr_error_lag1", "nlf_error")

_PAIRS = ("RG", "RB", "GB")
_PAIR_TITLES = ("R–G", "R–B", "G–B")


def _cell(stat: dict[str, Any], digits: int = 4) -> str:
    if stat["mean"] is None:
        return "n/a"
    text = f"{stat['mean']:.{digits}f}" + (f" ± {stat['std']:.{digits}f}" if stat["std"] is not None else "")
    if stat["n_blocks"] < stat["of_blocks"]:
        text += f" ({stat['n_blocks']}/{stat['of_blocks']} blocks)"
    return text


def _mean(stats: list[dict[str, Any]]) -> float | None:
    values = [s["mean"] for s in stats]
    return None if any(v is None for v in values) else float(np.mean(values))


def _fmt(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{round(value, digits) + 0.0:.{digits}f}"  # + 0.0: no "-0.00"


def _real_mean(blocks: list[dict[str, Any]], keys: list[str]) -> float:
    """Mean over blocks and ``keys`` of the real noise statistics."""
    return float(np.mean([[b["noise"][k] for k in keys] for b in blocks]))


def _ok(check: dict[str, Any]) -> str:
    return {True: "✓", False: "✗", None: "—"}[check["ok"]] + ("" if check["value"] == "n/a" else f" {check['value']}")


def _headline(section: dict[str, Any]) -> list[str]:
    """One row per method on all blocks, plus the real noise's own values."""
    summary, blocks = section["summary"]["methods"], section["blocks"]
    lines = [
        f"| method | {METRICS['kld_block'][0]} ★ | {METRICS['kld_official'][0]} | AKLD, 8-bit | "
        "ρ lag 1, h / v | max abs Δρ, lag 1 / 2 | cross-channel ρ R–G / R–B / G–B | "
        "std ratio R / G / B (min–max over blocks) | NLF error |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    rho = [_real_mean(blocks, [f"rho_{d}1_{c}" for c in CHANNELS]) for d in "hv"]
    cross = [_real_mean(blocks, [f"cross_{p}"]) for p in _PAIRS]
    lines.append(f"| real noise (its own values) | — | — | — | {rho[0]:.2f} / {rho[1]:.2f} | — | "
                 + " / ".join(f"{v:.2f}" for v in cross) + " | 1 | — |")
    for name in section["methods"]:
        s = summary[name]
        rho = [_mean([s[f"rho_{d}1_{c}"]["all"] for c in CHANNELS]) for d in "hv"]
        err = [s[f"corr_error_lag{k}"]["all"] for k in (1, 2)]
        worst = " / ".join("n/a" if e["mean"] is None else f"{e['block_max']:.2f}" for e in err)
        cross = " / ".join(_fmt(s[f"cross_{p}"]["all"]["mean"]) for p in _PAIRS)
        ratios = []
        for c in CHANNELS:
            r = s[f"std_ratio_{c}"]["all"]
            ratios.append("n/a" if r["mean"] is None else f"{r['block_min']:.2f}–{r['block_max']:.2f}")
        lines.append(f"| {name} | {_cell(s['kld_block']['all'])} | {_cell(s['kld_official']['all'])} | "
                     f"{_cell(s['akld']['all'])} | {_fmt(rho[0])} / {_fmt(rho[1])} | {worst} | {cross} | "
                     f"{' / '.join(ratios)} | {_cell(s['nlf_error']['all'], 3)} |")
    return lines


def _targets(section: dict[str, Any], which: tuple[str, ...]) -> list[str]:
    checks = check_targets(section, which)
    if not checks:
        return []
    lines = ["| method | " + " | ".join(TARGETS[t] for t in which) + " |", "|---|" + "---|" * len(which)]
    for name, c in checks.items():
        lines.append(f"| {name} | " + " | ".join(_ok(c[t]) for t in which) + " |")
    return lines


def _per_camera(section: dict[str, Any]) -> list[str]:
    groups, summary = section["summary"]["groups"], section["summary"]["methods"]
    cols = [g for g in groups if g != "all"] + ["all"]
    lines = []
    for metric, (title, desc) in METRICS.items():
        lines += [f"**{title}** ({desc})", "",
                  "| method | " + " | ".join(f"{g} ({len(groups[g])})" for g in cols) + " |",
                  "|---|" + "---|" * len(cols)]
        for name in section["methods"]:
            lines.append(f"| {name} | " + " | ".join(_cell(summary[name][metric][g]) for g in cols) + " |")
        lines.append("")
    return lines


def _per_channel(section: dict[str, Any]) -> list[str]:
    """Autocorrelation per direction, lag and channel, and std ratio per channel: methods and the real noise."""
    summary, blocks = section["summary"]["methods"], section["blocks"]
    keys = [f"rho_{d}{k}_{c}" for k in range(1, MAX_LAG + 1) for d in "hv" for c in CHANNELS]
    header = ("| method | " + " | ".join(f"ρ {d}{k} {c}" for k in range(1, MAX_LAG + 1) for d in "hv" for c in CHANNELS)
              + " | " + " | ".join(f"std ratio {c}" for c in CHANNELS) + " |")
    lines = ["Noise autocorrelation ρ (h: horizontal, v: vertical; lag 1–3; per channel), mean over blocks; "
             "std ratio synthetic/real per channel, mean over blocks:", "", header,
             "|---|" + "---|" * (len(keys) + 3)]
    lines.append("| real noise | " + " | ".join(f"{_real_mean(blocks, [k]):.2f}" for k in keys) + " | 1 | 1 | 1 |")
    for name in section["methods"]:
        s = summary[name]
        lines.append(f"| {name} | " + " | ".join(_fmt(s[k]["all"]["mean"]) for k in keys) + " | "
                     + " | ".join(_fmt(s[f"std_ratio_{c}"]["all"]["mean"]) for c in CHANNELS) + " |")
    return lines + [""]


def _per_block(section: dict[str, Any], with_fold: bool = False) -> list[str]:
    blocks, per_block, methods = section["blocks"], section["per_block"], list(section["methods"])
    if len(blocks) > MAX_BLOCK_ROWS:
        return [f"Per-block values of the {len(blocks)} blocks are in the JSON file (tables stop at "
                f"{MAX_BLOCK_ROWS} blocks).", ""]
    lead = "| block | " + ("fold | " if with_fold else "") + "camera/ISO | scene instance | "
    rule = "|---|" + ("---|" if with_fold else "") + "---|---|"

    def row_start(b: dict[str, Any]) -> str:
        return (f"| {b['id']} | " + (f"{b['fold']} | " if with_fold else "")
                + f"{b['camera']}/{b['iso']} | {b['scene'] or '?'} | ")

    def mean_of(name: str, b: dict[str, Any], key: str, digits: int) -> str:
        e = per_block[name][b["id"]]
        return f"{np.mean(e[key]):.{digits}f}" if e["available"] else "n/a"

    lines = []
    for metric, (title, _) in METRICS.items():
        lines += [f"{title}:", "", lead + " | ".join(methods) + " |", rule + "---|" * len(methods)]
        lines += [row_start(b) + " | ".join(mean_of(m, b, metric, 4) for m in methods) + " |" for b in blocks]
        lines.append("")
    for title, keys in (("ρ lag 1, horizontal / vertical, R / G / B",
                         [f"rho_{d}1_{c}" for d in "hv" for c in CHANNELS]),
                        ("std ratio synthetic/real, R / G / B", [f"std_ratio_{c}" for c in CHANNELS])):
        real = "real noise | " if title.startswith("ρ") else ""
        lines += [f"{title}:", "", lead + real + " | ".join(methods) + " |",
                  rule + ("---|" if real else "") + "---|" * len(methods)]
        for b in blocks:
            cells = [" / ".join(f"{b['noise'][k]:.2f}" for k in keys)] if real else []
            cells += [" / ".join(mean_of(m, b, k, 2) for k in keys) if per_block[m][b["id"]]["available"] else "n/a"
                      for m in methods]
            lines.append(row_start(b) + " | ".join(cells) + " |")
        lines.append("")
    return lines


def _notes(results: dict[str, Any]) -> list[str]:
    methods, blocks = results["methods"], results["validation"]["blocks"]
    lines = ["Notes:", ""]
    for name, info in methods.items():
        lines.append(f"* `{name}`: {info['title']}.")
    support = results.get("training_support") or {}
    if support:
        parts = [f"{cond}: {how}" for cond, how in support.items()]
        lines.append("* Training coverage of the validation conditions (fitted baselines): " + "; ".join(parts) + ".")
    for name in methods:
        notes = {b["id"]: results["per_block"][name][b["id"]]["note"] for b in blocks}
        notes = {k: v for k, v in notes.items() if v}
        if notes:
            lines.append(f"* `{name}` per block: " + "; ".join(f"{k}: {v}" for k, v in notes.items()) + ".")
    if not any(info["kind"] == "model" for info in methods.values()):
        lines.append("* No trained model in this run: rows of trained NMFlowGAN models appear after training "
                     "(pass `--model NAME=DIR`).")
    return lines + [""]


def _main_section(results: dict[str, Any]) -> dict[str, Any]:
    return {"methods": results["methods"], "blocks": results["validation"]["blocks"],
            "per_block": results["per_block"], "summary": results["summary"]}


def _seeds_text(seeds: list[int]) -> str:
    return (f"mean ± sample std over {len(seeds)} sampling seeds ({', '.join(map(str, seeds))})"
            if len(seeds) > 1 else f"one sampling seed ({seeds[0]})")


def _loo(results: dict[str, Any]) -> list[str]:
    loo = results["loo"]
    folds = ", ".join(f"{f['name']}" + (f" ({f['scene']})" if f["scene"] else "") for f in loo["folds"])
    crop = loo.get("crop")
    lines = [
        "### Leave-one-scene-out over the training crops",
        "",
        f"Each of the {len(loo['folds'])} folds holds out the crops of one scene instance ({folds}); the baselines "
        "are refitted on the other crops and per-fold models (`--loo-model`) were trained without them. "
        + (f"Scored on the central {crop}×{crop} pixels of each held-out crop. " if crop else "Scored on whole crops. ")
        + "A camera with a single scene in the training crops is unseen in its fold (baselines: n/a). "
        f"Cells as above ({_seeds_text(results['seeds'])}).",
        "",
        *_headline(loo),
        "",
        *_targets(loo, ("std_ratio", "lag1", "lag2")),
        "",
        "<details><summary>Leave-one-scene-out per held-out crop</summary>",
        "",
        *_per_block(loo, with_fold=True),
        "</details>",
        "",
    ]
    return lines


def render_markdown(results: dict[str, Any]) -> str:
    """Markdown of a results dict: headline table, targets, details, notes and the LOO section.

    ``results`` holds the keys the benchmark writes to its JSON: ``summary`` (:func:`~.fidelity.summarize`),
    ``methods``, ``validation`` (``blocks`` with their real ``noise`` statistics), ``training``,
    ``training_support``, ``per_block``, ``seeds``, ``command_line``, ``version``, ``created``; optional
    ``overlap_warning`` and ``loo`` (:func:`~.loo.evaluate_loo` plus ``crop``).
    """
    section = _main_section(results)
    lines = [
        "<!-- generated by benchmarks/noise_fidelity.py: do not edit by hand, re-run the command below -->",
        f"Generated by `{results['command_line']}` (nmflowgan_aug {results['version']}, {results['created']}).",
        "",
    ]
    if results.get("overlap_warning"):
        lines += [f"**{results['overlap_warning']}**", ""]
    lines += [
        f"Validation: {results['validation']['description']}. "
        f"Training data of the baselines: {results['training']['description']}. "
        "Synthetic output is scored **rounded to 8-bit levels**, as real noisy images are 8-bit (the headline ★ "
        f"is `{HEADLINE}`, {METRICS[HEADLINE][0]}); the float-output KLDs are in the details. Lower is better for "
        "KLD, AKLD, Δρ and the NLF error; ρ and the cross-channel ρ compare with the real noise row, std ratios "
        f"with 1. Each cell is the mean over the blocks, then {_seeds_text(results['seeds'])}; "
        "\"max abs Δρ\" and the std-ratio ranges are the worst blocks (mean over seeds per block).",
        "",
        *_headline(section),
        "",
        "Targets for the shipped model (issue 10 §3; ✓ met, ✗ not met, — does not apply):",
        "",
        *_targets(section, tuple(TARGETS)),
        "",
        "<details><summary>Per camera, and the KLDs of the float output</summary>",
        "",
        *_per_camera(section),
        "</details>",
        "",
        "<details><summary>Noise correlation and level per channel</summary>",
        "",
        *_per_channel(section),
        "</details>",
        "",
        "<details><summary>Per block (mean over seeds)</summary>",
        "",
        *_per_block(section),
        "</details>",
        "",
        *_notes(results),
    ]
    if results.get("loo"):
        lines += _loo(results)
    return "\n".join(lines)


def rewrite_readme(path: str | os.PathLike, table: str, block: str = "fidelity-table") -> None:
    """Replace the text between ``<!-- BLOCK:start -->`` and ``<!-- BLOCK:end -->`` in ``path`` with ``table``.

    The default ``block`` gives :data:`MARK_START` and :data:`MARK_END`; another name (e.g. ``"ablation-table"``)
    lets several fidelity runs write their own part of one file. The file is replaced atomically.

    Raises:
        FileNotFoundError: no such file.
        ValueError: ``block`` is not made of letters, digits and ``-``, or the file lacks exactly one start
            marker followed by exactly one end marker.
    """
    if not block or not all(c.isalnum() or c == "-" for c in block):
        raise ValueError(f"block must be letters, digits and '-', got {block!r}")
    mark_start, mark_end = f"<!-- {block}:start -->", f"<!-- {block}:end -->"
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"README file not found: {path}")
    text = path.read_text(encoding="utf-8")
    start, end = text.find(mark_start), text.find(mark_end)
    if start < 0 or end < 0 or end < start or text.count(mark_start) != 1 or text.count(mark_end) != 1:
        raise ValueError(f"{path} must contain exactly one {mark_start} followed by one {mark_end}")
    new = text[: start + len(mark_start)] + "\n" + table.strip() + "\n" + text[end:]
    atomic_write(path, lambda tmp: Path(tmp).write_text(new, encoding="utf-8"))


def render_summary(results: dict[str, Any]) -> str:
    """Short console summary: overall mean per method of the :data:`SUMMARY_KEYS`, from the same results dict."""
    width = max(len("method"), *(len(n) for n in results["methods"])) + 2
    rows = [f"{'method':<{width}}" + "".join(f"{k:>18}" for k in SUMMARY_KEYS)]
    for name in results["methods"]:
        cells = []
        for k in SUMMARY_KEYS:
            s = results["summary"]["methods"][name][k]["all"]
            cells.append(f"{'n/a' if s['mean'] is None else format(s['mean'], '.4f'):>18}")
        rows.append(f"{name:<{width}}" + "".join(cells))
    return "\n".join(rows)


def write_results(results: dict[str, Any], table: str, out: str | os.PathLike, stem: str) -> list[Path]:
    """Write ``<stem>.json`` (``results``) and ``<stem>.md`` (a title and ``table``) into ``out``, atomically.

    Existing files of the same names are replaced: the caller refuses them first unless asked to overwrite
    (``benchmarks/noise_fidelity.py --overwrite``). Returns both paths.
    """
    out = Path(out)
    paths = [out / f"{stem}.json", out / f"{stem}.md"]
    atomic_write(paths[0], lambda tmp: Path(tmp).write_text(json.dumps(results, indent=2) + "\n"))
    atomic_write(paths[1], lambda tmp: Path(tmp).write_text(f"# Noise fidelity on SIDD validation blocks\n\n{table}",
                                                            encoding="utf-8"))
    return paths

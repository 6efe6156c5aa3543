"""The targets for the shipped model (issue 10 §3), checked on the results of the fidelity and denoising benchmarks.

Fidelity (:func:`check_targets`):

* ``lag1``: noise autocorrelation at lag 1 within ±:data:`LAG1_TOLERANCE` of the real noise on every block,
  per direction (and channel);
* ``lag2``: the same at lag 2 within ±:data:`LAG2_TOLERANCE`;
* ``std_ratio``: noise std per channel within :data:`STD_RATIO_RANGE` × the real noise on every block;
* ``kld``: the headline KLD (NAFlow/PNG protocol, 8-bit output) below every fitted baseline, over the blocks
  both are available on;
* ``akld``: AKLD no worse than the heteroscedastic Gaussian, over the blocks both are available on.

Each check reads a results section (``{"methods": {name: {"kind", ...}}, "per_block", "summary"}``, as the
benchmark writes it): per-block values are means over the sampling seeds.

Denoising (:func:`check_denoiser_targets`), for a DnCNN trained on our synthetic pairs:

* ``beats_baselines``: it beats the DnCNN trained on each fitted baseline by more than the seed spread:
  the mean over seeds of the paired PSNR difference (same seed: same initialisation, patches and
  conditions) exceeds the sample std of that difference;
* ``half_gap``: it closes at least half the PSNR gap between the best fitted baseline and the real-pair
  oracle: ``(ours − best) / (oracle − best) >= 0.5``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .fidelity import CHANNELS, HEADLINE

__all__ = ["DENOISER_TARGETS", "LAG1_TOLERANCE", "LAG2_TOLERANCE", "STD_RATIO_RANGE", "TARGETS",
           "check_denoiser_targets", "check_targets"]

LAG1_TOLERANCE = 0.08
LAG2_TOLERANCE = 0.05
STD_RATIO_RANGE = (0.75, 1.33)

#: Target key -> short description (table header).
TARGETS = {
    "lag1": f"lag-1 ρ within ±{LAG1_TOLERANCE} on every block",
    "lag2": f"lag-2 ρ within ±{LAG2_TOLERANCE} on every block",
    "std_ratio": f"std ratio in {STD_RATIO_RANGE[0]}–{STD_RATIO_RANGE[1]} on every block and channel",
    "kld": "KLD (8-bit) below every fitted baseline",
    "akld": "AKLD ≤ heteroscedastic",
}

HETEROSCEDASTIC = "heteroscedastic"

#: Denoiser target key -> short description (table header).
DENOISER_TARGETS = {
    "beats_baselines": "beats every fitted baseline by more than the seed spread",
    "half_gap": "closes ≥ half the gap from the best baseline to the real-pair oracle",
}


def _block_means(section: dict[str, Any], method: str, key: str) -> dict[str, float]:
    """Mean over seeds per available block of one method."""
    return {b: float(np.mean(e[key])) for b, e in section["per_block"][method].items() if e["available"]}


def _coverage(section: dict[str, Any], method: str) -> tuple[int, int]:
    entries = section["per_block"][method]
    return sum(e["available"] for e in entries.values()), len(entries)


def _max_check(section: dict[str, Any], method: str, key: str, tolerance: float) -> dict[str, Any]:
    values = _block_means(section, method, key)
    if not values:
        return {"ok": None, "value": "n/a"}
    n, of = _coverage(section, method)
    worst = max(values.values())
    text = f"max {worst:.3f}" + (f" ({n}/{of} blocks)" if n < of else "")
    return {"ok": bool(worst <= tolerance and n == of), "value": text}


def _std_check(section: dict[str, Any], method: str) -> dict[str, Any]:
    values = [v for c in CHANNELS for v in _block_means(section, method, f"std_ratio_{c}").values()]
    if not values:
        return {"ok": None, "value": "n/a"}
    n, of = _coverage(section, method)
    lo, hi = min(values), max(values)
    text = f"{lo:.2f}–{hi:.2f}" + (f" ({n}/{of} blocks)" if n < of else "")
    return {"ok": bool(STD_RATIO_RANGE[0] <= lo and hi <= STD_RATIO_RANGE[1] and n == of), "value": text}


def _compare(section: dict[str, Any], method: str, others: Sequence[str], key: str, strict: bool) -> dict[str, Any]:
    """``method`` against each of ``others`` on the blocks both are available on.

    Compares the means over those blocks; the value names the strongest competitor.
    """
    mine = _block_means(section, method, key)
    if not mine or not others:
        return {"ok": None, "value": "n/a"}
    pairs = []
    for other in others:
        theirs = _block_means(section, other, key)
        common = sorted(set(mine) & set(theirs))
        if not common:
            return {"ok": False, "value": f"no block in common with {other}"}
        pairs.append((float(np.mean([theirs[i] for i in common])), float(np.mean([mine[i] for i in common])), other))
    best, own, name = min(pairs)
    ok = all(a < b if strict else a <= b for b, a, _ in pairs)
    return {"ok": ok, "value": f"{own:.4f} vs {name} {best:.4f}"}


def check_targets(section: dict[str, Any], which: Sequence[str] = tuple(TARGETS)) -> dict[str, dict[str, Any]]:
    """Check the :data:`TARGETS` named in ``which`` for every method of a results section except references.

    Returns:
        ``{method: {target: {"ok": True | False | None, "value": str}}}``; ``ok`` is None where the target does
        not apply (a baseline against the baselines, the heteroscedastic Gaussian against itself) or the
        method has no value. A method missing blocks fails the "every block" targets.
    """
    unknown = [t for t in which if t not in TARGETS]
    if unknown:
        raise ValueError(f"unknown target(s) {unknown}; known targets: {list(TARGETS)}")
    methods = section["methods"]
    baselines = [m for m, info in methods.items() if info["kind"] == "baseline"]
    out: dict[str, dict[str, Any]] = {}
    for name, info in methods.items():
        if info["kind"] == "reference":
            continue
        checks: dict[str, Any] = {}
        for target in which:
            if target == "lag1":
                checks[target] = _max_check(section, name, "corr_error_lag1", LAG1_TOLERANCE)
            elif target == "lag2":
                checks[target] = _max_check(section, name, "corr_error_lag2", LAG2_TOLERANCE)
            elif target == "std_ratio":
                checks[target] = _std_check(section, name)
            elif target == "kld":
                others = [] if info["kind"] == "baseline" else baselines
                checks[target] = _compare(section, name, others, HEADLINE, strict=True)
            else:  # akld
                others = [HETEROSCEDASTIC] if HETEROSCEDASTIC in methods and name != HETEROSCEDASTIC else []
                checks[target] = _compare(section, name, others, "akld", strict=False)
        out[name] = checks
    return out


def check_denoiser_targets(
    sources: dict[str, dict[str, Any]], ours: Sequence[str], baselines: Sequence[str], oracle: str
) -> dict[str, dict[str, Any]]:
    """Check the :data:`DENOISER_TARGETS` for each of ``ours`` among the results of the denoising benchmark.

    Args:
        sources: ``results["sources"]`` of ``benchmarks/denoise_sidd.py`` (``psnr`` and ``per_seed`` per source).
        ours: sources to judge (our models).
        baselines: the fitted baselines present.
        oracle: the real-pair oracle's name.

    Returns:
        ``{source: {target: {"ok": True | False | None, "value": str}}}``; ``ok`` is None where it cannot be
        decided (one seed gives no spread; no baseline; no oracle, or an oracle not better than the baselines).
    """
    out: dict[str, dict[str, Any]] = {}
    for name in ours:
        mine = sources[name]
        parts, oks = [], []
        for b in baselines:
            diff = np.array([a["psnr"] - c["psnr"] for a, c in zip(mine["per_seed"], sources[b]["per_seed"])])
            spread = float(diff.std(ddof=1)) if len(diff) > 1 else None
            oks.append(None if spread is None else bool(diff.mean() > spread))
            parts.append(f"{diff.mean():+.2f}" + ("" if spread is None else f" ± {spread:.2f}") + f" dB vs {b}")
        beats = {"ok": None if not oks or None in oks else all(oks), "value": "; ".join(parts) or "n/a"}
        half = {"ok": None, "value": "n/a"}
        if baselines and oracle in sources:
            best = max(baselines, key=lambda b: sources[b]["psnr"])
            gap = sources[oracle]["psnr"] - sources[best]["psnr"]
            if gap > 0:
                frac = (mine["psnr"] - sources[best]["psnr"]) / gap
                half = {"ok": bool(frac >= 0.5),
                        "value": f"{100 * frac:.0f} % of the {gap:.2f} dB from {best} to {oracle}"}
            else:
                half = {"ok": None, "value": f"{oracle} is not better than {best}"}
        out[name] = {"beats_baselines": beats, "half_gap": half}
    return out

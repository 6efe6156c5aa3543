"""The new-camera benchmark as library code (``benchmarks/adapt_camera.py`` is its command line).

For each camera of PolyU and CC15 (:mod:`.unseen_cameras`), the pairs are split once, with a seed, into
held-out pairs (the same for every k) and an adaptation pool; for k in 1, 3, 10 (those the pool allows) the
model is adapted on the first k pairs of the pool (:func:`~.fit.adapt_camera`) and both the adapted camera and
the baseline are scored on the held-out pairs. The baseline is the SIDD camera that explains the k adaptation
pairs best (lowest NLL at their ISO, the ``"closest"`` choice of :func:`~.fit.adapt_camera`), picked without
looking at the held-out pairs.

Scores per held-out pair, on the synthetic output rounded to 8-bit levels like the real captures: KLD (NAFlow
protocol, :func:`~nmflowgan_aug.metrics.kld_block`, per 256×256 block), AKLD
(:func:`~nmflowgan_aug.metrics.akld`, per block), the noise std ratio synthetic/real per channel (1 is best) and
the lag-1 correlation of the noise (Pearson, mean of horizontal and vertical neighbours, per channel) of the
synthetic and the real noise. Pairs at ISOs the model does not accept are skipped and listed.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .._io import atomic_write
from ..data.sidd import PairRecord
from ..metrics import akld, kld_block, noise_autocorrelation, noise_std
from ..model import NMFlowGAN
from .fit import AdaptationSettings, adapt_camera
from .unseen_cameras import cc15_pairs, polyu_pairs

__all__ = [
    "BLOCK",
    "CameraSplit",
    "MARK_END",
    "MARK_START",
    "benchmark_camera",
    "render_table",
    "rewrite_marked",
    "score_pairs",
    "split_camera",
    "unseen_camera_pairs",
]

MARK_START = "<!-- adapt-table:start -->"
MARK_END = "<!-- adapt-table:end -->"
#: Block size of the KLD and AKLD (the NAFlow protocol's SIDD block size).
BLOCK = 256
#: The datasets and where they sit under the real-data folder.
DATASETS: dict[str, tuple[str, Callable[[Path], list[PairRecord]]]] = {
    "PolyU": ("polyu", polyu_pairs),
    "CC15": ("nam_cc15", cc15_pairs),
}


def unseen_camera_pairs(shared_data: str | os.PathLike) -> dict[tuple[str, str], list[PairRecord]]:
    """PolyU and CC15 pairs under ``shared_data`` by ``(dataset, camera)``, in name order.

    Raises:
        FileNotFoundError: ``shared_data/polyu`` or ``shared_data/nam_cc15`` is missing.
        ValueError: see :func:`~.unseen_cameras.polyu_pairs`, :func:`~.unseen_cameras.cc15_pairs`.
    """
    groups: dict[tuple[str, str], list[PairRecord]] = {}
    for dataset, (folder, reader) in DATASETS.items():
        for pair in reader(Path(shared_data) / folder):
            groups.setdefault((dataset, pair.camera), []).append(pair)
    return groups


@dataclass(frozen=True)
class CameraSplit:
    """One unseen camera's pairs, split for the benchmark.

    Attributes:
        pool: adaptation pairs in draw order (k pairs = the first k).
        held_out: the evaluation pairs, never used for adaptation or for picking the baseline.
        skipped: pairs at an ISO the model does not accept, with the reason.
        ks: the adaptation-set sizes the pool allows.
    """

    pool: tuple[PairRecord, ...]
    held_out: tuple[PairRecord, ...]
    skipped: tuple[tuple[PairRecord, str], ...]
    ks: tuple[int, ...]


def split_camera(
    pairs: Sequence[PairRecord], model: NMFlowGAN, ks: Sequence[int], seed: int, held_out: tuple[int, int] = (2, 4)
) -> CameraSplit:
    """Skip pairs at ISOs ``model`` does not accept, then draw held-out pairs and the adaptation pool.

    The usable pairs are shuffled by a ``torch.Generator`` seeded with ``seed``; the first ``h`` are held out,
    with ``h = clamp(n − max(ks), held_out[0], held_out[1])`` (as many as the largest k leaves, within the
    bounds), and the rest is the pool. Fewer than ``held_out[0] + 1`` usable pairs give an empty pool.
    """
    usable, skipped = [], []
    for pair in pairs:
        try:
            model.vocabulary.iso_values(pair.iso, 1)
            usable.append(pair)
        except ValueError as err:
            skipped.append((pair, str(err).split(";")[0]))
    if len(usable) <= held_out[0]:
        return CameraSplit((), tuple(usable), tuple(skipped), ())
    order = torch.randperm(len(usable), generator=torch.Generator().manual_seed(seed)).tolist()
    shuffled = [usable[i] for i in order]
    h = min(max(len(usable) - max(ks), held_out[0]), held_out[1])
    pool = tuple(shuffled[h:])
    return CameraSplit(pool, tuple(shuffled[:h]), tuple(skipped), tuple(k for k in ks if k <= len(pool)))


def _blocks(x: torch.Tensor) -> torch.Tensor:
    """``(1, 3, H, W)`` → its non-overlapping :data:`BLOCK`² blocks ``(n, 3, BLOCK, BLOCK)`` (the image if smaller)."""
    if min(x.shape[-2:]) < BLOCK:
        return x
    tiles = x[..., : x.shape[-2] // BLOCK * BLOCK, : x.shape[-1] // BLOCK * BLOCK].unfold(2, BLOCK, BLOCK)
    return tiles.unfold(3, BLOCK, BLOCK).permute(0, 2, 3, 1, 4, 5).reshape(-1, 3, BLOCK, BLOCK)


def _lag1_correlation(noisy: torch.Tensor, clean: torch.Tensor) -> list[float]:
    """Lag-1 noise correlation per channel, mean of horizontal and vertical (:func:`~nmflowgan_aug.metrics.noise_autocorrelation`)."""
    return noise_autocorrelation(noisy, clean, max_lag=1)[0, :, :, 0].mean(-1).tolist()


def _load(pair: PairRecord) -> tuple[torch.Tensor, torch.Tensor]:
    """``(clean, noisy)`` as float64 sRGB in [0, 1], ``(1, 3, H, W)``."""
    return tuple(torch.from_numpy(a.copy()).permute(2, 0, 1)[None].double() / 255 for a in pair.load())


def score_pairs(model: NMFlowGAN, camera: str, pairs: Sequence[PairRecord], seed: int) -> dict:
    """Score ``camera`` of ``model`` on ``pairs`` (each at its own ISO; module docstring for the metrics).

    Each pair is sampled once, whole, with a generator seeded ``seed + i`` for the i-th pair.

    Returns:
        ``{"per_pair": [...], "kld", "akld", "std_ratio" (per channel), "lag1", "lag1_real" (per channel)}``:
        means over the pairs (KLD and AKLD averaged over each pair's blocks first).
    """
    device = next(model.parameters()).device
    rows = []
    for i, pair in enumerate(pairs):
        clean, noisy = _load(pair)
        generator = torch.Generator(device).manual_seed(seed + i)
        fake = model.sample(clean.float().to(device), camera, pair.iso, generator=generator).cpu().double()
        fake = torch.round(fake * 255) / 255  # 8-bit output, like the real capture
        rows.append({
            "name": pair.name, "iso": pair.iso,
            "kld": float(kld_block(_blocks(noisy), _blocks(fake), _blocks(clean)).mean()),
            "akld": float(akld(_blocks(noisy), _blocks(fake), _blocks(clean)).mean()),
            "std_ratio": (noise_std(fake, clean) / noise_std(noisy, clean))[0].tolist(),
            "lag1": _lag1_correlation(fake, clean), "lag1_real": _lag1_correlation(noisy, clean),
        })  # fmt: skip
    out: dict = {"per_pair": rows}
    for key in ("kld", "akld", "std_ratio", "lag1", "lag1_real"):
        out[key] = np.mean([r[key] for r in rows], axis=0).tolist()
    return out


def benchmark_camera(
    model: NMFlowGAN, split: CameraSplit, camera: str, settings: AdaptationSettings, seed: int,
    baseline_cache: dict[str, dict], progress: bool = False,
) -> list[dict]:  # fmt: skip
    """Adapt on the first k pool pairs for every k of ``split`` and score adapted camera and baseline.

    ``baseline_cache`` maps a base camera to its held-out scores for this split (filled as needed: the baseline
    picked for several k is scored once).

    Returns:
        One dict per k: ``k``, ``pairs`` (names and ISOs), the adaptation record (``closest_camera``,
        ``camera_nll_bpd``, ``nll_before_bpd``, ``nll_after_bpd``, ``seconds``) and the scores ``adapted`` and
        ``baseline``.
    """
    runs = []
    for k in split.ks:
        result = adapt_camera(model, split.pool[:k], camera, settings, progress=progress)
        base = result.closest_camera
        if base not in baseline_cache:
            baseline_cache[base] = score_pairs(model, base, split.held_out, seed)
        runs.append({
            "k": k, "pairs": [{"name": p.name, "iso": p.iso} for p in split.pool[:k]], "closest_camera": base,
            "camera_nll_bpd": result.camera_nll, "nll_before_bpd": result.nll_before,
            "nll_after_bpd": result.nll_after, "seconds": result.seconds,
            "adapted": score_pairs(result.model, camera, split.held_out, seed), "baseline": baseline_cache[base],
        })  # fmt: skip
    return runs


def _triple(values: Sequence[float]) -> str:
    return " / ".join(f"{v:.2f}" for v in values)


def _isos(pairs: Sequence[dict]) -> str:
    return ", ".join(str(i) for i in sorted({p["iso"] for p in pairs}))


def render_table(results: dict) -> str:
    """The markdown report of a benchmark run: notes, a summary per k and one row pair per camera and k.

    ``results`` is what ``benchmarks/adapt_camera.py`` writes to its JSON: ``command_line``, ``version``,
    ``created``, ``model``, ``settings``, ``seed`` and ``cameras`` (each with ``dataset``, ``camera``,
    ``held_out``, ``skipped`` and ``runs`` from :func:`benchmark_camera`).
    """
    s = results["settings"]
    lines = [
        "<!-- generated by benchmarks/adapt_camera.py: do not edit by hand, re-run the command below -->",
        f"Generated by `{results['command_line']}` (nmflowgan_aug {results['version']}, {results['created']}, "
        f"base model `{results['model']}`).",
        "",
        "PolyU and CC15 are **JPEG-derived** (their clean image is the mean of many shots, their noisy image one "
        "JPEG capture), so their \"noise\" includes compression effects, and they are licensed for non-commercial "
        "use: evaluation only, nothing of them is shipped. Per camera, the held-out pairs are drawn once (seed "
        f"{results['seed']}) and are the same for every k; the k adaptation pairs are the first k of the rest. "
        "*adapted*: `nmflowgan-adapt` on the k pairs "
        f"({s['steps']} steps, {s['batch_size']} patches of {s['patch_size']}² per step, lr {s['lr']}, start "
        f"{s['init_from']!r}"
        + (", spatial kernel trained too" if s["train_spatial"] else "")
        + "). *best SIDD*: the SIDD camera with the lowest NLL on the same k pairs at their ISO, picked without "
        "looking at the held-out pairs. Scores on the held-out pairs, synthetic output rounded to 8 bits: KLD "
        "(NAFlow protocol, per 256×256 block) and AKLD, lower is better; noise std ratio synthetic/real per channel "
        "R / G / B, 1 is best; lag-1 correlation of the noise (mean of horizontal and vertical, over channels), "
        "real value in brackets. Adaptation NLL: bits/dim on patches of the k pairs, best SIDD camera → adapted.",
        "",
    ]
    per_k: dict[int, list[dict]] = {}
    for cam in results["cameras"]:
        for run in cam["runs"]:
            per_k.setdefault(run["k"], []).append(run)
    lines += ["**Mean over cameras**", "",
              "| k | cameras | KLD adapted | KLD best SIDD | AKLD adapted | AKLD best SIDD | |std ratio − 1| adapted "
              "| |std ratio − 1| best SIDD |", "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for k in sorted(per_k):
        runs = per_k[k]

        def mean(method: str, key: str, runs=runs) -> float:
            values = [r[method][key] for r in runs]
            return float(np.mean(np.abs(np.array(values) - 1))) if key == "std_ratio" else float(np.mean(values))

        lines.append(f"| {k} | {len(runs)} | {mean('adapted', 'kld'):.4f} | {mean('baseline', 'kld'):.4f} | "
                     f"{mean('adapted', 'akld'):.4f} | {mean('baseline', 'akld'):.4f} | "
                     f"{mean('adapted', 'std_ratio'):.3f} | {mean('baseline', 'std_ratio'):.3f} |")
    lines += ["", "**Per camera**", "",
              "| set | camera | held-out pairs (ISO) | k | method | KLD | AKLD | std ratio R / G / B "
              "| lag-1 corr. (real) | adaptation NLL |", "|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for cam in results["cameras"]:
        held = f"{len(cam['held_out'])} ({_isos(cam['held_out'])})"
        for run in cam["runs"]:
            real = float(np.mean(run["adapted"]["lag1_real"]))
            for method, label in (("adapted", "adapted"), ("baseline", f"best SIDD: {run['closest_camera']}")):
                score = run[method]
                nll = (f"{run['camera_nll_bpd'][run['closest_camera']]:.3f} → {run['nll_after_bpd']:.3f}"
                       if method == "adapted" else "")  # fmt: skip
                lines.append(f"| {cam['dataset']} | {cam['camera']} | {held} | {run['k']} ({_isos(run['pairs'])}) | "
                             f"{label} | {score['kld']:.4f} | {score['akld']:.4f} | {_triple(score['std_ratio'])} | "
                             f"{float(np.mean(score['lag1'])):.2f} ({real:.2f}) | {nll} |")
    skipped = [f"{cam['dataset']} {cam['camera']}: {len(cam['skipped'])} pair(s) at ISO {_isos(cam['skipped'])} "
               f"({cam['skipped'][0]['reason']})" for cam in results["cameras"] if cam["skipped"]]
    too_few = [f"{cam['dataset']} {cam['camera']}" for cam in results["cameras"] if not cam["runs"]]
    if skipped:
        lines += ["", "Skipped pairs: " + "; ".join(skipped) + "."]
    if too_few:
        lines += ["", "Not enough usable pairs to adapt and hold out: " + ", ".join(too_few) + "."]
    return "\n".join(lines) + "\n"


def rewrite_marked(path: str | os.PathLike, text: str, start: str = MARK_START, end: str = MARK_END) -> None:
    """Replace what lies between the markers ``start`` and ``end`` in the file ``path`` with ``text`` (atomically).

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file lacks exactly one ``start`` marker followed by exactly one ``end`` marker.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"file not found: {path}")
    old = path.read_text(encoding="utf-8")
    i, j = old.find(start), old.find(end)
    if i < 0 or j < i or old.count(start) != 1 or old.count(end) != 1:
        raise ValueError(f"{path} must contain exactly one {start} followed by one {end}")
    new = old[: i + len(start)] + "\n" + text.strip() + "\n" + old[j:]
    atomic_write(path, lambda tmp: Path(tmp).write_text(new, encoding="utf-8"))

"""Ship a trained run as a named pretrained model: copy its weights into the package, record the
SHA-256 in ``registry.json`` and write ``MODEL_CARD.md`` from the run's own files and a noise-fidelity
benchmark JSON (so every number in the card comes from a script run, not from hand).

    python -m nmflowgan_aug.pretrained.release runs/sidd_native --name sidd \
        --fidelity benchmarks/results/noise_fidelity.json --method sidd --compare official_size
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import yaml

from .._io import atomic_write, refuse_overwrite
from ..vocab import SIDD_CAMERA_NAMES
from . import _HERE, REGISTRY_FILE, sha256_of

__all__ = ["main", "model_card", "release"]

MAX_BYTES = 20 * 1024 * 1024
METRICS = (("kld_official", "KLD (NM-FlowGAN protocol)"), ("kld_block", "KLD (NAFlow protocol)"), ("akld", "AKLD"))


def _metric_rows(fidelity: dict, methods: list[str]) -> list[str]:
    summary = fidelity["summary"]["methods"]
    groups = list(fidelity["summary"]["groups"])
    rows = ["| method | metric | " + " | ".join(groups) + " |", "|---|---|" + "---|" * len(groups)]
    for method in methods:
        if method not in summary:
            raise ValueError(f"method {method!r} is not in the fidelity results; present: {sorted(summary)}")
        for key, label in METRICS:
            cells = []
            for g in groups:
                cell = summary[method][key].get(g)
                cells.append("n/a" if not cell or cell.get("mean") is None else f"{cell['mean']:.4f} ± {cell['std']:.4f}")
            rows.append(f"| {method} | {label} | " + " | ".join(cells) + " |")
    return rows


def model_card(name: str, run_dir: Path, fidelity: dict, method: str, compare: list[str]) -> str:
    """The markdown model card of a shipped model (see the module docstring for the sources)."""
    doc = json.loads((run_dir / "model" / "config.json").read_text())
    config, meta = doc["config"], doc.get("metadata", {})
    train_cfg = yaml.safe_load((run_dir / "config.yaml").read_text())
    metrics = json.loads((run_dir / "metrics.json").read_text())
    history = metrics["history"]
    cams = ", ".join(f"`{c}` ({SIDD_CAMERA_NAMES.get(c, 'camera')})" for c in config["cameras"])
    lines = [
        f"# Model card: `{name}`",
        "",
        "NM-FlowGAN sRGB camera-noise model (Han & Yu, arXiv 2312.10112), re-implemented in `nmflowgan_aug`.",
        f"Load it with `NMFlowGAN.from_pretrained({name!r})`; the SHA-256 of `model.safetensors` is checked on load.",
        "",
        "## Training data",
        "",
        f"- Source: `{Path(meta.get('training_data', '?')).name}` rows {', '.join(train_cfg['data']['train']['ids'] or ['all'])}"
        " of `../shared/data/sidd_native` (native-resolution SIDD sRGB crops); rows without a known camera"
        " and ISO are left out. Validation (not trained on): rows "
        f"{', '.join((train_cfg['data']['val'] or {}).get('ids') or [])}, real SIDD validation blocks.",
        f"- {metrics['train_patches']} training patches of {train_cfg['data']['patch_size']}×"
        f"{train_cfg['data']['patch_size']} (stride {train_cfg['data']['stride']}), flip/rot90 augmentation.",
        "- `sidd_small_256` was not used: its frames were resized by their publisher, which shrank the noise"
        " (about 0.83×) and destroyed its spatial correlation, so it would teach the wrong noise.",
        f"- Command: `python train_noise_model.py --config configs/{train_cfg['name']}.yaml`"
        f" ({len(history)} epochs, {history[-1]['step']} iterations, device `{metrics['device']}`,"
        f" {sum(h['seconds'] for h in history) / 60:.1f} minutes).",
        "",
        "## Architecture",
        "",
        "- Flow: UD, then NE | SAL | SDL | CL2 | SAL | SDL | CL2 (official layers), subnetwork width "
        f"{config['flow_features']}; camera/ISO encoding `{config['iso_encoding']}`.",
        f"- Spatial-correlation U-Net: depth {config['unet_depth']}, width {config['unet_width']} (official: depth 5,"
        " width 64, 31.0 M parameters); chosen so that synthesis runs on the fly, see `benchmarks/throughput.py`.",
        f"- Critic (training only): width {train_cfg['critic']['width']}, WGAN-GP λ = {train_cfg['critic']['gp_weight']}.",
        "",
        "## Cameras and ISO",
        "",
        f"- Cameras: {cams}.",
        f"- ISO: {', '.join(str(i) for i in config['isos'])}. Other values raise `ValueError`.",
        "- ISO levels and camera/ISO pairs absent from the training crops are reached through the continuous"
        " log-ISO encoding (an interpolation or extrapolation, not a measurement).",
        "",
        "## Metrics",
        "",
        f"On the 5 real SIDD validation blocks of `../shared/data/sidd_native`, mean ± std over sampling seeds"
        f" {fidelity['seeds']}, from `{fidelity['command_line']}` (nmflowgan_aug {fidelity['version']},"
        f" {fidelity['created']}). Lower is better.",
        "",
        *_metric_rows(fidelity, [method, *compare]),
        "",
    ]
    if compare:
        lines += [
            f"Rows other than `{method}` are the other methods scored in the same run (fitted baselines, or a model"
            " with the official U-Net size trained on the same data when one is listed); see"
            " `benchmarks/results/noise_fidelity.md`. No official-size row means that comparison was not run.",
            "",
        ]
    lines += [
        "## Licence",
        "",
        "Weights: MIT, like this package. Training data: SIDD (Abdelhamed et al., CVPR 2018), distributed by its"
        " authors under the MIT licence.",
        "",
        "## Limitations",
        "",
        "- Trained on 11 real crops from five 2016-era phones, on 2 CPU cores for a short budget: a demonstration"
        " of the pipeline on the only native SIDD noise available here, not a reproduction of the paper.",
        "  Retrain on SIDD-Medium with `configs/nmflowgan_sidd.yaml` for production use.",
        "- Noise of other cameras (DSLRs, recent phones) is not modelled; choose the closest camera/ISO.",
        "- The flow's SDL layer normalises over the whole input tile, so noise statistics depend slightly on the"
        " image size; it was trained on 96×96 patches.",
        "",
    ]
    return "\n".join(lines)


def release(run_dir: Path, name: str, fidelity_json: Path, method: str, compare: list[str], overwrite: bool) -> Path:
    """Copy ``run_dir/model`` to ``nmflowgan_aug/pretrained/<name>/``, write its card and register it.

    Raises:
        FileNotFoundError: missing run files.
        FileExistsError: the model exists and ``overwrite`` is False.
        ValueError: weights over 20 MB, or the method missing from the fidelity JSON.
    """
    source = run_dir / "model" / "model.safetensors"
    for needed in (source, run_dir / "model" / "config.json", run_dir / "metrics.json", fidelity_json):
        if not needed.is_file():
            raise FileNotFoundError(f"missing {needed}")
    if source.stat().st_size > MAX_BYTES:
        raise ValueError(f"{source} is {source.stat().st_size / 2**20:.1f} MiB; shipped weights must be at most 20 MiB")
    target = _HERE / name
    refuse_overwrite(target / "model.safetensors", overwrite)
    card = model_card(name, run_dir, json.loads(fidelity_json.read_text()), method, compare)
    target.mkdir(parents=True, exist_ok=True)
    for file in ("model.safetensors", "config.json"):
        atomic_write(target / file, lambda p, f=file: shutil.copyfile(run_dir / "model" / f, p))
    atomic_write(target / "MODEL_CARD.md", lambda p: Path(p).write_text(card))
    registry = json.loads(REGISTRY_FILE.read_text())
    registry[name] = {"folder": name, "sha256": sha256_of(target / "model.safetensors")}
    atomic_write(REGISTRY_FILE, lambda p: Path(p).write_text(json.dumps(registry, indent=2, sort_keys=True) + "\n"))
    return target


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Ship a training run as a named pretrained model inside the package.")
    p.add_argument("run_dir", type=Path, help="run folder written by train_noise_model.py")
    p.add_argument("--name", required=True, help="name for NMFlowGAN.from_pretrained(name)")
    p.add_argument("--fidelity", type=Path, required=True, help="JSON written by benchmarks/noise_fidelity.py")
    p.add_argument("--method", required=True, help="this model's method name in the fidelity JSON")
    p.add_argument("--compare", nargs="*", default=[], help="other methods of the JSON to show in the card")
    p.add_argument("--overwrite", action="store_true", help="replace an existing shipped model of that name")
    args = p.parse_args(argv)
    target = release(args.run_dir, args.name, args.fidelity, args.method, args.compare, args.overwrite)
    print(f"shipped {args.name!r} in {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Maintainer tool: ship a trained run as a named pretrained model.

Copies the run's weights into the package, records them as a
:class:`~nmflowgan_aug.pretrained.registry.PretrainedWeights` in ``registry.json`` (SHA-256, licence,
training data, headline metrics, paper) and writes ``MODEL_CARD.md`` from that record, the run's own
files and a noise-fidelity benchmark JSON (so every number in the card comes from a script run, not
from hand). Installed as the console script ``nmflowgan-release``::

    nmflowgan-release runs/sidd_native --name sidd \
        --fidelity benchmarks/results/noise_fidelity.json --method sidd --compare gaussian \
        --official official_size=runs/sidd_native_official --throughput benchmarks/results/throughput_cpu.json
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import yaml

from .._io import atomic_write, refuse_overwrite
from ..vocab import SIDD_CAMERA_NAMES
from .registry import PRETRAINED_DIR, PretrainedWeights, folder_sha256, read_registry, write_registry

__all__ = ["main", "model_card", "pretrained_record", "release", "speed_lines", "training_command"]

MAX_BYTES = 20 * 1024 * 1024
#: The files of a run's model folder that ship (their :func:`folder_sha256` is the record's checksum).
SHIPPED_FILES = ("model.safetensors", "config.json")
#: The fidelity metrics of the card's table and the registry record (keys of ``noise_fidelity.py``'s JSON).
METRICS = (
    ("kld_block", "KLD (NAFlow protocol)"),
    ("kld_official", "KLD (NM-FlowGAN protocol)"),
    ("akld", "AKLD"),
    ("corr_error_lag1", "abs Δρ lag 1"),
    ("corr_error_lag2", "abs Δρ lag 2"),
    ("std_ratio_R", "std ratio R"),
    ("std_ratio_G", "std ratio G"),
    ("std_ratio_B", "std ratio B"),
)
#: The metrics of :data:`METRICS` for which lower is better (the std ratios are best at 1).
ERROR_METRICS = tuple((key, label) for key, label in METRICS if not key.startswith("std_ratio"))
PAPER = "Han & Yu, arXiv 2312.10112"
LICENCE = (
    "Weights: MIT, like this package. Training data: SIDD (Abdelhamed et al., CVPR 2018), distributed by its"
    " authors under the MIT licence."
)


def _method_summary(fidelity: dict, method: str) -> dict:
    """One method's per-metric, per-group summary from a noise_fidelity.py JSON."""
    summary = fidelity["summary"]["methods"]
    if method not in summary:
        raise ValueError(f"method {method!r} is not in the fidelity results; present: {sorted(summary)}")
    return summary[method]


def _metric_rows(fidelity: dict, methods: list[str]) -> list[str]:
    groups = list(fidelity["summary"]["groups"])
    rows = ["| method | metric | " + " | ".join(groups) + " |", "|---|---|" + "---|" * len(groups)]
    for method in methods:
        scores = _method_summary(fidelity, method)
        for key, label in METRICS:
            cells = []
            for g in groups:
                cell = scores[key].get(g)
                cells.append("n/a" if not cell or cell.get("mean") is None else f"{cell['mean']:.4f} ± {cell['std']:.4f}")
            rows.append(f"| {method} | {label} | " + " | ".join(cells) + " |")
    return rows


def _training_summary(run_dir: Path) -> str:
    metrics = json.loads((run_dir / "metrics.json").read_text())
    history = metrics["history"]
    return (f"{len(history)} epochs, {history[-1]['step']} iterations, device `{metrics['device']}`,"
            f" {sum(h['seconds'] for h in history) / 60:.1f} minutes")


def _flatten(tree: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        elif isinstance(value, list):  # list entries compare without their unset (None) fields
            flat[f"{prefix}{key}"] = [
                {k: v for k, v in item.items() if v is not None} if isinstance(item, dict) else item for item in value
            ]
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def training_command(run_dir: Path, recipe: Path | None) -> str:
    """The ``train_noise_model.py`` command that reproduces a run.

    ``recipe`` (a config YAML) plus a ``--set`` for every value in which the run's ``config.yaml`` differs
    from it; without a recipe, the run's own ``config.yaml``.

    Raises:
        FileNotFoundError: ``recipe`` is not a file.
        nmflowgan_aug.training.config.ConfigError: ``recipe`` is not a valid training config.
    """
    run_config = yaml.safe_load((run_dir / "config.yaml").read_text())
    if recipe is None:
        return f"python train_noise_model.py --config {run_dir.name}/config.yaml"
    from ..training.config import load_config

    base = _flatten(yaml.safe_load(yaml.safe_dump(load_config(recipe).to_dict())))
    mine = _flatten(run_config)
    sets = [
        f"--set '{key}={json.dumps(mine[key])}'" if isinstance(mine[key], (list, dict)) else f"--set {key}={mine[key]}"
        for key in sorted(mine)
        if key not in ("name", "output_dir") and mine[key] != base.get(key)
    ]
    return " ".join(["python train_noise_model.py --config", recipe.as_posix(), "--name", run_config["name"], *sets])


def _best_img_s(throughput: dict, what: str) -> float | None:
    values = [r["img_s"] for r in throughput["rows"] if r["what"] == what and r["dtype"] == "fp32" and r["img_s"]]
    return max(values) if values else None


def _matched_iteration_rows(run_dir: Path, official_run: Path) -> list[str]:
    """Training-time validation of both runs at the last iteration count they both reached."""
    mine, theirs = (
        {h["step"]: h for h in json.loads((r / "metrics.json").read_text())["history"] if "val_kld" in h}
        for r in (run_dir, official_run)
    )
    common = sorted(set(mine) & set(theirs))
    if not common:
        return []
    a, b = mine[common[-1]], theirs[common[-1]]
    return [
        "",
        f"At the same iteration ({common[-1]}, epoch {a['epoch']}), the validation run during training"
        " (`val_kld`, `val_akld`: fixed-seed samples on the validation patches, `metrics.json`):"
        f" this model {a['val_kld']:.4f} / {a['val_akld']:.4f}, official size {b['val_kld']:.4f} / {b['val_akld']:.4f}.",
    ]


def official_size_section(
    fidelity: dict, method: str, run_dir: Path, official_method: str, official_run: Path, throughput: dict | None
) -> list[str]:
    """Card section: fidelity of this model against the same recipe at the official U-Net/critic size.

    Both models come from the same fidelity benchmark run; the recipe difference is read from the two
    runs' ``config.yaml`` and the speed ratio from a ``benchmarks/throughput.py`` JSON.
    """
    mine = _flatten(yaml.safe_load((run_dir / "config.yaml").read_text()))
    theirs = _flatten(yaml.safe_load((official_run / "config.yaml").read_text()))
    changed = [k for k in sorted(set(mine) | set(theirs)) if mine.get(k) != theirs.get(k) and k != "name"]
    mine_scores, official_scores = _method_summary(fidelity, method), _method_summary(fidelity, official_method)
    lines = [
        "## Cost of the smaller U-Net against the official size, measured",
        "",
        f"`{official_method}` is the same recipe with these settings changed: "
        + (", ".join(f"`{k}` {mine.get(k)} → {theirs.get(k)}" for k in changed) or "none")
        + f"; trained on the same data and machine ({_training_summary(official_run)}; this model:"
        f" {_training_summary(run_dir)}). Both were scored in the fidelity run above.",
        "",
        "| metric (all blocks) | this model | official size | this model − official |",
        "|---|---|---|---|",
    ]
    worse = []
    for key, label in ERROR_METRICS:
        a, b = mine_scores[key]["all"]["mean"], official_scores[key]["all"]["mean"]
        lines.append(f"| {label} | {a:.4f} | {b:.4f} | {a - b:+.4f} |")
        if a > b:
            worse.append(label)
    lines += ["", (f"The shipped size is worse on {', '.join(worse)}." if worse else
                   "At these budgets the shipped size costs no fidelity: it scores better on every metric.")
              + " This compares the two sizes as trained here, not each trained to convergence."]
    lines += _matched_iteration_rows(run_dir, official_run)
    if throughput is not None:
        lines += ["", *speed_lines(throughput)]
    return [*lines, ""]


def speed_lines(throughput: dict) -> list[str]:
    """The card's sampling-speed sentence from a ``benchmarks/throughput.py`` JSON.

    The shipped model against the official-size model timed in the same process (fp32, best batch), with
    their parameter counts.
    """
    fast, slow = _best_img_s(throughput, "shipped"), _best_img_s(throughput, "official")
    if not (fast and slow):
        return []
    params = {r["what"]: r["params"] for r in throughput["rows"]}
    machine = throughput["machine"]
    threads = f", {machine['torch_threads']} torch threads" if "torch_threads" in machine else ""
    load = machine.get("load_average_1min")
    busy = f", 1-min load average {load:.2f} at start" if load is not None else ""
    return [f"Sampling speed at {throughput['size']}×{throughput['size']}, fp32, best batch, on {machine['cpu']}"
            f" ({machine['cpu_cores_usable']} cores{threads}{busy}) / GPU {machine.get('gpu') or 'none'}:"
            f" {fast:.1f} img/s for the"
            f" shipped model ({params['shipped']:,} parameters) against {slow:.1f} img/s for the official size"
            f" ({params['official']:,} parameters), {fast / slow:.1f}× faster, from `{throughput['command']}`."]


def pretrained_record(name: str, run_dir: Path, fidelity: dict, method: str) -> PretrainedWeights:
    """The registry record of ``run_dir/model`` shipped as ``name``.

    SHA-256 of its weights, training data (from the run's provenance and ``config.yaml``), headline
    metrics (``method``'s means over all blocks in the fidelity JSON), :data:`LICENCE` and :data:`PAPER`.

    Raises:
        ValueError: ``method`` is not in the fidelity JSON.
    """
    train_cfg = yaml.safe_load((run_dir / "config.yaml").read_text())
    scores = _method_summary(fidelity, method)
    extra = [Path(source["path"]).name for source in train_cfg["data"].get("extra_train") or []]
    training_data = (
        f"`{Path(train_cfg['data']['train']['path']).name}` rows"
        f" {', '.join(train_cfg['data']['train']['ids'] or ['all'])} of `../shared/data/sidd_native`"
        " (native-resolution SIDD sRGB crops); rows without a known camera and ISO are left out."
        + (f" Also: {', '.join(f'`{e}`' for e in extra)} (see the model card)." if extra else "")
    )
    return PretrainedWeights(
        name=name,
        folder=name,
        sha256=_shipped_files_sha256(run_dir / "model"),
        licence=LICENCE,
        training_data=training_data,
        metrics={key: scores[key]["all"]["mean"] for key, _ in METRICS},
        paper=PAPER,
    )


def _shipped_files_sha256(model_dir: Path) -> str:
    """:func:`folder_sha256` of the files :func:`release` copies (``model.safetensors``, ``config.json``)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        for file in SHIPPED_FILES:
            shutil.copyfile(model_dir / file, Path(tmp) / file)
        return folder_sha256(tmp)


ISO_ENCODING_TEXT = {
    "onehot": "one-hot ISO index and one-hot camera (official NM-FlowGAN; only the listed ISOs have a row)",
    "log": "one-hot camera and a continuous log-ISO value with one slope shared by all cameras",
    "log_camera": "one-hot camera and a per-camera log-ISO slope ([onehot(camera) ‖ t·onehot(camera)], t the"
    " log-ISO), so each camera's noise can grow with ISO at its own rate",
}


def _source_line(source: dict, label: str) -> str:
    """One training source of a run's ``config.yaml`` as a card bullet."""
    where = Path(source["path"])
    rows = f"rows {', '.join(source['ids'])} of " if source.get("ids") else "all of "
    line = f"- {label}: {rows}`{where.parent.name}/{where.name}`" if where.suffix else f"- {label}: {rows}`{where.name}`"
    if source.get("exclude_scenes"):
        line += f", leaving out scene instances {', '.join(str(n) for n in source['exclude_scenes'])}"
    if source.get("weight", 1.0) != 1.0:
        line += f", sampling weight {source['weight']}"
    if source.get("resampled"):
        line += (
            ". Its frames were resized by their publisher, which lowered the noise (about 0.83×) and removed its"
            " spatial correlation: its patches train the pixel-wise layers only, through a learned per-channel"
            " scale (`ResampledNoiseScale`) in place of the spatial-correlation layer"
        )
    return line + "."


def _training_data_lines(
    record: PretrainedWeights, run_dir: Path, train_cfg: dict, metrics: dict, recipe: Path | None
) -> list[str]:
    data = train_cfg["data"]
    size = data["patch_size"]
    lines = [
        "## Training data",
        "",
        f"- Source: {record.training_data} Validation (not trained on): rows "
        f"{', '.join((data['val'] or {}).get('ids') or [])}, real SIDD validation blocks.",
    ]
    lines += [_source_line(source, "Also") for source in data.get("extra_train") or []]
    lines += [
        f"- {metrics['train_patches']} training patches of {size}×{size} (stride {data['stride']}),"
        f" {'flip/rot90 augmentation' if data.get('augment') else 'no augmentation'}.",
        f"- Command: `{training_command(run_dir, recipe)}` ({_training_summary(run_dir)}).",
        "",
    ]
    return lines


def _architecture_lines(config: dict, train_cfg: dict) -> list[str]:
    linear = config.get("noise_domain", "srgb") == "linear"
    kernel = config.get("spatial_kernel", 0)
    lines = [
        "## Architecture",
        "",
        "- Flow (data → latent): UD, then NE | SAL | SDL | CL2 | SAL | SDL | CL2 (official layers)"
        + (" | spatial-correlation layer" if kernel else "")
        + (", with NE taking the noise in linear light" if linear else "")
        + f"; subnetwork width {config['flow_features']}.",
        f"- Camera/ISO encoding `{config['iso_encoding']}`: {ISO_ENCODING_TEXT[config['iso_encoding']]}.",
        "- Noise domain: "
        + ("linear light. The flow models `linear(noisy) − linear(clean)` (sRGB transfer function of IEC 61966-2-1,"
           " kornia), which is nearly symmetric for SIDD, where the sRGB difference is skewed."
           if linear else "sRGB (official): the flow models `noisy − clean` in 8-bit levels."),
    ]
    if kernel:
        lines.append(
            f"- Spatial correlation: a learned {kernel}×{kernel} convolution across the three channels, applied"
            " circularly as `I + W` and inverted exactly through the FFT (its log-determinant is exact), shared by"
            " all cameras and ISOs; trained by likelihood with the rest of the flow."
        )
    if config["unet_depth"]:
        lines += [
            f"- Spatial-correlation U-Net: depth {config['unet_depth']}, width {config['unet_width']} (official:"
            " depth 5, width 64, 31.0 M parameters); see `benchmarks/throughput.py` for its cost.",
            f"- Critic (training only): width {train_cfg['critic']['width']}, WGAN-GP λ ="
            f" {train_cfg['critic']['gp_weight']}.",
        ]
    else:
        lines.append("- No U-Net and no critic (`unet_depth: 0`): trained by maximum likelihood (NLL) alone.")
    return [*lines, ""]


def model_card(
    record: PretrainedWeights,
    run_dir: Path,
    fidelity: dict,
    method: str,
    compare: list[str],
    official: tuple[str, Path] | None = None,
    throughput: dict | None = None,
    recipe: Path | None = None,
) -> str:
    """The markdown model card of a shipped model.

    Made from its registry ``record`` and the sources listed in the module docstring.

    ``official`` is ``(method, run_dir)`` of the same recipe trained at the official U-Net size; it adds
    the measured fidelity cost of the shipped size (and its speed gain, from ``throughput``). ``recipe``
    is the config YAML the run was trained from (see :func:`training_command`).
    """
    config = json.loads((run_dir / "model" / "config.json").read_text())["config"]
    train_cfg = yaml.safe_load((run_dir / "config.yaml").read_text())
    metrics = json.loads((run_dir / "metrics.json").read_text())
    cams = ", ".join(f"`{c}` ({SIDD_CAMERA_NAMES.get(c, 'camera')})" for c in config["cameras"])
    name = record.name
    lines = [
        f"# Model card: `{name}`",
        "",
        f"NM-FlowGAN sRGB camera-noise model ({record.paper}), re-implemented in `nmflowgan_aug`.",
        f"Load it with `NMFlowGAN.from_pretrained({name!r})`; the SHA-256 of its weights and `config.json` is checked"
        " on load.",
        "",
        *_training_data_lines(record, run_dir, train_cfg, metrics, recipe),
        *_architecture_lines(config, train_cfg),
        "## Cameras and ISO",
        "",
        f"- Cameras: {cams}.",
        f"- ISO: {', '.join(str(i) for i in config['isos'])}. Other values raise `ValueError`.",
        "- ISO levels and camera/ISO pairs absent from the training data are reached through the camera/ISO"
        " encoding (an interpolation or extrapolation, not a measurement).",
        "",
        "## Metrics",
        "",
        f"On the 5 real SIDD validation blocks of `../shared/data/sidd_native`, mean ± std over sampling seeds"
        f" {fidelity['seeds']}, from `{fidelity['command_line']}` (nmflowgan_aug {fidelity['version']},"
        f" {fidelity['created']}). Synthetic noise is scored on 8-bit output. KLD, AKLD and abs Δρ (the error of"
        " the noise's neighbour correlation at lag 1 and 2, mean over directions and channels): lower is better;"
        " std ratio (synthetic / real noise std per channel): 1 is best.",
        "",
        *_metric_rows(fidelity, [method, *compare]),
        "",
    ]
    if compare:
        lines += [
            f"Rows other than `{method}` are the other methods scored in the same run (fitted baselines, or a model"
            " with the official U-Net size trained on the same data when one is listed); see"
            " `benchmarks/results/noise_fidelity.md`.",
            "",
        ]
    if official is not None:
        lines += official_size_section(fidelity, method, run_dir, official[0], official[1], throughput)
    elif throughput is not None and speed_lines(throughput):
        lines += ["## Cost against the official size", "", *speed_lines(throughput),
                  "No official-size model was trained on the same data for a fidelity comparison.", ""]
    size = train_cfg["data"]["patch_size"]
    lines += [
        "## Licence",
        "",
        record.licence,
        "",
        "## Limitations",
        "",
        "- Trained on the SIDD data available here (five 2016-era phones), on 2 CPU cores for a short budget, not"
        " a reproduction of the paper. Retrain on SIDD-Medium with `configs/nmflowgan_sidd.yaml` for production use.",
        "- Five validation blocks from three cameras rank methods only coarsely; see the leave-one-scene-out"
        " results in `benchmarks/README.md`.",
        "- Noise of other cameras (DSLRs, recent phones) is not modelled; choose the closest camera/ISO, or add"
        " a camera from a few pairs with `nmflowgan-adapt`.",
        "- The flow's SDL layer normalises over the whole input tile, so noise statistics depend slightly on the"
        f" image size; it was trained on {size}×{size} patches.",
        "",
    ]
    return "\n".join(lines)


def release(
    run_dir: Path,
    name: str,
    fidelity_json: Path,
    method: str,
    compare: list[str],
    overwrite: bool,
    official: tuple[str, Path] | None = None,
    throughput_json: Path | None = None,
    package_dir: Path = PRETRAINED_DIR,
    recipe: Path | None = None,
) -> Path:
    """Copy ``run_dir/model`` to ``<package_dir>/<name>/``, write its card and register it.

    The registry is ``<package_dir>/registry.json``.

    Args:
        run_dir: run folder written by ``train_noise_model.py`` (``model/``, ``config.yaml``, ``metrics.json``).
        name: the shipped name, for ``NMFlowGAN.from_pretrained(name)``.
        fidelity_json: JSON written by ``benchmarks/noise_fidelity.py``.
        method: this model's method name in the fidelity JSON.
        compare: other methods of the fidelity JSON to show in the card.
        overwrite: replace an existing shipped model of that name.
        official: ``(method, run_dir)`` of the official-size run scored in the same fidelity JSON.
        throughput_json: ``benchmarks/throughput.py --json`` output, for the speed line of that section.
        recipe: the config YAML the run was trained from, for the card's reproduction command.
        package_dir: where the shipped models live (default: this package).

    Raises:
        FileNotFoundError: missing run files.
        FileExistsError: the model exists and ``overwrite`` is False.
        ValueError: weights over 20 MB, or a method missing from the fidelity JSON.
    """
    source = run_dir / "model" / "model.safetensors"
    needed = [source, run_dir / "model" / "config.json", run_dir / "metrics.json", fidelity_json]
    if official is not None:
        needed += [official[1] / "config.yaml", official[1] / "metrics.json"]
    if throughput_json is not None:
        needed.append(throughput_json)
    if recipe is not None:
        needed.append(recipe)
    for path in needed:
        if not path.is_file():
            raise FileNotFoundError(f"missing {path}")
    if source.stat().st_size > MAX_BYTES:
        raise ValueError(f"{source} is {source.stat().st_size / 2**20:.1f} MiB; shipped weights must be at most 20 MiB")
    target = package_dir / name
    refuse_overwrite(target / "model.safetensors", overwrite)
    throughput = json.loads(throughput_json.read_text()) if throughput_json is not None else None
    fidelity = json.loads(fidelity_json.read_text())
    record = pretrained_record(name, run_dir, fidelity, method)
    card = model_card(record, run_dir, fidelity, method, compare, official, throughput, recipe)
    target.mkdir(parents=True, exist_ok=True)
    for file in SHIPPED_FILES:
        atomic_write(target / file, lambda p, f=file: shutil.copyfile(run_dir / "model" / f, p))
    atomic_write(target / "MODEL_CARD.md", lambda p: Path(p).write_text(card))
    registry_file = package_dir / "registry.json"
    write_registry({**read_registry(registry_file), name: record}, registry_file)
    return target


def main(argv: list[str] | None = None) -> int:
    """Run ``nmflowgan-release`` (see :func:`release`) and print where the model was shipped; returns 0."""
    p = argparse.ArgumentParser(
        prog="nmflowgan-release", description="Ship a training run as a named pretrained model inside the package."
    )
    p.add_argument("run_dir", type=Path, help="run folder written by train_noise_model.py")
    p.add_argument("--name", required=True, help="name for NMFlowGAN.from_pretrained(name)")
    p.add_argument("--fidelity", type=Path, required=True, help="JSON written by benchmarks/noise_fidelity.py")
    p.add_argument("--method", required=True, help="this model's method name in the fidelity JSON")
    p.add_argument("--compare", nargs="*", default=[], help="other methods of the JSON to show in the card")
    p.add_argument("--official", metavar="METHOD=RUN_DIR",
                   help="the same recipe trained at the official U-Net size, scored in the same fidelity JSON")
    p.add_argument("--throughput", type=Path, help="benchmarks/throughput.py --json output (speed of both sizes)")
    p.add_argument("--recipe", type=Path,
                   help="the config YAML the run was trained from (the card shows it plus the run's --set overrides)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing shipped model of that name")
    args = p.parse_args(argv)
    official = None
    if args.official:
        method, sep, run = args.official.partition("=")
        if not sep or not method or not run:
            p.error(f"--official expects METHOD=RUN_DIR, got {args.official!r}")
        official = (method, Path(run))
    target = release(
        args.run_dir, args.name, args.fidelity, args.method, args.compare, args.overwrite, official, args.throughput,
        recipe=args.recipe,
    )
    print(f"shipped {args.name!r} in {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

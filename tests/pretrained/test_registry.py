"""The registry of shipped weights (PretrainedWeights records, SHA-256 verified on load) and the release tool."""

import dataclasses
import json

import pytest

from nmflowgan_aug import NMFlowGAN, NMFlowGANConfig, list_pretrained
from nmflowgan_aug.pretrained import PretrainedWeights, folder_sha256, pretrained_weights, registry
from nmflowgan_aug.pretrained import release as rel
from nmflowgan_aug.pretrained._loading import weights_folder


def _record(name, folder, sha256):
    return PretrainedWeights(name, str(folder), sha256, "MIT", "unit-test patches", {"akld": 0.5}, "a paper")


def test_checksum_is_verified(tmp_path, monkeypatch):
    folder = NMFlowGAN(NMFlowGANConfig(unet_depth=2, unet_width=4)).save_pretrained(tmp_path / "m")
    good = {"tiny": _record("tiny", folder, folder_sha256(folder))}
    assert weights_folder("tiny", good) == folder
    bad = {"tiny": _record("tiny", folder, "0" * 64)}
    with pytest.raises(ValueError, match="checksum mismatch"):
        weights_folder("tiny", bad)
    with pytest.raises(FileNotFoundError, match="shipped models"):
        weights_folder("nope", good)
    monkeypatch.setattr(registry, "REGISTRY", bad)  # the public path: from_pretrained refuses it too
    with pytest.raises(ValueError, match="checksum mismatch for shipped model 'tiny'"):
        NMFlowGAN.from_pretrained("tiny")
    monkeypatch.setattr(registry, "REGISTRY", good)
    assert NMFlowGAN.from_pretrained("tiny").config.unet_depth == 2


def test_checksum_covers_config_json_not_only_the_weights(tmp_path, monkeypatch):
    """Issue 9 item 6: reordered cameras in a shipped config.json would give "GP" the noise of "IP"."""
    folder = NMFlowGAN(NMFlowGANConfig(unet_depth=2, unet_width=4)).save_pretrained(tmp_path / "m")
    (folder / "MODEL_CARD.md").write_text("card")
    monkeypatch.setattr(registry, "REGISTRY", {"tiny": _record("tiny", folder, folder_sha256(folder))})
    (folder / "MODEL_CARD.md").write_text("regenerated card")  # documentation: not part of the checksum
    assert NMFlowGAN.from_pretrained("tiny").vocabulary.cameras[1] == "GP"
    doc = json.loads((folder / "config.json").read_text())
    doc["config"]["cameras"] = ["GP", "IP", "S6", "N6", "G4"]
    (folder / "config.json").write_text(json.dumps(doc))
    with pytest.raises(ValueError, match="checksum mismatch for shipped model 'tiny'.*config.json"):
        NMFlowGAN.from_pretrained("tiny")


def test_shipped_registry_checksums_match_their_folders():
    for name in list_pretrained():
        record = pretrained_weights(name)
        assert folder_sha256(record.path) == record.sha256, name


def test_registry_records_round_trip_and_reject_unknown_keys(tmp_path):
    record = _record("tiny", "tiny", "ab" * 32)
    registry.write_registry({"tiny": record}, tmp_path / "registry.json")
    assert registry.read_registry(tmp_path / "registry.json") == {"tiny": record}
    assert record.path == registry.PRETRAINED_DIR / "tiny" and record.weights_file.name == "model.safetensors"
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.sha256 = "0" * 64
    entry = {**record.to_dict(), "url": "x"}
    del entry["licence"]
    with pytest.raises(ValueError, match=r"missing keys \['licence'\], unknown keys \['url'\]"):
        PretrainedWeights.from_dict("tiny", entry)
    with pytest.raises(ValueError, match="no shipped model named 'nope'"):
        pretrained_weights("nope")


@pytest.mark.parametrize("name", list_pretrained())
def test_shipped_models_load_and_have_a_card_generated_from_their_record(name):
    model = NMFlowGAN.from_pretrained(name)
    assert not model.training
    record = pretrained_weights(name)
    card = (record.path / "MODEL_CARD.md").read_text()
    for needed in ("Training data", "Architecture", "Cameras", "ISO", "Metrics", "Licence", "Limitations"):
        assert needed in card, needed
    for field in (record.paper, record.training_data, record.licence):
        assert field in card, field
    assert set(record.metrics) == {key for key, _ in rel.METRICS}
    for value in record.metrics.values():
        assert f"{value:.4f} ±" in card
    assert record.weights_file.stat().st_size <= 20 * 1024 * 1024


def _fake_run(folder, unet_depth=2, critic_width=16, seconds=60.0, history=None, extra_train="[]", **model):
    """A run folder in the layout train_noise_model.py writes, with a tiny model."""
    NMFlowGAN(NMFlowGANConfig(unet_depth=unet_depth, unet_width=4, **model)).save_pretrained(
        folder / "model", metadata={"training_data": "x/pairs.csv"}
    )
    (folder / "config.yaml").write_text(
        f"name: {folder.name}\nmodel: {{unet_depth: {unet_depth}}}\n"
        f"data: {{train: {{path: x/pairs.csv, ids: ['05']}}, val: {{ids: ['00']}}, patch_size: 96, stride: 48, extra_train: {extra_train}}}\n"
        f"critic: {{width: {critic_width}, gp_weight: 10.0}}\n"
    )
    (folder / "metrics.json").write_text(json.dumps(
        {"train_patches": 10, "device": "cpu", "history": history or [{"step": 5, "seconds": seconds}]}
    ))
    return folder


def _fidelity_json(path, means):
    """A noise_fidelity.py summary with one group 'all' and the given method -> mean (all metrics)."""
    fidelity = {"seeds": [0], "command_line": "python benchmarks/noise_fidelity.py", "version": "0", "created": "now",
                "summary": {"groups": {"all": ["00"]}, "methods": {
                    m: {k: {"all": {"mean": v, "std": 0.001}} for k, _ in rel.METRICS}
                    for m, v in means.items()}}}
    path.write_text(json.dumps(fidelity))
    return path


@pytest.fixture
def package_dir(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "registry.json").write_text("{}\n")
    return pkg


def test_release_copies_weights_registers_the_record_and_writes_card(tmp_path, package_dir):
    run = _fake_run(tmp_path / "sidd_native")
    fidelity = _fidelity_json(tmp_path / "f.json", {"ours": 0.05, "gaussian": 0.04})

    target = rel.release(run, "tiny", fidelity, "ours", ["gaussian"], overwrite=False, package_dir=package_dir)
    assert target == package_dir / "tiny"
    record = registry.read_registry(package_dir / "registry.json")["tiny"]
    assert record.folder == "tiny" and record.sha256 == folder_sha256(target)
    assert record.metrics == {key: 0.05 for key, _ in rel.METRICS}
    assert record.training_data.startswith("`pairs.csv` rows 05 of") and record.paper == rel.PAPER
    card = (target / "MODEL_CARD.md").read_text()
    assert "| ours | AKLD | 0.0500 ± 0.0010 |" in card and "| gaussian | AKLD | 0.0400 ± 0.0010 |" in card
    assert f"- Source: {record.training_data} Validation (not trained on): rows 00," in card
    assert f"({record.paper})" in card and f"## Licence\n\n{record.licence}\n" in card
    assert "official size" not in card.lower().split("## metrics")[1]  # no comparison section without a run
    with pytest.raises(FileExistsError):
        rel.release(run, "tiny", fidelity, "ours", [], overwrite=False, package_dir=package_dir)
    with pytest.raises(ValueError, match="not in the fidelity results"):
        rel.release(run, "tiny", fidelity, "nope", [], overwrite=True, package_dir=package_dir)
    assert registry.read_registry(package_dir / "registry.json") == {"tiny": record}  # untouched by the failure


def test_card_describes_a_flow_only_linear_model_with_a_resampled_extra_source(tmp_path, package_dir):
    run = _fake_run(
        tmp_path / "sidd", unet_depth=0, noise_domain="linear", spatial_kernel=3, iso_encoding="log_camera",
        extra_train="[{path: /d/sidd_small_256, resampled: true, weight: 0.5, exclude_scenes: [21]}]",
    )
    fidelity = _fidelity_json(tmp_path / "f.json", {"ours": 0.05})
    throughput = tmp_path / "t.json"
    throughput.write_text(json.dumps({
        "rows": [{"what": "shipped", "dtype": "fp32", "img_s": 12.0, "params": 25_000},
                 {"what": "official", "dtype": "fp32", "img_s": 1.5, "params": 31_000_000}],
        "size": 256, "command": "python benchmarks/throughput.py", "machine": {"cpu": "Xeon", "cpu_cores_usable": 2}}))
    target = rel.release(run, "tiny", fidelity, "ours", [], overwrite=False, package_dir=package_dir,
                         throughput_json=throughput)
    record = registry.read_registry(package_dir / "registry.json")["tiny"]
    assert record.training_data.endswith("Also: `sidd_small_256` (see the model card).")
    card = (target / "MODEL_CARD.md").read_text()
    assert ("- Also: all of `sidd_small_256`, leaving out scene instances 21, sampling weight 0.5. Its frames were"
            " resized by their publisher") in card
    assert "a learned 3×3 convolution across the three channels" in card
    assert "CL2 (official layers) | spatial-correlation layer, with NE taking the noise in linear light;" in card
    assert "No U-Net and no critic (`unet_depth: 0`)" in card and "Critic (training only)" not in card
    assert "Noise domain: linear light" in card and "per-camera log-ISO slope" in card
    assert "| ours | abs Δρ lag 1 | 0.0500 ± 0.0010 |" in card and "| ours | std ratio B | 0.0500 ± 0.0010 |" in card
    assert ("## Cost against the official size\n\nSampling speed at 256×256, fp32, best batch, on Xeon (2 cores) / GPU"
            " none: 12.0 img/s for the shipped model (25,000 parameters) against 1.5 img/s for the official size"
            " (31,000,000 parameters), 8.0× faster") in card


def test_release_card_states_the_measured_cost_against_the_official_size(tmp_path, package_dir):
    def epochs(n, seconds, kld):
        return [{"epoch": e, "step": 10 * e, "seconds": seconds / n, "val_kld": kld + e, "val_akld": 2 * kld + e}
                for e in range(1, n + 1)]

    run = _fake_run(tmp_path / "sidd_native", 2, 16, history=epochs(6, 600.0, 0.1))
    official = _fake_run(tmp_path / "sidd_native_official", 3, 64, history=epochs(4, 2400.0, 0.3))
    fidelity = _fidelity_json(tmp_path / "f.json", {"ours": 0.08, "big": 0.07})
    rows = [{"what": w, "dtype": d, "img_s": v, "params": 7 if w == "shipped" else 9} for w, d, v in
            (("shipped", "fp32", 6.0), ("shipped", "fp32", 7.0), ("shipped", "bf16", 9.0), ("official", "fp32", 1.75))]
    throughput = tmp_path / "t.json"
    throughput.write_text(json.dumps({"rows": rows, "size": 256, "command": "python benchmarks/throughput.py",
                                      "machine": {"cpu": "Xeon", "cpu_cores_usable": 2, "gpu": None}}))

    target = rel.release(run, "tiny", fidelity, "ours", [], False, ("big", official), throughput, package_dir)
    card = (target / "MODEL_CARD.md").read_text()
    section = card.split("## Cost of the smaller U-Net against the official size, measured")[1].split("## Licence")[0]
    assert "`critic.width` 16 → 64" in section and "`model.unet_depth` 2 → 3" in section
    assert "`name`" not in section
    assert "4 epochs, 40 iterations" in section and "40.0 minutes" in section and "10.0 minutes" in section
    assert "At the same iteration (40, epoch 4)" in section
    assert "this model 4.1000 / 4.2000, official size 4.3000 / 4.6000" in section
    assert "| AKLD | 0.0800 | 0.0700 | +0.0100 |" in section
    assert ("The shipped size is worse on KLD (NAFlow protocol), KLD (NM-FlowGAN protocol), AKLD, abs Δρ lag 1,"
            " abs Δρ lag 2." in section)  # the std ratios (best at 1, not 0) are not ranked
    assert "7.0 img/s for the shipped model (7 parameters) against 1.8 img/s for the official size (9 parameters), 4.0×" in section
    with pytest.raises(ValueError, match="'missing' is not in the fidelity results"):
        rel.release(run, "tiny", fidelity, "ours", [], True, ("missing", official), None, package_dir)
    with pytest.raises(FileNotFoundError, match="config.yaml"):
        rel.release(run, "tiny", fidelity, "ours", [], True, ("big", tmp_path / "nowhere"), None, package_dir)


def test_release_cli_rejects_a_malformed_official_argument(tmp_path, capsys):
    with pytest.raises(SystemExit):
        rel.main([str(tmp_path), "--name", "x", "--fidelity", "f.json", "--method", "m", "--official", "no-equals"])
    assert "METHOD=RUN_DIR" in capsys.readouterr().err


def test_training_command_is_the_recipe_plus_the_runs_overrides(tmp_path):
    import yaml

    from nmflowgan_aug.training.config import load_config

    run = tmp_path / "run_a"
    run.mkdir()
    config = load_config(None, ["name=run_a", "train.lr=0.005", "data.extra_train=[{path: /d/small, resampled: true}]"])
    (run / "config.yaml").write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("name: recipe\ntrain: {lr: 0.001}\n")
    assert rel.training_command(run, recipe) == (
        f"python train_noise_model.py --config {recipe.as_posix()} --name run_a"
        """ --set 'data.extra_train=[{"path": "/d/small", "resampled": true, "weight": 1.0}]' --set train.lr=0.005"""
    )
    recipe.write_text("name: recipe\ntrain: {lr: 0.005}\ndata: {extra_train: [{path: /d/small, resampled: true}]}\n")
    assert rel.training_command(run, recipe) == f"python train_noise_model.py --config {recipe.as_posix()} --name run_a"
    assert rel.training_command(run, None) == "python train_noise_model.py --config run_a/config.yaml"

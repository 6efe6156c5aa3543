import pytest

from nmflowgan_aug import NMFlowGAN, NMFlowGANConfig, list_pretrained
from nmflowgan_aug.pretrained import resolve_pretrained, sha256_of


def test_checksum_is_verified(tmp_path):
    folder = NMFlowGAN(NMFlowGANConfig(unet_depth=2, unet_width=4)).save_pretrained(tmp_path / "m")
    good = {"tiny": (str(folder), sha256_of(folder / "model.safetensors"))}
    assert resolve_pretrained("tiny", registry=good) == folder
    bad = {"tiny": (str(folder), "0" * 64)}
    with pytest.raises(ValueError, match="checksum mismatch"):
        resolve_pretrained("tiny", registry=bad)
    with pytest.raises(FileNotFoundError, match="shipped models"):
        resolve_pretrained("nope", registry=good)


@pytest.mark.parametrize("name", list_pretrained())
def test_shipped_models_load_and_have_a_card(name):
    from nmflowgan_aug.pretrained import _REGISTRY, _HERE

    model = NMFlowGAN.from_pretrained(name)
    assert not model.training
    folder = _HERE / _REGISTRY[name][0]
    card = (folder / "MODEL_CARD.md").read_text()
    for needed in ("Training data", "Architecture", "Cameras", "ISO", "Metrics", "Licence", "Limitations"):
        assert needed in card, needed
    assert (folder / "model.safetensors").stat().st_size <= 20 * 1024 * 1024


def test_release_copies_weights_registers_checksum_and_writes_card(tmp_path, monkeypatch):
    import json

    from nmflowgan_aug.pretrained import release as rel

    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "registry.json").write_text("{}\n")
    monkeypatch.setattr(rel, "_HERE", pkg)
    monkeypatch.setattr(rel, "REGISTRY_FILE", pkg / "registry.json")
    run = tmp_path / "run"
    NMFlowGAN(NMFlowGANConfig(unet_depth=2, unet_width=4)).save_pretrained(run / "model", metadata={"training_data": "x/pairs.csv"})
    (run / "config.yaml").write_text(
        "name: sidd_native\ndata: {train: {ids: ['05']}, val: {ids: ['00']}, patch_size: 96, stride: 48}\n"
        "critic: {width: 16, gp_weight: 10.0}\n"
    )
    (run / "metrics.json").write_text(json.dumps(
        {"train_patches": 10, "device": "cpu", "history": [{"step": 5, "seconds": 60.0}]}
    ))
    cell = {"mean": 0.05, "std": 0.001}
    fidelity = {"seeds": [0], "command_line": "python benchmarks/noise_fidelity.py", "version": "0", "created": "now",
                "summary": {"groups": {"all": ["00"]}, "methods": {
                    m: {k: {"all": cell} for k in ("kld_official", "kld_block", "akld")} for m in ("ours", "gaussian")}}}
    (tmp_path / "f.json").write_text(json.dumps(fidelity))

    target = rel.release(run, "tiny", tmp_path / "f.json", "ours", ["gaussian"], overwrite=False)
    registry = json.loads((pkg / "registry.json").read_text())
    assert registry == {"tiny": {"folder": "tiny", "sha256": sha256_of(target / "model.safetensors")}}
    card = (target / "MODEL_CARD.md").read_text()
    assert "| ours | AKLD | 0.0500 ± 0.0010 |" in card and "| gaussian |" in card
    with pytest.raises(FileExistsError):
        rel.release(run, "tiny", tmp_path / "f.json", "ours", [], overwrite=False)
    with pytest.raises(ValueError, match="not in the fidelity results"):
        rel.release(run, "tiny", tmp_path / "f.json", "nope", [], overwrite=True)

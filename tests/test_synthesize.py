"""synthesize_folder / regenerate: layout, manifest, bit-for-bit regeneration, resume, refusals."""

from __future__ import annotations

import csv
import hashlib
import json

import numpy as np
import pytest
import torch

from nmflowgan_aug import SIDD_VOCABULARY, ConditionSampler, NMFlowGAN, NMFlowGANConfig
from nmflowgan_aug import synthesize as syn
from nmflowgan_aug.image_io import read_image
from nmflowgan_aug.pretrained import folder_sha256

cv2 = pytest.importorskip("cv2", reason="OpenCV is needed for 16-bit image files (pip install nmflowgan_aug[synthesize])")
pytestmark = pytest.mark.usefixtures("one_thread")  # small images: see tests/conftest.py


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    torch.manual_seed(0)
    config = NMFlowGANConfig(cameras=SIDD_VOCABULARY.cameras, isos=SIDD_VOCABULARY.isos, iso_encoding="log",
                             flow_features=4, unet_depth=2, unet_width=4)
    return NMFlowGAN(config).save_pretrained(tmp_path_factory.mktemp("tiny"))


@pytest.fixture
def clean_dir(tmp_path):
    """8-bit PNG, JPEG and a 16-bit TIFF in a subfolder, of different sizes."""
    root = tmp_path / "clean"
    (root / "sub").mkdir(parents=True)
    rng = np.random.default_rng(0)
    cv2.imwrite(str(root / "a.png"), rng.integers(0, 256, (40, 48, 3), dtype=np.uint8))
    cv2.imwrite(str(root / "b.jpg"), rng.integers(0, 256, (24, 30, 3), dtype=np.uint8))
    cv2.imwrite(str(root / "sub" / "c.tif"), rng.integers(0, 65536, (70, 36, 3), dtype=np.uint16))
    return root


def _settings(model_dir, **kwargs):
    return syn.SynthesisSettings(str(model_dir), **{"tile": 32, **kwargs})


def _bytes(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_layout_manifest_and_checksums(model_dir, clean_dir, tmp_path):
    out = tmp_path / "noisy"
    rows = syn.synthesize_folder(clean_dir, out, _settings(model_dir, camera="GP", iso=1600), progress=False)
    assert [r.file for r in rows] == ["a.png", "b.png", "sub/c.tif"]  # same layout; JPEG written losslessly
    manifest = list(csv.DictReader(open(out / syn.MANIFEST_FILE)))
    assert [m["file"] for m in manifest] == ["a.png", "b.png", "sub/c.tif"]
    for row in manifest:
        assert (row["camera"], row["iso"], row["model"]) == ("GP", "1600", str(model_dir))
        assert row["model_sha256"] == folder_sha256(model_dir) and row["device"] == "cpu"
        assert row["sha256"] == hashlib.sha256((out / row["file"]).read_bytes()).hexdigest()
    noisy, bits = read_image(out / "sub/c.tif")
    clean, clean_bits = read_image(clean_dir / "sub/c.tif")
    assert (bits, clean_bits) == (8, 16) and noisy.shape == clean.shape == (3, 70, 36)  # 8-bit output by default
    assert not torch.equal(torch.round(clean * 255) / 255, noisy)


def test_regenerated_bit_for_bit_from_the_manifest(model_dir, clean_dir, tmp_path):
    sampler = ConditionSampler(cameras=("S6", "N6"), iso_range=(400, 3200), strength=(0.5, 1.5))
    out = tmp_path / "noisy"
    rows = syn.synthesize_folder(clean_dir, out, _settings(model_dir, repeats=2, seed=3, sampler=sampler),
                                 progress=False)
    assert {r.camera for r in rows} <= {"S6", "N6"} and all(400 <= r.iso <= 3200 for r in rows)
    assert all(0.5 <= r.strength <= 1.5 for r in rows) and len({r.seed for r in rows}) == 6
    rebuilt = tmp_path / "rebuilt"
    assert syn.regenerate(out / syn.MANIFEST_FILE, clean_dir, rebuilt, progress=False) == []
    original = {k: v for k, v in _bytes(out).items() if k != syn.SETTINGS_FILE}
    assert _bytes(rebuilt) == original  # every image and the manifest, byte for byte
    assert (out / "r0/a.png").read_bytes() != (out / "r1/a.png").read_bytes()  # repeats differ


def test_interrupted_run_resumes_to_the_same_dataset(model_dir, clean_dir, tmp_path, monkeypatch):
    settings = _settings(model_dir, iso=800)
    reference = tmp_path / "reference"
    syn.synthesize_folder(clean_dir, reference, settings, progress=False)
    out = tmp_path / "noisy"
    make, calls = syn._make, []

    def interrupted(*args):
        if len(calls) == 2:
            raise KeyboardInterrupt
        calls.append(args)
        return make(*args)

    monkeypatch.setattr(syn, "_make", interrupted)
    with pytest.raises(KeyboardInterrupt):
        syn.synthesize_folder(clean_dir, out, settings, progress=False)
    assert len(syn.read_manifest(out / syn.MANIFEST_FILE)) == 2
    monkeypatch.setattr(syn, "_make", make)
    resumed = []
    monkeypatch.setattr(syn, "_make", lambda *args: resumed.append(args[2].file) or make(*args))
    syn.synthesize_folder(clean_dir, out, settings, progress=False)
    assert resumed == ["sub/c.tif"]  # finished files are skipped
    assert _bytes(out) == _bytes(reference)


def test_refuses_to_overwrite_or_mix_runs(model_dir, clean_dir, tmp_path):
    out = tmp_path / "noisy"
    out.mkdir()
    (out / "mine.txt").write_text("user data")
    with pytest.raises(FileExistsError, match="not empty"):
        syn.synthesize_folder(clean_dir, out, _settings(model_dir), progress=False)
    assert (out / "mine.txt").read_text() == "user data" and sorted(p.name for p in out.iterdir()) == ["mine.txt"]
    other = tmp_path / "other"
    syn.synthesize_folder(clean_dir, other, _settings(model_dir, seed=1), progress=False)
    with pytest.raises(FileExistsError, match=r"other settings \(differs in \['seed'\]\)"):
        syn.synthesize_folder(clean_dir, other, _settings(model_dir, seed=2), progress=False)
    syn.synthesize_folder(clean_dir, other, _settings(model_dir, seed=2), overwrite=True, progress=False)
    assert json.loads((other / syn.SETTINGS_FILE).read_text())["seed"] == 2
    with pytest.raises(FileExistsError, match="not empty"):
        syn.regenerate(other / syn.MANIFEST_FILE, clean_dir, other, progress=False)


def test_conditions_csv_and_16_bit_output(model_dir, clean_dir, tmp_path):
    table = tmp_path / "conditions.csv"
    table.write_text("file,camera,iso,strength\na.png,IP,100,0.5\nb.jpg,G4,2500,\nsub/c.tif,GP,10000,2\n")
    conditions = syn.read_conditions_csv(table, syn.list_images(clean_dir))
    rows = syn.synthesize_folder(clean_dir, tmp_path / "out", _settings(model_dir, conditions=conditions, bit_depth=16),
                                 progress=False)
    assert [(r.camera, r.iso, r.strength) for r in rows] == [("IP", 100, 0.5), ("G4", 2500, 1.0), ("GP", 10000, 2.0)]
    assert read_image(tmp_path / "out" / "a.png")[1] == 16
    table.write_text("file,camera,iso\na.png,IP,100\n")
    with pytest.raises(ValueError, match=r"clean images without a row \['b.jpg', 'sub/c.tif'\]"):
        syn.read_conditions_csv(table, syn.list_images(clean_dir))


def test_bad_conditions_are_refused_before_any_image_is_written(model_dir, clean_dir, tmp_path):
    with pytest.raises(ValueError, match="trained range"):
        syn.synthesize_folder(clean_dir, tmp_path / "out", _settings(model_dir, iso=25600), progress=False)
    assert not (tmp_path / "out").exists()
    with pytest.raises(ValueError, match="unknown camera"):
        syn.synthesize_folder(clean_dir, tmp_path / "out", _settings(model_dir, camera="D800"), progress=False)


def test_regenerate_refuses_another_model(model_dir, clean_dir, tmp_path):
    out = tmp_path / "noisy"
    syn.synthesize_folder(clean_dir, out, _settings(model_dir, iso=800), progress=False)
    changed = tmp_path / "changed.csv"
    rows = (out / syn.MANIFEST_FILE).read_text().replace(folder_sha256(model_dir), "0" * 64)
    changed.write_text(rows)
    with pytest.raises(ValueError, match="does not match the manifest"):
        syn.regenerate(changed, clean_dir, tmp_path / "rebuilt", progress=False)
    assert not (tmp_path / "rebuilt").exists()

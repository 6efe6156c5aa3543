"""save_adapted: the folder loads with the new camera, carries its record and card, keeps a user's files."""

from __future__ import annotations

import json

import pytest
import torch
from adaptation_helpers import synthetic_pairs, tiny_model

from nmflowgan_aug import NMFlowGAN
from nmflowgan_aug.adaptation import AdaptationSettings, adapt_camera, save_adapted
from nmflowgan_aug.adaptation.card import model_card


@pytest.fixture(scope="module")
def result():
    settings = AdaptationSettings(steps=3, patch_size=16, batch_size=2, eval_patches=4)
    return adapt_camera(tiny_model("log_camera_spatial"), synthetic_pairs(), "NEW", settings, progress=False)


def test_saved_folder_loads_with_the_new_camera_and_its_record(result, tmp_path):
    out = save_adapted(result, tmp_path / "adapted", "base_folder")
    assert sorted(p.name for p in out.iterdir()) == ["MODEL_CARD.md", "config.json", "model.safetensors"]
    loaded = NMFlowGAN.from_pretrained(out)
    assert loaded.vocabulary.cameras[-1] == "NEW"
    clean = torch.rand(1, 3, 16, 16)
    sample = [m.sample(clean, "NEW", 800, generator=torch.Generator().manual_seed(0)) for m in (loaded, result.model)]
    assert torch.equal(*sample)
    metadata = json.loads((out / "config.json").read_text())["metadata"]
    assert metadata["adapted_from"] == "base_folder"
    record = metadata["adaptation"]
    assert record["pairs"] == [{"name": "p0", "iso": 800}, {"name": "p1", "iso": 3200}]
    assert record["nll_before_bpd"] == result.nll_before and record["nll_after_bpd"] == result.nll_after
    assert record["settings"]["steps"] == 3 and record["trained"] == list(result.trained)


def test_card_states_base_camera_pairs_training_and_nll(result):
    card = model_card(result, "sidd")
    assert card.startswith("# Model card: camera `NEW` added to `sidd`")
    assert "the shipped model `sidd` (SHA-256" in card
    assert "| `p0` | 800 |" in card and "| `p1` | 3200 |" in card
    assert f"- Start: a copy of `{result.init_cameras[0]}`, the base camera with the lowest NLL on the pairs." in card
    assert "3 Adam steps (learning rate 0.05, cosine decay to 0), 2 random patches of 16×16 per step, seed 0" in card
    assert all(f"  - `{t}`" in card for t in result.trained)
    assert f"| `NEW` before fine-tuning | {result.nll_before:.4f} |" in card
    assert f"| `NEW` after fine-tuning | {result.nll_after:.4f} |" in card
    assert "keep their noise bit for bit" in card and "BatchNorm" in card
    assert "its own ISO slope" in card and "any whole ISO in [50, 10000]" in card


def test_a_non_empty_output_is_refused_unless_overwrite_and_foreign_files_always(result, tmp_path):
    out = tmp_path / "adapted"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="is not empty .*notes.txt"):
        save_adapted(result, out, "sidd")
    with pytest.raises(FileExistsError, match="refusing to replace .*notes.txt"):
        save_adapted(result, out, "sidd", overwrite=True)
    assert (out / "notes.txt").read_text() == "mine"
    (out / "notes.txt").unlink()
    save_adapted(result, out, "sidd")  # empty folder: fine
    with pytest.raises(FileExistsError, match="is not empty"):
        save_adapted(result, out, "sidd")
    (out / "config.json").write_text("{}")
    save_adapted(result, out, "sidd", overwrite=True)  # only the tool's own files: replaced
    assert NMFlowGAN.from_pretrained(out).vocabulary.cameras[-1] == "NEW"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]

"""preview_noise / write_preview: one image across cameras and ISOs, crop and noise panels."""

from __future__ import annotations

import pytest
import torch

from nmflowgan_aug import SIDD_VOCABULARY, NMFlowGAN, NMFlowGANConfig
from nmflowgan_aug.preview import preview_noise, write_preview
from nmflowgan_aug.tiling import synthesize_tiled

pytestmark = pytest.mark.usefixtures("one_thread")  # small images: see tests/conftest.py


@pytest.fixture(scope="module")
def model() -> NMFlowGAN:
    torch.manual_seed(0)
    config = NMFlowGANConfig(cameras=SIDD_VOCABULARY.cameras, isos=SIDD_VOCABULARY.isos, iso_encoding="log",
                             flow_features=4, unet_depth=2, unet_width=4)
    return NMFlowGAN(config).eval()


def test_rows_panels_and_values(model):
    image = torch.rand(3, 48, 64, generator=torch.Generator().manual_seed(1))
    rows = preview_noise(model, image, ["GP", "S6"], [800, 2500], crop=(8, 16, 20), gain=2, seed=3)
    assert [(r.camera, r.iso) for r in rows] == [("GP", 800), ("GP", 2500), ("S6", 800), ("S6", 2500)]
    first = rows[0]
    expected = synthesize_tiled(model, image, "GP", 800, generator=torch.Generator().manual_seed(3))
    assert torch.equal(first.noisy, expected) and first.crop.shape == (3, 20, 20)
    assert torch.equal(first.crop, expected[:, 8:28, 16:36])
    torch.testing.assert_close(first.noise, (0.5 + 2 * (first.crop - image[:, 8:28, 16:36])).clamp(0, 1))


@pytest.mark.parametrize("kwargs, match", [
    ({"cameras": []}, "at least one camera"),
    ({"crop": (40, 0, 20)}, "does not fit"),
    ({"isos": [800, 99999]}, "trained range"),
])
def test_bad_arguments_before_any_noise(model, kwargs, match):
    args = {"cameras": ["GP"], "isos": [800], **kwargs}
    with pytest.raises(ValueError, match=match):
        preview_noise(model, torch.rand(3, 48, 48), args.pop("cameras"), args.pop("isos"), **args)


def test_cli_writes_the_grid(model, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    cv2 = pytest.importorskip("cv2")
    from nmflowgan_aug.cli import preview as cli

    folder = model.save_pretrained(tmp_path / "m")
    cv2.imwrite(str(tmp_path / "photo.png"), (torch.rand(40, 40, 3) * 255).byte().numpy())
    out = tmp_path / "preview.png"
    args = [str(tmp_path / "photo.png"), "--camera", "GP", "N6", "--iso", "400", "3200", "--model", str(folder),
            "--out", str(out), "--device", "cpu"]
    assert cli.main(args) == 0 and out.read_bytes()[:4] == b"\x89PNG" and out.stat().st_size > 20_000
    with pytest.raises(SystemExit):
        cli.main(args)  # refuses to overwrite
    assert "exists; pass --overwrite" in capsys.readouterr().err


def test_write_preview_in_python(model, tmp_path):
    pytest.importorskip("matplotlib")
    path = write_preview(tmp_path / "p.png", model, torch.rand(3, 32, 32), ["IP"], [100])
    assert path.is_file()

"""The README's new-camera section runs as written (on two PolyU pairs, with 2 steps instead of 200)."""

from __future__ import annotations

import csv
import re
import shlex
from pathlib import Path

import pytest

from nmflowgan_aug import NMFlowGAN, list_pretrained
from nmflowgan_aug.adaptation.unseen_cameras import polyu_pairs
from nmflowgan_aug.cli import adapt

README = Path(__file__).resolve().parents[2] / "README.md"


def _section() -> str:
    text = README.read_text()
    return text[text.index("## A camera that is not in SIDD") : text.index("<!-- adapt-table:start -->")]


@pytest.mark.skipif("sidd" not in list_pretrained(), reason="shipped 'sidd' weights not installed")
def test_new_camera_examples_run(polyu, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with open("my_camera.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "camera", "iso", "clean", "noisy"])
        for pair in [p for p in polyu_pairs(polyu) if p.camera == "Sony"][:2]:
            writer.writerow([pair.name, "A7III", pair.iso, pair.clean_path, pair.noisy_path])
    section = _section().replace("--steps 200", "--steps 2").replace("steps=200", "steps=2")
    (command,) = re.search(r"```bash\n(.*?)```", section, re.S).group(1).strip().splitlines()
    args = shlex.split(command)
    assert args[0] == "nmflowgan-adapt" and adapt.main(args[1:] + ["--no-progress"]) == 0
    assert NMFlowGAN.from_pretrained("models/a7iii").vocabulary.cameras[-1] == "A7III"
    namespace: dict = {}
    exec(re.search(r"```python\n(.*?)```", section, re.S).group(1).replace('"models/a7iii"', '"models/again"'),
         namespace)
    assert namespace["result"].settings.steps == 2 and (tmp_path / "models" / "again" / "MODEL_CARD.md").is_file()

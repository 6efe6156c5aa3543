"""Smoke test of benchmarks/adapt_camera.py on one CC15 camera: results, table, README markers, no overwrite."""

from __future__ import annotations

import json

import pytest
from script_loader import load_script

bench = load_script("adapt_camera")

TINY = ["--steps", "2", "--patch-size", "32", "--batch-size", "2", "--eval-patches", "2", "--no-progress"]


def test_one_camera_run_writes_results_table_and_readme(tiny_model, shared_data, tmp_path, capsys):
    readme = tmp_path / "README.md"
    readme.write_text("# x\n<!-- adapt-table:start -->\nold\n<!-- adapt-table:end -->\nend\n")
    argv = ["--model", str(tiny_model), "--shared-data", str(shared_data), "--cameras", "5dmark3",
            "--out", str(tmp_path / "res"), "--readme", str(readme), *TINY]
    results = bench.run(argv)
    (camera,) = results["cameras"]
    assert (camera["dataset"], camera["camera"], camera["pairs"]) == ("CC15", "5dmark3", 3)
    assert len(camera["held_out"]) == 2 and len(camera["pool"]) == 1 and camera["skipped"] == []
    (run,) = camera["runs"]
    assert run["k"] == 1 and run["pairs"] == camera["pool"] and run["closest_camera"] in ("IP", "GP", "S6", "N6", "G4")
    assert [r["name"] for r in run["adapted"]["per_pair"]] == [p["name"] for p in camera["held_out"]]
    assert results["settings"]["steps"] == 2 and results["command_line"].endswith(" ".join(argv))
    saved = json.loads((tmp_path / "res" / "adapt_camera.json").read_text())
    assert saved["cameras"] == json.loads(json.dumps(results["cameras"]))
    table = (tmp_path / "res" / "adapt_camera.md").read_text()
    assert "| CC15 | 5dmark3 | 2 (3200) | 1 (3200) | adapted |" in table and "**JPEG-derived**" in table
    assert readme.read_text() == f"# x\n<!-- adapt-table:start -->\n{table.strip()}\n<!-- adapt-table:end -->\nend\n"
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:  # results exist: refused unless --overwrite
        bench.run(argv)
    assert exit_info.value.code == 2 and "adapt_camera.md already exists" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["--cameras", "EOS1"], "unknown --cameras ['EOS1']; available: ["),
    (["--held-out", "0", "2"], "--held-out MIN MAX must satisfy 1 <= MIN <= MAX"),
    (["--steps", "0"], "steps must be an int >= 1, got 0"),
])  # fmt: skip
def test_bad_arguments(argv, message, shared_data, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        bench.run(["--shared-data", str(shared_data), "--out", str(tmp_path), *argv])
    assert exit_info.value.code == 2 and message in capsys.readouterr().err

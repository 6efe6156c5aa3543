"""benchmarks/loo_train.py: one train_noise_model.py command per fold, with the fold's training ids."""

from __future__ import annotations

import json
import shlex
import subprocess

import pytest
from script_loader import BENCHMARKS, load_script

lt = load_script("loo_train")
CONFIG = str(BENCHMARKS.parent / "configs" / "sidd_native.yaml")


def _commands(out: str) -> dict[str, list[str]]:
    """``fold -> argv`` from the printed lines ``fold F (holds out ...): COMMAND``."""
    lines = [line for line in out.splitlines() if line.startswith("fold")]
    return {line.split()[1]: shlex.split(line.split(": ", 1)[1]) for line in lines}


def test_dry_run_prints_one_command_per_fold(shared_data, capsys, tmp_path):
    assert lt.main(["--config", CONFIG, "--output-dir", str(tmp_path), "--set",
                    "train.max_minutes=20", "--dry-run"]) == 0
    out = capsys.readouterr().out
    commands = _commands(out)
    assert list(commands) == ["05", "06", "07", "08", "09+15", "10", "11", "12", "13", "14"]
    cmd = commands["09+15"]
    assert cmd[1].endswith("train_noise_model.py") and cmd[cmd.index("--name") + 1] == "loo_09+15"
    assert cmd[cmd.index("--output-dir") + 1] == str(tmp_path)
    sets = [cmd[i + 1] for i, a in enumerate(cmd) if a == "--set"]
    ids = json.loads(sets[0].split("=", 1)[1])
    assert ids == ["05", "06", "07", "08", "10", "11", "12", "13", "14"] and sets[1] == "train.max_minutes=20"
    assert f"--loo-model 'ours={tmp_path}/loo_{{fold}}/model'" in out
    assert not any(tmp_path.iterdir())  # nothing trained


def test_runs_folds_in_turn_and_stops_at_a_failure(shared_data, capsys, monkeypatch, tmp_path):
    calls = []

    def fake_run(command, check):
        calls.append(command)
        return subprocess.CompletedProcess(command, 3 if len(calls) == 2 else 0)

    monkeypatch.setattr(lt.subprocess, "run", fake_run)
    assert lt.main(["--config", CONFIG, "--folds", "11", "05", "14",
                    "--output-dir", str(tmp_path)]) == 3
    assert [c[c.index("--name") + 1] for c in calls] == ["loo_05", "loo_11"]  # fold order; stops after 11 fails
    assert "fold 11: training failed with exit status 3" in capsys.readouterr().err


def test_bad_input_exits_with_a_message(shared_data, capsys):
    for argv, message in ((["--config", "missing.yaml"], "config file not found: missing.yaml"),
                          (["--config", CONFIG, "--folds", "99"], "unknown fold(s) ['99']"),
                          (["--config", CONFIG, "--name-pattern", "loo"], "must contain {fold}")):
        with pytest.raises(SystemExit) as exc:
            lt.main(argv)
        assert exc.value.code == 2 and message in capsys.readouterr().err

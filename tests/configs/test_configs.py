"""Packaged configs (nmflowgan_aug.configs): names resolve to the shipped files from any directory.

Paths stay paths, and a bad value is refused before any work, by ``nmflowgan-train --config`` and
``nmflowgan-basicsr-train -opt`` alike.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from nmflowgan_aug.configs import CONFIG_DIR, config_path, list_configs


def test_packaged_names_are_the_shipped_files():
    assert list_configs() == ["quickstart"]
    assert list_configs("basicsr") == ["test_DnCNN_nmflowgan_SIDD", "train_DnCNN_nmflowgan_SIDD"]
    assert config_path("quickstart") == CONFIG_DIR / "quickstart.yaml"
    assert config_path("train_DnCNN_nmflowgan_SIDD", "basicsr") == CONFIG_DIR / "basicsr" / "train_DnCNN_nmflowgan_SIDD.yml"
    assert all(config_path(name).is_file() for name in list_configs())


def test_a_value_with_a_folder_or_a_suffix_is_a_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mine.yaml").write_text("name: mine\n")
    (tmp_path / "quickstart").write_text("name: local\n")
    assert config_path("mine.yaml") == Path("mine.yaml")
    assert config_path(tmp_path / "mine.yaml") == tmp_path / "mine.yaml"
    assert config_path("./quickstart") == Path("quickstart")  # a local file, not the packaged config
    assert config_path(Path("quickstart")) == Path("quickstart")  # a Path is always a path
    assert config_path("quickstart") == CONFIG_DIR / "quickstart.yaml"  # a bare name is always packaged


def test_bad_values_name_what_is_allowed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match=r"no packaged training config is named 'quickstrat'; packaged: \['quickstart'\]"):
        config_path("quickstrat")
    with pytest.raises(ValueError, match=r"packaged: \['test_DnCNN_nmflowgan_SIDD', 'train_DnCNN_nmflowgan_SIDD'\]"):
        config_path("quickstart", "basicsr")
    with pytest.raises(ValueError, match=r"kind must be one of \['basicsr', 'train'\], got 'basicSR'"):
        config_path("quickstart", "basicSR")
    with pytest.raises(FileNotFoundError, match=r"training config not found: quickstart.yaml \(the packaged "
                       r"training config 'quickstart' is named without a suffix\)"):
        config_path("quickstart.yaml")
    with pytest.raises(FileNotFoundError, match=r"BasicSR option file not found: opts/x.yml$"):
        config_path("opts/x.yml", "basicsr")


def test_train_cli_refuses_an_unknown_config_before_writing(tmp_path):
    from nmflowgan_aug.training.cli import main

    with pytest.raises(ValueError, match="no packaged training config is named 'sidd_native'"):
        main(["--config", "sidd_native", "--output-dir", str(tmp_path)])
    assert list(tmp_path.iterdir()) == []


def test_basicsr_launchers_resolve_packaged_option_files():
    launch = pytest.importorskip("nmflowgan_aug.integrations.basicsr.launch", exc_type=ImportError)
    from nmflowgan_aug.integrations.basicsr import test, train

    packaged = str(CONFIG_DIR / "basicsr" / "train_DnCNN_nmflowgan_SIDD.yml")
    assert launch.resolve_option_file(["-opt", "train_DnCNN_nmflowgan_SIDD", "--force_yml", "num_gpu=0"]) == [
        "-opt", packaged, "--force_yml", "num_gpu=0"]
    assert launch.resolve_option_file(["-opt=test_DnCNN_nmflowgan_SIDD"]) == [
        f"-opt={CONFIG_DIR / 'basicsr' / 'test_DnCNN_nmflowgan_SIDD.yml'}"]
    for main in (train.main, test.main):
        with pytest.raises(ValueError, match=r"no packaged BasicSR option file is named 'train_DnCNN'"):
            main(["-opt", "train_DnCNN"])
    with pytest.raises(ValueError, match=r"pipeline must be one of \['test', 'train'\], got 'infer'"):
        launch.run_pipeline("infer", [])

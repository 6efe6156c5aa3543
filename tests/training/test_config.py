import pytest

from nmflowgan_aug.training.config import ConfigError, TrainingConfig, apply_overrides, load_config


def test_defaults_are_the_official_recipe():
    t = TrainingConfig().train
    assert (t.batch_size, t.epochs, t.lr, t.betas, t.lr_milestones, t.lr_gamma, t.critic_steps) == (
        128, 40, 1e-4, [0.9, 0.999], [10, 20, 30], 0.5, 5
    )
    assert TrainingConfig().critic.gp_weight == 10.0


def test_yaml_float_strings_become_floats(tmp_path):
    # PyYAML reads "1e-4" (no dot) as a string; the typed loader must convert it.
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  lr: 1e-4\n  epochs: 3\n")
    config = load_config(path)
    assert config.train.lr == pytest.approx(1e-4) and isinstance(config.train.lr, float)
    assert config.train.epochs == 3


@pytest.mark.parametrize(
    "text, key",
    [("train:\n  lrr: 0.1\n", "train.lrr"), ("modle: {}\n", "modle"), ("data:\n  train: {pth: x}\n", "data.train.pth")],
)
def test_unknown_key_is_named(tmp_path, text, key):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config(path)


@pytest.mark.parametrize(
    "text", ["train:\n  epochs: 2.5\n", "train:\n  nll_every_step: 'yes'\n", "train:\n  betas: 0.9\n"]
)
def test_wrong_types_are_errors(tmp_path, text):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError):
        load_config(path)


def test_overrides_are_parsed_as_yaml():
    data = apply_overrides({}, ["train.lr=5e-5", "model.isos=[100, 800]", "name=run1"])
    assert data == {"train": {"lr": "5e-5"}, "model": {"isos": [100, 800]}, "name": "run1"}
    config = load_config(None, ["train.lr=5e-5", "model.isos=[100, 800]"])
    assert config.train.lr == pytest.approx(5e-5) and config.model.isos == (100, 800)


def test_bad_override_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="key.sub=value"):
        load_config(None, ["train.lr"])
    with pytest.raises(FileNotFoundError):
        load_config(tmp_path / "missing.yaml")


def test_relative_data_paths_resolve_against_the_config_folder(tmp_path):
    (tmp_path / "cfg").mkdir()
    path = tmp_path / "cfg" / "c.yaml"
    path.write_text("data:\n  train: {path: ../pairs.csv}\n")
    assert load_config(path).data.train.path == str((tmp_path / "pairs.csv").resolve())


def test_shipped_configs_load():
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "configs"
    for name in ("quickstart.yaml", "sidd_native.yaml", "nmflowgan_sidd.yaml"):
        load_config(root / name)


def test_model_section_is_the_model_config(tmp_path):
    """The ``model`` section is an NMFlowGANConfig: YAML lists become tuples, strings become numbers."""
    from nmflowgan_aug import NMFlowGANConfig

    path = tmp_path / "c.yaml"
    path.write_text("model:\n  cameras: [IP, GP]\n  isos: ['100', 800]\n  iso_encoding: log\n  unet_depth: 2\n")
    model = load_config(path).model
    assert model == NMFlowGANConfig(cameras=("IP", "GP"), isos=(100, 800), iso_encoding="log", unet_depth=2)
    assert TrainingConfig().model == NMFlowGANConfig()


@pytest.mark.parametrize(
    "override, message",
    [
        ("model.unet_depth=-1", r"model: unet_depth must be an int >= 0, got -1"),
        ("model.isos=[800, 100]", r"model: isos must be positive and strictly increasing"),
        ("model.iso_encoding=linear", r"model: iso_encoding must be one of \['onehot', 'log', 'log_camera'\], got 'linear'"),
        ("model.isos=100", r"model.isos must be a list, got 100"),
        ("model.depth=3", r"unknown config key 'model.depth'; allowed keys in model: \['cameras', 'isos'"),
    ],
)
def test_bad_model_values_are_config_errors(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, [override])

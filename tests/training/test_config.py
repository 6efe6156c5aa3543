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

    from nmflowgan_aug.configs import config_path

    root = Path(__file__).resolve().parents[2] / "configs"
    for name in ("sidd_native.yaml", "sidd.yaml", "nmflowgan_sidd.yaml"):
        load_config(root / name)
    load_config(config_path("quickstart"))


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


@pytest.mark.parametrize(
    "override, message",
    [
        ("train.epochs=0", r"train.epochs must be an int >= 1, got 0"),
        ("train.critic_steps=0", r"train.critic_steps must be an int >= 1, got 0"),
        ("train.val_patches=0", r"train.val_patches must be an int >= 1, got 0"),
        ("train.steps_per_epoch=-1", r"train.steps_per_epoch must be an int >= 1, got -1"),
        ("train.batch_size=1", r"train.batch_size must be an int >= 2 \(the meta encoders' BatchNorm needs 2 samples\)"),
        ("train.lr=0", r"train.lr must be a finite number > 0, got 0.0"),
        ("train.flow_lr=.nan", r"train.flow_lr must be a finite number > 0, got nan"),
        ("train.lr_gamma=-0.5", r"train.lr_gamma must be a finite number > 0, got -0.5"),
        ("train.max_minutes=0", r"train.max_minutes must be a finite number > 0, got 0.0"),
        ("train.gan_weight=-1", r"train.gan_weight must be a finite number >= 0, got -1.0"),
        ("train.flow_warmup_steps=-1", r"train.flow_warmup_steps must be an int >= 0, got -1"),
        ("train.betas=[0.9]", r"train.betas must be two numbers in \[0, 1\), got \[0.9\]"),
        ("train.betas=[0.9, 1.0]", r"train.betas must be two numbers in \[0, 1\), got \[0.9, 1.0\]"),
        ("train.lr_milestones=[20, 10]", r"train.lr_milestones must be strictly increasing epochs, got \[20, 10\]"),
        ("train.lr_milestones=[0]", r"train.lr_milestones\[0\] must be an int >= 1, got 0"),
        ("data.patch_size=0", r"data.patch_size must be an int >= 2, got 0"),
        ("data.patch_size=64", r"data.patch_size must be 96 for training a model with a U-Net \(the critic takes 96×96 patches\), got 64"),
        ("data.stride=0", r"data.stride must be an int >= 1, got 0"),
        ("data.num_workers=-1", r"data.num_workers must be an int >= 0, got -1"),
        ("critic.width=0", r"critic.width must be an int >= 1, got 0"),
        ("data.train.camera_table=[IP, IP]", r"camera_table must list unique, non-empty camera names, got \['IP', 'IP'\]"),
        ("model.unet_depth=four", r"model.unet_depth must be an int, got 'four'"),
    ],
)
def test_values_out_of_range_are_errors_naming_the_key(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, [override])


def test_yaml_syntax_errors_name_the_file_and_line(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  lr: [1e-4\n  epochs: 2\n")
    with pytest.raises(ConfigError, match=r"c.yaml is not valid YAML: while parsing a flow sequence \(line 2, column 7\): "
                       r"expected ',' or '\]', but got ':' \(line 3, column 9\)"):
        load_config(path)
    with pytest.raises(ConfigError, match=r"override 'train.betas=\[0.9': the value is not valid YAML"):
        load_config(None, ["train.betas=[0.9"])


def test_extra_training_sources_with_weights_and_the_resampled_flag(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(
        "model: {unet_depth: 0}\n"
        "data:\n  train: {path: native.csv}\n"
        "  extra_train:\n    - {path: small, resampled: true, weight: 0.5}\n"
    )
    config = load_config(path)
    extra = config.data.extra_train[0]
    assert (extra.resampled, extra.weight, extra.path) == (True, 0.5, str((tmp_path / "small").resolve()))
    assert [s.path for s in config.data.train_sources] == [config.data.train.path, extra.path]
    assert config.data.train.resampled is False and config.data.train.weight == 1.0


@pytest.mark.parametrize(
    "override, message",
    [
        ("data.val={path: x, resampled: true}", r"data.val.resampled must be false"),
        ("data.extra_train=[{path: x, weight: 0}]", r"data source weight must be a finite number > 0, got 0"),
        ("data.extra_train={path: x}", r"data.extra_train must be a list"),
    ],
)
def test_bad_training_sources_are_config_errors(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, [override])


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["train.amp=fp32"], r"train.amp must be one of \['none', 'bf16', 'fp16'\], got 'fp32'"),
        (["train.compile=sometimes"], r"train.compile must be true or false, got 'sometimes'"),
        (["train.compile=true", "train.compile_backend=fastest"],
         r"train.compile_backend must be one of \[.*'aot_eager'.*'eager'.*'inductor'.*\], got 'fastest'"),
    ],
)
def test_amp_and_compile_are_checked(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, overrides)


def test_amp_and_compile_defaults_and_values():
    t = TrainingConfig().train
    assert (t.amp, t.compile, t.compile_backend) == ("none", False, "inductor")
    t = load_config(None, ["train.amp=bf16", "train.compile=true", "train.compile_backend=aot_eager"]).train
    assert (t.amp, t.compile, t.compile_backend) == ("bf16", True, "aot_eager")


def test_overrides_index_lists_and_name_bad_paths():
    raw = {"data": {"extra_train": [{"path": "a"}]}}
    assert apply_overrides(raw, ["data.extra_train.0.weight=2"])["data"]["extra_train"][0]["weight"] == 2
    with pytest.raises(ConfigError, match=r"'1' is not an index of a list of 1"):
        apply_overrides(raw, ["data.extra_train.1.weight=2"])
    with pytest.raises(ConfigError, match="set a whole list, or a key of one of its entries"):
        apply_overrides(raw, ["data.extra_train.0=3"])

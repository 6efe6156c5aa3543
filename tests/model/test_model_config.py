"""NMFlowGANConfig (nmflowgan_aug.model.config): defaults, list → tuple, range and type checks, from_dict.

Named test_model_config.py because test modules share one namespace and tests/training has a test_config.py.
"""

from __future__ import annotations

import json
from dataclasses import asdict

import pytest

from nmflowgan_aug import NMFlowGANConfig
from nmflowgan_aug.vocab import OFFICIAL_VOCABULARY, SIDD_VOCABULARY


def test_defaults_are_the_official_model():
    config = NMFlowGANConfig()
    assert config.vocabulary == OFFICIAL_VOCABULARY
    assert (config.num_bits, config.flow_features, config.unet_depth, config.unet_width) == (8, 16, 5, 64)


def test_lists_become_tuples_and_json_round_trips():
    config = NMFlowGANConfig(cameras=["IP", "GP"], isos=[100, 800], iso_encoding="log", unet_depth=2)
    assert config.cameras == ("IP", "GP") and config.isos == (100, 800)
    assert NMFlowGANConfig.from_dict(json.loads(json.dumps(asdict(config)))) == config
    sidd = NMFlowGANConfig(cameras=SIDD_VOCABULARY.cameras, isos=SIDD_VOCABULARY.isos, iso_encoding="log")
    assert sidd.vocabulary == SIDD_VOCABULARY


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"cameras": "IP"}, r"cameras must be a sequence of camera names \(str\), got 'IP'"),
        ({"cameras": ["IP", 3]}, r"cameras must be a sequence of camera names \(str\), got 3 in \['IP', 3\]"),
        ({"cameras": ["IP", "IP"]}, r"cameras must be non-empty and unique"),
        ({"isos": [100, 400.5]}, r"isos must be a sequence of ISO values \(int\), got 400.5"),
        ({"isos": [800, 100]}, r"isos must be positive and strictly increasing, got \(800, 100\)"),
        ({"iso_encoding": "linear"}, r"iso_encoding must be one of \['onehot', 'log', 'log_camera'\], got 'linear'"),
        ({"num_bits": 0}, r"num_bits must be an int in \[1, 16\], got 0"),
        ({"num_bits": 17}, r"num_bits must be an int in \[1, 16\], got 17"),
        ({"flow_features": 0}, r"flow_features must be an int >= 1, got 0"),
        ({"unet_depth": True}, r"unet_depth must be an int >= 0, got True"),
        ({"unet_width": 4.0}, r"unet_width must be an int >= 1, got 4.0"),
        ({"unet_depth": -1}, r"unet_depth must be an int >= 0, got -1"),
        ({"spatial_kernel": 4}, r"spatial_kernel must be 0 \(no spatial layer\) or odd, got 4"),
        ({"spatial_kernel": -3}, r"spatial_kernel must be an int >= 0, got -3"),
        ({"noise_domain": "raw"}, r"noise_domain must be 'srgb' or 'linear', got 'raw'"),
    ],
)
def test_bad_values_name_the_key_and_the_allowed_values(overrides, message):
    with pytest.raises(ValueError, match=message):
        NMFlowGANConfig(**overrides)


def test_from_dict_rejects_unknown_keys():
    with pytest.raises(ValueError, match=r"unknown model config keys \['depth'\]; allowed: \['cameras'"):
        NMFlowGANConfig.from_dict({"depth": 3})


@pytest.mark.parametrize(
    "doc, message",
    [
        ({"unet_depth": "four"}, r"unet_depth must be an int >= 0, got 'four'"),
        ({"isos": "100"}, r"isos must be a sequence of ISO values \(int\), got '100'"),
        ({"cameras": ["IP", None]}, r"cameras must be a sequence of camera names \(str\), got None"),
        (["unet_depth", 4], r"a model config must be a mapping of keys to values, got \['unet_depth', 4\]"),
    ],
)
def test_from_dict_names_the_key_of_a_wrong_type(doc, message):
    """config.json values of the wrong type are errors naming the key, not silently converted."""
    with pytest.raises(ValueError, match=message):
        NMFlowGANConfig.from_dict(doc)


def test_a_bad_value_in_a_saved_config_names_the_file(tmp_path):
    """Issue 9 item 6: the error of a config.json field names the file it came from."""
    import json

    from nmflowgan_aug import NMFlowGAN

    folder = NMFlowGAN(NMFlowGANConfig(unet_depth=2, unet_width=4)).save_pretrained(tmp_path / "m")
    doc = json.loads((folder / "config.json").read_text())
    doc["config"]["unet_depth"] = "four"
    (folder / "config.json").write_text(json.dumps(doc))
    with pytest.raises(ValueError, match=rf"corrupt model config {folder / 'config.json'}: unet_depth must be an int"):
        NMFlowGAN.from_pretrained(folder)

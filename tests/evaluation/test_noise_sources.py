"""Noise-source registry of the denoising benchmark, and the nearest-ISO mapping into a model vocabulary."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nmflowgan_aug import list_pretrained
from nmflowgan_aug.baselines import GaussianNoiseModel, SimulatedCameraNoiseModel
from nmflowgan_aug.evaluation.noise_sources import (
    ORACLE,
    NoiseSource,
    SourceContext,
    build_source,
    default_sources,
    known_sources,
    map_conditions,
    parse_source_spec,
    register_source,
    unregister_source,
)
from nmflowgan_aug.vocab import OFFICIAL_VOCABULARY


def test_condition_mapping():
    conds = [("GP", 6400), ("IP", 1000), ("S6", 800)]
    mapped, changes = map_conditions(conds, OFFICIAL_VOCABULARY, "nearest")
    assert mapped == [("GP", 3200), ("IP", 800), ("S6", 800)]
    assert changes == {"GP@6400": "GP@3200", "IP@1000": "IP@800"}
    near = map_conditions([("GP", 50), ("GP", 565), ("GP", 567)], OFFICIAL_VOCABULARY, "nearest")[0]
    assert near == [("GP", 100), ("GP", 400), ("GP", 800)]  # log2 midpoint of 400 and 800: 565.7
    with pytest.raises(ValueError, match="not supported"):
        map_conditions(conds, OFFICIAL_VOCABULARY, "error")
    with pytest.raises(ValueError, match="vocabulary"):
        map_conditions([("X1", 100)], OFFICIAL_VOCABULARY, "nearest")
    with pytest.raises(ValueError, match="policy must be 'nearest' or 'error', got 'closest'"):
        map_conditions(conds, OFFICIAL_VOCABULARY, "closest")
    assert map_conditions(conds, None, "error") == (conds, {})


def test_specs_and_registry():
    assert {"nmflowgan", "gaussian", "hetero", "simulator", "real"} <= set(known_sources())
    assert parse_source_spec("nmflowgan:some/dir") == ("nmflowgan", "some/dir")
    assert parse_source_spec(" gaussian ") == ("gaussian", None)
    for spec, match in (("poisson", r"unknown noise source 'poisson'; known sources: \["),
                        ("gaussian:3", "takes no argument"), ("nmflowgan:", "empty argument")):
        with pytest.raises(ValueError, match=match):
            parse_source_spec(spec)
    register_source("stub", lambda arg, ctx: NoiseSource("ignored", None))
    try:
        with pytest.raises(ValueError, match="already registered"):
            register_source("stub", lambda arg, ctx: None)
        assert build_source("stub", SourceContext([], torch.device("cpu"))).name == "stub"
    finally:
        unregister_source("stub")
    assert "stub" not in known_sources()
    assert default_sources()[-4:] == ["gaussian", "hetero", "simulator", ORACLE]
    assert ("nmflowgan:sidd" in default_sources()) == ("sidd" in list_pretrained())


def _pairs():
    rng = np.random.default_rng(0)
    out = []
    for iso in (100, 400):
        clean = rng.uniform(0.2, 0.8, (48, 48, 3))
        out.append((clean, np.clip(clean + rng.normal(0, 0.002 * iso / 100, clean.shape), 0, 1), "GP", iso))
    return out


def test_baseline_sources_are_fitted_with_the_context_crop(monkeypatch):
    source = build_source("gaussian", SourceContext(_pairs(), torch.device("cpu"), 32))
    assert isinstance(source.model, GaussianNoiseModel) and source.vocabulary is None and not source.is_real
    assert source.notes["class"] == "GaussianNoiseModel" and source.notes["fit_max_size"] == 32
    assert source.notes["law"]["train_isos"] == {"GP": [100, 400]}
    calls = []
    monkeypatch.setattr(SimulatedCameraNoiseModel, "fit", classmethod(lambda cls, pairs, **kw: calls.append(kw) or
                                                                       GaussianNoiseModel.fit(pairs)))
    build_source("simulator", SourceContext(_pairs(), torch.device("cpu"), None))
    build_source("simulator", SourceContext(_pairs(), torch.device("cpu"), 16))
    assert calls == [{}, {"max_size": 16}]  # None keeps the simulator's own 512 default
    real = build_source(ORACLE, SourceContext([], torch.device("cpu")))
    assert real.is_real and real.name == "real"

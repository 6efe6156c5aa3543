"""The (camera, ISO) law: hand-checked interpolation/extrapolation, least-squares offsets and slope, errors."""

from __future__ import annotations

import math

import pytest

from nmflowgan_aug.baselines import UnknownCameraError, fit_log_iso_law


def test_log_iso_law_hand_checked_interpolation_and_extrapolation():
    # camera A: sigma 1 at ISO 100, 4 at ISO 400 -> slope 1 in log-log; camera B: 3 at ISO 200
    law = fit_log_iso_law(["A", "A", "B"], [100, 400, 200], [1.0, 4.0, 3.0], ["sigma"])
    assert law.slopes[0] == pytest.approx(1.0)
    assert law(("A"), 200)[0] == pytest.approx(2.0)  # interpolated: 1 * 200/100
    assert law("B", 800)[0] == pytest.approx(12.0)  # extrapolated along the shared slope: 3 * 800/200
    assert law("B", 100)[0] == pytest.approx(1.5)
    assert law.support("A", 400) == "seen"
    assert law.support("A", 200) == "interpolated"
    assert law.support("B", 800) == "extrapolated"
    assert law.residual_rms[0] == pytest.approx(0.0, abs=1e-12)
    d = law.to_dict()
    assert d["train_isos"] == {"A": [100, 400], "B": [200]}


def test_log_iso_law_least_squares_offsets_and_slope():
    # noisy law: slope is the pooled within-camera slope
    law = fit_log_iso_law(["A", "A", "B", "B"], [100, 400, 100, 1600], [1.0, 2.0, 5.0, 5.0 * 16**0.5], ["s"])
    assert law.slopes[0] == pytest.approx(0.5)
    assert math.exp(law.offsets[0][0]) == pytest.approx(1.0)
    assert math.exp(law.offsets[1][0]) == pytest.approx(5.0)


def test_log_iso_law_errors():
    with pytest.raises(ValueError, match="slope cannot be fitted"):
        fit_log_iso_law(["A", "B"], [100, 400], [1.0, 2.0])
    with pytest.raises(ValueError, match="positive"):
        fit_log_iso_law(["A", "A"], [100, 400], [1.0, 0.0])
    law = fit_log_iso_law(["A", "A"], [100, 400], [1.0, 2.0])
    with pytest.raises(UnknownCameraError, match="'Z' has no training pairs.*'A'"):
        law("Z", 100)
    assert issubclass(UnknownCameraError, ValueError)
    with pytest.raises(ValueError, match="ISO must be a positive"):
        law("A", -5)


def test_the_law_uses_the_shared_log_iso_feature():
    from nmflowgan_aug.baselines.log_iso_law import log_iso_design
    from nmflowgan_aug.vocab import ISO_REF, log_iso_ratio

    assert ISO_REF == 100.0
    assert log_iso_ratio(400) == math.log(4.0) and log_iso_ratio(50, 200) == math.log(0.25)
    cams, x = log_iso_design(["A", "B", "A"], [100, 3200, 800])
    assert cams == ("A", "B")
    assert x.tolist() == [[1, 0, 0.0], [0, 1, log_iso_ratio(3200)], [1, 0, log_iso_ratio(800)]]
    for bad in (0, -100, float("nan"), True):
        with pytest.raises(ValueError, match="finite positive number"):
            log_iso_ratio(bad)

"""Train/evaluation overlap: shared ids of one source, shared SIDD scene instances, refusal and the allowed warning."""

from __future__ import annotations

import pytest

from nmflowgan_aug.data.sidd import SceneName
from nmflowgan_aug.evaluation.overlap import Overlap, TrainEvalOverlapError, check_overlap, find_overlap

SCENE = "0021_001_GP_10000_05000_5500_N"


def test_find_overlap_by_id_and_scene():
    train = [("03", SCENE), ("05", None), ("10", SceneName.parse("0036_002_GP_06400_03200_3200_N"))]
    evaluation = [("03", SCENE), ("04", SCENE), ("00", None)]
    found = find_overlap(train, evaluation, same_source=True)
    assert found.ids == ("03",)
    assert found.scenes == ((SCENE, ("03",), ("03", "04")),)
    assert found.describe() == (f"the same pairs ['03']; scene instance {SCENE} (training ['03'], "
                                "evaluation ['03', '04'])")
    other_source = find_overlap(train, evaluation, same_source=False)  # names of another source are not compared
    assert other_source.ids == () and other_source.scenes == found.scenes
    assert not find_overlap([("05", None)], [("05x", None)], same_source=True)
    assert find_overlap([("a", SceneName.parse(SCENE))], [("v01-00", SCENE)], False).scenes[0][0] == SCENE


def test_check_overlap_refuses_or_warns():
    assert check_overlap(Overlap(), allow=False) is None
    overlap = Overlap(ids=("03", "04"))
    with pytest.raises(TrainEvalOverlapError, match=r"share the same pairs \['03', '04'\].*pass --allow-overlap"):
        check_overlap(overlap, allow=False)
    assert isinstance(TrainEvalOverlapError("x"), ValueError)  # the CLIs report ValueErrors with exit status 2
    warning = check_overlap(overlap, allow=True)
    assert warning.startswith("WARNING: training and evaluation data share the same pairs ['03', '04']")
    assert overlap.to_dict() == {"ids": ["03", "04"], "scenes": []}

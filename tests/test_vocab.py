"""ConditionVocabulary: validation, camera/ISO parsing and the condition encodings (reference §1.2)."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch

from nmflowgan_aug.vocab import OFFICIAL_VOCABULARY, SIDD_VOCABULARY, Conditions, ConditionVocabulary

OFF = OFFICIAL_VOCABULARY


# ---------------------------------------------------------------------------- construction
def test_official_vocabulary():
    assert OFF.cameras == ("IP", "GP", "S6", "N6", "G4")  # codes 0..4 as in prep.py
    assert OFF.isos == (100, 400, 800, 1600, 3200)
    assert OFF.iso_encoding == "onehot"
    assert (OFF.num_cameras, OFF.num_isos, OFF.meta_features, OFF.table_rows) == (5, 5, 10, 25)


def test_sidd_vocabulary_uses_log_iso():
    assert SIDD_VOCABULARY.cameras == OFF.cameras
    assert SIDD_VOCABULARY.iso_encoding == "log"
    assert {50, 100, 3200, 10000} <= set(SIDD_VOCABULARY.isos)
    assert SIDD_VOCABULARY.meta_features == 1 + 5
    assert SIDD_VOCABULARY.table_rows == SIDD_VOCABULARY.meta_features


@pytest.mark.parametrize(
    "cameras, isos, encoding, match",
    [
        ((), (100,), "onehot", "cameras"),
        (("A", "A"), (100,), "onehot", "cameras"),
        (("A",), (), "onehot", "isos"),
        (("A",), (400, 100), "onehot", "isos"),
        (("A",), (100, 100), "onehot", "isos"),
        (("A",), (0, 100), "onehot", "isos"),
        (("A",), (-100,), "onehot", "isos"),
        (("A",), (100,), "linear", "iso_encoding"),
    ],
)
def test_invalid_vocabularies_raise(cameras, isos, encoding, match):
    with pytest.raises(ValueError, match=match):
        ConditionVocabulary(cameras, isos, encoding)


def test_vocabulary_normalises_types_and_round_trips_to_dict():
    v = ConditionVocabulary(["A", "B"], [100.0, 200], "log")
    assert v.cameras == ("A", "B") and v.isos == (100, 200)
    assert all(isinstance(i, int) for i in v.isos)
    d = v.to_dict()
    assert d == {"cameras": ["A", "B"], "isos": [100, 200], "iso_encoding": "log"}
    assert ConditionVocabulary(**d) == v


# ---------------------------------------------------------------------------- parsing
def test_camera_codes_accepts_names_codes_sequences_and_tensors():
    expected = torch.tensor([1, 1, 1])
    for camera in ("GP", 1, ["GP", "GP", "GP"], [1, "GP", 1], torch.tensor([1, 1, 1]), torch.tensor(1)):
        codes = OFF.camera_codes(camera, 3)
        assert codes.dtype == torch.long and torch.equal(codes, expected), camera
    assert OFF.camera_codes(["IP", "GP", "S6", "N6", "G4"], 5).tolist() == [0, 1, 2, 3, 4]


def test_unknown_camera_lists_supported_names():
    with pytest.raises(ValueError, match=re.escape("['IP', 'GP', 'S6', 'N6', 'G4']")) as e:
        OFF.camera_codes("XX", 2)
    assert "XX" in str(e.value)


@pytest.mark.parametrize("code", [7, 5, -1])
def test_camera_code_out_of_range_lists_supported_codes(code):
    with pytest.raises(ValueError, match="supported codes") as e:
        OFF.camera_codes(code, 1)
    assert str(code) in str(e.value) and "'G4'" in str(e.value)


@pytest.mark.parametrize("camera", [1.5, True, None])
def test_camera_of_wrong_type_raises_type_error(camera):
    with pytest.raises(TypeError):
        OFF.camera_codes([camera], 1)


def test_iso_values_accepts_int_float_sequences_and_tensors():
    for iso in (800, 800.0, [800, 800], torch.tensor([800, 800]), torch.tensor(800), torch.tensor([800.0, 800.0])):
        vals = OFF.iso_values(iso, 2)
        assert vals.dtype == torch.long and vals.tolist() == [800, 800], iso


@pytest.mark.parametrize("iso", [200, 801, 0, 800.5, "801"])
def test_unsupported_iso_lists_supported_values(iso):
    with pytest.raises(ValueError, match=re.escape("[100, 400, 800, 1600, 3200]")):
        OFF.iso_values(iso, 1)


@pytest.mark.parametrize(
    "camera, iso",
    [
        (np.int64(1), np.int64(800)),
        (np.str_("GP"), np.float32(800.0)),
        (np.array(["GP", "GP"]), np.array([800, 800])),
        (np.array([1, 1]), np.array([800.0, 800.0])),
        ("GP", "800"),
        (["GP", 1], [" 800", "800.0"]),
        (torch.tensor([1, 1]), torch.tensor([800, 800], dtype=torch.int32)),
    ],
)
def test_numpy_strings_and_tensors_where_valid(camera, iso):
    """Issue 9 item 11: numpy scalars/arrays and ISO strings from a CSV work like Python numbers."""
    conditions = OFF.conditions(camera, iso, 2)
    assert conditions.camera_codes.tolist() == [1, 1] and conditions.iso_values.tolist() == [800, 800]
    assert conditions.camera_codes.dtype == conditions.iso_values.dtype == torch.long


@pytest.mark.parametrize(
    "iso, error, match",
    [
        (None, TypeError, "iso is required"),
        (True, TypeError, "ISO must be a number"),
        ("high", ValueError, "ISO must be a number, got the string 'high'"),
        (np.array([True]), TypeError, "got dtype torch.bool"),
    ],
)
def test_non_numeric_iso_is_refused(iso, error, match):
    with pytest.raises(error, match=match):
        OFF.iso_values(iso, 1)


def test_log_vocabulary_accepts_any_whole_iso_in_its_trained_range():
    """Issue 12 item 2: ISO 1000 or 2500 between trained values; the error states the range."""
    v = ConditionVocabulary(("A",), (100, 800, 3200), "log")
    assert v.iso_range == (100, 3200)
    assert v.iso_values([1000, 2500, "1234", 3200.0], 4).tolist() == [1000, 2500, 1234, 3200]
    assert v.iso_values(torch.tensor([150.0, 2999.0]), 2).tolist() == [150, 2999]
    for bad in (99, 3201, 12800, 1000.5):
        with pytest.raises(ValueError, match=re.escape("trained range [100, 3200]")):
            v.iso_values(bad, 1)
    with pytest.raises(ValueError, match=re.escape("unsupported ISO 50.0")):
        v.iso_values(torch.tensor([50.0]), 1)
    # one-hot models keep their table
    with pytest.raises(ValueError, match="one-hot ISO encoding"):
        ConditionVocabulary(("A",), (100, 800, 3200), "onehot").iso_values(1000, 1)


def test_wrong_length_and_rank():
    with pytest.raises(ValueError, match="got 1 camera values for a batch of 2"):
        OFF.camera_codes(["IP"], 2)
    with pytest.raises(ValueError, match="got 3 iso values for a batch of 2"):
        OFF.iso_values([100, 400, 800], 2)
    with pytest.raises(ValueError, match="1-D"):
        OFF.iso_values(torch.full((2, 1), 100), 2)
    with pytest.raises(ValueError, match="batch of 2"):
        OFF.camera_codes(torch.tensor([0, 1, 2]), 2)


def test_iso_index():
    assert OFF.iso_index(torch.tensor([100, 400, 800, 1600, 3200])).tolist() == [0, 1, 2, 3, 4]


# ---------------------------------------------------------------------------- encoding
def test_onehot_encoding_order_and_table_row():
    """Official: meta = [onehot(iso) ‖ onehot(camera)], CL2 row = iso_index·5 + camera."""
    cams = OFF.camera_codes(["IP", "N6", "G4", "GP"], 4)
    isos = OFF.iso_values([100, 1600, 3200, 400], 4)
    meta, row = OFF.encode(cams, isos)
    assert meta.dtype == torch.float32 and meta.shape == (4, 10)
    expected = torch.zeros(4, 10)
    for b, (iso_idx, cam) in enumerate([(0, 0), (3, 3), (4, 4), (1, 1)]):
        expected[b, iso_idx] = 1
        expected[b, 5 + cam] = 1
    assert torch.equal(meta, expected)
    assert row.dtype == torch.long and row.tolist() == [0, 3 * 5 + 3, 4 * 5 + 4, 1 * 5 + 1]


def test_onehot_rows_are_a_bijection_for_non_square_vocabularies():
    v = ConditionVocabulary(("A", "B"), (100, 200, 400))
    cams = torch.tensor([c for _ in range(3) for c in range(2)])
    isos = torch.tensor([i for i in (100, 200, 400) for _ in range(2)])
    _, row = v.encode(cams, isos)
    assert row.tolist() == list(range(v.table_rows)) == [0, 1, 2, 3, 4, 5]


def test_log_encoding_hand_values():
    """The log encoding t = log2(ISO/100)/7 at hand-computed values.

    ISO 100 → 0, 12800 → 1, 50 → −1/7, 800 → 3/7, 10000 → log2(100)/7.
    """
    v = SIDD_VOCABULARY
    isos = [50, 100, 800, 3200, 10000]
    cams = ["IP", "GP", "S6", "N6", "G4"]
    meta, row = v.encode(v.camera_codes(cams, 5), v.iso_values(isos, 5))
    assert row is None
    assert meta.shape == (5, 6) and meta.dtype == torch.float32
    expected_t = torch.tensor([-1 / 7, 0.0, 3 / 7, 5 / 7, math.log2(100) / 7])
    torch.testing.assert_close(meta[:, 0], expected_t)
    assert torch.equal(meta[:, 1:], torch.eye(5))
    big = ConditionVocabulary(("A",), (12800,), "log").encode(torch.tensor([0]), torch.tensor([12800]))[0]
    torch.testing.assert_close(big, torch.tensor([[1.0, 1.0]]))


# ---------------------------------------------------------------------------- conditions, tensor input
def test_conditions_validates_both_and_unpacks():
    conditions = OFF.conditions(["IP", "G4"], 800, 2)
    assert isinstance(conditions, Conditions)
    cams, isos = conditions
    assert cams.tolist() == [0, 4] and isos.tolist() == [800, 800]
    moved = conditions.to("cpu")
    assert torch.equal(moved.camera_codes, cams) and torch.equal(moved.iso_values, isos)


def test_tensor_input_is_checked_with_tensor_ops(monkeypatch):
    """Validated tensors never go through Python lists (no per-batch copy to the host and back)."""

    def no_lists(self):
        raise AssertionError("Tensor.tolist() called while validating a tensor")

    monkeypatch.setattr(torch.Tensor, "tolist", no_lists)
    codes = OFF.camera_codes(torch.tensor([4, 0], dtype=torch.int32), 2)
    isos = OFF.iso_values(torch.tensor([3200.0, 100.0]), 2)
    assert codes.dtype == isos.dtype == torch.long
    assert torch.equal(codes, torch.tensor([4, 0])) and torch.equal(isos, torch.tensor([3200, 100]))


def test_tensor_errors_name_the_bad_value():
    with pytest.raises(ValueError, match="camera code 5 out of range"):
        OFF.camera_codes(torch.tensor([0, 5]), 2)
    with pytest.raises(ValueError, match=re.escape("unsupported ISO 200; supported ISO values: [100, 400")):
        OFF.iso_values(torch.tensor([100, 200]), 2)
    with pytest.raises(ValueError, match=re.escape("unsupported ISO 800.5")):
        OFF.iso_values(torch.tensor([800.5]), 1)
    with pytest.raises(TypeError, match="integer tensor, got dtype torch.float32"):
        OFF.camera_codes(torch.tensor([1.0]), 1)
    with pytest.raises(TypeError, match="integer tensor, got dtype torch.bool"):
        OFF.camera_codes(torch.tensor([True]), 1)
    with pytest.raises(TypeError, match="got dtype torch.bool"):
        OFF.iso_values(torch.tensor([True]), 1)


def test_tensor_input_on_a_device_stays_there(device):
    codes = torch.tensor([1, 2], device=device)
    assert OFF.camera_codes(codes, 2, device).device == codes.device
    assert OFF.iso_values(torch.tensor(800, device=device), 2, device).tolist() == [800, 800]


# ---------------------------------------------------------------------------- adding a camera
@pytest.mark.parametrize("encoding, code, expected", [
    ("onehot", 2, (5 + 2,)),  # [onehot(iso, 5) ‖ onehot(camera)]
    ("log", 2, (1 + 2,)),  # [t ‖ onehot(camera)]
    ("log_camera", 2, (2, 5 + 2)),  # [onehot(camera) ‖ t·onehot(camera)]
])  # fmt: skip
def test_camera_features_are_the_entries_that_only_that_camera_sets(encoding, code, expected):
    vocab = ConditionVocabulary(OFF.cameras, OFF.isos, encoding)
    assert vocab.camera_features(code) == expected
    meta, _ = vocab.encode(torch.arange(5), torch.full((5,), 800))
    others = [c for c in range(5) if c != code]
    assert (meta[code, list(expected)] != 0).all() and (meta[others][:, list(expected)] == 0).all()
    with pytest.raises(ValueError, match="camera code 5 out of range"):
        vocab.camera_features(5)


def test_with_camera_appends_a_new_name():
    vocab = SIDD_VOCABULARY.with_camera("D800")
    assert vocab.cameras == (*SIDD_VOCABULARY.cameras, "D800") and vocab.camera_codes("D800", 1).tolist() == [5]
    assert (vocab.isos, vocab.iso_encoding) == (SIDD_VOCABULARY.isos, SIDD_VOCABULARY.iso_encoding)
    with pytest.raises(ValueError, match=re.escape("camera 'GP' is already in the vocabulary ['IP', 'GP'")):
        SIDD_VOCABULARY.with_camera("GP")
    for bad in ("", " D800", 5):
        with pytest.raises(ValueError, match="a camera name must be a non-empty string without surrounding spaces"):
            SIDD_VOCABULARY.with_camera(bad)

"""srgb: the sRGB batch checks and 8-bit rounding."""

from __future__ import annotations

import math

import pytest
import torch
from torch.overrides import TorchFunctionMode

from nmflowgan_aug.srgb import check_same_shape, check_srgb_batch, quantize_8bit, unchecked_values

#: Tensor methods that copy device data to the host: each one is a host synchronisation on a GPU.
HOST_COPIES = {"item", "tolist", "__bool__", "__float__", "__int__", "__index__", "numpy", "cpu"}


class HostCopies(TorchFunctionMode):
    """Counts the calls that would wait for a GPU (run on the CPU, where they do not)."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if getattr(func, "__name__", "") in HOST_COPIES:
            self.calls.append(func.__name__)
        return func(*args, **(kwargs or {}))


def test_quantize_8bit():
    x = torch.tensor([0.0, 0.5, 1.0, 1.2, -0.1])
    assert torch.allclose(quantize_8bit(x) * 255, torch.tensor([0.0, 128.0, 255.0, 255.0, 0.0]))


def test_valid_batches_pass():
    check_srgb_batch(torch.rand(2, 3, 4, 4))
    check_srgb_batch(torch.zeros(1, 3, 1, 2, dtype=torch.float64))
    check_srgb_batch(torch.full((1, 3, 2, 2), 255, dtype=torch.uint8), allow_uint8=True)


@pytest.mark.parametrize(
    ("x", "allow_uint8", "error", "match"),
    [
        ([[0.5]], False, TypeError, "torch.Tensor, got list"),
        (torch.rand(3, 4, 4), False, ValueError, r"\(B, 3, H, W\), got \(3, 4, 4\)"),
        (torch.rand(1, 4, 4, 4), False, ValueError, "3 \\(RGB\\) channels, got 4"),
        (torch.rand(0, 3, 4, 4), False, ValueError, "empty"),
        (torch.zeros(1, 3, 2, 2, dtype=torch.uint8), False, TypeError, r"point in \[0, 1\], got dtype torch.uint8"),
        (torch.zeros(1, 3, 2, 2, dtype=torch.int32), True, TypeError, "or uint8, got dtype torch.int32"),
        (torch.full((1, 3, 2, 2), math.inf), False, ValueError, "NaN or Inf"),
        (torch.full((1, 3, 2, 2), 1.5), False, ValueError, r"\[0, 1\], got values in \[1.5, 1.5\]"),
    ],
)
def test_bad_batches_name_the_problem(x, allow_uint8, error, match):
    with pytest.raises(error, match=match):
        check_srgb_batch(x, allow_uint8=allow_uint8)


def test_check_same_shape():
    check_same_shape(torch.zeros(1, 3, 2, 2), torch.ones(1, 3, 2, 2))
    with pytest.raises(ValueError, match=r"must have the same shape, got \(1, 3, 2, 2\) and \(1, 3, 2, 3\)"):
        check_same_shape(torch.zeros(1, 3, 2, 2), torch.zeros(1, 3, 2, 3))


def test_the_value_check_copies_to_the_host_once():
    """One fused reduction (min and max) and one copy of its two numbers; none inside unchecked_values()."""
    with HostCopies() as copies:
        check_srgb_batch(torch.rand(2, 3, 8, 8))
    assert copies.calls == ["tolist"]
    with HostCopies() as copies, unchecked_values():
        check_srgb_batch(torch.rand(2, 3, 8, 8))
    assert copies.calls == []


@pytest.mark.parametrize("bad", [math.nan, -math.inf, 1.01, -0.01])
def test_the_fused_check_finds_a_single_bad_value(bad):
    x = torch.rand(2, 3, 8, 8) * 0.5 + 0.25
    x[1, 2, 7, 3] = bad
    with pytest.raises(ValueError, match="NaN or Inf" if not math.isfinite(bad) else rf"got values in \[{min(bad, 0.25):.4g}"):
        check_srgb_batch(x)


def test_unchecked_values_skip_the_values_only_inside_the_block():
    bad = torch.full((1, 3, 2, 2), math.nan)
    with unchecked_values():
        check_srgb_batch(bad)  # not checked
        with pytest.raises(ValueError, match="3 \\(RGB\\) channels"):  # shapes still are
            check_srgb_batch(torch.rand(1, 4, 2, 2))
    with pytest.raises(ValueError, match="NaN or Inf"):
        check_srgb_batch(bad)

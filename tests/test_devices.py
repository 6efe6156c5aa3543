"""devices: resolving device names, and the guard against CUDA in forked DataLoader workers."""

from __future__ import annotations

import pytest
import torch

from nmflowgan_aug.devices import forked_worker_cuda_error, resolve_device


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto") == torch.device("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError, match="auto, cpu, cuda or cuda:N, got 'tpu'"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="'cuda:1' requested but CUDA is not available"):
            resolve_device("cuda:1")


@pytest.mark.parametrize("device_type", ["cpu", "cuda"])
@pytest.mark.parametrize("in_worker", [False, True])
@pytest.mark.parametrize("forked", [False, True])
@pytest.mark.parametrize("parent_cuda", [False, True])
def test_forked_worker_cuda_guard_logic(device_type, in_worker, forked, parent_cuda):
    message = forked_worker_cuda_error(device_type, in_worker, forked, parent_cuda)
    if device_type == "cuda" and in_worker and forked and parent_cuda:
        assert "after the DataLoader" in message and "multiprocessing_context='spawn'" in message
    else:
        assert message is None

"""Mixed precision in training (``train.amp``): bf16 or fp16 autocast for the U-Net and the critic.

The flow's likelihood stays in float32 (autocast is switched off around it, and sampling already runs
the flow in float32, see :meth:`~nmflowgan_aug.model.NMFlowGAN.synthesize_levels`). Measured with the
shipped ``sidd`` model on 32 SIDD validation patches (64×64, CPU autocast): under bf16 the
log-likelihood is off by 0.0068 bits/dim on average and 0.018 at most (fp16: 0.0005 and 0.001), an
error of 58 nats per patch, because the log-det sums 3·H·W log-scales computed with an 8-bit mantissa;
that is as large as the NLL gain of a late training epoch, and fp16 overflows the flow's exp/log-scale
arithmetic. The flow is 25 k parameters and a small share of a step's time, so float32 costs little.

fp16 scales the losses with a :class:`torch.amp.GradScaler` per optimizer. The critic's gradient
penalty differentiates the critic once inside the loss (``torch.autograd.grad``) without that scale;
those input gradients have a norm near 1 by design (the penalty pulls them there), about 1e-3 per
element for 96×96×6 inputs, far above fp16's smallest normal number (6e-5), so they do not underflow.
"""

from __future__ import annotations

import torch

__all__ = ["AMP_MODES", "autocast", "grad_scaler"]

#: ``train.amp`` values and their autocast dtypes (``none``: float32 throughout).
AMP_MODES: dict[str, torch.dtype | None] = {"none": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def autocast(device: torch.device, mode: str) -> torch.autocast:
    """``torch.autocast`` on ``device`` for a :data:`AMP_MODES` name (disabled for ``none``)."""
    dtype = AMP_MODES[mode]
    return torch.autocast(device.type, dtype=dtype, enabled=dtype is not None)


def grad_scaler(device: torch.device, mode: str) -> torch.amp.GradScaler:
    """A loss scaler for one optimizer: active for ``fp16``, a pass-through otherwise.

    As a pass-through, ``scale(loss)`` is ``loss`` and ``step(opt)`` is ``opt.step()``.
    """
    return torch.amp.GradScaler(device.type, enabled=mode == "fp16")

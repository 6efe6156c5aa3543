"""Validation of a noise model on held-out real patches: NLL, KLD (official protocol) and AKLD."""

from __future__ import annotations

import math

import torch
from torch.utils.data import DataLoader, Subset

from ..metrics import akld, kld_official
from .distributed import DistContext, sum_over_ranks

__all__ = ["evaluate_patches"]


@torch.no_grad()
def evaluate_patches(model, dataset, device: torch.device, max_patches: int | None = None, seed: int = 0,
                     batch_size: int = 32, ctx: DistContext = DistContext()) -> dict[str, float]:
    """Score a noise model on a patch dataset (dicts with ``clean``, ``noisy``, ``camera``, ``iso``).

    Noise is sampled with a fixed seed so epochs are comparable. The model's train/eval mode is restored.
    With several processes (``ctx``), rank ``r`` scores patches ``r, r + world_size, ...`` of the selection
    with seed ``seed + r``, and the sums are added up over the ranks: every rank returns the metrics of
    the whole selection (the same patches as one process, other noise draws).

    Returns:
        ``val_nll_bpd`` (bits per dimension), ``val_kld`` (mean per-patch KLD, NM-FlowGAN protocol) and
        ``val_akld`` (mean per-patch AKLD, DANet protocol).
    """
    if max_patches is not None and max_patches < len(dataset):
        step = len(dataset) / max_patches
        dataset = Subset(dataset, [int(i * step) for i in range(max_patches)])
    if ctx.enabled:
        dataset, seed = Subset(dataset, range(ctx.rank, len(dataset), ctx.world_size)), seed + ctx.rank
    was_training = model.training
    model.eval()
    gen = torch.Generator(device=device).manual_seed(seed)
    nll, kld, ak, n = 0.0, 0.0, 0.0, 0
    try:
        for batch in DataLoader(dataset, batch_size=batch_size, shuffle=False):
            clean = batch["clean"].to(device)
            noisy = batch["noisy"].to(device)
            cams = model.vocabulary.camera_codes(batch["camera"], clean.shape[0], device)
            isos = model.vocabulary.iso_values(batch["iso"], clean.shape[0], device)
            levels = model.max_level
            log_p = model.log_prob_levels(torch.round(noisy * levels), torch.round(clean * levels), cams, isos, gen)
            fake = model.synthesize_levels(clean, cams, isos, gen) / levels
            nll += float(-log_p.sum()) / (clean[0].numel() * math.log(2.0))
            kld += float(kld_official(noisy, fake, clean).sum())
            ak += float(akld(noisy, fake, clean).sum())
            n += clean.shape[0]
    finally:
        model.train(was_training)
    nll, kld, ak, n = sum_over_ranks([nll, kld, ak, n], ctx, device)
    return {"val_nll_bpd": nll / n, "val_kld": kld / n, "val_akld": ak / n}

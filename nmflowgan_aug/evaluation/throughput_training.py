"""Throughput of noise-model training: patches per second of :meth:`Trainer.train_step`, on 1 process or N.

One process, or N processes on this machine joined with ``torch.distributed`` as ``torchrun`` would join
them (gloo on the CPU, NCCL on CUDA; :func:`~nmflowgan_aug.training.distributed.launch_local`), train the
model of a training config on the same global batch of in-memory patches (random clean patches with
Gaussian noise: the speed of a step does not depend on the pixel values; data loading is not timed).
After ``warmup`` steps, ``steps`` more are timed with :meth:`torch.utils.benchmark.Timer.timeit` (a fixed
count, the same on every rank, CUDA synchronized); with N processes, rank 0's time counts (every step
waits for the slowest rank in DDP's gradient all-reduce). The flow-only warm-up of the config is switched
off, so the timed steps mix critic and generator iterations as ``train.critic_steps`` says.
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch.utils.benchmark import Timer

from ..training.config import TrainingConfig
from ..training.distributed import DistContext, init_process_group, launch_local, local_batch_size, shutdown
from ..training.loop import Trainer

__all__ = ["SyntheticPatches", "measure_training_steps", "training_step_rows"]


class SyntheticPatches(torch.utils.data.Dataset):
    """``n`` random ``size``×``size`` patch pairs, the same on every process (seeded).

    Clean uniform in [0.1, 0.9], noise σ = 0.03, 8-bit levels, cycling through the cameras and ISOs of
    ``config.model``.
    """

    def __init__(self, config: TrainingConfig, n: int, seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        size, vocabulary = config.data.patch_size, config.model.vocabulary
        clean = torch.rand(n, 3, size, size, generator=g) * 0.8 + 0.1
        noisy = (clean + 0.03 * torch.randn(clean.shape, generator=g)).clamp(0, 1)
        self.clean, self.noisy = torch.round(clean * 255) / 255, torch.round(noisy * 255) / 255
        self.conditions = [(vocabulary.cameras[i % len(vocabulary.cameras)], vocabulary.isos[i % len(vocabulary.isos)])
                           for i in range(n)]  # fmt: skip

    def __len__(self) -> int:
        return len(self.clean)

    def __getitem__(self, i: int) -> dict:
        camera, iso = self.conditions[i]
        return {"clean": self.clean[i], "noisy": self.noisy[i], "camera": camera, "iso": iso}


def _time_steps(config: TrainingConfig, ctx: DistContext, steps: int, warmup: int) -> float:
    """Seconds of ``steps`` training steps of this process, after ``warmup`` untimed ones."""
    trainer = Trainer(config, SyntheticPatches(config, config.train.batch_size), None, Path(tempfile.gettempdir()), ctx)
    batch = torch.utils.data.default_collate([trainer.train_set[i] for i in range(trainer.local_batch_size * ctx.rank,
                                              trainer.local_batch_size * (ctx.rank + 1))])  # fmt: skip
    trainer.model.train()
    if trainer.critic is not None:
        trainer.critic.train()
    for _ in range(warmup):
        trainer.train_step(batch)
    return Timer("step(batch)", globals={"step": trainer.train_step, "batch": batch},
                 num_threads=torch.get_num_threads()).timeit(steps).mean * steps  # fmt: skip


def _rank_worker(config: TrainingConfig, steps: int, warmup: int, out: str) -> None:
    """One of N processes (started by :func:`launch_local`): join the group, time the steps, rank 0 writes ``out``."""
    ctx = DistContext.from_env()
    device = ctx.device(config.train.device)
    init_process_group(ctx, device)
    try:
        seconds = _time_steps(config, ctx, steps, warmup)
        if ctx.is_main:
            Path(out).write_text(json.dumps({"seconds": seconds}))
    finally:
        shutdown()


def measure_training_steps(config: TrainingConfig, world_size: int, steps: int, warmup: int, threads: int) -> dict:
    """Time ``steps`` training steps of ``config`` (its global ``train.batch_size``) on ``world_size`` processes.

    Args:
        config: the training config (model, critic, batch, ``train.amp``, ``train.device``: ``cpu`` or ``cuda``).
        world_size: number of processes (1: this process).
        steps: timed steps (use a multiple of ``train.critic_steps`` for a fair mix of iterations).
        warmup: untimed steps before.
        threads: torch CPU threads of each process.

    Returns:
        ``world_size``, ``backend``, ``threads_per_process``, ``global_batch``, ``amp``, ``steps``, ``seconds``,
        ``step_ms`` and ``patches_s`` (global batch × steps / seconds).

    Raises:
        ValueError: a global batch that ``world_size`` processes cannot share (see
            :func:`~nmflowgan_aug.training.distributed.local_batch_size`).
    """
    local_batch_size(config.train.batch_size, DistContext(0, world_size))  # refused here, before starting processes
    config = dataclasses.replace(config, train=dataclasses.replace(config.train, flow_warmup_steps=0))
    device = torch.device("cuda" if config.train.device.startswith("cuda") else "cpu")
    if world_size == 1:
        previous = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            seconds = _time_steps(config, DistContext(), steps, warmup)
        finally:
            torch.set_num_threads(previous)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "result.json"
            # CUDA cannot be used in a forked child of a process that initialized it.
            method = "spawn" if device.type == "cuda" else "fork"
            launch_local(_rank_worker, world_size, (config, steps, warmup, str(out)), threads, method)
            seconds = json.loads(out.read_text())["seconds"]
    batch = config.train.batch_size
    return {"world_size": world_size, "backend": ("nccl" if device.type == "cuda" else "gloo") if world_size > 1 else "-",
            "device": device.type, "threads_per_process": threads, "global_batch": batch, "amp": config.train.amp,
            "steps": steps, "seconds": seconds, "step_ms": 1e3 * seconds / steps, "patches_s": batch * steps / seconds}


def training_step_rows(config: TrainingConfig, world_sizes: Sequence[int], amps: Sequence[str], steps: int,
                       warmup: int, cores: int) -> list[dict[str, Any]]:  # fmt: skip
    """:func:`measure_training_steps` for each ``train.amp`` and number of processes.

    The CPU cores are shared equally (``cores // world_size`` threads per process, at least 1).
    """
    rows = []
    for amp in amps:
        amp_config = dataclasses.replace(config, train=dataclasses.replace(config.train, amp=amp))
        rows += [measure_training_steps(amp_config, n, steps, warmup, max(1, cores // n)) for n in world_sizes]
    return rows

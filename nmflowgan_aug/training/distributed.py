r"""Training on several processes with ``torch.distributed``: who this process is, and what the ranks agree on.

``torchrun`` starts the processes and sets ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` (and the rendezvous
``MASTER_ADDR``/``MASTER_PORT``) in each; :meth:`DistContext.from_env` reads them, and
:func:`init_process_group` joins the group: NCCL when the process trains on CUDA (``cuda:LOCAL_RANK``),
gloo on the CPU. Without those variables (a plain ``python train_noise_model.py``) the context is one
process and nothing here touches ``torch.distributed``.

One machine, 4 GPUs (``train.batch_size`` is the global batch, split over the processes)::

    torchrun --standalone --nproc_per_node 4 train_noise_model.py --config configs/nmflowgan_sidd.yaml

Several machines: the same command on each node, with a shared rendezvous. On a SLURM cluster (one task
per node, 4 GPUs per node)::

    #SBATCH --nodes=2 --ntasks-per-node=1 --gpus-per-node=4 --cpus-per-task=32
    head=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)
    srun torchrun --nnodes "$SLURM_NNODES" --nproc_per_node 4 --rdzv_id "$SLURM_JOB_ID" \
        --rdzv_backend c10d --rdzv_endpoint "$head:29500" \
        train_noise_model.py --config configs/nmflowgan_sidd.yaml

A process that fails raises and exits; torchrun then stops the others. Phases where the ranks could
otherwise part ways (checks, the writes of rank 0) go through :func:`agree`, so every rank raises with
the failing rank's message instead of waiting in the next collective. Collectives time out after
:data:`TIMEOUT` (rank 0 cuts the patches of a new run while the others wait: prepare SIDD-Medium's
patches beforehand with ``nmflowgan-prepare-sidd``).
"""

from __future__ import annotations

import itertools
import os
import random
import socket
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import Sampler

from ..devices import resolve_device

__all__ = ["TIMEOUT", "DistContext", "RankShare", "agree", "broadcast_state_", "init_process_group",
           "launch_local", "local_batch_size", "mean_over_ranks", "reseed_worker", "seed_rank", "shutdown",
           "sum_over_ranks"]

T = TypeVar("T")

#: How long a collective waits for the slowest rank before it fails.
TIMEOUT = timedelta(minutes=30)

_ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK")


@dataclass(frozen=True)
class DistContext:
    """This process's place among the training processes.

    Attributes:
        rank: global rank, 0 … ``world_size − 1``; rank 0 alone writes files and logs.
        world_size: number of processes (1: a plain single-process run).
        local_rank: rank on this machine; the process trains on ``cuda:local_rank``.
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    def __post_init__(self) -> None:
        if not (self.world_size >= 1 and 0 <= self.rank < self.world_size and self.local_rank >= 0):
            raise ValueError(f"rank {self.rank}, local rank {self.local_rank} and world size {self.world_size} do "
                             "not fit: need world_size >= 1, 0 <= rank < world_size, local_rank >= 0")  # fmt: skip

    @property
    def is_main(self) -> bool:
        """Rank 0: the process that writes checkpoints, logs, figures and the final model."""
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        """More than one process."""
        return self.world_size > 1

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> DistContext:
        """The context that ``torchrun`` describes in ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``.

        None of them set: one process. ``LOCAL_RANK`` defaults to ``RANK`` (one machine).

        Raises:
            ValueError: only some of ``RANK``/``WORLD_SIZE`` set, or values that are not integers that fit.
        """
        env = os.environ if environ is None else environ
        given = {k: env[k] for k in _ENV if k in env}
        if "RANK" not in given and "WORLD_SIZE" not in given:
            return cls()
        if "RANK" not in given or "WORLD_SIZE" not in given:
            raise ValueError(f"the environment sets {sorted(given)} but a distributed run needs RANK and WORLD_SIZE "
                             "(start it with torchrun)")  # fmt: skip
        try:
            values = {k: int(v) for k, v in given.items()}
        except ValueError:
            raise ValueError(f"RANK, WORLD_SIZE and LOCAL_RANK must be integers, got {given}") from None
        return cls(values["RANK"], values["WORLD_SIZE"], values.get("LOCAL_RANK", values["RANK"]))

    def device(self, name: str) -> torch.device:
        """This process's device for a ``train.device`` value.

        One process: :func:`~nmflowgan_aug.devices.resolve_device`. Several: ``cpu``, or ``cuda:local_rank``
        for ``auto`` (when CUDA is available) and ``cuda``.

        Raises:
            ValueError: an unknown name, CUDA requested without CUDA, ``cuda:N`` with several processes
                (one GPU cannot hold every rank), or fewer GPUs than processes on this machine.
        """
        device = resolve_device(name)
        if not self.enabled or device.type == "cpu":
            return device
        if device.index is not None:
            raise ValueError(f"train.device {name!r} names one GPU, but {self.world_size} processes train; use "
                             "'cuda' or 'auto' (each process takes cuda:LOCAL_RANK)")  # fmt: skip
        if self.local_rank >= torch.cuda.device_count():
            raise ValueError(f"local rank {self.local_rank} needs cuda:{self.local_rank}, but this machine has "
                             f"{torch.cuda.device_count()} GPU(s); start at most that many processes per node")  # fmt: skip
        return torch.device("cuda", self.local_rank)


def init_process_group(ctx: DistContext, device: torch.device) -> None:
    """Join the process group of a multi-process run (nothing for one process): NCCL on CUDA, gloo on the CPU.

    The rendezvous is torchrun's (``MASTER_ADDR``/``MASTER_PORT`` in the environment).
    """
    if not ctx.enabled:
        return
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo", rank=ctx.rank, world_size=ctx.world_size,
                            timeout=TIMEOUT, device_id=device if device.type == "cuda" else None)  # fmt: skip


def shutdown() -> None:
    """Leave the process group, if this process joined one."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def local_batch_size(batch_size: int, ctx: DistContext) -> int:
    """Each rank's share of the global ``train.batch_size``.

    Raises:
        ValueError: a global batch that the processes cannot share evenly, or shares below 2 samples
            (the meta encoders' BatchNorm needs 2 per rank).
    """
    if batch_size % ctx.world_size or batch_size // ctx.world_size < 2:
        raise ValueError(f"train.batch_size {batch_size} is the global batch and must split into equal shares of at "
                         f"least 2 samples over the {ctx.world_size} processes; use a multiple of "
                         f"{ctx.world_size} that is >= {2 * ctx.world_size}")  # fmt: skip
    return batch_size // ctx.world_size


def agree(ctx: DistContext, what: str, fn: Callable[[], T]) -> T:
    """Run ``fn()`` on every rank and let all ranks know whether it failed anywhere.

    One process: just ``fn()``. Several: after ``fn`` the ranks exchange their errors; a rank whose own
    ``fn`` raised re-raises its exception, the others raise :class:`RuntimeError` naming the failed rank
    and its message. So no rank goes on to wait in a collective that a failed rank never joins.

    Raises:
        Exception: ``fn``'s own exception on the ranks where it raised.
        RuntimeError: on the other ranks, when ``fn`` failed somewhere.
    """
    if not ctx.enabled:
        return fn()
    result, error = None, None
    try:
        result = fn()
    except Exception as err:  # noqa: BLE001 (shared with the other ranks, then re-raised)
        error = err
    messages: list[Any] = [None] * ctx.world_size
    dist.all_gather_object(messages, None if error is None else f"{type(error).__name__}: {error}")
    if error is not None:
        raise error
    failed = [(rank, message) for rank, message in enumerate(messages) if message is not None]
    if failed:
        rank, message = failed[0]
        raise RuntimeError(f"{what} failed on rank {rank} of {ctx.world_size}: {message}")
    return result


def broadcast_state_(module: torch.nn.Module, ctx: DistContext, buffers_only: bool = False) -> None:
    """Copy rank 0's parameters and buffers (or buffers only) into every rank's ``module``, in place."""
    if not ctx.enabled:
        return
    tensors = list(module.buffers()) if buffers_only else [*module.parameters(), *module.buffers()]
    with torch.no_grad():
        for tensor in tensors:
            dist.broadcast(tensor, src=0)


def sum_over_ranks(values: Sequence[float], ctx: DistContext, device: torch.device) -> list[float]:
    """Element-wise sum of ``values`` over the ranks (float64); ``values`` itself for one process."""
    if not ctx.enabled:
        return list(values)
    total = torch.tensor(list(values), dtype=torch.float64, device=device)
    dist.all_reduce(total)
    return total.tolist()


def mean_over_ranks(values: Sequence[float], ctx: DistContext, device: torch.device) -> list[float]:
    """Element-wise mean of ``values`` over the ranks; ``values`` itself for one process."""
    return [v / ctx.world_size for v in sum_over_ranks(values, ctx, device)]


def seed_rank(seed: int, epoch: int, ctx: DistContext) -> None:
    """Seed torch (all devices), NumPy and ``random`` for one rank and epoch of a multi-process run.

    Every rank draws its own dequantization noise, samples and augmentations (from
    ``numpy.random.SeedSequence([seed, epoch, rank])``), and a run resumed at an epoch boundary with
    the same number of processes draws what the uninterrupted run drew.
    """
    state = np.random.SeedSequence([seed, epoch, ctx.rank]).generate_state(2)
    torch.manual_seed(int(state[0]) << 32 | int(state[1]))
    np.random.seed(int(state[0]))
    random.seed(int(state[1]))


def reseed_worker(rank: int, worker_id: int) -> None:
    """DataLoader ``worker_init_fn`` (with ``functools.partial(reseed_worker, rank)``).

    Worker ``worker_id`` of every rank draws its own augmentations (the DataLoader seeds the workers of all
    ranks alike).
    """
    state = np.random.SeedSequence([torch.initial_seed() % 2**63, rank, worker_id]).generate_state(2)
    torch.manual_seed(int(state[0]) << 32 | int(state[1]))


class RankShare(Sampler[int]):
    """One rank's share of the indices a sampler draws.

    Positions ``rank``, ``rank + world_size``, ... of the draw, cut to a multiple of ``world_size`` (how
    :class:`torch.utils.data.DistributedSampler` splits with ``drop_last``).

    Every rank draws the same indices from an identically seeded ``draws`` sampler (a shuffle, or the weighted
    draw of :meth:`~nmflowgan_aug.training.sources.TrainingPatches.sampler`), so batch ``k`` of every rank
    together is batch ``k`` of one process drawing with a ``world_size`` times larger batch. The draw is read
    lazily, no further than the ranks use it, so it consumes its generator as one process's DataLoader would.

    Args:
        draws: the sampler of a single-process run.
        rank, world_size: this process and the number of processes.
    """

    def __init__(self, draws: Sampler[int], rank: int, world_size: int) -> None:
        self.draws, self.rank, self.world_size = draws, rank, world_size

    def __iter__(self) -> Iterator[int]:
        used = itertools.islice(self.draws, len(self) * self.world_size)
        return itertools.islice(used, self.rank, None, self.world_size)

    def __len__(self) -> int:
        return len(self.draws) // self.world_size


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _spawned(rank: int, fn: Callable, world_size: int, port: int, threads: int, args: tuple) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), LOCAL_RANK=str(rank),
                      WORLD_SIZE=str(world_size), LOCAL_WORLD_SIZE=str(world_size))  # fmt: skip
    torch.set_num_threads(threads)
    fn(*args)


def launch_local(fn: Callable, world_size: int, args: tuple = (), threads: int = 1, start_method: str = "spawn") -> None:
    """Run ``fn(*args)`` in ``world_size`` new processes on this machine, set up as ``torchrun`` would.

    Each process gets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, a free ``MASTER_PORT`` and ``threads``
    torch threads.

    For tests and benchmarks; train with ``torchrun``. With ``start_method="spawn"`` ``fn`` must be importable
    by name; ``"fork"`` starts at once (no imports), for CPU work in a parent that has not used CUDA.
    Returns when all processes have finished.

    Raises:
        torch.multiprocessing.ProcessRaisedException: a process raised (the others are stopped).
        torch.multiprocessing.ProcessExitedException: a process died.
    """
    torch.multiprocessing.start_processes(_spawned, args=(fn, world_size, _free_port(), threads, args),
                                          nprocs=world_size, start_method=start_method)  # fmt: skip

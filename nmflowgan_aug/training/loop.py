"""The NM-FlowGAN training loop: NLL for the flow, WGAN-GP for the U-Net (reference §3.2).

Each iteration takes one critic step; every ``critic_steps``-th iteration also takes a generator step
(NLL + adversarial loss). With ``nll_every_step`` the flow's NLL step is taken on every iteration (the
official code updates the flow only on generator iterations). A model without a U-Net
(``model.unet_depth: 0``) has no adversarial stage: every iteration is one NLL step of the flow, and
there is no critic. Training patches of resampled sources (``data.*.resampled``) reach the likelihood
through a :class:`~nmflowgan_aug.model.flow_layers.ResampledNoiseScale` owned by the trainer. Checkpoints are written atomically after
every epoch and hold everything needed to resume exactly, including the training time so far, so that
``train.max_minutes`` is one budget for the whole run however often it is resumed.

Several processes (``torchrun``, :mod:`~nmflowgan_aug.training.distributed`) train one model with
``DistributedDataParallel``: one wrapper over the generator side (:class:`~nmflowgan_aug.training.objective.
GeneratorObjective`: the flow, the U-Net and the resampled sources' scale, whichever exist) and one over
the critic. Each rank takes its share of every global batch (:class:`~nmflowgan_aug.training.distributed.
RankShare`), validates its share of the validation patches (the sums are reduced over the ranks) and
draws its own noise; rank 0 alone writes checkpoints and logs. A run with one process is exactly the
single-process trainer: nothing of the above is set up.
"""

from __future__ import annotations

import functools
import logging
import random
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, RandomSampler
from tqdm.auto import tqdm

from .._io import atomic_write
from ..model import Critic96, NMFlowGAN, critic_loss, generator_loss
from ..model.flow_layers import ResampledNoiseScale
from .amp import autocast, grad_scaler
from .config import TrainingConfig
from .distributed import (
    DistContext,
    RankShare,
    broadcast_state_,
    local_batch_size,
    mean_over_ranks,
    reseed_worker,
    seed_rank,
)
from .evaluation import evaluate_patches
from .objective import GeneratorObjective
from .sources import TrainingPatches

__all__ = ["CHECKPOINT_VERSION", "TrainState", "Trainer", "read_checkpoint"]

log = logging.getLogger(__name__)
#: Format of ``checkpoints/last.pt``. 2: only tensors and plain containers (read with ``weights_only=True``);
#: 3: also the training time so far (``seconds``); 4: ``resampled`` (the scale of resampled sources, or
#: ``None``), and ``critic``/``opt_c``/``sched_c`` are ``None`` for a model without a U-Net; 5: the fp16 loss
#: scalers ``scaler_g``/``scaler_c`` (``None`` unless ``train.amp: fp16``) and the number of processes that
#: wrote it (``world_size``; any number of processes can resume it).
CHECKPOINT_VERSION = 5
_CHECKPOINT_KEYS = ("version", "config", "model", "critic", "resampled", "opt_g", "opt_c", "sched_g", "sched_c",
                    "scaler_g", "scaler_c", "epoch", "step", "seconds", "history", "rng", "world_size")  # fmt: skip


@dataclass
class TrainState:
    """Progress counters saved in checkpoints.

    Attributes:
        epoch: finished epochs.
        step: finished iterations.
        seconds: wall-clock seconds spent in :meth:`Trainer.fit` so far, over all resumes.
    """

    epoch: int = 0
    step: int = 0
    seconds: float = 0.0


def _rng_state() -> dict:
    """The global RNG states as tensors and plain containers (NumPy's key array as a list of ints)."""
    kind, keys, *rest = np.random.get_state()  # rest: position, has_gauss, cached_gaussian
    state = {"torch": torch.get_rng_state(), "numpy": (kind, keys.tolist(), *rest), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    kind, keys, *rest = state["numpy"]
    np.random.set_state((kind, np.array(keys, dtype=np.uint32), *rest))
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _state(part) -> dict | None:
    """``part.state_dict()``, or ``None`` for a part this run does not have (or a loss scaler that is off)."""
    if isinstance(part, torch.amp.GradScaler) and not part.is_enabled():
        return None
    return None if part is None else part.state_dict()


def read_checkpoint(path: Path, config: TrainingConfig) -> dict:
    """Read a checkpoint written by :meth:`Trainer.save_checkpoint` and check that it can resume ``config``.

    The file is read with ``torch.load(weights_only=True)`` (no code runs while loading), on the CPU.
    Nothing else is read or written: call this before writing anything, then :meth:`Trainer.restore`.

    Raises:
        FileNotFoundError: missing file.
        ValueError: unreadable file, a checkpoint of another format version (the message names both
            versions), a checkpoint without the entries of its version, or one whose model configuration
            or critic width differs from ``config``'s.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise ValueError(
            f"cannot read checkpoint {path} with weights_only=True (format version {CHECKPOINT_VERSION} holds "
            f"only tensors and plain containers): {e}"
        ) from e
    version = ckpt.get("version") if isinstance(ckpt, dict) else None
    if version != CHECKPOINT_VERSION:
        raise ValueError(
            f"checkpoint {path} has format version {version!r}; this version of nmflowgan_aug reads "
            f"version {CHECKPOINT_VERSION} only"
        )
    missing = [key for key in _CHECKPOINT_KEYS if key not in ckpt]
    if missing:
        raise ValueError(f"checkpoint {path} lacks {missing}; version {CHECKPOINT_VERSION} has {list(_CHECKPOINT_KEYS)}")
    saved, ours = ckpt["config"]["model"], config.to_dict()["model"]
    if saved != ours:
        raise ValueError(f"checkpoint {path} was trained with a different model config: {saved} (this run: {ours})")
    saved_width, width = ckpt["config"]["critic"]["width"], config.critic.width
    if config.model.unet_depth > 0 and saved_width != width:
        raise ValueError(f"checkpoint {path} has a critic of width {saved_width}; this run's critic.width is {width}")
    return ckpt


class Trainer:
    """Trains an :class:`NMFlowGAN` on a patch dataset (dicts with ``clean``, ``noisy``, ``camera``, ``iso``).

    Args:
        config: the resolved training configuration.
        train_set: patch dataset (a ``PatchDataset``, or :class:`~nmflowgan_aug.training.sources.TrainingPatches`
            for several sources; it must be one when a source is resampled).
        val_set: optional validation patch dataset, evaluated after every epoch (NLL, KLD, AKLD).
        run_dir: where checkpoints go (``run_dir/checkpoints/last.pt``).
        dist: this process's place in a multi-process run (joined with
            :func:`~nmflowgan_aug.training.distributed.init_process_group`); default one process.

    Raises:
        ValueError: a training set with fewer patches than ``train.batch_size``, an unusable device, or a
            ``train.batch_size`` that the processes cannot share evenly.
    """

    def __init__(self, config: TrainingConfig, train_set, val_set, run_dir: Path, dist: DistContext | None = None) -> None:
        if len(train_set) < config.train.batch_size:
            raise ValueError(
                f"training set has {len(train_set)} patches, fewer than batch_size={config.train.batch_size}"
            )
        self.dist = dist or DistContext()
        self.local_batch_size = local_batch_size(config.train.batch_size, self.dist)
        self.config = config
        self.device = self.dist.device(config.train.device)
        self.train_set, self.val_set = train_set, val_set
        self.run_dir = Path(run_dir)
        torch.manual_seed(config.train.seed)
        np.random.seed(config.train.seed % 2**32)
        random.seed(config.train.seed)
        self.model = NMFlowGAN(config.model).to(self.device)
        #: Whether there is a U-Net, hence a critic and an adversarial stage.
        self.adversarial = self.model.unet is not None
        self.critic = Critic96(6, config.critic.width).to(self.device) if self.adversarial else None
        #: The noise scale of resampled training sources (``None`` when there are none).
        self.resampled_layer = (
            ResampledNoiseScale().to(self.device) if any(s.resampled for s in config.data.train_sources) else None
        )
        t = config.train
        flow_params = [*self.model.flow.parameters(), *(self.resampled_layer.parameters() if self.resampled_layer else [])]
        groups = [{"params": flow_params, "lr": t.flow_lr or t.lr}]
        if self.adversarial:
            groups.append({"params": self.model.unet.parameters()})
        self.opt_g = torch.optim.Adam(groups, lr=t.lr, betas=tuple(t.betas))
        self.sched_g = torch.optim.lr_scheduler.MultiStepLR(self.opt_g, t.lr_milestones, t.lr_gamma)
        self.opt_c = self.sched_c = None
        if self.adversarial:
            self.opt_c = torch.optim.Adam(self.critic.parameters(), lr=t.lr, betas=tuple(t.betas))
            self.sched_c = torch.optim.lr_scheduler.MultiStepLR(self.opt_c, t.lr_milestones, t.lr_gamma)
        #: Loss scalers of ``train.amp: fp16`` (pass-throughs otherwise).
        self.scaler_g = grad_scaler(self.device, t.amp)
        self.scaler_c = grad_scaler(self.device, t.amp) if self.adversarial else None
        self.state = TrainState()
        self.history: list[dict] = []
        #: The generator side of a step (:class:`GeneratorObjective`).
        self.objective = GeneratorObjective(self.model, self.resampled_layer, t.amp)
        self._generator = self._critic_net = self._synthesize = None  # see _prepare_step

    def _prepare_step(self) -> None:
        """Wrap the generator side and the critic in DDP (several processes) and compile (``train.compile``).

        Done once, at the first step: DDP's construction is a collective, kept out of the phases that
        :func:`~nmflowgan_aug.training.distributed.agree` guards, and it copies rank 0's weights to every rank.
        """
        if self._generator is not None:
            return
        t = self.config.train
        self._generator, self._critic_net, self._synthesize = self.objective, self.critic, self.model.synthesize_levels
        if self.dist.enabled:
            # The 1×1 conv weights of the SDL net get gradients with other (equivalent) strides than the weights:
            # DDP copies those few small tensors into its buckets instead of viewing them.
            warnings.filterwarnings("ignore", message="Grad strides do not match bucket view strides")
            # The U-Net takes no part in NLL-only iterations: DDP must look for unused parameters then.
            self._generator = DistributedDataParallel(self.objective, find_unused_parameters=self.adversarial)
            if self.adversarial:
                self._critic_net = DistributedDataParallel(self.critic)
        if t.compile:
            self._generator = torch.compile(self._generator, backend=t.compile_backend)
            self._synthesize = torch.compile(self._synthesize, backend=t.compile_backend)

    # ------------------------------------------------------------------ checkpoints
    @property
    def checkpoint_path(self) -> Path:
        """``run_dir/checkpoints/last.pt``, where :meth:`save_checkpoint` writes."""
        return self.run_dir / "checkpoints" / "last.pt"

    def save_checkpoint(self) -> Path:
        """Write model, critic, optimizers, schedulers, loss scalers, counters, history and RNG states atomically.

        Call on rank 0 only (with several processes, the RNG states are rank 0's).
        """
        ckpt = {
            "version": CHECKPOINT_VERSION,
            "config": self.config.to_dict(),
            "model": self.model.state_dict(),
            "critic": _state(self.critic),
            "resampled": _state(self.resampled_layer),
            "opt_g": self.opt_g.state_dict(),
            "opt_c": _state(self.opt_c),
            "sched_g": self.sched_g.state_dict(),
            "sched_c": _state(self.sched_c),
            "scaler_g": _state(self.scaler_g),
            "scaler_c": _state(self.scaler_c),
            "epoch": self.state.epoch,
            "step": self.state.step,
            "seconds": self.state.seconds,
            "history": self.history,
            "rng": _rng_state(),
            "world_size": self.dist.world_size,
        }
        return atomic_write(self.checkpoint_path, lambda p: torch.save(ckpt, p))

    def restore(self, ckpt: dict) -> None:
        """Continue from a checkpoint read (and checked) by :func:`read_checkpoint`.

        ``load_state_dict`` moves the tensors to the run's device. The checkpoint may come from a run with
        another number of processes: model and optimizer states are the same on every rank. A run with
        one process continues the RNG streams of the checkpoint; several processes seed theirs per epoch
        (:func:`~nmflowgan_aug.training.distributed.seed_rank`). Loss scalers start afresh when the
        checkpoint has none (it was not trained with fp16), and are dropped when this run does not use fp16.
        """
        self.model.load_state_dict(ckpt["model"])
        for name in ("critic", "resampled_layer", "opt_g", "opt_c", "sched_g", "sched_c"):
            part, saved = getattr(self, name), ckpt["resampled" if name == "resampled_layer" else name]
            if (part is None) != (saved is None):
                raise ValueError(f"the checkpoint {'has no' if saved is None else 'has a'} {name} state but this run "
                                 f"{'needs one' if saved is None else 'has none'}")  # fmt: skip
            if part is not None:
                part.load_state_dict(saved)
        for name in ("scaler_g", "scaler_c"):
            part, saved = getattr(self, name), ckpt[name]
            if part is not None and part.is_enabled() and saved is not None:
                part.load_state_dict(saved)
        self.state = TrainState(ckpt["epoch"], ckpt["step"], ckpt["seconds"])
        self.history = ckpt["history"]
        _set_rng_state(ckpt["rng"])
        log.info("resumed at epoch %d (step %d, %.1f min of training so far) from a checkpoint of %d process(es)",
                 self.state.epoch, self.state.step, self.state.seconds / 60, ckpt["world_size"])  # fmt: skip

    def load_checkpoint(self, path: Path) -> None:
        """Resume from a checkpoint written by :meth:`save_checkpoint` (:func:`read_checkpoint`, then :meth:`restore`).

        Raises:
            FileNotFoundError, ValueError: see :func:`read_checkpoint`.
        """
        self.restore(read_checkpoint(path, self.config))

    # ------------------------------------------------------------------ one iteration
    def _batch(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        clean = batch["clean"].to(self.device, non_blocking=True)
        noisy = batch["noisy"].to(self.device, non_blocking=True)
        cams = self.model.vocabulary.camera_codes(batch["camera"], clean.shape[0], self.device)
        isos = self.model.vocabulary.iso_values(batch["iso"], clean.shape[0], self.device)
        return clean, noisy, cams, isos

    def _resampled(self, batch: dict) -> torch.Tensor | None:
        """The batch's bool ``resampled`` flags on the device, or ``None`` when no source is resampled."""
        return batch["resampled"].to(self.device) if self.resampled_layer is not None else None

    def _critic_input(self, noisy_levels: torch.Tensor, clean_levels: torch.Tensor) -> torch.Tensor:
        """``concat(noise · critic.noise_scale, clean) / 256`` (reference §2.3, where the factor is 1)."""
        scale = self.model.levels
        noise = (noisy_levels - clean_levels) * (self.config.critic.noise_scale / scale)
        return torch.cat([noise, clean_levels / scale], dim=1)

    def _critic_step(self, clean, clean_levels, noisy_levels, cams, isos) -> float:
        """One critic update on real vs synthesized noise; returns the Wasserstein estimate."""
        amp = self.config.train.amp
        real = self._critic_input(noisy_levels, clean_levels)
        with torch.no_grad(), autocast(self.device, amp):
            fake = self._synthesize(clean, cams, isos)
        fake_input = self._critic_input(fake, clean_levels)
        with autocast(self.device, amp):
            loss_c, wasserstein = critic_loss(self._critic_net, real, fake_input, self.config.critic.gp_weight)
        self.opt_c.zero_grad(set_to_none=True)
        self.scaler_c.scale(loss_c).backward()
        self.scaler_c.step(self.opt_c)
        self.scaler_c.update()
        return float(wasserstein)

    def train_step(self, batch: dict) -> dict[str, float]:
        """One iteration. Returns the logged scalars (NLL in bits/dim, Wasserstein estimate, std of z).

        With several processes, ``batch`` is this rank's share of the global batch and the scalars are this
        rank's; the gradients are averaged over the ranks.
        """
        t = self.config.train
        self._prepare_step()
        clean, noisy, cams, isos = self._batch(batch)
        max_level = self.model.max_level
        clean_levels, noisy_levels = torch.round(clean * max_level), torch.round(noisy * max_level)
        self.state.step += 1
        if not self.adversarial or self.state.step <= t.flow_warmup_steps:
            logs = {}
            generator_turn = False
        else:
            logs = {"wasserstein": self._critic_step(clean, clean_levels, noisy_levels, cams, isos)}
            generator_turn = self.state.step % t.critic_steps == 0
            if not (generator_turn or t.nll_every_step):
                return logs

        # Generator step: NLL trains the flow, the adversarial loss trains the U-Net.
        z, log_p, fake = self._generator(clean, clean_levels, noisy_levels, cams, isos, self._resampled(batch),
                                         generator_turn)  # fmt: skip
        nll = -log_p.mean()
        loss_g = t.nll_weight * nll
        if generator_turn:
            with autocast(self.device, t.amp):
                loss_g = loss_g + t.gan_weight * generator_loss(self.critic, self._critic_input(fake, clean_levels))
        self.opt_g.zero_grad(set_to_none=True)
        self.scaler_g.scale(loss_g).backward()
        self.scaler_g.step(self.opt_g)
        self.scaler_g.update()
        logs["nll_bpd"] = float(nll.detach()) / (z[0].numel() * np.log(2.0))
        logs["std_z"] = float(z.detach().flatten(1).std(1).mean())
        return logs

    def _standardize_init(self, patches: int = 256) -> None:
        """Data-dependent initialisation of the flow scale on the first ``patches`` training patches.

        The patches are those of the global batches: rank 0 computes the initialisation, the other ranks
        receive it.
        """
        if self.dist.is_main:
            batches = []
            for batch in self._loader(whole=True):
                batches.append(self._batch(batch))
                if len(batches) * self.config.train.batch_size >= patches:
                    break
            clean, noisy, cams, isos = (torch.cat(parts) for parts in zip(*batches))
            levels = self.model.max_level
            self.model.train()
            self.model.standardize_latent_(torch.round(noisy * levels), torch.round(clean * levels), cams, isos)
        broadcast_state_(self.model, self.dist)

    # ------------------------------------------------------------------ epochs
    def _loader(self, whole: bool = False) -> DataLoader:
        """This epoch's batches: of this rank's share (``whole``: the global batches, as one process sees them)."""
        # The shuffle order depends only on (seed, epoch), so a resumed run sees the same batches.
        g = torch.Generator().manual_seed(self.config.train.seed + self.state.epoch)
        sampler = self.train_set.sampler(g) if isinstance(self.train_set, TrainingPatches) else None
        batch_size, worker_init = self.config.train.batch_size, None
        if self.dist.enabled and not whole:
            # The same draw as one process (the DataLoader takes its worker seed from g first in both), split.
            sampler = RankShare(sampler or RandomSampler(self.train_set, generator=g), self.dist.rank, self.dist.world_size)
            batch_size, worker_init = self.local_batch_size, functools.partial(reseed_worker, self.dist.rank)
        return DataLoader(
            self.train_set, batch_size=batch_size, shuffle=sampler is None, sampler=sampler,
            drop_last=True, generator=g, num_workers=self.config.data.num_workers,
            pin_memory=self.device.type == "cuda", worker_init_fn=worker_init,
        )  # fmt: skip

    def _budget_spent(self) -> bool:
        """Whether ``train.max_minutes`` of training (over all resumes, :attr:`TrainState.seconds`) are spent."""
        minutes = self.config.train.max_minutes
        return minutes is not None and self.state.seconds / 60 >= minutes

    def fit(self) -> list[dict]:
        """Train until ``train.epochs``, validating and checkpointing each epoch.

        With ``train.max_minutes``, no epoch starts once that much training time is spent, counted over
        the whole run: a resumed run continues the budget of the checkpoint, so resuming a run that its
        budget stopped trains no further epoch (raise ``train.max_minutes`` to train on). With several
        processes, rank 0's clock counts, the training scalars are averaged over the ranks and the
        validation metrics computed over all of them.

        Returns:
            The per-epoch history (mean training scalars, validation metrics, learning rate, seconds).
        """
        t, ctx = self.config.train, self.dist
        mark = time.monotonic()
        if t.standardize_init and self.state.step == 0:
            self._standardize_init()
        while self.state.epoch < t.epochs:
            if self._budget_spent():
                log.info("stopping after epoch %d: the time budget of %.1f min (train.max_minutes, counted over "
                         "all resumes) is spent", self.state.epoch, t.max_minutes)  # fmt: skip
                break
            if ctx.enabled:
                seed_rank(t.seed, self.state.epoch, ctx)
            epoch_start = time.monotonic()
            self.model.train()
            if self.critic is not None:
                self.critic.train()
            sums: dict[str, list[float]] = {}
            bar = tqdm(self._loader(), desc=f"epoch {self.state.epoch + 1}/{t.epochs}", leave=False,
                       disable=not ctx.is_main)  # fmt: skip
            for i, batch in enumerate(bar):
                if t.steps_per_epoch is not None and i >= t.steps_per_epoch:
                    break
                for k, v in self.train_step(batch).items():
                    sums.setdefault(k, []).append(v)
                bar.set_postfix({k: f"{v[-1]:.4g}" for k, v in sums.items()})
            self.sched_g.step()
            if self.sched_c is not None:
                with warnings.catch_warnings():
                    # During the flow-only warm-up the critic has not stepped yet; its schedule still counts
                    # epochs (milestones are epochs of the whole run), so torch's order warning is a false alarm.
                    warnings.filterwarnings("ignore", message=r"Detected call of `lr_scheduler.step\(\)` before")
                    self.sched_c.step()
            self.state.epoch += 1
            record = {"epoch": self.state.epoch, "step": self.state.step, "lr": self.sched_g.get_last_lr()[0]}
            means = [float(np.mean(v)) for v in sums.values()]
            record.update({f"train_{k}": v for k, v in zip(sums, mean_over_ranks(means, ctx, self.device))})
            # Critic steps update the flow's BatchNorm statistics on each rank's share: use rank 0's everywhere.
            broadcast_state_(self.model, ctx, buffers_only=True)
            if self.val_set is not None:
                record.update(evaluate_patches(self.model, self.val_set, self.device, max_patches=t.val_patches,
                                               ctx=ctx))  # fmt: skip
            now = time.monotonic()
            record["seconds"] = now - epoch_start
            self.state.seconds += now - mark
            mark = now
            if ctx.enabled:  # rank 0's clock decides when the budget is spent, for every rank
                record["seconds"], self.state.seconds = _from_rank0([record["seconds"], self.state.seconds], ctx)
            self.history.append(record)
            shown = {k: round(v, 5) for k, v in record.items() if isinstance(v, float)}
            log.info("epoch %d: %s", self.state.epoch, shown)
            if ctx.is_main:
                self.save_checkpoint()
        return self.history


def _from_rank0(values: list[float], ctx: DistContext) -> list[float]:
    """Rank 0's ``values`` on every rank."""
    shared = [values]
    torch.distributed.broadcast_object_list(shared, src=0)
    return shared[0]

"""Training on 2 processes (gloo on the CPU) against one process: writes, weights, resume across world sizes, failures.

The 2-process runs start from ``train_noise_model.py``'s ``main`` in processes spawned as torchrun would
(:func:`~nmflowgan_aug.training.distributed.launch_local`, one torch thread each), on the quickstart data
with a tiny model. Choice under test: the meta encoders' BatchNorm keeps per-process statistics (no
SyncBatchNorm: it has no CPU/gloo implementation, and the official model normalises over its batch).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from nmflowgan_aug.configs import config_path
from nmflowgan_aug.model.flow_layers import ConditionalLinearTable
from nmflowgan_aug.training.cli import main
from nmflowgan_aug.training.config import DataSourceConfig, load_config
from nmflowgan_aug.training.distributed import DistContext, RankShare, agree, launch_local, local_batch_size, seed_rank
from nmflowgan_aug.training.loop import Trainer
from nmflowgan_aug.training.sources import TrainingPatches

TINY = ["--set", "model.unet_depth=2", "--set", "model.unet_width=4", "--set", "model.flow_features=4",
        "--set", "critic.width=2", "--set", "train.batch_size=4", "--set", "train.steps_per_epoch=4",
        "--set", "train.critic_steps=2", "--set", "train.flow_warmup_steps=6", "--set", "train.val_patches=4",
        "--set", "train.standardize_init=false", "--set", "data.augment=false", "--device", "cpu"]
#: Relative tolerance of the CL2 tables (the per-camera/ISO noise gain and offset) after one epoch on 2
#: processes against 1: |Δw₂ − Δw₁| ≤ 2 % of |Δw₁|, Δw the change in that epoch. Measured: at most 0.3 % (the
#: per-process BatchNorm statistics of the meta encoders); an epoch on other batches: 42-110 %.
CL2_RTOL = 0.02
#: The epoch's mean training NLL (the same patches, averaged over the ranks) within this many bits/dim of one
#: process's; measured 1e-4; other batches: 4e-3.
NLL_ATOL = 1e-3
_WRITES = {"open", "os.rename", "os.remove", "os.rmdir", "os.mkdir", "os.chmod", "shutil.rmtree", "tempfile.mkstemp",
           "tempfile.mkdtemp"}  # fmt: skip


def _written(event: str, args: tuple, root: str) -> str | None:
    """The path under ``root`` that an audit event writes, if it writes one."""
    if event not in _WRITES:
        return None
    path = args[1] if event == "os.rename" else args[0]
    if event == "open":
        mode, flags = args[1], args[2]
        writes = any(c in mode for c in "wax+") if isinstance(mode, str) else bool(
            flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT))
        if not writes:
            return None
    if not isinstance(path, (str, bytes, os.PathLike)):
        return None
    path = os.path.realpath(os.fsdecode(path))
    return path if path.startswith(root) else None


def _rank_main(argv: list[str], run_dir: str, out: str, fail_on_rank_1: bool = False) -> None:
    """One spawned process: ``main(argv)``.

    It records what it writes under ``run_dir``, its final weights and its error (in ``out``, outside the
    run).
    """
    rank = int(os.environ["RANK"])
    root, written = os.path.realpath(run_dir), []

    def audit(event, args):
        if (path := _written(event, args, root)) is not None:
            written.append(f"{event} {path}")

    sys.addaudithook(audit)
    fit = Trainer.fit

    def fit_and_keep_weights(self):
        history = fit(self)
        torch.save({"model": self.model.state_dict(), "critic": self.critic.state_dict()}, f"{out}/weights{rank}.pt")
        return history

    Trainer.fit = fit_and_keep_weights
    if fail_on_rank_1 and rank == 1:
        Trainer.__init__ = lambda *a, **k: (_ for _ in ()).throw(OSError("disk unreadable on rank 1"))
    error = None
    try:
        main(argv)
    except Exception as err:
        error = f"{type(err).__name__}: {err}"
        raise
    finally:
        Path(f"{out}/rank{rank}.json").write_text(json.dumps({"written": written, "error": error}))


def _tiny_config():
    """The quickstart config with TINY's overrides (what the runs below train)."""
    sets = [TINY[i + 1] for i, arg in enumerate(TINY) if arg == "--set"]
    return load_config(config_path("quickstart"), [*sets, "train.device=cpu"])


def _state(path: Path) -> dict:
    return torch.load(path / "checkpoints" / "last.pt", weights_only=True)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Epoch 1 on one process; then epoch 2 resumed on 2 processes (``ddp``) and on one (``single``)."""
    root = tmp_path_factory.mktemp("dist")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert main(TINY + ["--output-dir", str(root), "--name", "ddp", "--set", "train.epochs=1"]) == 0
        shutil.copytree(root / "ddp", root / "single")
        first = _state(root / "ddp")
        # A DataLoader worker in each rank (the HDF5 patch files are opened lazily, once per worker); the batch order
        # depends on whether there are workers (tqdm.auto starts a throwaway iterator), so both runs have one.
        epoch_2 = ["--set", "train.epochs=2", "--resume", "--set", "data.num_workers=1"]
        (root / "out").mkdir()
        argv = TINY + ["--output-dir", str(root), "--name", "ddp", *epoch_2]
        launch_local(_rank_main, 2, (argv, str(root / "ddp"), str(root / "out")), start_method="fork")
        assert main(TINY + ["--output-dir", str(root), "--name", "single", *epoch_2]) == 0
    finally:
        torch.set_num_threads(threads)
    return root, first


def test_two_processes_finish_and_only_rank_0_writes(runs):
    root, _ = runs
    ranks = [json.loads((root / "out" / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["error"] for r in ranks] == [None, None]
    assert ranks[1]["written"] == []
    written = "\n".join(ranks[0]["written"])
    for name in ("checkpoints/last.pt", "model", "metrics.json", "config.yaml", "samples.png", "conditions.png"):
        assert f"{root / 'ddp' / name}" in written, name
    ckpt = _state(root / "ddp")
    assert ckpt["world_size"] == 2 and ckpt["epoch"] == 2 and ckpt["step"] == 8
    assert json.loads((root / "ddp" / "metrics.json").read_text())["world_size"] == 2


def test_both_ranks_end_with_the_same_weights(runs):
    root, _ = runs
    w0, w1 = (torch.load(root / "out" / f"weights{r}.pt", weights_only=True) for r in (0, 1))
    for part in ("model", "critic"):
        for k, v in w0[part].items():
            assert torch.equal(v, w1[part][k]), (part, k)
    saved = _state(root / "ddp")["model"]
    assert all(torch.equal(v, saved[k]) for k, v in w0["model"].items())


def test_weights_match_one_process_with_the_same_global_batch(runs):
    """Same start, same patches in the same global batches: the CL2 tables move alike (see CL2_RTOL)."""
    root, first = runs
    two, one = _state(root / "ddp"), _state(root / "single")
    model = Trainer(_tiny_config(), range(4), None, root / "unused").model
    tables = [name for name, m in model.named_modules() if isinstance(m, ConditionalLinearTable)]
    assert len(tables) == 2
    for table in tables:
        for key in (f"{table}.log_scale", f"{table}.bias"):
            step = one["model"][key] - first["model"][key]
            assert step.norm() > 0, key
            assert (two["model"][key] - one["model"][key]).norm() <= CL2_RTOL * step.norm(), key
    assert abs(two["history"][-1]["train_nll_bpd"] - one["history"][-1]["train_nll_bpd"]) < NLL_ATOL
    assert two["history"][0] == one["history"][0] == first["history"][0]  # epoch 1: one process, both


def test_a_two_process_checkpoint_resumes_exactly_in_one_process(runs):
    root, _ = runs
    ckpt = _state(root / "ddp")
    trainer = Trainer(_tiny_config(), range(4), None, root / "unused")
    trainer.load_checkpoint(root / "ddp" / "checkpoints" / "last.pt")
    for name in ("model", "critic", "opt_g", "opt_c"):
        restored = getattr(trainer, name).state_dict()
        pairs = zip(restored["state"].values(), ckpt[name]["state"].values()) if name.startswith("opt") else (
            (restored[k], v) for k, v in ckpt[name].items())
        for a, b in pairs:
            for x, y in zip(a.values(), b.values()) if isinstance(a, dict) else [(a, b)]:
                assert torch.equal(x, y), name
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert main(TINY + ["--output-dir", str(root), "--name", "ddp", "--set", "train.epochs=3", "--resume"]) == 0
    finally:
        torch.set_num_threads(threads)
    after = _state(root / "ddp")
    assert after["world_size"] == 1 and after["epoch"] == 3 and after["step"] == 12
    assert after["history"][:2] == ckpt["history"]


@pytest.fixture
def manifest(tmp_path):
    """Two 96×96 pairs of the quickstart camera SimCam-A in a pairs manifest (cheap to cut)."""
    rng = np.random.default_rng(0)
    for pair_id in ("a", "b"):
        (tmp_path / "data" / pair_id).mkdir(parents=True)
        for kind in ("clean", "noisy"):
            image = rng.integers(0, 256, (96, 96, 3), dtype=np.uint8)
            Image.fromarray(image).save(tmp_path / "data" / pair_id / f"{kind}.png")
    (tmp_path / "data" / "pairs.csv").write_text("id,camera,iso\na,SimCam-A,100\nb,SimCam-A,800\n")
    return tmp_path / "data" / "pairs.csv"


def test_a_failure_on_one_rank_fails_every_rank_and_a_new_run_leaves_nothing(tmp_path, manifest):
    """Rank 1 fails while building its trainer, after rank 0 cut the patches.

    Rank 0 raises too (no hang) and removes what it wrote.
    """
    argv = TINY + ["--data", str(manifest), "--set", f"data.val.path={manifest}", "--output-dir", str(tmp_path / "runs"),
                   "--name", "new"]  # fmt: skip
    (tmp_path / "out").mkdir()
    with pytest.raises(torch.multiprocessing.ProcessRaisedException, match="disk unreadable on rank 1"):
        launch_local(_rank_main, 2, (argv, str(tmp_path / "runs"), str(tmp_path / "out"), True), start_method="fork")
    errors = [json.loads((tmp_path / "out" / f"rank{r}.json").read_text())["error"] for r in (0, 1)]
    assert errors[1] == "OSError: disk unreadable on rank 1"
    assert errors[0] == "RuntimeError: starting the training failed on rank 1 of 2: OSError: disk unreadable on rank 1"
    assert not (tmp_path / "runs" / "new").exists()


# ---------------------------------------------------------------------------------------------- the parts, one process


def test_context_from_torchruns_environment():
    assert DistContext.from_env({}) == DistContext(0, 1, 0) and not DistContext().enabled
    ctx = DistContext.from_env({"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1"})
    assert (ctx.rank, ctx.world_size, ctx.local_rank, ctx.enabled, ctx.is_main) == (3, 4, 1, True, False)
    assert DistContext.from_env({"RANK": "1", "WORLD_SIZE": "2"}).local_rank == 1
    with pytest.raises(ValueError, match=r"sets \['RANK'\] but a distributed run needs RANK and WORLD_SIZE"):
        DistContext.from_env({"RANK": "0"})
    with pytest.raises(ValueError, match="must be integers"):
        DistContext.from_env({"RANK": "a", "WORLD_SIZE": "2"})
    with pytest.raises(ValueError, match="rank 2, local rank 0 and world size 2 do not fit"):
        DistContext(2, 2, 0)


def test_devices_of_the_processes():
    two = DistContext(1, 2, 1)
    assert two.device("cpu") == torch.device("cpu") and DistContext().device("cpu") == torch.device("cpu")
    if not torch.cuda.is_available():
        assert two.device("auto") == torch.device("cpu")
        with pytest.raises(ValueError, match="CUDA is not available"):
            two.device("cuda")
    elif torch.cuda.device_count() < 2:
        with pytest.raises(ValueError, match="needs cuda:1, but this machine has 1 GPU"):
            two.device("cuda")
    else:
        assert two.device("cuda") == torch.device("cuda", 1)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_one_gpu_for_every_process_is_refused():
    with pytest.raises(ValueError, match="'cuda:0' names one GPU, but 2 processes train"):
        DistContext(0, 2, 0).device("cuda:0")


def test_the_global_batch_is_shared_evenly():
    assert local_batch_size(128, DistContext(0, 8)) == 16 and local_batch_size(5, DistContext()) == 5
    for batch, world in ((6, 4), (4, 4)):
        with pytest.raises(ValueError, match=f"train.batch_size {batch} is the global batch and must split into equal "
                                             f"shares of at least 2 samples over the {world} processes"):
            local_batch_size(batch, DistContext(0, world))


def test_rank_shares_of_a_draw_are_the_draws_global_batches():
    """Every rank takes positions rank, rank + N, ... of the same draw.

    Batch k of all ranks together is batch k of one process with an N times larger batch, for the plain
    shuffle and for the weighted draw of several sources.
    """
    sources = TrainingPatches([range(10), range(100, 113)], [DataSourceConfig("a", weight=3.0), DataSourceConfig("b")])
    for draw in (lambda: torch.utils.data.RandomSampler(range(23), generator=torch.Generator().manual_seed(4)),
                 lambda: sources.sampler(torch.Generator().manual_seed(4))):  # fmt: skip
        whole = list(draw())
        shares = [list(RankShare(draw(), rank, 2)) for rank in (0, 1)]
        assert [len(share) for share in shares] == [11, 11] == [len(RankShare(draw(), r, 2)) for r in (0, 1)]
        local = [[share[i:i + 2] for i in range(0, 10, 2)] for share in shares]  # local batches of 2
        for k in range(5):  # global batches of 4
            assert sorted(local[0][k] + local[1][k]) == sorted(whole[4 * k:4 * k + 4])


def test_ranks_seed_their_own_streams_per_epoch():
    draws = {}
    for rank, epoch in ((0, 0), (1, 0), (0, 1), (0, 0)):
        seed_rank(7, epoch, DistContext(rank, 2))
        draws.setdefault((rank, epoch), []).append((torch.rand(3), np.random.rand(), __import__("random").random()))
    (a, again), b, c = draws[(0, 0)], draws[(1, 0)][0], draws[(0, 1)][0]
    assert torch.equal(a[0], again[0]) and a[1:] == again[1:]
    assert all(not torch.equal(a[0], other[0]) and a[1] != other[1] and a[2] != other[2] for other in (b, c))


def test_agree_on_one_process_is_the_call_itself():
    assert agree(DistContext(), "adding", lambda: 1 + 1) == 2
    with pytest.raises(KeyError, match="mine"):
        agree(DistContext(), "failing", lambda: {}["mine"])

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

from nmflowgan_aug.model.flow_layers import ConditionalLinearTable
from nmflowgan_aug.training.cli import DEFAULT_CONFIG, main
from nmflowgan_aug.training.config import load_config
from nmflowgan_aug.training.distributed import launch_local
from nmflowgan_aug.training.loop import Trainer

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
    """One spawned process: ``main(argv)``, recording what it writes under ``run_dir``, its final weights and
    its error (in ``out``, outside the run)."""
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
    return load_config(DEFAULT_CONFIG, [*sets, "train.device=cpu"])


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
        argv = TINY + ["--output-dir", str(root), "--name", "ddp", "--set", "train.epochs=2", "--resume"]
        (root / "out").mkdir()
        launch_local(_rank_main, 2, (argv, str(root / "ddp"), str(root / "out")), start_method="fork")
        assert main(TINY + ["--output-dir", str(root), "--name", "single", "--set", "train.epochs=2", "--resume"]) == 0
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
    """Rank 1 fails while building its trainer, after rank 0 cut the patches: rank 0 raises too (no hang)
    and removes what it wrote."""
    argv = TINY + ["--data", str(manifest), "--set", f"data.val.path={manifest}", "--output-dir", str(tmp_path / "runs"),
                   "--name", "new"]  # fmt: skip
    (tmp_path / "out").mkdir()
    with pytest.raises(torch.multiprocessing.ProcessRaisedException, match="disk unreadable on rank 1"):
        launch_local(_rank_main, 2, (argv, str(tmp_path / "runs"), str(tmp_path / "out"), True), start_method="fork")
    errors = [json.loads((tmp_path / "out" / f"rank{r}.json").read_text())["error"] for r in (0, 1)]
    assert errors[1] == "OSError: disk unreadable on rank 1"
    assert errors[0] == "RuntimeError: starting the training failed on rank 1 of 2: OSError: disk unreadable on rank 1"
    assert not (tmp_path / "runs" / "new").exists()

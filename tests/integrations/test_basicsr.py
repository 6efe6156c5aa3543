"""BasicSR plug-in: a real CPU training run validated on real SIDD blocks, plus its parts."""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from nmflowgan_aug import SIDD_VOCABULARY, NMFlowGAN, NMFlowGANConfig

REPO = Path(__file__).resolve().parents[2]
NO_BASICSR = importlib.util.find_spec("basicsr") is None
needs_basicsr = pytest.mark.skipif(NO_BASICSR, reason="basicsr not installed (pip install nmflowgan_aug[basicsr])")
pytestmark = pytest.mark.filterwarnings("ignore:Please import `convolve`:DeprecationWarning")  # inside basicsr 1.4.2


def test_import_without_basicsr_names_the_extra():
    code = "import sys; sys.modules['basicsr'] = None; import nmflowgan_aug.integrations.basicsr"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "ImportError" in result.stderr and "pip install nmflowgan_aug[basicsr]" in result.stderr


def _documented_commands(docs: str, shared_data: Path, model_dir: Path) -> list[list[str]]:
    """The bash example of the README's Integrations section, made runnable here (paths, tiny model and network)."""
    block = re.search(r"```bash\n(.*?)```", docs, flags=re.S).group(1)
    commands = []
    for line in block.replace("\\\n", " ").splitlines():
        args = shlex.split(line.replace("../shared/data", str(shared_data)))
        if args[0] == "nmflowgan-basicsr-train":  # console scripts: same entry points, maybe not installed here
            args = [sys.executable, "-m", "nmflowgan_aug.integrations.basicsr.train", *args[1:]]
            args += [f"nmflowgan:model={model_dir}", "network_g:num_feat=8", "network_g:num_layers=3"]
        elif args[0] == "nmflowgan-basicsr-test":
            args = [sys.executable, "-m", "nmflowgan_aug.integrations.basicsr.test", *args[1:]]
            args += ["network_g:num_feat=8", "network_g:num_layers=3"]
        elif args[0] == "python":
            args[0] = sys.executable
        commands.append(args)
    return commands


@needs_basicsr
def test_documented_training_and_test_runs_score_real_sidd_blocks(shared_data, tiny_model_dir, tmp_path, monkeypatch, integration_docs):
    from nmflowgan_aug.data import paired_folders

    folders, train, test = _documented_commands(integration_docs, shared_data, tiny_model_dir)
    assert folders[0] == "nmflowgan-paired-folders"  # = nmflowgan_aug.data.paired_folders:main (pyproject.toml)
    monkeypatch.chdir(tmp_path)
    assert paired_folders.main(folders[1:]) == 0  # in-process: same code as the console script, less start-up
    for command in (train, test):
        result = subprocess.run(
            command, cwd=tmp_path, capture_output=True, text=True, timeout=300,
            env={**os.environ, "OMP_NUM_THREADS": "1",
                 "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])},
        )  # PYTHONPATH: the subprocess imports this checkout's package, whatever is installed
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert sorted(p.name for p in (tmp_path / "datasets/SIDD_val/lq").iterdir()) == [f"0{i}.png" for i in range(5)]
    run = tmp_path / "experiments" / "smoke"
    assert (run / "models" / "net_g_latest.pth").is_file()
    log = next(run.glob("train_smoke_*.log")).read_text()
    assert "Model [NMFlowGANDenoiseModel] is created" in log and "Dataset [NMFlowGANGTDataset]" in log
    psnr = [float(v) for v in re.findall(r"# psnr: ([0-9.]+)", log)]
    assert len(psnr) >= 2 and all(0 < v < 100 for v in psnr)  # validated on the 5 real blocks
    test_log = next((tmp_path / "results" / "smoke").glob("test_smoke_*.log")).read_text()
    assert "Number of test images in SIDD_val: 5" in test_log
    assert [float(v) for v in re.findall(r"# psnr: ([0-9.]+)", test_log)] == pytest.approx(psnr[-1:], abs=1e-3)


@needs_basicsr
def test_dataset_from_manifest(shared_data):
    from nmflowgan_aug.integrations.basicsr import NMFlowGANGTDataset

    manifest = str(shared_data / "sidd_native/pairs.csv")
    opt = {"meta_info_file": manifest, "meta_info_ids": ["05", "16"], "gt_size": 48, "phase": "train"}
    ds = NMFlowGANGTDataset(opt)
    item = ds[0]  # row 05: G4, ISO 800
    assert item["gt"].shape == (3, 48, 48) and item["gt"].dtype == torch.float32
    assert 0 <= float(item["gt"].min()) and float(item["gt"].max()) <= 1
    assert (item["camera"], item["iso"]) == ("G4", 800) and item["gt_path"].endswith("clean.png")
    unknown = ds[1]  # row 16: camera unknown -> marked unknown, drawn by the model from its nmflowgan block
    assert unknown["camera"] == "" and isinstance(unknown["iso"], int)
    batch = torch.utils.data.default_collate([item, unknown])  # what BasicSR's DataLoader hands the model
    assert batch["camera"] == ["G4", ""] and batch["iso"].tolist() == [800, unknown["iso"]]
    with pytest.raises(ValueError, match=r"\['iso_range'\] belong to the top-level 'nmflowgan' block"):
        NMFlowGANGTDataset({**opt, "iso_range": [100, 800]})
    full = NMFlowGANGTDataset({**opt, "phase": "val"})[0]["gt"]
    assert full.shape == (3, 512, 512)


@needs_basicsr
def test_dataset_reads_sidd_scene_names_and_checks_the_vocabulary(shared_data):
    from nmflowgan_aug.integrations.basicsr import NMFlowGANGTDataset

    ds = NMFlowGANGTDataset({"dataroot_gt": str(shared_data / "sidd_small_256"), "gt_size": 32})
    assert len(ds) == 160 and all(camera and iso for _, camera, iso in ds.entries)
    assert not any("NOISY" in p.name.upper() for p, _, _ in ds.entries)
    with pytest.raises(ValueError, match="unsupported ISO"):
        NMFlowGANGTDataset({"dataroot_gt": str(shared_data / "sidd_small_256"), "isos": [100, 400, 800, 1600, 3200]})
    with pytest.raises(FileNotFoundError):
        NMFlowGANGTDataset({"dataroot_gt": str(shared_data / "missing")})


def _model_opt(model_dir: Path, **nmflowgan) -> dict:
    return {
        "num_gpu": 0, "is_train": True, "dist": False, "scale": 1,
        "network_g": {"type": "NMFlowGANDnCNN", "num_feat": 8, "num_layers": 3},
        "path": {}, "nmflowgan": {"model": str(model_dir), **nmflowgan},
        "train": {
            "optim_g": {"type": "Adam", "lr": 1e-4},
            "scheduler": {"type": "MultiStepLR", "milestones": [10], "gamma": 0.5},
            "pixel_opt": {"type": "MSELoss", "loss_weight": 1.0},
        },
    }


@needs_basicsr
def test_model_feed_data(tiny_model_dir):
    from nmflowgan_aug.integrations.basicsr import NMFlowGANDenoiseModel

    model = NMFlowGANDenoiseModel(_model_opt(tiny_model_dir))
    gt = torch.rand(2, 3, 16, 16)
    model.feed_data({"gt": gt, "camera": ["GP", "G4"], "iso": torch.tensor([800, 3200])})
    assert model.lq.shape == gt.shape and not torch.equal(model.lq, gt) and not model.lq.requires_grad
    assert torch.equal(model.lq * 255, torch.round(model.lq * 255))  # quantized to 8-bit levels
    model.feed_data({"gt": gt})  # no metadata: drawn
    assert model.lq.shape == gt.shape
    lq = torch.rand(1, 3, 16, 16)
    model.feed_data({"lq": lq, "gt": gt[:1]})  # real pairs (validation) are used as given
    assert torch.equal(model.lq, lq)
    model.optimize_parameters(1)
    with pytest.raises(ValueError, match="unknown nmflowgan option"):
        NMFlowGANDenoiseModel(_model_opt(tiny_model_dir, weights="x"))


@needs_basicsr
def test_model_draws_unknown_rows_from_the_nmflowgan_block(tiny_model_dir):
    """Issue 12 item 3: `nmflowgan: {iso_range, cameras, strength}` is honoured for what the dataset does not know."""
    from nmflowgan_aug.integrations.basicsr import NMFlowGANDenoiseModel

    model = NMFlowGANDenoiseModel(
        _model_opt(tiny_model_dir, cameras=["S6"], iso_range=[3200, 6400], strength=[0.5, 0.6], quantize=False)
    )
    gt = torch.full((4, 3, 16, 16), 0.5)
    data = {"gt": gt, "camera": ["", "GP", "", "IP"], "iso": torch.tensor([0, 800, 100, 0])}
    torch.manual_seed(3)
    model.feed_data(data)
    torch.manual_seed(3)  # replay by hand: one draw for the unknown rows, then the strength, then the noise
    drawn = model.noise_sampler.sample(model.noise_model.vocabulary, 4)
    assert drawn.camera_codes.tolist() == [2] * 4 and set(drawn.iso_values.tolist()) <= {3200, 6400}
    cameras = ["S6", "GP", "S6", "IP"]
    isos = torch.tensor([int(drawn.iso_values[0]), 800, 100, int(drawn.iso_values[3])])
    strength = model.noise_sampler.sample_strength(4)
    assert ((strength >= 0.5) & (strength <= 0.6)).all()
    expected = model.noise_model.sample_conditioned(
        gt, model.noise_model.encode_conditions(cameras, isos, 4, gt.device), None, strength
    )
    assert torch.equal(model.lq, expected)
    with pytest.raises(ValueError, match="unsupported ISO"):
        NMFlowGANDenoiseModel(_model_opt(tiny_model_dir, isos=[12800]))


@needs_basicsr
def test_model_maps_camera_names_with_the_noise_models_own_vocabulary(tmp_path):
    """A noise model whose camera order differs from SIDD's still gets the cameras the dataset named."""
    from nmflowgan_aug.integrations.basicsr import NMFlowGANDenoiseModel

    torch.manual_seed(0)
    config = NMFlowGANConfig(cameras=("G4", "N6", "S6", "GP", "IP"), isos=SIDD_VOCABULARY.isos, iso_encoding="log",
                             flow_features=4, unet_depth=2, unet_width=4)
    noise_model = NMFlowGAN(config)
    with torch.no_grad():  # a condition-dependent model: camera rows of the CL2 tables differ
        for p in noise_model.flow.parameters():
            p.normal_(0, 0.3)
    model = NMFlowGANDenoiseModel(_model_opt(noise_model.save_pretrained(tmp_path / "reordered"), quantize=False))
    gt, isos = torch.rand(2, 3, 16, 16), torch.tensor([800, 3200])
    torch.manual_seed(1)
    model.feed_data({"gt": gt, "camera": ["GP", "IP"], "iso": isos})
    torch.manual_seed(1)
    assert torch.equal(model.lq, model.noise_model.sample(gt, [3, 4], isos))  # GP, IP in this model's order
    torch.manual_seed(1)
    model.feed_data({"gt": gt, "camera": torch.tensor([1, 0]), "iso": isos})  # SIDD's codes for GP, IP
    assert not torch.equal(model.lq, model.noise_model.sample(gt, [3, 4], isos))


@needs_basicsr
def test_registrations_arch_and_shim():
    from basicsr.archs import build_network
    from basicsr.utils.registry import ARCH_REGISTRY, DATASET_REGISTRY, MODEL_REGISTRY

    import nmflowgan_aug.integrations.basicsr.gt_dataset as gt_dataset

    assert "NMFlowGANGTDataset" in DATASET_REGISTRY and "NMFlowGANDenoiseModel" in MODEL_REGISTRY
    importlib.reload(gt_dataset)  # a second import must not trip basicsr's duplicate-name assertion
    net = build_network({"type": "NMFlowGANDnCNN", "num_layers": 17})
    assert sum(isinstance(m, torch.nn.Conv2d) for m in net.modules()) == 17
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules()) == 15
    x = torch.rand(1, 3, 8, 8)
    assert net(x).shape == x.shape and "NMFlowGANDnCNN" in ARCH_REGISTRY
    from torchvision.transforms.functional_tensor import rgb_to_grayscale  # the shim

    assert rgb_to_grayscale(x, num_output_channels=1).shape == (1, 1, 8, 8)


@needs_basicsr
def test_each_rank_draws_its_own_noise_on_its_own_device(tiny_model_dir, monkeypatch):
    """Under `--launcher pytorch` BasicSR seeds rank r with manual_seed + r: the ranks' noise differs.

    Each rank also loads the noise model on the GPU it was given (CUDA part: the device resolution, with a
    stand-in GPU index).
    """
    from basicsr.utils import set_random_seed

    from nmflowgan_aug.integrations.basicsr import NMFlowGANDenoiseModel
    from nmflowgan_aug.integrations.basicsr.denoise_model import _rank_device

    model = NMFlowGANDenoiseModel(_model_opt(tiny_model_dir))
    assert model.noise_device == torch.device("cpu") == next(model.noise_model.parameters()).device
    data = {"gt": torch.rand(2, 3, 16, 16)}  # camera, ISO and noise drawn
    lq = []
    for rank in (0, 1, 0):
        set_random_seed(10 + rank)  # basicsr.utils.options.parse_options: set_random_seed(seed + opt['rank'])
        model.feed_data(data)
        lq.append(model.lq)
    assert torch.equal(lq[0], lq[2]) and not torch.equal(lq[0], lq[1])
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 3)  # what init_dist's set_device(rank % n) selects
    assert _rank_device(torch.device("cuda")) == torch.device("cuda", 3)
    assert _rank_device(torch.device("cuda", 1)) == torch.device("cuda", 1)

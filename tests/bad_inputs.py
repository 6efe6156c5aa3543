"""The bad-input catalogue: each case is one line, a call that must fail with a given exception type.

``tests/test_bad_inputs.py`` runs every case and checks that the README's reliability table (between
``<!-- bad-inputs:start -->`` and ``<!-- bad-inputs:end -->``) is the one :func:`render_table` writes;
after adding a case, regenerate the table with::

    python tests/bad_inputs.py --write README.md

A case is ``Case(area, what, call, error)``: ``call(ctx)`` gets a :class:`Context` (a tiny log-ISO
model, its folder, a scratch folder) and must raise ``error``. Inputs are fixed (no random values), so
the messages, and the table, are the same on every run and machine.
"""

from __future__ import annotations

import argparse
import atexit
import json
import re
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import PIL.Image
import torch

if __name__ == "__main__":  # run as a script: import the package of this checkout
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nmflowgan_aug import SIDD_VOCABULARY, ConditionSampler, NMFlowGAN, NMFlowGANConfig, add_camera_noise
from nmflowgan_aug.condition_sampler import strength_values
from nmflowgan_aug.pretrained import PretrainedWeights
from nmflowgan_aug.pretrained._loading import weights_folder

START, END = "<!-- bad-inputs:start -->", "<!-- bad-inputs:end -->"
README = Path(__file__).resolve().parents[1] / "README.md"


class Context:
    """What the cases need, made once: a tiny SIDD-vocabulary model (log-ISO) saved in a scratch folder."""

    def __init__(self) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="nmflowgan_bad_inputs_"))
        atexit.register(shutil.rmtree, self.tmp, True)

    @cached_property
    def model(self) -> NMFlowGAN:
        return NMFlowGAN.from_pretrained(self.model_dir).requires_grad_(False)

    @cached_property
    def model_dir(self) -> Path:
        config = NMFlowGANConfig(cameras=SIDD_VOCABULARY.cameras, isos=SIDD_VOCABULARY.isos, iso_encoding="log",
                                 flow_features=4, unet_depth=2, unet_width=4)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            return NMFlowGAN(config).save_pretrained(self.tmp / "tiny")

    def copy_of_model(self, name: str) -> Path:
        """A fresh copy of the tiny model's folder, to be damaged by a case."""
        return self.model.save_pretrained(self.tmp / name, overwrite=True)

    @cached_property
    def manifest(self) -> Path:
        """A pairs manifest of two 32×32 pairs (GP ISO 800, IP ISO 100) with fixed pixel values."""
        root = self.tmp / "pairs"
        for pair_id, value in (("a", 60), ("b", 120)):
            (root / pair_id).mkdir(parents=True)
            for kind, offset in (("clean", 0), ("noisy", 3)):
                image = np.full((32, 32, 3), value + offset, np.uint8)
                PIL.Image.fromarray(image).save(root / pair_id / f"{kind}.png")
        (root / "pairs.csv").write_text("id,camera,iso\na,GP,800\nb,IP,100\n")
        return root / "pairs.csv"

    def folder_with(self, name: str, *files: str) -> Path:
        """A scratch folder holding empty files."""
        folder = self.tmp / name
        folder.mkdir(exist_ok=True)
        for f in files:
            (folder / f).write_text("")
        return folder

    def noise(self, **kwargs):
        from nmflowgan_aug.integrations.torchvision_transform import NMFlowGANNoise

        return NMFlowGANNoise(self.model, **kwargs)

    def kornia(self, **kwargs):
        from nmflowgan_aug.integrations.kornia_augmentation import RandomNMFlowGANNoise

        return RandomNMFlowGANNoise(self.model, **kwargs)


@dataclass(frozen=True)
class Case:
    """One bad input: ``call(ctx)`` must raise ``error``."""

    area: str
    what: str
    call: Callable[[Context], object]
    error: type[BaseException]


def _img(*shape: int, value: float = 0.5, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return torch.full(shape, value, dtype=dtype)


def _overshoot() -> torch.Tensor:
    """A bicubic-resized image's range, −0.02 … 1.02."""
    return torch.linspace(-0.02, 1.02, 3 * 8 * 8).reshape(1, 3, 8, 8)


def _edit_config(folder: Path, **changes) -> Path:
    doc = json.loads((folder / "config.json").read_text())
    doc["config"].update(changes)
    (folder / "config.json").write_text(json.dumps(doc))
    return folder


def _reordered_shipped(ctx: Context) -> object:
    folder = ctx.copy_of_model("shipped")
    from nmflowgan_aug.pretrained import folder_sha256

    record = PretrainedWeights("tiny", str(folder), folder_sha256(folder), "MIT", "-", {}, "-")
    _edit_config(folder, cameras=["GP", "IP", "S6", "N6", "G4"])
    return weights_folder("tiny", {"tiny": record})


def _config(*overrides: str) -> object:
    from nmflowgan_aug.training.config import load_config

    return load_config(None, list(overrides))


def _config_file(ctx: Context, text: str) -> object:
    from nmflowgan_aug.training.config import load_config

    path = ctx.folder_with("configs") / "broken.yaml"
    path.write_text(text)
    return load_config(path)


def _run(ctx: Context, folder: Path, *overrides: str, **kwargs) -> object:
    from nmflowgan_aug.training.run import run_training

    config = _config("model.unet_depth=0", "model.iso_encoding=log", "model.cameras=[IP, GP]",
                     "model.isos=[100, 800]", f"data.train.path={ctx.manifest}", "data.patch_size=16",
                     "data.stride=16", "train.device=cpu", *overrides)
    return run_training(config, folder, **kwargs)


def _patch_file(ctx: Context, name: str, dtype: type = np.uint8, camera_name: bool = True) -> Path:
    """One HDF5 patch file of a 32×32 pair (IP, ISO 100), stored with ``dtype`` and with/without the camera name."""
    import h5py

    from nmflowgan_aug.data.hdf5_patches import pair_attributes, write_pair_hdf5
    from nmflowgan_aug.data.sidd import read_pairs_manifest

    folder = ctx.folder_with(name)
    pair = read_pairs_manifest(ctx.manifest, ["b"])[0]
    path = folder / "0000_b.hdf5"
    if path.exists():  # made by an earlier case run with the same context
        return folder
    clean, noisy = pair.load()
    write_pair_hdf5(path, clean, noisy, pair_attributes(pair, SIDD_VOCABULARY), patch=16, stride=16)
    with h5py.File(path, "r+") as f:
        if dtype is not np.uint8:
            for group in ("clean", "noisy"):
                for index in list(f[group]):
                    data = f[group][index][()].astype(dtype)
                    del f[group][index]
                    f[group][index] = data
        if not camera_name:
            del f["config"].attrs["camera-name"]
    return folder


def _patches(folder: Path, **kwargs) -> object:
    from nmflowgan_aug.data.hdf5_patches import PatchDataset

    dataset = PatchDataset(folder, vocabulary=SIDD_VOCABULARY, **kwargs)
    return dataset[0]


def _noise(ctx: Context, images: torch.Tensor, **kwargs) -> object:
    return add_camera_noise(images, model=ctx.model, **kwargs)


CASES: list[Case] = [
    # add_camera_noise: images
    Case("add_camera_noise", "a list instead of a tensor", lambda c: _noise(c, [[0.5]]), TypeError),
    Case("add_camera_noise", "grayscale image (1, 1, 8, 8)", lambda c: _noise(c, _img(1, 1, 8, 8)), ValueError),
    Case("add_camera_noise", "RGBA image (1, 4, 8, 8)", lambda c: _noise(c, _img(1, 4, 8, 8)), ValueError),
    Case("add_camera_noise", "2-D tensor (8, 8)", lambda c: _noise(c, _img(8, 8)), ValueError),
    Case("add_camera_noise", "int32 image", lambda c: _noise(c, _img(1, 3, 8, 8, value=1, dtype=torch.int32)), TypeError),
    Case("add_camera_noise", "float values −0.02 … 1.02 (clip=False)", lambda c: _noise(c, _overshoot()), ValueError),
    Case("add_camera_noise", "NaN pixels, even with clip=True",
         lambda c: _noise(c, _img(1, 3, 8, 8, value=float("nan")), clip=True), ValueError),
    Case("add_camera_noise", "1×1-pixel image", lambda c: _noise(c, _img(1, 3, 1, 1), camera="GP", iso=800), ValueError),
    # add_camera_noise: camera, ISO, strength
    Case("add_camera_noise", "unknown camera 'D800'", lambda c: _noise(c, _img(1, 3, 8, 8), camera="D800"), ValueError),
    Case("add_camera_noise", "camera code 7", lambda c: _noise(c, _img(1, 3, 8, 8), camera=7), ValueError),
    Case("add_camera_noise", "camera 1.5 (neither name nor code)",
         lambda c: _noise(c, _img(1, 3, 8, 8), camera=[1.5]), TypeError),
    Case("add_camera_noise", "1 camera for a batch of 2", lambda c: _noise(c, _img(2, 3, 8, 8), camera=["GP"]), ValueError),
    Case("add_camera_noise", "ISO 12800 above a log-ISO model's trained range",
         lambda c: _noise(c, _img(1, 3, 8, 8), iso=12800), ValueError),
    Case("add_camera_noise", "ISO 800.5 (not whole)", lambda c: _noise(c, _img(1, 3, 8, 8), iso=800.5), ValueError),
    Case("add_camera_noise", "ISO string 'high'", lambda c: _noise(c, _img(1, 3, 8, 8), iso="high"), ValueError),
    Case("add_camera_noise", "ISO tensor of 3 values for a batch of 2",
         lambda c: _noise(c, _img(2, 3, 8, 8), iso=torch.tensor([100, 200, 400])), ValueError),
    Case("add_camera_noise", "boolean ISO array", lambda c: _noise(c, _img(1, 3, 8, 8), iso=np.array([True])), TypeError),
    Case("add_camera_noise", "strength −0.5", lambda c: _noise(c, _img(1, 3, 8, 8), strength=-0.5), ValueError),
    Case("add_camera_noise", "strength 'x'", lambda c: _noise(c, _img(1, 3, 8, 8), strength="x"), TypeError),
    Case("add_camera_noise", "3 strengths for a batch of 2", lambda c: strength_values([1, 1, 1], 2), ValueError),
    # NMFlowGAN
    Case("NMFlowGAN.sample", "iso=None", lambda c: c.model.sample(_img(1, 3, 8, 8), "GP", None), TypeError),
    Case("NMFlowGAN.sample", "uint8 image", lambda c: c.model.sample(_img(1, 3, 8, 8, value=1, dtype=torch.uint8),
                                                                      "GP", 800), TypeError),
    Case("NMFlowGAN.from_pretrained", "a folder without a model",
         lambda c: NMFlowGAN.from_pretrained(c.tmp / "nothing-here"), FileNotFoundError),
    Case("NMFlowGAN.from_pretrained", "map_location 'gpu0'",
         lambda c: NMFlowGAN.from_pretrained(c.model_dir, map_location="gpu0"), ValueError),
    Case("NMFlowGAN.from_pretrained", "config.json with reordered cameras",
         lambda c: NMFlowGAN.from_pretrained(_edit_config(c.copy_of_model("reordered"),
                                                          cameras=["GP", "IP", "S6", "N6", "G4"])), ValueError),
    Case("NMFlowGAN.from_pretrained", "truncated model.safetensors", lambda c: NMFlowGAN.from_pretrained(
        (lambda f: (f / "model.safetensors").write_bytes(b"\0" * 64) and f)(c.copy_of_model("truncated"))), ValueError),
    Case("shipped model", "shipped folder whose config.json was edited", _reordered_shipped, ValueError),
    # ConditionSampler
    Case("ConditionSampler", "weights (1, −1)", lambda c: ConditionSampler(weights=(1, -1)), ValueError),
    Case("ConditionSampler", "iso_range (800, 100)", lambda c: ConditionSampler(iso_range=(800, 100)), ValueError),
    Case("ConditionSampler", "strength range (2, 1)", lambda c: ConditionSampler(strength=(2, 1)), ValueError),
    Case("ConditionSampler", "iso_range with no trained ISO inside",
         lambda c: ConditionSampler(iso_range=(4000, 5000)).sample(c.model.vocabulary, 1), ValueError),
    # torchvision
    Case("NMFlowGANNoise (torchvision)", "PIL image", lambda c: c.noise()(PIL.Image.new("RGB", (8, 8))), TypeError),
    Case("NMFlowGANNoise (torchvision)", "numpy image in a dict sample",
         lambda c: c.noise()({"image": np.zeros((8, 8, 3), np.uint8)}), TypeError),
    Case("NMFlowGANNoise (torchvision)", "dict sample without an image (pair mode)",
         lambda c: c.noise(pair_key="lq")({"camera": "GP", "iso": 800}), ValueError),
    Case("NMFlowGANNoise (torchvision)", "pair_key already in the sample",
         lambda c: c.noise(pair_key="lq")({"image": _img(3, 8, 8), "lq": _img(3, 8, 8)}), ValueError),
    Case("NMFlowGANNoise (torchvision)", "params_key with a plain tensor",
         lambda c: c.noise(params_key="noise")(_img(3, 8, 8)), TypeError),
    Case("NMFlowGANNoise (torchvision)", "condition_getter='camera'",
         lambda c: c.noise(condition_getter="camera"), TypeError),
    # kornia
    Case("RandomNMFlowGANNoise (kornia)", "uint8 image", lambda c: c.kornia()(_img(1, 3, 8, 8, value=1,
                                                                                   dtype=torch.uint8)), TypeError),
    Case("RandomNMFlowGANNoise (kornia)", "camera=['GP'] for a batch of 2",
         lambda c: c.kornia()(_img(2, 3, 8, 8), camera=["GP"]), ValueError),
    # training configs
    Case("training config", "train.epochs=0", lambda c: _config("train.epochs=0"), ValueError),
    Case("training config", "train.critic_steps=0", lambda c: _config("train.critic_steps=0"), ValueError),
    Case("training config", "train.val_patches=0", lambda c: _config("train.val_patches=0"), ValueError),
    Case("training config", "unknown key train.lrr", lambda c: _config("train.lrr=0.1"), ValueError),
    Case("training config", "model.unet_depth=four", lambda c: _config("model.unet_depth=four"), ValueError),
    Case("training config", "data.patch_size=64 with a U-Net", lambda c: _config("data.patch_size=64"), ValueError),
    Case("training config", "model.spatial_kernel=4", lambda c: _config("model.spatial_kernel=4"), ValueError),
    Case("training config", "a resampled validation source",
         lambda c: _config("data.val={path: x, resampled: true}"), ValueError),
    Case("training config", "an extra training source of weight 0",
         lambda c: _config("data.extra_train=[{path: x, weight: 0}]"), ValueError),
    Case("training config", "override that is not valid YAML", lambda c: _config("train.betas=[0.9"), ValueError),
    Case("training config", "YAML syntax error in the file", lambda c: _config_file(c, "train:\n  betas: [0.9\n"),
         ValueError),
    # training runs
    Case("run_training", "a non-empty run folder without resume or overwrite",
         lambda c: _run(c, c.folder_with("used-run", "notes.txt")), FileExistsError),
    Case("run_training", "resume and overwrite together",
         lambda c: _run(c, c.tmp / "run-both", resume=c.tmp / "x.pt", overwrite=True), ValueError),
    Case("run_training", "resume from a missing checkpoint",
         lambda c: _run(c, c.tmp / "run-missing", resume=c.tmp / "nothing.pt"), FileNotFoundError),
    Case("run_training", "train.device=tpu", lambda c: _run(c, c.tmp / "run-tpu", "train.device=tpu"), ValueError),
    Case("run_training", "manifest ids that are not in it",
         lambda c: _run(c, c.tmp / "run-ids", "data.train.ids=[a, c]"), ValueError),
    Case("run_training", "a pair whose camera is not in the model",
         lambda c: _run(c, c.tmp / "run-cams", "model.cameras=[IP, S6]"), ValueError),
    # data preparation and patch files
    Case("prepare_pairs", "a non-empty output folder", lambda c: __import__(
        "nmflowgan_aug.data.hdf5_patches", fromlist=["prepare_pairs"]).prepare_pairs(
        [], c.folder_with("prepared", "other.txt"), progress=False), FileExistsError),
    Case("write_paired_folders", "clean and noisy of different shapes", lambda c: __import__(
        "nmflowgan_aug.data.paired_folders", fromlist=["write_paired_folders"]).write_paired_folders(
        [("x", np.zeros((8, 8, 3), np.uint8), np.zeros((8, 9, 3), np.uint8))], c.tmp / "paired"), ValueError),
    Case("PatchDataset", "float32 patches", lambda c: _patches(_patch_file(c, "float-patches", np.float32)),
         ValueError),
    Case("PatchDataset", "a file with camera codes only and no camera_table",
         lambda c: _patches(_patch_file(c, "official-patches", camera_name=False)), ValueError),
]


def outcome(case: Case, ctx: Context) -> BaseException | None:
    """The exception ``case`` raises (``None`` if it raises none)."""
    try:
        case.call(ctx)
    except Exception as err:  # noqa: BLE001 - the catalogue records whatever is raised
        return err
    return None


def _cell(text: str, ctx: Context) -> str:
    text = text.replace(str(ctx.tmp), "<folder>").replace("\n", " ")
    text = re.sub(r"\b[0-9a-f]{64}\b", "<sha256>", text)  # digests of the tiny model depend on the torch version
    return text.replace("|", "\\|")


def render_table(ctx: Context | None = None) -> str:
    """The README table, one row per case: area, bad input, exception and its message."""
    ctx = ctx or Context()
    rows = [
        "<!-- generated by `python tests/bad_inputs.py --write README.md` from tests/bad_inputs.py: do not edit -->",
        "",
        "| where | bad input | error |",
        "|---|---|---|",
    ]
    for case in CASES:
        err = outcome(case, ctx)
        shown = "(no error)" if err is None else f"`{type(err).__name__}`: {_cell(str(err), ctx)}"
        rows.append(f"| {case.area} | {case.what} | {shown} |")
    return "\n".join(rows) + "\n"


def readme_table(text: str) -> str:
    """The README's current table (between the markers)."""
    if START not in text or END not in text:
        raise ValueError(f"README has no {START} … {END} section")
    return text.split(START, 1)[1].split(END, 1)[0].strip("\n") + "\n"


def write_readme(path: Path, table: str) -> None:
    text = path.read_text()
    readme_table(text)  # the markers must be there
    head, rest = text.split(START, 1)
    path.write_text(f"{head}{START}\n{table}{END}{rest.split(END, 1)[1]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Render the bad-input catalogue as a markdown table.")
    parser.add_argument("--write", type=Path, metavar="README", help="replace the table between the markers")
    args = parser.parse_args(argv)
    table = render_table()
    if args.write:
        write_readme(args.write, table)
    else:
        sys.stdout.write(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())

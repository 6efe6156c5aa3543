"""The package as users get it: a wheel built from this checkout, installed into a fresh virtual environment.

The wheel holds the package and its data. Installed into a venv that sees only the declared (non-extra)
dependencies, it runs ``nmflowgan-train`` on the packaged quickstart from an empty directory, loads every
console script and synthesizes noise with the shipped weights exactly like the checkout.

Nothing is downloaded: the wheel is built with this environment's setuptools (no build isolation) and the
venv links the declared dependencies from this environment instead of installing them, so a module that the
default paths import but the metadata does not declare fails here as it would after ``pip install``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import venv
import zipfile
from importlib import metadata
from pathlib import Path

import pytest
import torch
import yaml

REPO = Path(__file__).resolve().parents[1]
#: Folders of a checkout that are not sources (git, build and run outputs).
NOT_SOURCES = (".git", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache", ".ruff_cache", "runs",
               "experiments", "tb_logger", ".whl", ".device_out", ".device_data")
#: The quickstart, shrunk to a two-step CPU run (sizes as in tests/training/test_cli.py).
TWO_STEPS = ["--set", "model.unet_depth=2", "--set", "model.unet_width=4", "--set", "critic.width=2",
             "--set", "train.batch_size=4", "--set", "train.steps_per_epoch=2", "--set", "train.epochs=1",
             "--set", "train.val_patches=4", "--set", "train.standardize_init=false", "--device", "cpu"]


def _run(args: list, timeout: float = 300, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=timeout, **kwargs)
    assert result.returncode == 0, f"{args}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """``pip wheel --no-deps --no-build-isolation`` of a copy of the checkout (the checkout stays untouched)."""
    try:
        pip_version = tuple(int(part) for part in metadata.version("pip").split(".")[:2])
    except (metadata.PackageNotFoundError, ValueError):
        pip_version = (0, 0)
    if pip_version < (22, 3):
        pytest.skip("installing into another venv needs pip>=22.3 (pip --python) in this environment")
    try:
        setuptools_major = int(metadata.version("setuptools").split(".")[0])
    except metadata.PackageNotFoundError:
        setuptools_major = 0
    if setuptools_major < 77:
        pytest.skip("building the wheel offline needs setuptools>=77 here (pip install -e '.[dev]')")
    root = tmp_path_factory.mktemp("wheel")
    source = shutil.copytree(REPO, root / "source", ignore=shutil.ignore_patterns(*NOT_SOURCES))
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
          "--disable-pip-version-check", "-w", root / "dist", source])
    (built,) = (root / "dist").glob("nmflowgan_aug-*.whl")
    return built


def test_wheel_holds_every_package_file_and_nothing_else(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    package = {n for n in names if n.startswith("nmflowgan_aug/")}
    source = {p.relative_to(REPO).as_posix() for p in (REPO / "nmflowgan_aug").rglob("*")
              if p.is_file() and "__pycache__" not in p.parts}
    assert package == source  # modules, shipped weights, model cards, registry, packaged configs
    assert {"nmflowgan_aug/configs/quickstart.yaml", "nmflowgan_aug/configs/basicsr/train_DnCNN_nmflowgan_SIDD.yml",
            "nmflowgan_aug/configs/basicsr/test_DnCNN_nmflowgan_SIDD.yml",
            "nmflowgan_aug/pretrained/sidd/model.safetensors"} <= package
    assert {n.split("/")[0] for n in names} == {"nmflowgan_aug", wheel.name.split("-py3")[0] + ".dist-info"}


def _declared_dependencies(wheel: Path) -> dict[str, metadata.Distribution]:
    """The installed distributions that the wheel's non-extra ``Requires-Dist`` need, recursively.

    Each requirement's extras are followed, and environment markers are evaluated here.
    """
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    with zipfile.ZipFile(wheel) as archive:
        meta = archive.read(next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))).decode()
    todo = [line.split(":", 1)[1].strip() for line in meta.splitlines() if line.startswith("Requires-Dist:")]
    todo = [r for r in todo if Requirement(r).marker is None or Requirement(r).marker.evaluate({"extra": ""})]
    found: dict[str, metadata.Distribution] = {}
    while todo:
        requirement = Requirement(todo.pop())
        try:
            dist = metadata.distribution(requirement.name)
        except metadata.PackageNotFoundError:
            continue  # not installed here: whatever imports it fails in the venv, as after pip install
        found[canonicalize_name(requirement.name)] = dist
        extras = ("", *requirement.extras)
        for line in dist.requires or []:
            needed = Requirement(line)
            if canonicalize_name(needed.name) not in found and (
                needed.marker is None or any(needed.marker.evaluate({"extra": e}) for e in extras)
            ):
                todo.append(line)
    return found


def _venv_with(dists: dict[str, metadata.Distribution], folder: Path) -> Path:
    """A venv (no system site-packages) whose site-packages links exactly the files of ``dists``; its python."""
    venv.EnvBuilder(with_pip=False, symlinks=os.name != "nt").create(folder)
    python = folder / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    site = Path(_run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"]).stdout.strip())
    for name, dist in dists.items():
        if dist.files is None:
            pytest.skip(f"{name} was installed without a RECORD file: its files cannot be linked into a venv")
        for top in {f.parts[0] for f in dist.files if f.parts[0] not in ("..", "__pycache__")}:
            link = site / top
            if not link.exists() and not link.is_symlink():
                link.symlink_to(Path(dist.locate_file(top)).resolve())
    return python


#: Run in the venv: load each console script (one of an extra that is not installed must say which extra),
#: then synthesize with the shipped weights; prints {"loaded": [...], "needs_extra": [...]}.
SYNTHESIZE = textwrap.dedent("""
    import importlib.metadata, json, sys
    import torch
    import nmflowgan_aug
    from nmflowgan_aug import add_camera_noise
    assert nmflowgan_aug.__file__.startswith(sys.prefix), nmflowgan_aug.__file__
    names = {"loaded": [], "needs_extra": []}
    for script in importlib.metadata.distribution("nmflowgan_aug").entry_points.select(group="console_scripts"):
        try:
            assert callable(script.load()), script
            names["loaded"].append(script.name)
        except ImportError as err:
            assert "pip install nmflowgan_aug[" in str(err), err
            names["needs_extra"].append(script.name)
    torch.set_num_threads(1)
    clean = torch.linspace(0.05, 0.95, 3 * 48 * 48).reshape(1, 3, 48, 48)
    out = add_camera_noise(clean, "GP", 800, generator=torch.Generator().manual_seed(0), quantize=False)
    torch.save(out.noisy, sys.argv[1])
    print(json.dumps(names))
""")


def test_installed_wheel_trains_the_quickstart_from_an_empty_directory(wheel, tmp_path, one_thread):
    python = _venv_with(_declared_dependencies(wheel), tmp_path / "venv")
    _run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index",
          "--disable-pip-version-check", wheel])
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env.update(OMP_NUM_THREADS="1", PATH=os.pathsep.join([str(python.parent), env.get("PATH", "")]))
    train = shutil.which("nmflowgan-train", path=str(python.parent))
    work = tmp_path / "empty"
    work.mkdir()

    usage = _run([train, "--help"], cwd=work, env=env).stdout
    assert "--config" in usage and "quickstart" in usage
    log = _run([train, *TWO_STEPS], cwd=work, env=env)
    assert "wrote runs/quickstart" in log.stdout, log.stdout + log.stderr[-3000:]
    assert os.listdir(work) == ["runs"]
    run = work / "runs" / "quickstart"
    for name in ("config.yaml", "metrics.json", "samples.png", "conditions.png", "checkpoints/last.pt",
                 "model/model.safetensors", "model/config.json"):
        assert (run / name).is_file(), name
    saved = yaml.safe_load((run / "config.yaml").read_text())  # the packaged quickstart was the config
    assert saved["name"] == "quickstart" and saved["model"]["cameras"] == ["SimCam-A", "SimCam-B", "SimCam-C"]
    final = json.loads((run / "metrics.json").read_text())["final"]
    assert set(final) == {"val_nll_bpd", "val_kld", "val_akld"} and all(v == v and v > 0 for v in final.values())

    # Every console script loads, and the shipped weights synthesize the same noise as in the checkout.
    from nmflowgan_aug import add_camera_noise

    scripts = json.loads(_run([python, "-c", SYNTHESIZE, tmp_path / "noisy.pt"], cwd=work, env=env).stdout)
    assert sorted(scripts["needs_extra"]) == ["nmflowgan-basicsr-test", "nmflowgan-basicsr-train"]  # an extra
    assert {"nmflowgan-train", "nmflowgan-synthesize", "nmflowgan-preview"} <= set(scripts["loaded"])
    clean = torch.linspace(0.05, 0.95, 3 * 48 * 48).reshape(1, 3, 48, 48)
    expected = add_camera_noise(clean, "GP", 800, generator=torch.Generator().manual_seed(0), quantize=False).noisy
    installed = torch.load(tmp_path / "noisy.pt")
    assert float((expected - clean).abs().mean()) > 1e-3  # real noise, not a pass-through
    torch.testing.assert_close(installed, expected, rtol=0, atol=1e-6)

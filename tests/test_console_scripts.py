"""Every console script declared in pyproject.toml imports and is a ``main(argv=None)``.

Every ``nmflowgan-*`` command the README names is one of them.
"""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the dev extra installs tomli
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[1]


def console_scripts() -> dict[str, str]:
    """``name -> "module:function"`` from pyproject.toml ``[project.scripts]``."""
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]


@pytest.mark.filterwarnings("ignore:Please import `convolve`:DeprecationWarning")  # inside basicsr 1.4.2
@pytest.mark.parametrize("name, target", sorted(console_scripts().items()))
def test_console_script_target_is_a_main(name, target):
    module, _, function = target.partition(":")
    try:
        imported = importlib.import_module(module)
    except ImportError as err:
        if "pip install nmflowgan_aug[" not in str(err):  # only a missing optional extra (basicsr) may skip
            raise
        pytest.skip(f"{name}: {err}")
    main = getattr(imported, function)
    assert callable(main) and list(inspect.signature(main).parameters) == ["argv"], name


def test_readme_commands_are_declared():
    named = set(re.findall(r"\bnmflowgan-[a-z0-9-]+", (REPO / "README.md").read_text()))
    assert {"nmflowgan-paired-folders", "nmflowgan-basicsr-train", "nmflowgan-basicsr-test"} <= named
    assert named <= set(console_scripts())

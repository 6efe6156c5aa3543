"""The Python examples of the README's Integrations section run as written (with the tiny model as MODEL).

The BasicSR shell example is run by tests/integrations/test_basicsr.py.
"""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"

MODEL_LINE = 'MODEL = "sidd"'


def test_python_examples_run(tiny_model_dir, integration_docs):
    blocks = re.findall(r"```python\n(.*?)```", integration_docs, flags=re.S)
    assert len(blocks) == 3 and MODEL_LINE in blocks[0]
    namespace: dict = {"__name__": "integration_docs"}
    for block in blocks:
        code = block.replace(MODEL_LINE, f"MODEL = {str(tiny_model_dir)!r}")
        exec(compile(code, str(README), "exec"), namespace)
    assert namespace["lq"].shape == namespace["gt"].shape

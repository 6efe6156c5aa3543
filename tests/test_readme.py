"""The README's first example (the shipped model's sample/log_prob) runs as written."""

import re
from pathlib import Path

import pytest

from nmflowgan_aug import list_pretrained

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.mark.skipif("sidd" not in list_pretrained(), reason="shipped 'sidd' weights not installed")
def test_use_the_noise_model_example_runs():
    text = README.read_text()
    section = text[text.index("## Use the noise model") : text.index("<!-- integrations:start -->")]
    namespace: dict = {}
    exec(re.search(r"```python\n(.*?)```", section, re.S).group(1), namespace)
    assert namespace["noisy"].shape == namespace["clean"].shape
    assert namespace["nll"].shape == (4,)

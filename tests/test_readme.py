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


def _own_images_section() -> str:
    text = README.read_text()
    return text.split("<!-- own-images:start -->", 1)[1].split("<!-- own-images:end -->", 1)[0]


@pytest.mark.skipif("sidd" not in list_pretrained(), reason="shipped 'sidd' weights not installed")
def test_own_images_examples_run(tmp_path, monkeypatch):
    """The commands and the Python example of 'Your own images' run as written (on two small photos)."""
    import shlex

    cv2 = pytest.importorskip("cv2")
    pytest.importorskip("matplotlib")
    import numpy as np

    from nmflowgan_aug.cli import preview, synthesize

    monkeypatch.chdir(tmp_path)
    (tmp_path / "photos").mkdir()
    rng = np.random.default_rng(0)
    for name, shape in (("street.png", (48, 64, 3)), ("park.jpg", (40, 40, 3))):
        cv2.imwrite(str(tmp_path / "photos" / name), rng.integers(0, 256, shape, dtype=np.uint8))
    section = _own_images_section()
    mains = {"nmflowgan-synthesize": synthesize.main, "nmflowgan-preview": preview.main}
    for line in re.search(r"```bash\n(.*?)```", section, re.S).group(1).strip().splitlines():
        args = shlex.split(line)
        assert mains[args[0]](args[1:]) == 0, line
    assert (tmp_path / "noisy" / "park.png").is_file() and (tmp_path / "noisy_mixed" / "r1" / "street.png").is_file()
    assert (tmp_path / "rebuilt" / "r1" / "street.png").read_bytes() == (tmp_path / "noisy_mixed/r1/street.png").read_bytes()
    namespace: dict = {}
    exec(re.search(r"```python\n(.*?)```", section, re.S).group(1), namespace)
    assert namespace["noisy"].shape == (3, 200, 300) and (tmp_path / "preview_python.png").is_file()
    assert (tmp_path / "preview.png").is_file()

"""read_image / write_image: 8/16-bit PNG and TIFF round trips, JPEG refused as output, bad files named."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nmflowgan_aug.image_io import read_image, write_image

cv2 = pytest.importorskip("cv2", reason="OpenCV is needed for 16-bit image files (pip install nmflowgan_aug[synthesize])")


@pytest.mark.parametrize("suffix", [".png", ".tif"])
@pytest.mark.parametrize("bits", [8, 16])
def test_round_trip_keeps_rgb_order_and_levels(tmp_path, suffix, bits):
    levels = 255 if bits == 8 else 65535
    image = torch.randint(0, levels + 1, (3, 5, 7)).float() / levels
    image[:, 0, 0] = torch.tensor([1.0, 0.0, 0.0])  # red stays red (OpenCV stores BGR)
    path = write_image(tmp_path / f"x{suffix}", image, bits)
    back, depth = read_image(path)
    assert depth == bits and back.dtype == torch.float32 and torch.equal(back, image)
    assert cv2.imread(str(path), cv2.IMREAD_UNCHANGED)[0, 0].tolist() == [0, 0, levels]  # BGR on disk


def test_bad_files_and_targets(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.png"):
        read_image(tmp_path / "missing.png")
    (tmp_path / "junk.png").write_bytes(b"not an image")
    with pytest.raises(ValueError, match="cannot read image"):
        read_image(tmp_path / "junk.png")
    cv2.imwrite(str(tmp_path / "gray.png"), np.zeros((4, 4), np.uint8))
    with pytest.raises(ValueError, match="1 channel"):
        read_image(tmp_path / "gray.png")
    with pytest.raises(ValueError, match="lossless"):
        write_image(tmp_path / "x.jpg", torch.zeros(3, 4, 4))
    with pytest.raises(ValueError, match="bit_depth must be 8 or 16"):
        write_image(tmp_path / "x.png", torch.zeros(3, 4, 4), 12)

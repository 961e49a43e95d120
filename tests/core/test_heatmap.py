"""Heat-map colouring: the jet LUT, alpha from the value, blending."""

from __future__ import annotations

import numpy as np
import pytest

from pneumoviewer.core.heatmap import JET_LUT, blend_heatmap, heatmap_rgba


def test_lut_runs_blue_to_red() -> None:
    assert JET_LUT.shape == (256, 3) and JET_LUT.dtype == np.uint8
    assert tuple(JET_LUT[0]) == (0, 0, 128) and tuple(JET_LUT[255]) == (128, 0, 0)
    assert tuple(JET_LUT[128]) == (130, 255, 126)  # the middle is green-ish


def test_rgba_alpha_follows_the_value() -> None:
    cam = np.array([[0.0, 0.5], [1.0, 2.0]], np.float32)  # 2.0 clipped to 1
    rgba = heatmap_rgba(cam, opacity=0.6)
    assert rgba.shape == (2, 2, 4) and rgba.dtype == np.uint8
    assert rgba[0, 0, 3] == 0 and rgba[0, 1, 3] == 76 and rgba[1, 0, 3] == 153
    np.testing.assert_array_equal(rgba[1, 0], rgba[1, 1])
    with pytest.raises(ValueError, match="2-D"):
        heatmap_rgba(np.zeros(3))


def test_blend_keeps_cold_pixels_grey() -> None:
    base = np.full((3, 4), 100, np.uint8)
    cam = np.zeros((3, 4), np.float32)
    cam[1, 2] = 1.0
    out = blend_heatmap(base, cam, opacity=1.0)
    assert out.shape == (3, 4, 3)
    assert (out[0, 0] == 100).all() and tuple(out[1, 2]) == tuple(JET_LUT[255])
    with pytest.raises(ValueError, match="must match"):
        blend_heatmap(base, cam[:2])


def test_write_heatmap_png(tmp_path) -> None:
    from PIL import Image

    from pneumoviewer.core.heatmap import write_heatmap_png

    base = np.full((20, 30), 50, np.uint8)
    cam = np.zeros((20, 30), np.float32)
    cam[5, 7] = 1.0
    path = write_heatmap_png(tmp_path / "c.png", base, cam, opacity=1.0)
    got = np.asarray(Image.open(path))
    np.testing.assert_array_equal(got, blend_heatmap(base, cam, opacity=1.0))
    with pytest.raises(FileExistsError):
        write_heatmap_png(path, base, cam)

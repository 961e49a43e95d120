"""The pixel rules' histogram (OpenCV, #11 §1 speed) equals the numpy count it replaced."""

from __future__ import annotations

import numpy as np

from pneumoviewer.core.dicom_io import load_xray
from pneumoviewer.core.quality_pixels import grey_histogram


def test_equals_bincount_on_the_samples_with_and_without_padding(samples_dir) -> None:
    rng = np.random.default_rng(0)
    for path in sorted(samples_dir.glob("*.dcm")):
        pixels = load_xray(path).pixels
        expected = np.bincount(pixels.ravel(), minlength=256)
        got = grey_histogram(pixels)
        assert got.dtype == np.int64
        np.testing.assert_array_equal(got, expected)
        keep = rng.random(pixels.shape) > 0.3
        np.testing.assert_array_equal(
            grey_histogram(pixels, keep), np.bincount(pixels[keep], minlength=256)
        )


def test_views_empty_selection_and_sizes() -> None:
    rng = np.random.default_rng(1)
    big = rng.integers(0, 256, (300, 500), dtype=np.uint8)
    view = big[::2, 7:]  # not contiguous
    np.testing.assert_array_equal(grey_histogram(view), np.bincount(view.ravel(), minlength=256))
    none = np.zeros(view.shape, dtype=bool)
    np.testing.assert_array_equal(grey_histogram(view, none), np.zeros(256, dtype=np.int64))
    flat = np.full((64, 64), 200, dtype=np.uint8)
    assert grey_histogram(flat)[200] == 64 * 64 and grey_histogram(flat).sum() == 64 * 64

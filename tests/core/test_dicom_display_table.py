"""The display computed per grey level and looked up (#11 §1, speed) equals the per-pixel one.

``dicom_io._display_by_table`` must give the very bits of the per-pixel path
(``_scaled`` on the whole image, padding black) for every transform the display supports.
"""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from pydicom.pixels import apply_modality_lut

from pneumoviewer.core import dicom_io
from pneumoviewer.core.dicom_io import PADDING_DISPLAY_VALUE, load_xray, padding_mask
from tests.core import dicom_factory as factory

SHAPE = (256, 300)  # above the table path's size threshold


def _per_pixel(ds, raw) -> np.ndarray:
    padding = padding_mask(ds, raw)
    out = dicom_io._scaled(ds, apply_modality_lut(raw, ds), None if padding is None else ~padding)
    if padding is not None:
        out[padding] = PADDING_DISPLAY_VALUE
    return out


def _assert_same(ds) -> None:
    raw = ds.pixel_array
    padding = padding_mask(ds, raw)
    expected = _per_pixel(ds, raw)
    got = dicom_io._display_by_table(ds, raw, padding)
    assert got.dtype == np.uint8 and got.flags.c_contiguous
    np.testing.assert_array_equal(got, expected)
    # and load's dispatcher takes the table path for this image
    np.testing.assert_array_equal(
        dicom_io._display(ds, raw, apply_modality_lut(raw, ds), padding), expected
    )


def _image(dtype, lo, hi, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(lo, hi + 1, SHAPE).astype(dtype)


CASES = {
    "8-bit full range": (np.uint8, 0, 255, {}),
    "8-bit narrow range (min-max)": (np.uint8, 40, 90, {}),
    "8-bit MONOCHROME1": (np.uint8, 3, 250, {"photometric": "MONOCHROME1"}),
    "8-bit window": (np.uint8, 0, 255, {"window": (100.0, 60.0)}),
    "8-bit padding value": (np.uint8, 0, 255, {"padding": 0}),
    "8-bit padding range": (np.uint8, 0, 255, {"padding": (250, 255)}),
    "12-bit": (np.uint16, 0, 4095, {"bits_stored": 12}),
    "12-bit narrow, padding": (np.uint16, 1000, 1200, {"bits_stored": 12, "padding": 1000}),
    "16-bit": (np.uint16, 0, 65535, {}),
    "16-bit rescale + window": (
        np.uint16,
        0,
        4095,
        {"bits_stored": 12, "rescale": (0.5, -1024.0), "window": (-200.0, 900.0)},
    ),
    "negative slope": (np.uint16, 0, 4095, {"bits_stored": 12, "rescale": (-1.0, 4095.0)}),
    "MONOCHROME1 window": (
        np.uint16,
        0,
        4095,
        {"bits_stored": 12, "photometric": "MONOCHROME1", "window": (2000.0, 1000.0)},
    ),
    "unusable window (width 0)": (np.uint16, 0, 4095, {"bits_stored": 12, "window": (9.0, 0.0)}),
    "VOI LUT 8-bit output": (
        np.uint8,
        0,
        255,
        {"voi_lut": (10, 8, [int(v) for v in np.linspace(0, 255, 200)])},
    ),
    "VOI LUT 16-bit output": (
        np.uint16,
        0,
        4095,
        {"bits_stored": 12, "voi_lut": (0, 16, [int(v) for v in np.linspace(0, 65535, 4096)])},
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_table_equals_per_pixel(case):
    dtype, lo, hi, kwargs = CASES[case]
    _assert_same(factory.make_image(_image(dtype, lo, hi), **kwargs))


def test_constant_and_all_padding_images():
    _assert_same(factory.make_image(np.full(SHAPE, 77, np.uint8)))
    _assert_same(factory.make_image(np.full(SHAPE, 5, np.uint8), padding=5))
    _assert_same(factory.make_image(np.full(SHAPE, 3000, np.uint16), bits_stored=12))


def test_samples_equal_per_pixel(samples_dir):
    for path in sorted(samples_dir.glob("*.dcm")):
        ds = pydicom.dcmread(path)
        raw = ds.pixel_array
        assert raw.dtype == np.uint8  # the SIIM files: the table path
        np.testing.assert_array_equal(load_xray(path).pixels, _per_pixel(ds, raw))

"""JPEG Baseline: Pillow instead of GDCM where pydicom would pick GDCM (#11 §1, speed).

The swap is only made where it changes no bit: Pillow must decode like GDCM, and without
GDCM (a user's install; this test session, see tests/conftest.py) pydicom's own order runs.
"""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from pydicom.pixels import pixel_array
from pydicom.pixels.decoders import JPEGBaseline8BitDecoder
from pydicom.uid import JPEGBaseline8Bit

from pneumoviewer.core import dicom_io


def _gdcm_pixels(path) -> np.ndarray:
    """Decode with GDCM itself (what pydicom picks first where python-gdcm is installed)."""
    gdcm = pytest.importorskip("gdcm", reason="python-gdcm (test extra) is the reference")
    reader = gdcm.ImageReader()
    reader.SetFileName(str(path))
    assert reader.Read()
    image = reader.GetImage()
    cols, rows = image.GetDimension(0), image.GetDimension(1)
    buf = image.GetBuffer().encode("utf-8", errors="surrogateescape")
    assert image.GetPixelFormat().GetBitsAllocated() == 8
    return np.frombuffer(buf, dtype=np.uint8).reshape(rows, cols)


@pytest.fixture
def with_gdcm():
    """pydicom's JPEG Baseline decoders as on a machine with python-gdcm (GDCM first)."""
    pytest.importorskip("gdcm", reason="python-gdcm (test extra)")
    decoder = JPEGBaseline8BitDecoder
    before = dict(decoder._available)
    decoder.add_plugin("gdcm", ("pydicom.pixels.decoders.gdcm", "_decode_frame"))
    decoder._available = {"gdcm": decoder._available["gdcm"], **before}
    yield
    decoder._available = before


def test_pillow_decodes_the_samples_like_gdcm(samples_dir):
    paths = sorted(samples_dir.glob("*.dcm"))
    assert len(paths) == 10
    for path in paths:
        ds = pydicom.dcmread(path)
        assert ds.file_meta.TransferSyntaxUID == JPEGBaseline8Bit
        pillow = pixel_array(ds, decoding_plugin="pillow")
        np.testing.assert_array_equal(pillow, _gdcm_pixels(path), err_msg=str(path))


def test_with_gdcm_installed_pillow_is_used_and_gives_gdcm_bits(samples_dir, with_gdcm):
    assert dicom_io._gdcm_first_and_pillow()
    for path in sorted(samples_dir.glob("*.dcm")):
        ds = pydicom.dcmread(path)
        np.testing.assert_array_equal(ds.pixel_array, _gdcm_pixels(path))  # GDCM first
        ds = pydicom.dcmread(path)
        out = dicom_io._pixel_array(ds, ds.file_meta.TransferSyntaxUID)
        np.testing.assert_array_equal(out, _gdcm_pixels(path))
        # the choice does not stick to the data set: the next decode uses pydicom's order
        assert ds._pixel_array_opts.get("decoding_plugin", "") == ""


def test_without_gdcm_pydicom_order_decides(samples_dir):
    assert "gdcm" not in JPEGBaseline8BitDecoder.available_plugins  # tests/conftest.py
    assert not dicom_io._gdcm_first_and_pillow()
    path = sorted(samples_dir.glob("*.dcm"))[0]
    expected = pydicom.dcmread(path).pixel_array
    ds = pydicom.dcmread(path)
    np.testing.assert_array_equal(dicom_io._pixel_array(ds, JPEGBaseline8Bit), expected)


def test_pillow_failure_falls_back_to_pydicom_order(samples_dir, monkeypatch):
    path = sorted(samples_dir.glob("*.dcm"))[0]
    expected = pydicom.dcmread(path).pixel_array
    ds = pydicom.dcmread(path)
    calls = []
    real = pydicom.Dataset.pixel_array.fget

    def flaky(self):
        calls.append(self._pixel_array_opts.get("decoding_plugin", ""))
        if calls[-1] == "pillow":
            raise RuntimeError("pillow broke")
        return real(self)

    monkeypatch.setattr(dicom_io, "_gdcm_first_and_pillow", lambda: True)
    monkeypatch.setattr(pydicom.Dataset, "pixel_array", property(flaky))
    out = dicom_io._pixel_array(ds, ds.file_meta.TransferSyntaxUID)
    assert calls == ["pillow", ""]
    np.testing.assert_array_equal(out, expected)

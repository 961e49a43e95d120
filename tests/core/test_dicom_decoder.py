"""JPEG Baseline is decoded by Pillow first, bit-identically to GDCM (#11 §1, speed)."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from pydicom.uid import JPEGBaseline8Bit

from pneumoviewer.core import dicom_io


def _gdcm_pixels(path) -> np.ndarray:
    """Decode with GDCM itself (what pydicom picked first where python-gdcm is installed)."""
    gdcm = pytest.importorskip("gdcm", reason="python-gdcm (test extra) is the reference")
    reader = gdcm.ImageReader()
    reader.SetFileName(str(path))
    assert reader.Read()
    image = reader.GetImage()
    cols, rows = image.GetDimension(0), image.GetDimension(1)
    buf = image.GetBuffer().encode("utf-8", errors="surrogateescape")
    assert image.GetPixelFormat().GetBitsAllocated() == 8
    return np.frombuffer(buf, dtype=np.uint8).reshape(rows, cols)


def test_samples_are_jpeg_baseline_and_pillow_decodes_them_like_gdcm(samples_dir):
    paths = sorted(samples_dir.glob("*.dcm"))
    assert len(paths) == 10
    for path in paths:
        ds = pydicom.dcmread(path)
        assert ds.file_meta.TransferSyntaxUID == JPEGBaseline8Bit
        ours = dicom_io._pixel_array(ds, ds.file_meta.TransferSyntaxUID)
        np.testing.assert_array_equal(ours, _gdcm_pixels(path), err_msg=str(path))
        # the choice does not stick to the data set: the next decode uses pydicom's order
        assert ds._pixel_array_opts.get("decoding_plugin", "") == ""


def test_pillow_failure_falls_back_to_pydicom_order(samples_dir, monkeypatch):
    path = sorted(samples_dir.glob("*.dcm"))[0]
    ds = pydicom.dcmread(path)
    expected = ds.pixel_array.copy()
    ds = pydicom.dcmread(path)
    calls = []
    real = pydicom.Dataset.pixel_array.fget

    def flaky(self):
        calls.append(self._pixel_array_opts.get("decoding_plugin", ""))
        if calls[-1] == "pillow":
            raise RuntimeError("pillow broke")
        return real(self)

    monkeypatch.setattr(pydicom.Dataset, "pixel_array", property(flaky))
    out = dicom_io._pixel_array(ds, ds.file_meta.TransferSyntaxUID)
    assert calls == ["pillow", ""]
    np.testing.assert_array_equal(out, expected)

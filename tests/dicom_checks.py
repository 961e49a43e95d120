"""One check for every DICOM object the product writes: dciodvfy, then read back.

Every test that writes SEG / SR / GSPS / SC (core export, ``predict --dicom``, ``readings
export``, the viewer's File -> Export readings) calls :func:`check_dicom` on each file.

dciodvfy comes from the Debian package dicom3tools. ``.ci/run`` installs it and sets
``PNEUMOVIEWER_REQUIRE_DCIODVFY=1``, so in CI a missing validator fails the test; elsewhere
the read-back still runs and the test is then skipped with the reason (never a silent pass).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest

__all__ = ["DCIODVFY", "check_dicom", "dciodvfy_errors", "read_back"]

DCIODVFY = shutil.which("dciodvfy")
SEG_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.66.4"
GSPS_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.11.1"


def dciodvfy_errors(path: Path) -> list[str]:
    """Return dciodvfy's ``Error`` lines for ``path`` (it writes them to stderr)."""
    proc = subprocess.run([DCIODVFY, str(path)], capture_output=True, text=True, timeout=120)
    return [line for line in (proc.stdout + proc.stderr).splitlines() if line.startswith("Error")]


def read_back(path: Path):
    """Read a written object as a PACS would and return it, parsed by its kind.

    SEG -> ``highdicom.seg.Segmentation`` (its frames decoded), SR -> ``highdicom.sr``
    document (its measurement groups parsed), GSPS -> pydicom dataset (annotations and the
    referenced image checked), anything else -> pydicom dataset with its pixels decoded.
    The file must be a Part 10 file whose meta matches the dataset.
    """
    ds = pydicom.dcmread(path)  # no force: preamble and file meta are required
    meta = ds.file_meta
    assert meta.MediaStorageSOPClassUID == ds.SOPClassUID, path.name
    assert meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID, path.name
    assert ds.StudyInstanceUID and ds.SeriesInstanceUID, path.name
    if ds.SOPClassUID == SEG_SOP_CLASS:
        seg = hd.seg.segread(path)
        (source,) = seg.get_source_image_uids()
        pixels = seg.get_pixels_by_source_instance([source[2]])
        assert pixels.shape[:3] == (1, seg.Rows, seg.Columns), path.name
        return seg
    if ds.Modality == "SR":
        sr = hd.sr.srread(path)
        assert sr.content.get_image_measurement_groups(), path.name
        return sr
    if ds.SOPClassUID == GSPS_SOP_CLASS:
        assert ds.GraphicAnnotationSequence and ds.ReferencedSeriesSequence, path.name
        ref = ds.ReferencedSeriesSequence[0].ReferencedImageSequence[0]
        assert ref.ReferencedSOPInstanceUID, path.name
        return ds
    pixels = ds.pixel_array
    assert pixels.shape[:2] == (ds.Rows, ds.Columns) and np.ptp(pixels) > 0, path.name
    return ds


def check_dicom(paths) -> list:
    """Read back every file of ``paths``, then validate each with dciodvfy.

    Returns the read-back objects (in order). Skips (after the read-back) when dciodvfy is
    not installed, unless ``PNEUMOVIEWER_REQUIRE_DCIODVFY`` is set, then fails.
    """
    paths = [Path(p) for p in paths]
    assert paths, "no DICOM object was written"
    objects = [read_back(p) for p in paths]
    if DCIODVFY is None:
        why = "dciodvfy not installed (Debian package dicom3tools; .ci/run installs it)"
        if os.environ.get("PNEUMOVIEWER_REQUIRE_DCIODVFY"):
            pytest.fail(why)
        pytest.skip(why)
    for p in paths:
        assert dciodvfy_errors(p) == [], p.name
    return objects

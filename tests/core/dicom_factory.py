"""Build small synthetic DICOM files with pydicom for the core tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import (
    BasicTextSRStorage,
    ComputedRadiographyImageStorage,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    generate_uid,
)


def base_dataset(
    *,
    sop_class: str = ComputedRadiographyImageStorage,
    modality: str = "CR",
    sop_uid: str | None = None,
    transfer_syntax: str = ExplicitVRLittleEndian,
) -> FileDataset:
    """Return an empty Part-10 data set with file meta and a few patient/study tags."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_uid or generate_uid()
    meta.TransferSyntaxUID = transfer_syntax
    ds = FileDataset("", Dataset(), file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = modality
    ds.StudyDate = "20190101"
    ds.PatientID = "P-001"
    ds.PatientAge = "045Y"
    ds.PatientSex = "F"
    ds.BodyPartExamined = "CHEST"
    ds.ViewPosition = "PA"
    return ds


def make_image(
    pixels: np.ndarray,
    *,
    photometric: str = "MONOCHROME2",
    bits_stored: int | None = None,
    rescale: tuple[float, float] | None = None,
    window: tuple[float, float] | None = None,
    voi_lut: tuple[int, int, list[int]] | None = None,
    pixel_spacing: tuple[float, float] | None = (0.2, 0.25),
    sop_uid: str | None = None,
    transfer_syntax: str = ExplicitVRLittleEndian,
    padding: int | tuple[int, int] | None = None,
) -> FileDataset:
    """Build an image data set.

    ``pixels`` uint8/uint16/int8/int16 (rows, columns) (or more dims for colour/frames);
    ``rescale`` = (slope, intercept); ``window`` = (center, width); ``voi_lut`` =
    (first mapped value, bits per entry, LUT data); ``padding`` = Pixel Padding Value, or
    (Pixel Padding Value, Pixel Padding Range Limit).
    """
    ds = base_dataset(sop_uid=sop_uid, transfer_syntax=transfer_syntax)
    bits = bits_stored or pixels.dtype.itemsize * 8
    ds.set_pixel_data(pixels, photometric, bits, generate_instance_uid=sop_uid is None)
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    if transfer_syntax != ExplicitVRLittleEndian:
        ds.file_meta.TransferSyntaxUID = transfer_syntax
    if pixel_spacing is not None:
        ds.PixelSpacing = list(pixel_spacing)
    if rescale is not None:
        ds.RescaleSlope, ds.RescaleIntercept = rescale
    if window is not None:
        ds.WindowCenter, ds.WindowWidth = window
    if padding is not None:
        value, limit = padding if isinstance(padding, tuple) else (padding, None)
        vr = "SS" if pixels.dtype.kind == "i" else "US"
        ds.add_new(0x00280120, vr, value)  # Pixel Padding Value
        if limit is not None:
            ds.add_new(0x00280121, vr, limit)  # Pixel Padding Range Limit
    if voi_lut is not None:
        first, lut_bits, data = voi_lut
        item = Dataset()
        item.add_new(0x00283002, "US", [len(data), first, lut_bits])  # LUT Descriptor
        item.add_new(0x00283006, "US", list(data))  # LUT Data (ambiguous US/OW: say US)
        ds.VOILUTSequence = Sequence([item])
    return ds


def write(ds: FileDataset, path: str | Path) -> Path:
    """Save ``ds`` as a Part-10 file (preamble + DICM) and return the path."""
    path = Path(path)
    ds.save_as(path, enforce_file_format=True)
    return path


def write_image(path: str | Path, pixels: np.ndarray, **kwargs) -> Path:
    """``write(make_image(pixels, **kwargs), path)``."""
    return write(make_image(pixels, **kwargs), path)


def write_sr(path: str | Path, *, sop_uid: str | None = None) -> Path:
    """A Basic Text SR (a DICOM object without an image)."""
    ds = base_dataset(sop_class=BasicTextSRStorage, modality="SR", sop_uid=sop_uid)
    ds.ValueType = "CONTAINER"
    ds.ContinuityOfContent = "SEPARATE"
    return write(ds, path)


def write_implicit(path: str | Path, pixels: np.ndarray) -> Path:
    """An uncompressed image in Implicit VR Little Endian."""
    ds = make_image(pixels)
    ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    return write(ds, path)


def read_back(path: str | Path) -> FileDataset:
    """Read a file with pydicom (for assertions on what was written)."""
    return pydicom.dcmread(path)


def write_bare(path: str | Path, ds: FileDataset) -> Path:
    """Write ``ds`` as a bare Implicit VR Little Endian data set: no preamble, no File Meta."""
    path = Path(path)
    ds.preamble = None
    del ds.file_meta
    pydicom.dcmwrite(path, ds, implicit_vr=True, little_endian=True, enforce_file_format=False)
    return path

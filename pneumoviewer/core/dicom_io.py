"""Read chest X-ray DICOM files: header-only metadata and display-ready 8-bit pixels.

Display pipeline of :func:`load_xray` (pydicom's own functions, in the standard's order):

1. decode the pixel data (uncompressed, JPEG Baseline/Extended/Lossless, JPEG-LS,
   JPEG 2000, RLE Lossless through pydicom 3 and the pylibjpeg plugins);
2. Modality LUT or Rescale Slope/Intercept (``pydicom.pixels.apply_modality_lut``);
3. VOI LUT Sequence, else Window Center/Width (``apply_voi_lut(prefer_lut=True)``, first
   view); the result is scaled from the VOI output range (LUT: ``0 .. 2**bits - 1`` from
   the LUT Descriptor; window: the range pydicom's ``apply_windowing`` maps onto) to
   0..255. Without a VOI transform (or with an unusable one, e.g. width 0) the rescaled
   values are min-max scaled (plain minimum and maximum, no percentile clipping);
4. MONOCHROME1 is inverted so that air is always dark.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.pixels import apply_modality_lut, apply_voi_lut

from pneumoviewer.core.dicom_header import (
    HEADER_TAGS,
    XrayMetadata,
    header_from_fileobj,
    read_header,
    sniff_dicom,
)
from pneumoviewer.core.errors import DicomReadError

# A truncated file makes pydicom warn before we raise a DicomReadError that says so.
warnings.filterwarnings("ignore", message="End of file reached", module=r"pydicom(\.|$)")

__all__ = [
    "HEADER_TAGS",
    "XrayImage",
    "XrayMetadata",
    "header_from_fileobj",
    "load_xray",
    "read_header",
    "sniff_dicom",
    "to_display",
]


@dataclass(frozen=True, slots=True)
class XrayImage:
    """A decoded radiograph ready for display and inference.

    ``pixels`` is uint8 (rows, columns), C-contiguous, air dark.
    """

    image_id: str
    path: Path
    pixels: np.ndarray
    metadata: XrayMetadata


def _voi_range(ds: Dataset) -> tuple[float, float] | None:
    """Output range of the VOI transform ``apply_voi_lut(prefer_lut=True)`` applies."""
    seq = ds.get("VOILUTSequence")
    if seq and seq[0].get("LUTDescriptor") is not None and seq[0].get("LUTData") is not None:
        return 0.0, float(2 ** int(seq[0].LUTDescriptor[2]) - 1)
    if ds.get("WindowCenter") is None or ds.get("WindowWidth") is None:
        return None
    # Mirrors pydicom.pixels.apply_windowing: the window maps onto the stored range,
    # passed through the Modality LUT / rescale.
    if ds.get("ModalityLUTSequence"):
        y_min, y_max = 0.0, float(2 ** int(ds.ModalityLUTSequence[0].LUTDescriptor[2]) - 1)
    else:
        bits = int(ds.BitsStored)
        if ds.PixelRepresentation == 0:
            y_min, y_max = 0.0, float(2**bits - 1)
        else:
            y_min, y_max = float(-(2 ** (bits - 1))), float(2 ** (bits - 1) - 1)
        if ds.get("RescaleSlope") is not None and ds.get("RescaleIntercept") is not None:
            slope, intercept = float(ds.RescaleSlope), float(ds.RescaleIntercept)
            y_min, y_max = y_min * slope + intercept, y_max * slope + intercept
    return y_min, y_max


def to_display(ds: Dataset, stored: np.ndarray) -> np.ndarray:
    """Map stored pixel values to display uint8 (air dark).

    Parameters
    ----------
    ds : Dataset
        Supplies the Modality LUT / rescale, the VOI LUT / window and the photometric
        interpretation.
    stored : np.ndarray
        (rows, columns) stored values as decoded by pydicom (any integer dtype).

    Returns
    -------
    np.ndarray
        uint8 (rows, columns), C-contiguous; MONOCHROME1 inverted.

    """
    values = apply_modality_lut(stored, ds)
    lo = hi = None
    try:
        voi = _voi_range(ds)
        if voi is not None:
            values = apply_voi_lut(values, ds, index=0, prefer_lut=True)
            lo, hi = voi
    except (ValueError, NotImplementedError, TypeError, IndexError, AttributeError):
        lo = hi = None  # unusable VOI (e.g. width 0): fall back to min-max of the values
        values = apply_modality_lut(stored, ds)
    values = np.asarray(values, dtype=np.float32)
    if lo is None or hi is None:
        lo, hi = float(values.min()), float(values.max())
    span = hi - lo
    if span == 0:
        scaled = np.zeros(values.shape, dtype=np.float32)
    else:
        scaled = (values - np.float32(lo)) * np.float32(255.0 / span)
    np.clip(scaled, 0, 255, out=scaled)
    if str(ds.get("PhotometricInterpretation", "")).strip().upper() == "MONOCHROME1":
        scaled = np.float32(255.0) - scaled
    return np.ascontiguousarray(np.rint(scaled).astype(np.uint8))


def load_xray(path: str | os.PathLike) -> XrayImage:
    """Read and decode a single-frame grayscale DICOM radiograph for display.

    Parameters
    ----------
    path : str or os.PathLike
        The DICOM file (any name).

    Returns
    -------
    XrayImage
        ``pixels`` uint8 (rows, columns), C-contiguous, air dark (see the module docstring
        for the pipeline).

    Raises
    ------
    DicomReadError
        Missing, empty, non-DICOM or truncated file; no pixel data (SR, KO, PR...); colour
        or multi-frame image; pixel data that cannot be decoded. Never another type.

    """
    try:
        with open(path, "rb") as fp:
            # Header first (cheap): clear messages for empty, non-DICOM, truncated-header,
            # non-image, colour and multi-frame files before any pixel work.
            image_id, metadata = header_from_fileobj(fp, path)
            fp.seek(0)
            kind = sniff_dicom(fp.read(132))
            fp.seek(0)
            try:
                ds = pydicom.dcmread(fp, force=kind == "raw")
            except Exception as exc:
                raise DicomReadError(path, f"unreadable DICOM file ({exc})") from exc
    except OSError as exc:
        raise DicomReadError(path, f"cannot open file ({exc.strerror or exc})") from exc
    if "PixelData" not in ds:
        if "Rows" not in ds:  # pydicom gives up on the whole data set at an early EOF
            raise DicomReadError(path, "truncated or damaged file (data set ends too early)")
        raise DicomReadError(path, "no pixel data")
    if "TransferSyntaxUID" not in ds.file_meta and metadata.transfer_syntax:
        # A bare data set (no File Meta): pydicom decodes only with a transfer syntax.
        ds.file_meta.TransferSyntaxUID = metadata.transfer_syntax
    syntax = ds.file_meta.get("TransferSyntaxUID")
    try:
        stored = ds.pixel_array
    except Exception as exc:
        name = getattr(syntax, "name", None) or "unknown transfer syntax"
        raise DicomReadError(path, f"cannot decode pixel data ({name}): {exc}") from exc
    rows, columns = metadata.rows, metadata.columns
    if stored.ndim != 2 or stored.shape != (rows, columns):
        raise DicomReadError(
            path, f"decoded pixel array has shape {stored.shape}, expected ({rows}, {columns})"
        )
    try:
        pixels = to_display(ds, stored)
    except Exception as exc:
        raise DicomReadError(path, f"invalid pixel transform values ({exc})") from exc
    return XrayImage(image_id=image_id, path=Path(path), pixels=pixels, metadata=metadata)

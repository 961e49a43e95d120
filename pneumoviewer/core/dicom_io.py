"""Read chest X-ray DICOM files: stored values, padding and display-ready 8-bit pixels.

:func:`load_xray` reads the file once into memory, checks that it is long enough for its
header and pixel data (a cut file is reported as truncated, before any decoding), parses
it once with pydicom and builds the metadata from that same data set.

Display pipeline (pydicom's own functions, in the standard's order):

1. decode the pixel data (uncompressed, JPEG Baseline/Extended/Lossless, JPEG-LS,
   JPEG 2000, RLE Lossless through pydicom 3 and the pylibjpeg plugins);
2. Pixel Padding Value (with Pixel Padding Range Limit: the range between the two,
   inclusive) marks padding pixels on the decoded values: the ``padding`` mask;
3. Modality LUT or Rescale Slope/Intercept (``pydicom.pixels.apply_modality_lut``): the
   ``stored`` values (float32, "stored units", not inverted);
4. VOI LUT Sequence, else Window Center/Width (``apply_voi_lut(prefer_lut=True)``, first
   view); the result is scaled from the VOI output range (LUT: ``0 .. 2**bits - 1`` from
   the LUT Descriptor; window: the range pydicom's ``apply_windowing`` maps onto) to
   0..255. Without a VOI transform (or with an unusable one, e.g. width 0) the values are
   min-max scaled over the non-padding pixels (plain minimum and maximum);
5. MONOCHROME1 is inverted so that air is always dark;
6. padding pixels are 0 (black) in the display, whatever their stored value.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.pixels import apply_modality_lut, apply_voi_lut
from pydicom.uid import JPEGBaseline8Bit

from pneumoviewer.core._scan_header import TRUNCATED_HEADER, read_header, truncation_problem
from pneumoviewer.core.dicom_header import (
    HEADER_TAGS,
    XrayMetadata,
    format_age,
    metadata_from_dataset,
    not_dicom_message,
    sniff_dicom,
)
from pneumoviewer.core.errors import DicomReadError

__all__ = [
    "HEADER_TAGS",
    "PADDING_DISPLAY_VALUE",
    "XrayImage",
    "XrayMetadata",
    "format_age",
    "load_xray",
    "padding_mask",
    "read_header",
    "sniff_dicom",
    "to_display",
]

#: Grey level of padding pixels in the display image (and so in the model input).
PADDING_DISPLAY_VALUE = 0


@dataclass(frozen=True, slots=True)
class XrayImage:
    """A decoded radiograph ready for display and inference.

    Attributes
    ----------
    image_id : str
        SOPInstanceUID, else the file stem.
    path : Path
        The file the pixels come from.
    pixels : np.ndarray
        uint8 (rows, columns), C-contiguous, air dark; padding pixels are 0.
    metadata : XrayMetadata
        Header facts (identical to what the folder scan reads).
    stored : np.ndarray
        float32 (rows, columns): the decoded values with the Modality LUT / rescale
        applied, not inverted ("stored units": the units of the file's windows).
    padding : np.ndarray or None
        bool (rows, columns), True on Pixel Padding Value / Range pixels; None when the
        file declares no padding or no pixel carries it.

    """

    image_id: str
    path: Path
    pixels: np.ndarray
    metadata: XrayMetadata
    stored: np.ndarray
    padding: np.ndarray | None = None


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


def _padding_value(ds: Dataset, keyword: str) -> int | None:
    try:
        value = ds.get(keyword)
    except Exception:
        return None
    if value is None or isinstance(value, bytes):
        return None
    if isinstance(value, list | tuple | pydicom.multival.MultiValue):
        value = value[0] if len(value) else None
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    bits = int(ds.get("BitsAllocated", 16) or 16)
    if ds.get("PixelRepresentation", 0) == 1 and number >= 2 ** (bits - 1):
        number -= 2**bits  # a signed image whose padding value was written as US
    return number


def padding_mask(ds: Dataset, raw: np.ndarray) -> np.ndarray | None:
    """Pixels marked as padding by Pixel Padding Value (and Pixel Padding Range Limit).

    Parameters
    ----------
    ds : Dataset
        Supplies (0028,0120) Pixel Padding Value and (0028,0121) Pixel Padding Range
        Limit.
    raw : np.ndarray
        (rows, columns) values as decoded by pydicom (before the Modality LUT).

    Returns
    -------
    np.ndarray or None
        bool (rows, columns): ``raw == value``, or ``lo <= raw <= hi`` between the two
        values when a range limit is given; None when there is no padding value or no
        pixel carries it.

    """
    value = _padding_value(ds, "PixelPaddingValue")
    if value is None:
        return None
    limit = _padding_value(ds, "PixelPaddingRangeLimit")
    if limit is None:
        mask = raw == value
    else:
        lo, hi = min(value, limit), max(value, limit)
        mask = (raw >= lo) & (raw <= hi)
    return mask if mask.any() else None


def _display(
    ds: Dataset, raw: np.ndarray, modality: np.ndarray, padding: np.ndarray | None
) -> np.ndarray:
    if raw.dtype in (np.uint8, np.uint16) and raw.ndim == 2 and raw.size >= _TABLE_MIN_PIXELS:
        return _display_by_table(ds, raw, padding)
    out = _scaled(ds, modality, None if padding is None else ~padding)
    if padding is not None:
        out[padding] = PADDING_DISPLAY_VALUE
    return np.ascontiguousarray(out)


#: Unsigned images at least this large go through :func:`_display_by_table`.
_TABLE_MIN_PIXELS = 1 << 16


def _display_by_table(ds: Dataset, raw: np.ndarray, padding: np.ndarray | None) -> np.ndarray:
    """:func:`_display` per grey level, then one look-up per pixel (#11 §1, speed).

    Every step of the display (Modality LUT / rescale, VOI LUT / window, scaling, clipping,
    inversion, rounding) maps each pixel on its own, so it is computed once per possible
    stored value (256 or 65,536) and the image is looked up: the same bits as running it
    on every pixel (tests/core/test_dicom_display_table.py), ~1-3 ms instead of ~14 ms at
    1024². The min-max fallback takes its range over the grey levels that occur outside
    the padding, which are exactly the pixels it took it over.
    """
    import cv2

    levels = np.arange(np.iinfo(raw.dtype).max + 1, dtype=raw.dtype)
    mask = None if padding is None else np.ascontiguousarray(~padding).view(np.uint8)
    n = len(levels)
    present = cv2.calcHist([np.ascontiguousarray(raw)], [0], mask, [n], [0, n]).ravel() > 0
    table = _scaled(ds, apply_modality_lut(levels, ds), present)
    out = cv2.LUT(raw, table) if raw.dtype == np.uint8 else table[raw]
    if padding is not None:
        out[padding] = PADDING_DISPLAY_VALUE
    return np.ascontiguousarray(out)


def _scaled(ds: Dataset, modality: np.ndarray, inside: np.ndarray | None) -> np.ndarray:
    """VOI, scale to 0..255, MONOCHROME1 inverted: uint8 of ``modality``'s shape.

    ``inside`` (bool, ``modality``'s shape) selects the values the min-max fallback spans
    (None: all of them).
    """
    values = modality
    lo = hi = None
    try:
        voi = _voi_range(ds)
        if voi is not None:
            values = apply_voi_lut(modality, ds, index=0, prefer_lut=True)
            lo, hi = voi
    except (ValueError, NotImplementedError, TypeError, IndexError, AttributeError):
        lo = hi = None  # unusable VOI (e.g. width 0): fall back to min-max of the values
        values = modality
    values = np.asarray(values, dtype=np.float32)
    if lo is None or hi is None:
        kept = values if inside is None else values[inside]
        lo, hi = (float(kept.min()), float(kept.max())) if kept.size else (0.0, 0.0)
    span = hi - lo
    if span == 0:
        scaled = np.zeros(values.shape, dtype=np.float32)
    else:
        scaled = (values - np.float32(lo)) * np.float32(255.0 / span)
    np.clip(scaled, 0, 255, out=scaled)
    if str(ds.get("PhotometricInterpretation", "")).strip().upper() == "MONOCHROME1":
        scaled = np.float32(255.0) - scaled
    return np.rint(scaled).astype(np.uint8)


def to_display(ds: Dataset, stored: np.ndarray, *, padding: np.ndarray | None = None) -> np.ndarray:
    """Map decoded pixel values to display uint8 (air dark, padding black).

    Parameters
    ----------
    ds : Dataset
        Supplies the Modality LUT / rescale, the VOI LUT / window and the photometric
        interpretation.
    stored : np.ndarray
        (rows, columns) values as decoded by pydicom (any integer dtype).
    padding : np.ndarray or None
        bool (rows, columns) padding pixels (see :func:`padding_mask`): left out of the
        min-max scaling and shown as 0.

    Returns
    -------
    np.ndarray
        uint8 (rows, columns), C-contiguous; MONOCHROME1 inverted.

    """
    return _display(ds, stored, apply_modality_lut(stored, ds), padding)


_CODECS = (("JPEG 2000", "JPEG 2000"), ("JPEG-LS", "JPEG-LS"), ("JPEG", "JPEG"), ("RLE", "RLE"))


def _codec(syntax: object) -> str:
    name = getattr(syntax, "name", None) or ""
    for key, label in _CODECS:
        if key in name:
            return label
    return ""


def _decode_error(path: str | os.PathLike, syntax: object, exc: Exception) -> DicomReadError:
    codec = _codec(syntax)
    text = str(exc)
    detail = f"{getattr(syntax, 'name', None) or syntax}: {exc!r}"
    if "decoders available" in text or "missing" in text and "dependenc" in text:
        return DicomReadError(
            path,
            f"this file's image compression ({codec or getattr(syntax, 'name', syntax)}) "
            "cannot be decoded by this installation",
            detail=detail,
            kind="unsupported",
        )
    what = f"the {codec} image data" if codec else "the image data"
    return DicomReadError(
        path, f"{what} in this file is damaged and cannot be decoded", detail=detail
    )


def _pixel_array(ds: Dataset, syntax: object) -> np.ndarray:
    """Decode the pixel data; JPEG Baseline through Pillow where GDCM would do it (#11 §1).

    pydicom tries its JPEG Baseline (8-bit) plugins in the order GDCM, pylibjpeg, Pillow.
    Where python-gdcm is installed (the test extra, so development and CI machines), GDCM
    takes ~30 ms per 1024² SIIM image with the GIL held; Pillow (libjpeg-turbo, GIL
    released) takes ~6 ms and gives the same bits (both the accurate integer IDCT; checked
    on 220 SIIM files and the bundled samples, tests/core/test_dicom_decoder.py). Without
    GDCM (a user's install) nothing changes: pydicom's order picks pylibjpeg, whose output
    differs from Pillow's by one grey level on ~3 % of the pixels, so swapping it would
    change results. A Pillow failure falls back to pydicom's order, so a damaged file
    reports what it always did.
    """
    if syntax == JPEGBaseline8Bit and _gdcm_first_and_pillow():
        try:
            ds.pixel_array_options(decoding_plugin="pillow")
            return ds.pixel_array
        except Exception:  # noqa: BLE001 - the usual decoders decide (and name the error)
            pass
        finally:
            ds.pixel_array_options(decoding_plugin="")
    return ds.pixel_array


def _gdcm_first_and_pillow() -> bool:
    """Return whether pydicom would decode JPEG Baseline with GDCM and Pillow is there too."""
    from pydicom.pixels.decoders import JPEGBaseline8BitDecoder

    plugins = JPEGBaseline8BitDecoder.available_plugins
    return "gdcm" in plugins and "pillow" in plugins


def load_xray(path: str | os.PathLike) -> XrayImage:
    """Read and decode a single-frame grayscale DICOM radiograph.

    Parameters
    ----------
    path : str or os.PathLike
        The DICOM file (any name).

    Returns
    -------
    XrayImage
        ``pixels`` uint8 display (see the module docstring), ``stored`` float32 values
        in stored units, ``padding`` mask, metadata.

    Raises
    ------
    DicomReadError
        Missing, empty, non-DICOM or truncated file; no pixel data (SR, KO, PR...); colour
        or multi-frame image; pixel data that cannot be decoded. Never another type. Its
        message is plain language; the library's error text is in ``detail`` (logged).

    """
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise DicomReadError(
            path, f"the file cannot be opened ({exc.strerror or exc})", kind="cannot open"
        ) from exc
    if not data:
        raise DicomReadError(path, "the file is empty", kind="not dicom")
    kind = sniff_dicom(data[:132])
    if kind is None:
        raise DicomReadError(path, not_dicom_message(data[:132]), kind="not dicom")
    cut = truncation_problem(data) if kind == "part10" else None
    if cut is not None:
        raise DicomReadError(path, cut, kind="truncated")
    try:
        ds = pydicom.dcmread(io.BytesIO(data), force=kind == "raw")
    except Exception as exc:  # pydicom raises many types on damaged files
        raise DicomReadError(
            path, "the file could not be read as DICOM (it is damaged)", detail=repr(exc)
        ) from exc
    if kind == "raw" and "SOPClassUID" not in ds and "Rows" not in ds:
        raise DicomReadError(path, "not a DICOM file (no 'DICM' marker)", kind="not dicom")
    image_id, metadata = metadata_from_dataset(ds, path)
    if "PixelData" not in ds:
        if "Rows" not in ds:  # pydicom gives up on the whole data set at an early EOF
            raise DicomReadError(path, TRUNCATED_HEADER, kind="truncated")
        raise DicomReadError(path, "the file has no image data", kind="not an image")
    if "TransferSyntaxUID" not in ds.file_meta and metadata.transfer_syntax:
        # A bare data set (no File Meta): pydicom decodes only with a transfer syntax.
        ds.file_meta.TransferSyntaxUID = metadata.transfer_syntax
    syntax = ds.file_meta.get("TransferSyntaxUID")
    try:
        raw = _pixel_array(ds, syntax)
    except Exception as exc:
        raise _decode_error(path, syntax, exc) from exc
    if raw.ndim != 2 or raw.shape != (metadata.rows, metadata.columns):
        raise DicomReadError(
            path,
            "the image data does not match the image size in the header",
            detail=f"decoded {raw.shape}, header ({metadata.rows}, {metadata.columns})",
        )
    try:
        padding = padding_mask(ds, raw)
        modality = apply_modality_lut(raw, ds)
        stored = np.ascontiguousarray(modality, dtype=np.float32)
        pixels = _display(ds, raw, modality, padding)
    except Exception as exc:
        raise DicomReadError(
            path,
            "the file's grey-level settings (rescale, LUT or window values) are invalid",
            detail=repr(exc),
        ) from exc
    return XrayImage(
        image_id=image_id,
        path=Path(path),
        pixels=pixels,
        metadata=metadata,
        stored=stored,
        padding=padding,
    )

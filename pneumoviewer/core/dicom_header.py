"""Header facts of chest X-ray DICOM files: the metadata type and how it is built.

:class:`XrayMetadata` is what the study list, the info panel and the canvas show. It is
built from the values of the tags in :data:`HEADER_TAGS` only, by :func:`metadata_from_values`,
whichever reader produced them: :func:`~pneumoviewer.core.dicom_io.load_xray` takes them
from the data set it decodes (one read of the file), the folder scan from its own fast
header parser (:mod:`pneumoviewer.core._scan_header`). Both give identical metadata (tested).

Nothing here changes process-wide state (no warnings filters): the values are taken from
pydicom's raw elements, so invalid values in real files (e.g. the SIIM stage-2
SOPInstanceUIDs ``ID_...``) are not validated and do not warn.
"""

from __future__ import annotations

import os
import re
import struct
from dataclasses import dataclass
from pathlib import Path

import pydicom
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset

from pneumoviewer.core.errors import DicomReadError

__all__ = [
    "HEADER_TAGS",
    "NON_IMAGE_MODALITIES",
    "XrayMetadata",
    "format_age",
    "inferred_syntax",
    "metadata_from_dataset",
    "metadata_from_values",
    "parse_age",
    "sniff_dicom",
]

#: Tags the metadata is built from (and the folder scan parses); everything else is skipped.
_HEADER_KEYWORDS = (
    "SpecificCharacterSet",
    "SOPClassUID",
    "SOPInstanceUID",
    "StudyDate",
    "Modality",
    "PatientID",
    "PatientSex",
    "PatientAge",
    "BodyPartExamined",
    "ImagerPixelSpacing",
    "ViewPosition",
    "PatientOrientation",
    "SamplesPerPixel",
    "PhotometricInterpretation",
    "NumberOfFrames",
    "Rows",
    "Columns",
    "PixelSpacing",
    "BitsStored",
    "WindowCenter",
    "WindowWidth",
    "WindowCenterWidthExplanation",
)
HEADER_TAGS: tuple[int, ...] = tuple(
    sorted(pydicom.datadict.tag_for_keyword(k) for k in _HEADER_KEYWORDS)  # type: ignore[misc]
)
LAST_HEADER_GROUP = HEADER_TAGS[-1] >> 16
KW_TAG = {k: pydicom.datadict.tag_for_keyword(k) for k in _HEADER_KEYWORDS}
TAG_KW = {tag: k for k, tag in KW_TAG.items()}
US_KEYWORDS = frozenset({"SamplesPerPixel", "Rows", "Columns", "BitsStored"})
HeaderValue = str | int | None

#: Modalities of DICOM objects that never carry an image.
NON_IMAGE_MODALITIES = frozenset(
    {"SR", "KO", "PR", "DOC", "REG", "RTSTRUCT", "RTPLAN", "RTRECORD", "PLAN", "FID"}
)
SPACING_SOURCES = {"PixelSpacing": "Pixel Spacing", "ImagerPixelSpacing": "Imager Pixel Spacing"}


@dataclass(frozen=True, slots=True)
class XrayMetadata:
    """Header facts shown in the study list, the info panel and on the canvas.

    Strings are stripped DICOM values, ``None`` when absent or empty.

    Attributes
    ----------
    pixel_spacing : tuple of float or None
        ``(row, column)`` in mm from Pixel Spacing, else Imager Pixel Spacing.
    pixel_spacing_source : str or None
        Which tag ``pixel_spacing`` came from: ``"Pixel Spacing"`` (calibrated at the
        patient) or ``"Imager Pixel Spacing"`` (at the detector); None without spacing.
    patient_orientation : tuple of (str, str) or None
        Patient Orientation (0020,0020): the patient direction of the rows (towards the
        right of the image) and of the columns (towards the bottom), e.g. ``("L", "F")``;
        None when absent or malformed.
    window_centers, window_widths : tuple of float
        The file's own VOI windows (Window Center/Width, in stored units after the
        Modality LUT), same length; empty when absent or unusable (width <= 0).
    window_explanations : tuple of str
        Window Center & Width Explanation, one per window when given (else empty).
    age_years : int or None
        Patient's Age in whole years (``"041Y"``, ``"38"``, ``"018M"`` -> 41, 38, 1).

    """

    patient_id: str | None
    patient_age: str | None
    patient_sex: str | None
    view_position: str | None
    modality: str | None
    body_part: str | None
    study_date: str | None
    rows: int
    columns: int
    pixel_spacing: tuple[float, float] | None
    photometric: str | None
    bits_stored: int | None
    transfer_syntax: str | None
    pixel_spacing_source: str | None = None
    patient_orientation: tuple[str, str] | None = None
    window_centers: tuple[float, ...] = ()
    window_widths: tuple[float, ...] = ()
    window_explanations: tuple[str, ...] = ()
    age_years: int | None = None

    @property
    def age_text(self) -> str | None:
        """The age in the one format used everywhere (``"41 y"``); see :func:`format_age`."""
        return format_age(self.patient_age)


# --- age -------------------------------------------------------------------------------

_AGE = re.compile(r"^\s*0*(\d{1,3})\s*([DWMY]?)\s*$", re.IGNORECASE)
_DAYS_PER = {"D": 1.0, "W": 7.0, "M": 365.25 / 12, "Y": 365.25}


def parse_age(value: str | None) -> tuple[int, str] | None:
    """Parse a Patient's Age.

    Parameters
    ----------
    value : str or None
        A DICOM AS value (``"041Y"``, ``"018M"``, ``"003W"``, ``"005D"``) or a bare number
        (``"38"``, as in the SIIM files: taken as years).

    Returns
    -------
    tuple of (int, str) or None
        ``(number, unit)`` with unit one of ``"D" "W" "M" "Y"``; None when absent or not
        an age.

    """
    if not value:
        return None
    match = _AGE.match(value)
    if match is None:
        return None
    return int(match.group(1)), (match.group(2) or "Y").upper()


def format_age(value: str | None) -> str | None:
    """Format a Patient's Age the one way the interface and exports show it.

    Parameters
    ----------
    value : str or None
        The DICOM value (see :func:`parse_age`).

    Returns
    -------
    str or None
        ``"41 y"``, ``"18 m"``, ``"3 w"``, ``"5 d"``; the stripped text itself when it
        is not an age; None when absent.

    """
    parsed = parse_age(value)
    if parsed is None:
        text = value.strip() if value else ""
        return text or None
    number, unit = parsed
    return f"{number} {unit.lower()}"


def _age_years(value: str | None) -> int | None:
    parsed = parse_age(value)
    if parsed is None:
        return None
    number, unit = parsed
    if unit == "Y":
        return number
    return int(number * _DAYS_PER[unit] // _DAYS_PER["Y"])


# --- values ------------------------------------------------------------------------------


def sniff_dicom(head: bytes) -> str | None:
    """Classify the first bytes of a file.

    Parameters
    ----------
    head : bytes
        At least the first 132 bytes of the file (fewer when the file is shorter).

    Returns
    -------
    str or None
        ``"part10"`` for a 128-byte preamble followed by ``b"DICM"``; ``"raw"`` when the
        file starts like a bare little-endian data set (group 0002 or 0008; must be read
        with ``force=True`` and verified); ``None`` otherwise.

    """
    if head[128:132] == b"DICM":
        return "part10"
    if len(head) >= 8 and head[1] == 0 and head[0] in (0x02, 0x08):
        return "raw"
    return None


def not_dicom_message(head: bytes) -> str:
    """Plain-language reason why ``head`` (the first bytes of a file) is not DICOM."""
    if len(head) < 132:
        return f"not a DICOM file (only {len(head)} bytes, too short for a DICOM header)"
    return "not a DICOM file (no 'DICM' marker)"


def raw_text(raw: bytes) -> str | None:
    """ASCII bytes of a text value, stripped of padding; None when empty."""
    text = raw.decode("ascii").strip(" \x00")
    return text or None


def header_values(ds: Dataset) -> dict[str, HeaderValue]:
    """Return the :data:`HEADER_TAGS` values of ``ds`` as stripped str / int / None.

    Reads the raw bytes of not-yet-converted elements directly (no validation, no
    warnings, cheaper than pydicom's conversion); non-ASCII text and anything unusual go
    through pydicom's normal conversion.
    """
    values: dict[str, HeaderValue] = dict.fromkeys(KW_TAG)
    # Iterating the elements present is cheaper than one keyed look-up per tag.
    for elem in ds.values():
        keyword = TAG_KW.get(elem.tag)
        if keyword is None:
            continue
        if isinstance(elem, RawDataElement) and isinstance(elem.value, bytes):
            raw = elem.value
            if keyword in US_KEYWORDS and elem.VR in (None, "US"):
                if len(raw) >= 2:
                    order = "<H" if elem.is_little_endian else ">H"
                    values[keyword] = struct.unpack_from(order, raw)[0]
            elif raw.isascii() and b"\x1b" not in raw:  # ESC: ISO 2022 code extensions
                values[keyword] = raw_text(raw)
            else:
                values[keyword] = _converted(ds, elem.tag)
        else:
            values[keyword] = _converted(ds, elem.tag)
    return values


def _converted(ds: Dataset, tag: int) -> HeaderValue:
    try:
        value = ds[tag].value
    except Exception:
        return None
    if value is None:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, list | tuple | pydicom.multival.MultiValue):
        text = "\\".join(str(v) for v in value)
    else:
        text = str(value)
    return text.strip(" \x00") or None


def _as_str(value: HeaderValue) -> str | None:
    return None if value is None else str(value)


def _as_int(value: HeaderValue) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        try:
            return int(float(value))
        except (TypeError, ValueError):
            return None


def _floats(value: HeaderValue) -> tuple[float, ...] | None:
    if value is None:
        return ()
    try:
        return tuple(float(p) for p in str(value).split("\\"))
    except ValueError:
        return None


def _spacing(values: dict[str, HeaderValue]) -> tuple[tuple[float, float] | None, str | None]:
    for keyword in ("PixelSpacing", "ImagerPixelSpacing"):
        parts = _floats(values.get(keyword))
        if parts and len(parts) == 2 and parts[0] > 0 and parts[1] > 0:
            return (parts[0], parts[1]), SPACING_SOURCES[keyword]
    return None, None


def _orientation(value: HeaderValue) -> tuple[str, str] | None:
    if value is None:
        return None
    parts = [p.strip().upper() for p in str(value).split("\\")]
    if len(parts) != 2 or not all(parts) or not all(set(p) <= set("LRAPHF") for p in parts):
        return None
    return parts[0], parts[1]


def _windows(values: dict[str, HeaderValue]) -> tuple[tuple[float, ...], ...]:
    centers = _floats(values["WindowCenter"])
    widths = _floats(values["WindowWidth"])
    if not centers or not widths or len(centers) != len(widths):
        return (), (), ()
    if not all(w > 0 for w in widths):
        return (), (), ()
    text = _as_str(values["WindowCenterWidthExplanation"])
    names = tuple(p.strip() for p in text.split("\\")) if text else ()
    return centers, widths, names if len(names) == len(centers) else ()


def check_image(values: dict[str, HeaderValue], path: str | os.PathLike) -> None:
    """Raise DicomReadError unless the header describes a single-frame grayscale image."""
    modality = _as_str(values["Modality"])
    rows, columns = _as_int(values["Rows"]), _as_int(values["Columns"])
    if modality and modality.upper() in NON_IMAGE_MODALITIES or rows is None:
        sop = values["SOPClassUID"]
        kind = pydicom.uid.UID(str(sop)).name if sop else None
        kind = kind or (f"modality {modality}" if modality else "no Rows/Columns")
        raise DicomReadError(path, f"not an image ({kind})", kind="not an image")
    if not rows or not columns:
        raise DicomReadError(path, "image has no rows or columns", kind="not an image")
    samples = _as_int(values["SamplesPerPixel"]) or 1
    photometric = (_as_str(values["PhotometricInterpretation"]) or "MONOCHROME2").upper()
    if samples > 1 or photometric not in ("MONOCHROME1", "MONOCHROME2"):
        raise DicomReadError(
            path,
            f"colour images are not supported ({photometric}, {samples} samples/pixel)",
            kind="unsupported",
        )
    frames = _as_int(values["NumberOfFrames"]) or 1
    if frames > 1:
        raise DicomReadError(
            path, f"multi-frame images are not supported ({frames} frames)", kind="unsupported"
        )


def inferred_syntax(ds: Dataset) -> str | None:
    """Transfer syntax of a data set read without File Meta (from the encoding pydicom found).

    Parameters
    ----------
    ds : Dataset
        A data set read by pydicom (e.g. with ``force=True``).

    Returns
    -------
    str or None
        Implicit VR Little Endian, Explicit VR Little or Big Endian; None when unknown.

    """
    implicit, little = getattr(ds, "original_encoding", (None, None))
    if implicit is None or little is None:
        return None
    if implicit:
        return str(pydicom.uid.ImplicitVRLittleEndian) if little else None
    return str(pydicom.uid.ExplicitVRLittleEndian if little else pydicom.uid.ExplicitVRBigEndian)


def syntax_of(ds: Dataset) -> str | None:
    """Transfer syntax of a data set read by pydicom (File Meta, else the encoding found)."""
    meta = getattr(ds, "file_meta", None)
    syntax = meta.get("TransferSyntaxUID") if meta is not None else None
    return str(syntax) if syntax else inferred_syntax(ds)


def metadata_from_values(
    values: dict[str, HeaderValue], syntax: str | None, path: str | os.PathLike
) -> tuple[str, XrayMetadata]:
    """Check that the header describes a usable image and build its metadata.

    Parameters
    ----------
    values : dict
        The :data:`HEADER_TAGS` values by keyword (stripped str / int / None).
    syntax : str or None
        The transfer syntax UID.
    path : str or os.PathLike
        Named in errors; its stem is the image id when there is no SOPInstanceUID.

    Returns
    -------
    tuple of (str, XrayMetadata)

    Raises
    ------
    DicomReadError
        Not an image, colour, multi-frame, or an unparsable value.

    """
    check_image(values, path)
    try:
        spacing, source = _spacing(values)
        centers, widths, names = _windows(values)
        age = _as_str(values["PatientAge"])
        metadata = XrayMetadata(
            patient_id=_as_str(values["PatientID"]),
            patient_age=age,
            patient_sex=_as_str(values["PatientSex"]),
            view_position=_as_str(values["ViewPosition"]),
            modality=_as_str(values["Modality"]),
            body_part=_as_str(values["BodyPartExamined"]),
            study_date=_as_str(values["StudyDate"]),
            rows=_as_int(values["Rows"]) or 0,
            columns=_as_int(values["Columns"]) or 0,
            pixel_spacing=spacing,
            photometric=_as_str(values["PhotometricInterpretation"]),
            bits_stored=_as_int(values["BitsStored"]),
            transfer_syntax=syntax or None,
            pixel_spacing_source=source,
            patient_orientation=_orientation(values["PatientOrientation"]),
            window_centers=centers,
            window_widths=widths,
            window_explanations=names,
            age_years=_age_years(age),
        )
    except Exception as exc:  # malformed values
        raise DicomReadError(
            path, "a value in the file's header is invalid", detail=repr(exc)
        ) from exc
    image_id = _as_str(values["SOPInstanceUID"]) or Path(path).stem
    return image_id, metadata


def metadata_from_dataset(ds: Dataset, path: str | os.PathLike) -> tuple[str, XrayMetadata]:
    """:func:`metadata_from_values` for a data set read by pydicom (same checks, same result)."""
    return metadata_from_values(header_values(ds), syntax_of(ds), path)

"""Header-only reading of DICOM files: metadata for study lists and folder scans.

:func:`read_header` parses only the tags in :data:`HEADER_TAGS` and stops after group
0028, long before the pixel data. For the common file layout a small parser reads the
values straight from the first bytes (pydicom builds a whole ``FileDataset`` even for a
few tags, which costs more than the scan itself); anything unusual goes through
``pydicom.filereader.read_partial`` with ``specific_tags``. Both give identical results
(tested).
"""

from __future__ import annotations

import os
import struct
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import pydicom
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.filereader import read_partial

from pneumoviewer.core.errors import DicomReadError

__all__ = [
    "HEADER_TAGS",
    "NON_IMAGE_MODALITIES",
    "XrayMetadata",
    "header_from_fileobj",
    "inferred_syntax",
    "read_header",
    "sniff_dicom",
]

# Many real files (e.g. the SIIM stage-2 set, whose SOPInstanceUIDs are "ID_...") carry
# values that break VR rules; pydicom reads them fine but warns on every access.
warnings.filterwarnings("ignore", message="Invalid value for VR", module=r"pydicom(\.|$)")

#: Tags read by :func:`read_header` (and folder scans); everything else is skipped.
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
    "SamplesPerPixel",
    "PhotometricInterpretation",
    "NumberOfFrames",
    "Rows",
    "Columns",
    "PixelSpacing",
    "BitsStored",
)
HEADER_TAGS: tuple[int, ...] = tuple(
    sorted(pydicom.datadict.tag_for_keyword(k) for k in _HEADER_KEYWORDS)  # type: ignore[misc]
)
_LAST_HEADER_GROUP = HEADER_TAGS[-1] >> 16
#: Modalities of DICOM objects that never carry an image.
NON_IMAGE_MODALITIES = frozenset(
    {"SR", "KO", "PR", "DOC", "REG", "RTSTRUCT", "RTPLAN", "RTRECORD", "PLAN", "FID"}
)


@dataclass(frozen=True, slots=True)
class XrayMetadata:
    """Header facts shown in the study list and the info panel.

    Strings are stripped DICOM values, ``None`` when absent or empty. ``pixel_spacing`` is
    ``(row, column)`` in mm from Pixel Spacing, else Imager Pixel Spacing.
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


def _not_dicom(head: bytes) -> str:
    if len(head) < 132:
        return f"not a DICOM file (only {len(head)} bytes, too short for a DICOM header)"
    return "not a DICOM file (no 'DICM' marker)"


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


_KW_TAG = {k: pydicom.datadict.tag_for_keyword(k) for k in _HEADER_KEYWORDS}
_TAG_KW = {tag: k for k, tag in _KW_TAG.items()}
_US_KEYWORDS = frozenset({"SamplesPerPixel", "Rows", "Columns", "BitsStored"})
_HeaderValue = str | int | None


def _raw_text(raw: bytes) -> str | None:
    text = raw.decode("ascii").strip(" \x00")
    return text or None


def _header_values(ds: Dataset) -> dict[str, _HeaderValue]:
    """Return the :data:`HEADER_TAGS` values of ``ds`` as stripped str / int / None.

    Reads the raw bytes of not-yet-converted elements directly (pydicom's conversion and
    validation would cost more than parsing the file); non-ASCII text and anything
    unusual go through pydicom's normal conversion.
    """
    values: dict[str, _HeaderValue] = dict.fromkeys(_KW_TAG)
    # Iterating the (few) elements present is cheaper than 18 keyed look-ups.
    for elem in ds.values():
        keyword = _TAG_KW.get(elem.tag)
        if keyword is None:
            continue
        if isinstance(elem, RawDataElement) and isinstance(elem.value, bytes):
            raw = elem.value
            if keyword in _US_KEYWORDS and elem.VR in (None, "US"):
                if len(raw) >= 2:
                    order = "<H" if elem.is_little_endian else ">H"
                    values[keyword] = struct.unpack_from(order, raw)[0]
            elif raw.isascii() and b"\x1b" not in raw:  # ESC: ISO 2022 code extensions
                values[keyword] = _raw_text(raw)
            else:
                values[keyword] = _converted(ds, elem.tag)
        else:
            values[keyword] = _converted(ds, elem.tag)
    return values


def _converted(ds: Dataset, tag: int) -> _HeaderValue:
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


def _as_str(value: _HeaderValue) -> str | None:
    return None if value is None else str(value)


def _as_int(value: _HeaderValue) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        try:
            return int(float(value))
        except (TypeError, ValueError):
            return None


def _spacing(values: dict[str, _HeaderValue]) -> tuple[float, float] | None:
    for keyword in ("PixelSpacing", "ImagerPixelSpacing"):
        value = values.get(keyword)
        if value is None:
            continue
        parts = str(value).split("\\")
        try:
            if len(parts) == 2:
                row, col = float(parts[0]), float(parts[1])
                if row > 0 and col > 0:
                    return (row, col)
        except ValueError:
            continue
    return None


def _check_image(values: dict[str, _HeaderValue], path: str | os.PathLike) -> None:
    """Raise DicomReadError unless the header describes a single-frame grayscale image."""
    modality = _as_str(values["Modality"])
    rows, columns = _as_int(values["Rows"]), _as_int(values["Columns"])
    if modality and modality.upper() in NON_IMAGE_MODALITIES or rows is None:
        sop = values["SOPClassUID"]
        kind = pydicom.uid.UID(str(sop)).name if sop else None
        kind = kind or (f"modality {modality}" if modality else "no Rows/Columns")
        raise DicomReadError(path, f"not an image ({kind})")
    if not rows or not columns:
        raise DicomReadError(path, "image has no rows or columns")
    samples = _as_int(values["SamplesPerPixel"]) or 1
    photometric = (_as_str(values["PhotometricInterpretation"]) or "MONOCHROME2").upper()
    if samples > 1 or photometric not in ("MONOCHROME1", "MONOCHROME2"):
        raise DicomReadError(
            path, f"colour images are not supported ({photometric}, {samples} samples/pixel)"
        )
    frames = _as_int(values["NumberOfFrames"]) or 1
    if frames > 1:
        raise DicomReadError(path, f"multi-frame images are not supported ({frames} frames)")


def _syntax_of(ds: Dataset) -> str | None:
    meta = getattr(ds, "file_meta", None)
    syntax = meta.get("TransferSyntaxUID") if meta is not None else None
    return str(syntax) if syntax else inferred_syntax(ds)


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


def _metadata(values: dict[str, _HeaderValue], syntax: str | None) -> XrayMetadata:
    return XrayMetadata(
        patient_id=_as_str(values["PatientID"]),
        patient_age=_as_str(values["PatientAge"]),
        patient_sex=_as_str(values["PatientSex"]),
        view_position=_as_str(values["ViewPosition"]),
        modality=_as_str(values["Modality"]),
        body_part=_as_str(values["BodyPartExamined"]),
        study_date=_as_str(values["StudyDate"]),
        rows=_as_int(values["Rows"]) or 0,
        columns=_as_int(values["Columns"]) or 0,
        pixel_spacing=_spacing(values),
        photometric=_as_str(values["PhotometricInterpretation"]),
        bits_stored=_as_int(values["BitsStored"]),
        transfer_syntax=syntax or None,
    )


def _image_id(values: dict[str, _HeaderValue], path: str | os.PathLike) -> str:
    return _as_str(values["SOPInstanceUID"]) or Path(path).stem


def _stop_after_header(tag: int, vr: str | None, length: int) -> bool:
    # ``tag >> 16`` is a plain int operation (BaseTag's comparisons are Python-level).
    return tag >> 16 > _LAST_HEADER_GROUP


def header_from_fileobj(fp: BinaryIO, path: str | os.PathLike) -> tuple[str, XrayMetadata]:
    """Read the header of an open file (used by :func:`read_header` and folder scans).

    Parameters
    ----------
    fp : binary file object
        Positioned anywhere; it is rewound. Only the tags in :data:`HEADER_TAGS` are
        parsed and reading stops after the last of them (long before the pixel data).
    path : str or os.PathLike
        Named in errors and used for the fallback image id (file stem).

    Returns
    -------
    tuple of (str, XrayMetadata)
        The image id (SOPInstanceUID, else the file stem) and the metadata.

    Raises
    ------
    DicomReadError
        Empty, non-DICOM or unreadable file; non-image object (SR, KO, PR...); colour or
        multi-frame image.

    """
    fp.seek(0)
    head = fp.read(_FAST_CHUNKS[0])
    if not head:
        raise DicomReadError(path, "empty file")
    kind = sniff_dicom(head)
    if kind is None:
        raise DicomReadError(path, _not_dicom(head))
    parsed = _fast_header(head, fp) if kind == "part10" and _USE_FAST_PATH else None
    if parsed == _TRUNCATED:
        raise DicomReadError(path, "truncated file (it ends inside the DICOM header)")
    if parsed is not None:
        values, syntax = parsed
    else:
        values, syntax = _pydicom_header(fp, path, force=kind == "raw")
    try:
        _check_image(values, path)
        return _image_id(values, path), _metadata(values, syntax)
    except DicomReadError:
        raise
    except Exception as exc:  # malformed values (e.g. an unparsable DS)
        raise DicomReadError(path, f"invalid header value ({exc})") from exc


def _pydicom_header(
    fp: BinaryIO, path: str | os.PathLike, *, force: bool
) -> tuple[dict[str, _HeaderValue], str | None]:
    fp.seek(0)
    try:
        ds = read_partial(
            fp, stop_when=_stop_after_header, force=force, specific_tags=list(HEADER_TAGS)
        )
        if force and "SOPClassUID" not in ds and "Rows" not in ds:
            raise DicomReadError(path, "not a DICOM file (no 'DICM' marker)")
        return _header_values(ds), _syntax_of(ds)
    except DicomReadError:
        raise
    except Exception as exc:  # pydicom raises many types on damaged files
        raise DicomReadError(path, f"unreadable DICOM header ({exc})") from exc


# --- fast path ---------------------------------------------------------------------
# pydicom builds a full FileDataset even for 18 tags; for the common layout (Part 10
# file, little-endian explicit or implicit VR, defined lengths, plain ASCII values) the
# handful of header values is parsed here straight from the first bytes. Anything else
# (undefined-length sequence before group 0029, big endian, deflate, non-ASCII text,
# a header longer than 64 KiB, odd VRs) returns None and pydicom reads the file.
_USE_FAST_PATH = True
_FAST_CHUNKS = (8192, 65536)
_LONG_LENGTH_VRS = frozenset(
    {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}
)
_IMPLICIT_LE = "1.2.840.10008.1.2"
_EXPLICIT_BIG = "1.2.840.10008.1.2.2"
_unpack_tag = struct.Struct("<HH").unpack_from
_unpack_u16 = struct.Struct("<H").unpack_from
_unpack_u32 = struct.Struct("<L").unpack_from


_TRUNCATED = "truncated"


def _fast_header(
    buf: bytes, fp: BinaryIO
) -> tuple[dict[str, _HeaderValue], str | None] | str | None:
    """Parse the header values from the file's first bytes.

    Returns the values and the transfer syntax; :data:`_TRUNCATED` when the whole file
    is in ``buf`` and it ends inside the header; None to let pydicom read the file.
    """
    pos = 132
    syntax = None
    n = len(buf)
    whole_file = n < _FAST_CHUNKS[0]
    while pos + 8 <= n:  # File Meta Information: always explicit VR little endian
        group, elem = _unpack_tag(buf, pos)
        if group != 0x0002:
            break
        vr = buf[pos + 4 : pos + 6]
        if vr in _LONG_LENGTH_VRS:
            length, vpos = _unpack_u32(buf, pos + 8)[0], pos + 12
        else:
            length, vpos = _unpack_u16(buf, pos + 6)[0], pos + 8
        if length == 0xFFFFFFFF:
            return None
        if vpos + length > n:
            return _TRUNCATED if whole_file else None
        if elem == 0x0010:
            syntax = buf[vpos : vpos + length].decode("ascii", "replace").strip(" \x00")
        pos = vpos + length
    if whole_file and pos < n < pos + 8:
        return _TRUNCATED
    if not syntax or syntax == _EXPLICIT_BIG or not syntax.startswith("1.2.840.10008.1.2"):
        return None
    if syntax.startswith("1.2.840.10008.1.2.1.99"):  # deflated
        return None
    implicit = syntax == _IMPLICIT_LE
    values: dict[str, _HeaderValue] = dict.fromkeys(_KW_TAG)
    extended = whole_file
    while True:
        if pos + 12 > n and not extended:  # the header may go on past the first chunk
            extended = True
            wanted = _FAST_CHUNKS[1] - n
            more = fp.read(wanted)
            whole_file = len(more) < wanted
            buf += more
            n = len(buf)
        if pos + 8 > n:
            if pos == n:  # the file ends right after the header (e.g. an SR)
                return values, syntax
            return _TRUNCATED if whole_file else None
        group, elem = _unpack_tag(buf, pos)
        if group > _LAST_HEADER_GROUP:
            return values, syntax
        if implicit:
            vr = None
            length, vpos = _unpack_u32(buf, pos + 4)[0], pos + 8
        else:
            vr = buf[pos + 4 : pos + 6]
            if not (vr.isalpha() and vr.isupper()):
                return None  # not a VR: a writer switched to implicit VR; pydicom copes
            if vr in _LONG_LENGTH_VRS:
                length, vpos = _unpack_u32(buf, pos + 8)[0], pos + 12
            else:
                length, vpos = _unpack_u16(buf, pos + 6)[0], pos + 8
        if length == 0xFFFFFFFF:
            return None
        keyword = _TAG_KW.get(group << 16 | elem)
        if keyword is not None:
            if vpos + length > n:
                return _TRUNCATED if whole_file else None
            raw = buf[vpos : vpos + length]
            if keyword in _US_KEYWORDS:
                if vr not in (None, b"US") or length < 2:
                    return None
                values[keyword] = _unpack_u16(raw)[0]
            elif raw.isascii() and b"\x1b" not in raw:  # ESC: ISO 2022 code extensions
                values[keyword] = _raw_text(raw)
            else:
                return None
        pos = vpos + length


def read_header(path: str | os.PathLike) -> tuple[str, XrayMetadata]:
    """Read only the header of a DICOM file (no pixel data).

    Parameters
    ----------
    path : str or os.PathLike
        The file; any name, ``.dcm`` suffix not required.

    Returns
    -------
    tuple of (str, XrayMetadata)
        Image id (SOPInstanceUID, else the file stem) and metadata.

    Raises
    ------
    DicomReadError
        Missing, empty, non-DICOM or truncated file, or not a single-frame grayscale image.

    """
    try:
        with open(path, "rb") as fp:
            return header_from_fileobj(fp, path)
    except OSError as exc:
        raise DicomReadError(path, f"cannot open file ({exc.strerror or exc})") from exc

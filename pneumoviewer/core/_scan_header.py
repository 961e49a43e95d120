"""The folder scan's header reader (private): a fast parser and a pixel-data length check.

pydicom builds a whole ``FileDataset`` even for a few tags, which costs more than the
scan itself. For the common layout (Part 10 file, little-endian explicit or implicit VR,
defined lengths, plain ASCII values) the header values are parsed here straight from the
first bytes; anything else (undefined-length sequence before the last header tag, big
endian, deflate, non-ASCII text, a header longer than 64 KiB, odd VRs) goes through
``pydicom.filereader.read_partial`` with ``specific_tags``. Both give identical results
(tested), and the metadata is built by the same function as
:func:`~pneumoviewer.core.dicom_io.load_xray`'s
(:func:`~pneumoviewer.core.dicom_header.metadata_from_values`).

The same walk goes on past the header to the Pixel Data element and checks that the file
is long enough for it (native: its length; encapsulated: each fragment and the closing
delimiter), so a truncated file is reported as truncated at scan time, without decoding.
"""

from __future__ import annotations

import io
import os
import struct
from typing import BinaryIO

from pydicom.filereader import read_partial

from pneumoviewer.core.dicom_header import (
    HEADER_TAGS,
    KW_TAG,
    LAST_HEADER_GROUP,
    TAG_KW,
    US_KEYWORDS,
    HeaderValue,
    XrayMetadata,
    header_values,
    metadata_from_values,
    not_dicom_message,
    raw_text,
    sniff_dicom,
    syntax_of,
)
from pneumoviewer.core.errors import DicomReadError

__all__ = ["header_from_fileobj", "truncation_problem", "read_header"]

_USE_FAST_PATH = True
_FAST_CHUNKS = (8192, 65536)
_LONG_LENGTH_VRS = frozenset(
    {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}
)
_IMPLICIT_LE = "1.2.840.10008.1.2"
_EXPLICIT_BIG = "1.2.840.10008.1.2.2"
_UNDEFINED = 0xFFFFFFFF
_PIXEL_DATA = 0x7FE00010
_ITEM, _SEQ_END = 0xFFFEE000, 0xFFFEE0DD
_MAX_FRAGMENTS = 256  # more fragments than this: the check gives up (pydicom decides)
_MAX_SKIPPED = 512  # elements between the header and the pixel data walked at most
_unpack_tag = struct.Struct("<HH").unpack_from
_unpack_u16 = struct.Struct("<H").unpack_from
_unpack_u32 = struct.Struct("<L").unpack_from
_unpack_item = struct.Struct("<HHL").unpack_from

TRUNCATED_HEADER = "the file is incomplete (truncated inside its DICOM header)"
TRUNCATED_PIXELS = "the file is incomplete (truncated): part of its image data is missing"


_UNKNOWN = "unknown"


class _Truncated(Exception):
    """The file ends inside the part being parsed."""


class _Reader:
    """Bytes of a file at given offsets: from a prefix in memory, else seek + read."""

    __slots__ = ("buf", "fp", "size", "syntax")

    def __init__(self, buf: bytes, fp: BinaryIO, size: int) -> None:
        self.buf, self.fp, self.size = buf, fp, size
        self.syntax: str | None = None

    def at(self, pos: int, n: int) -> bytes:
        if pos + n <= len(self.buf):
            return self.buf[pos : pos + n]
        self.fp.seek(pos)
        return self.fp.read(n)


def _element(r: _Reader, pos: int, implicit: bool) -> tuple[int, bytes | None, int, int] | None:
    """(tag, VR, length, value offset) of the element at ``pos``; None: not parsable here."""
    head = r.at(pos, 12)
    if len(head) < 8:
        raise _Truncated
    group, elem = _unpack_tag(head)
    if implicit or group == 0xFFFE:
        return group << 16 | elem, None, _unpack_u32(head, 4)[0], pos + 8
    vr = head[4:6]
    if not (vr.isalpha() and vr.isupper()):
        return None  # not a VR: a writer switched to implicit VR; pydicom copes
    if vr in _LONG_LENGTH_VRS:
        if len(head) < 12:
            raise _Truncated
        return group << 16 | elem, vr, _unpack_u32(head, 8)[0], pos + 12
    return group << 16 | elem, vr, _unpack_u16(head, 6)[0], pos + 8


def _pixel_state(r: _Reader, pos: int, implicit: bool) -> str | None:
    """Walk the elements from ``pos`` (skipping their values) to the end of the Pixel Data.

    Returns :data:`TRUNCATED_PIXELS` or :data:`TRUNCATED_HEADER` when the file is too
    short, :data:`_UNKNOWN` when the walk cannot tell (an undefined-length element on the
    way, too many fragments...), None when the pixel data fits (or there is none: the
    reader reports that).
    """
    try:
        for _ in range(_MAX_SKIPPED):
            if pos >= r.size:
                return None
            parsed = _element(r, pos, implicit)
            if parsed is None:
                return _UNKNOWN
            tag, _, length, vpos = parsed
            if tag == _PIXEL_DATA:
                if length != _UNDEFINED:
                    return TRUNCATED_PIXELS if vpos + length > r.size else None
                return _fragments_state(r, vpos)
            if length == _UNDEFINED or tag > _PIXEL_DATA:
                return _UNKNOWN
            pos = vpos + length
            if pos > r.size:
                return TRUNCATED_HEADER
    except _Truncated:
        return TRUNCATED_HEADER
    return _UNKNOWN


def _fragments_state(r: _Reader, pos: int) -> str | None:
    for _ in range(_MAX_FRAGMENTS + 1):
        head = r.at(pos, 8)
        if len(head) < 8:
            return TRUNCATED_PIXELS
        group, elem, length = _unpack_item(head)
        tag = group << 16 | elem
        if tag == _SEQ_END:
            return None
        if tag != _ITEM or length == _UNDEFINED:
            return _UNKNOWN
        pos += 8 + length
        if pos > r.size:
            return TRUNCATED_PIXELS
    return _UNKNOWN


def _file_meta(r: _Reader) -> tuple[int, bool] | None:
    """End of the File Meta group and whether the data set is implicit VR.

    None when the layout is not one walked here (no syntax, big endian, deflate, a meta
    group past the first bytes); raises :class:`_Truncated` when the file ends in it.
    """
    buf = r.buf
    pos = 132
    syntax = None
    n = len(buf)
    while pos + 8 <= n:  # File Meta Information: always explicit VR little endian
        group, elem = _unpack_tag(buf, pos)
        if group != 0x0002:
            break
        vr = buf[pos + 4 : pos + 6]
        if vr in _LONG_LENGTH_VRS:
            length, vpos = _unpack_u32(buf, pos + 8)[0], pos + 12
        else:
            length, vpos = _unpack_u16(buf, pos + 6)[0], pos + 8
        if length == _UNDEFINED:
            return None
        if vpos + length > n:
            if vpos + length > r.size:
                raise _Truncated
            return None
        if elem == 0x0010:
            syntax = buf[vpos : vpos + length].decode("ascii", "replace").strip(" \x00")
        pos = vpos + length
    if n >= r.size and pos < n < pos + 8:
        raise _Truncated
    if not syntax or syntax == _EXPLICIT_BIG or not syntax.startswith("1.2.840.10008.1.2"):
        return None
    if syntax.startswith("1.2.840.10008.1.2.1.99"):  # deflated
        return None
    r.syntax = syntax
    return pos, syntax == _IMPLICIT_LE


def _fast_header(
    r: _Reader, *, check_pixels: bool
) -> tuple[dict[str, HeaderValue], str | None, str | None] | None:
    """Parse the header values from the file's first bytes.

    Returns the values, the transfer syntax and the result of the pixel-data check (a
    truncation message, else None); None to let pydicom read the file. Raises
    :class:`_Truncated` when the file ends inside the header.
    """
    meta = _file_meta(r)
    if meta is None:
        return None
    pos, implicit = meta
    syntax = r.syntax
    buf = r.buf
    n = len(buf)
    values: dict[str, HeaderValue] = dict.fromkeys(KW_TAG)
    while True:
        if pos + 12 > n and n < r.size and n < _FAST_CHUNKS[1]:
            # The header may go on past the first chunk: read up to 64 KiB in all.
            buf += r.at(n, _FAST_CHUNKS[1] - n)
            r.buf = buf
            n = len(buf)
        if pos + 8 > n:
            if pos == n == r.size:  # the file ends right after the header (e.g. an SR)
                return values, syntax, None
            if n >= r.size:
                raise _Truncated
            return None
        group, elem = _unpack_tag(buf, pos)
        if group > LAST_HEADER_GROUP:
            state = _pixel_state(r, pos, implicit) if check_pixels else None
            return values, syntax, None if state == _UNKNOWN else state
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
        if length == _UNDEFINED:
            return None
        keyword = TAG_KW.get(group << 16 | elem)
        if keyword is not None:
            if vpos + length > n:
                if vpos + length > r.size:
                    raise _Truncated
                return None
            raw = buf[vpos : vpos + length]
            if keyword in US_KEYWORDS:
                if vr not in (None, b"US") or length < 2:
                    return None
                values[keyword] = _unpack_u16(raw)[0]
            elif raw.isascii() and b"\x1b" not in raw:  # ESC: ISO 2022 code extensions
                values[keyword] = raw_text(raw)
            else:
                return None
        pos = vpos + length


def _stop_after_header(tag: int, vr: str | None, length: int) -> bool:
    # ``tag >> 16`` is a plain int operation (BaseTag's comparisons are Python-level).
    return tag >> 16 > LAST_HEADER_GROUP


def _pydicom_header(
    fp: BinaryIO, path: str | os.PathLike, *, force: bool
) -> tuple[dict[str, HeaderValue], str | None]:
    fp.seek(0)
    try:
        ds = read_partial(
            fp, stop_when=_stop_after_header, force=force, specific_tags=list(HEADER_TAGS)
        )
    except Exception as exc:  # pydicom raises many types on damaged files
        raise DicomReadError(path, "the file's DICOM header is damaged", detail=repr(exc)) from exc
    if force and "SOPClassUID" not in ds and "Rows" not in ds:
        raise DicomReadError(path, "not a DICOM file (no 'DICM' marker)", kind="not dicom")
    return header_values(ds), syntax_of(ds)


def _file_size(fp: BinaryIO) -> int:
    try:
        return os.fstat(fp.fileno()).st_size
    except (AttributeError, OSError, io.UnsupportedOperation):
        here = fp.tell()
        size = fp.seek(0, os.SEEK_END)
        fp.seek(here)
        return size


def header_from_fileobj(
    fp: BinaryIO, path: str | os.PathLike, *, check_pixels: bool = False
) -> tuple[str, XrayMetadata]:
    """Read the header of an open file.

    Parameters
    ----------
    fp : binary file object
        Positioned anywhere; it is rewound. Only the tags in
        :data:`~pneumoviewer.core.dicom_header.HEADER_TAGS` are parsed.
    path : str or os.PathLike
        Named in errors and used for the fallback image id (file stem).
    check_pixels : bool
        Also check (without decoding) that the file is long enough for its Pixel Data.

    Returns
    -------
    tuple of (str, XrayMetadata)
        The image id (SOPInstanceUID, else the file stem) and the metadata.

    Raises
    ------
    DicomReadError
        Empty, non-DICOM, truncated or unreadable file; non-image object (SR, KO, PR...);
        colour or multi-frame image. ``kind`` is ``"truncated"`` for a cut file.

    """
    fp.seek(0)
    head = fp.read(_FAST_CHUNKS[0])
    if not head:
        raise DicomReadError(path, "the file is empty", kind="not dicom")
    kind = sniff_dicom(head)
    if kind is None:
        raise DicomReadError(path, not_dicom_message(head), kind="not dicom")
    parsed = None
    if kind == "part10" and _USE_FAST_PATH:
        size = len(head) if len(head) < _FAST_CHUNKS[0] else _file_size(fp)
        try:
            parsed = _fast_header(_Reader(head, fp, size), check_pixels=check_pixels)
        except _Truncated:
            raise DicomReadError(path, TRUNCATED_HEADER, kind="truncated") from None
    if parsed is not None:
        values, syntax, truncated = parsed
    else:
        (values, syntax), truncated = _pydicom_header(fp, path, force=kind == "raw"), None
    image_id, metadata = metadata_from_values(values, syntax, path)
    if truncated:
        raise DicomReadError(path, truncated, kind="truncated")
    return image_id, metadata


def truncation_problem(data: bytes) -> str | None:
    """Whether a whole file held in memory is too short for its elements or Pixel Data.

    A layout walk only: element lengths are followed, no value is parsed (the caller
    parses the file once, with pydicom).

    Parameters
    ----------
    data : bytes
        The file's bytes (Part 10 layout; anything else is not checked).

    Returns
    -------
    str or None
        The plain-language problem (:data:`TRUNCATED_HEADER` or
        :data:`TRUNCATED_PIXELS`) when the file ends inside its header or pixel data;
        None when both fit or the layout is not one walked here (pydicom decides then).

    """
    if sniff_dicom(data[:132]) != "part10":
        return None
    r = _Reader(data, io.BytesIO(data), len(data))
    try:
        meta = _file_meta(r)
    except _Truncated:
        return TRUNCATED_HEADER
    if meta is None:
        return None
    state = _pixel_state(r, *meta)
    return None if state == _UNKNOWN else state


def read_header(path: str | os.PathLike) -> tuple[str, XrayMetadata]:
    """Read only the header of a DICOM file (no pixel data), as the folder scan does.

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
        Missing, empty, non-DICOM or truncated header, or not a single-frame grayscale
        image.

    """
    try:
        with open(path, "rb") as fp:
            return header_from_fileobj(fp, path)
    except OSError as exc:
        raise DicomReadError(
            path, f"the file cannot be opened ({exc.strerror or exc})", kind="cannot open"
        ) from exc

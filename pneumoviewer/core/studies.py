"""Streaming, header-only folder scans that feed the study list.

:func:`scan_folder` yields, as it walks (a GUI shows the first rows at once), one
:class:`StudyEntry` per readable single-frame grayscale DICOM image and one
:class:`ScanProblem` per file it could not use or did not read, with a ``kind``:

* ``"skipped"``: not read at all, with the reason: a picture file (``.png``, ``.jpg``...),
  a file that is not DICOM, a broken link, a link loop, a link to a folder already
  scanned, something that is not a regular file;
* ``"duplicate"``: a file with the SOPInstanceUID of an image already listed (the entry
  keeps the file in :attr:`StudyEntry.alternates`, so :func:`load_entry` falls back to it
  when the listed file does not decode);
* ``"truncated"``: the file is too short for its header or its pixel data (checked
  without decoding): never an entry, so a complete copy found later is listed instead;
* anything else (``"unreadable"``, ``"not an image"``, ``"unsupported"``...): a DICOM file
  that cannot be shown (empty, text named ``.dcm``, SR/KO/PR, colour, multi-frame...).

Files never looked at nor listed: hidden names (``.x``), ``DICOMDIR`` media indexes,
companion data and text files (:data:`IGNORED_SUFFIXES`: the ground-truth ``.csv``,
``.json``, ``.txt``...) and documentation files without a suffix (``README``,
``NOTICE``, ``LICENSE``...). Files named ``*.dcm`` / ``*.dicom`` / ``*.dic`` that are not
DICOM are problems; any other file is opened and its first bytes checked for the DICOM
marker (``"skipped"`` when absent).

Order: within a folder, files first, then sub-folders, each sorted by name. Messages are
plain language (the library's own error text goes to the log).
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pneumoviewer.core._scan_header import header_from_fileobj
from pneumoviewer.core.dicom_header import XrayMetadata, sniff_dicom
from pneumoviewer.core.dicom_io import XrayImage, load_xray
from pneumoviewer.core.errors import DicomReadError

__all__ = [
    "DICOM_SUFFIXES",
    "IGNORED_NAMES",
    "IGNORED_SUFFIXES",
    "PICTURE_SUFFIXES",
    "ScanProblem",
    "StudyEntry",
    "load_any",
    "load_entry",
    "scan_folder",
]

#: Files with these suffixes must be DICOM; failures are reported.
DICOM_SUFFIXES = frozenset({".dcm", ".dicom", ".dic"})
#: Companion files (tables, text, archives, code): never opened, never listed.
IGNORED_SUFFIXES = frozenset(
    {
        ".csv", ".tsv", ".txt", ".md", ".rst", ".json", ".yaml", ".yml", ".xml", ".html",
        ".htm", ".pdf", ".svg", ".gz", ".zip", ".tar", ".bz2", ".xz", ".7z", ".npy", ".npz",
        ".pt", ".pth", ".safetensors", ".onnx", ".py", ".pyc", ".ini", ".log", ".db",
        ".sqlite", ".exe", ".dll", ".so", ".lnk", ".ds_store",
    }
)  # fmt: skip
#: Documentation files without a suffix (upper-cased names): never opened, never listed.
IGNORED_NAMES = frozenset(
    {"DICOMDIR", "README", "NOTICE", "LICENSE", "LICENCE", "COPYING", "AUTHORS", "CHANGELOG"}
)
#: Picture files: not opened, listed as skipped (people drop PNG/JPEG X-rays in folders).
PICTURE_SUFFIXES = {
    ".png": "a PNG picture",
    ".jpg": "a JPEG picture",
    ".jpeg": "a JPEG picture",
    ".bmp": "a BMP picture",
    ".gif": "a GIF picture",
    ".tif": "a TIFF picture",
    ".tiff": "a TIFF picture",
    ".webp": "a WebP picture",
}


@dataclass(frozen=True, slots=True)
class StudyEntry:
    """One image found by a scan: id (SOPInstanceUID, else file stem), file, header.

    ``alternates`` lists the other files with the same image id, in the order the scan
    found them; the scan appends to it while it walks (read it, never change it).
    """

    image_id: str
    path: Path
    metadata: XrayMetadata
    alternates: list[Path] = field(default_factory=list, compare=False, repr=False)

    @property
    def paths(self) -> tuple[Path, ...]:
        """The listed file first, then the alternates (a snapshot)."""
        return (self.path, *self.alternates)


@dataclass(frozen=True, slots=True)
class ScanProblem:
    """A file (or folder) the scan did not list as an image, and why.

    Attributes
    ----------
    path : Path
        The file or folder.
    message : str
        Plain language, e.g. ``"skipped: not a DICOM file"``.
    kind : str
        ``"skipped"``, ``"duplicate"``, ``"truncated"``, ``"folder"`` (cannot list it),
        or the :class:`~pneumoviewer.core.errors.DicomReadError` kind of an unusable
        DICOM file (``"unreadable"``, ``"not an image"``, ``"unsupported"``,
        ``"not dicom"``, ``"cannot open"``).
    image_id : str or None
        For duplicates: the shared image id.
    duplicate_of : Path or None
        For duplicates: the file listed for that image id.

    """

    path: Path
    message: str
    kind: str = "unreadable"
    image_id: str | None = None
    duplicate_of: Path | None = None

    @property
    def skipped(self) -> bool:
        """True for files that were not read at all (not DICOM, links...)."""
        return self.kind == "skipped"


def _suffix(name: str) -> str:
    dot = name.rfind(".")
    return name[dot:].lower() if dot > 0 else ""


def _link_reason(path: str) -> str:
    try:
        os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "skipped: a link loop (the link leads back to itself)"
        if exc.errno == errno.ENOENT:
            return "skipped: a broken link (what it points to does not exist)"
        return f"skipped: a link that cannot be followed ({exc.strerror or exc})"
    return "skipped: not a regular file"


def _list_dir(
    path: str, recursive: bool
) -> tuple[list[tuple[str, str, str | None]], list[str], ScanProblem | None]:
    """Sorted (name, path, skip reason) of files and sorted sub-folder paths of ``path``."""
    files: list[tuple[str, str, str | None]] = []
    dirs: list[tuple[str, str]] = []
    try:
        with os.scandir(path) as it:
            for entry in it:
                name = entry.name
                if name.startswith("."):
                    continue
                try:
                    if entry.is_dir():
                        if recursive:
                            dirs.append((name, entry.path))
                    elif entry.is_file():
                        files.append((name, entry.path, None))
                    elif entry.is_symlink():
                        files.append((name, entry.path, _link_reason(entry.path)))
                    else:
                        files.append((name, entry.path, "skipped: not a regular file"))
                except OSError as exc:  # e.g. ELOOP from a link to itself
                    reason = (
                        _link_reason(entry.path)
                        if entry.is_symlink()
                        else f"skipped: cannot be examined ({exc.strerror})"
                    )
                    files.append((name, entry.path, reason))
    except OSError as exc:
        problem = ScanProblem(
            Path(path), f"the folder cannot be listed ({exc.strerror or exc})", kind="folder"
        )
        return [], [], problem
    files.sort()
    dirs.sort()
    return files, [p for _, p in dirs], None


def _not_dicom_after_all(exc: DicomReadError, head: bytes) -> bool:
    """Tell whether the error, for a file without a DICOM suffix, means "not DICOM"."""
    if exc.kind == "not dicom":
        return True
    # Started like a bare data set (two bytes) but pydicom found no DICOM in it.
    return sniff_dicom(head) == "raw" and (
        exc.kind == "unreadable" or exc.problem.startswith("not an image (no Rows/Columns)")
    )


def _read_one(path: str, name: str) -> tuple[str, XrayMetadata] | ScanProblem | None:
    """Header of one file: ``(id, metadata)``, a problem, or None (ignored, not listed)."""
    suffix = _suffix(name)
    if suffix in IGNORED_SUFFIXES or name.upper() in IGNORED_NAMES:
        return None
    picture = PICTURE_SUFFIXES.get(suffix)
    if picture is not None:
        return ScanProblem(Path(path), f"skipped: {picture}, not a DICOM file", kind="skipped")
    strict = suffix in DICOM_SUFFIXES
    try:
        with open(path, "rb") as fp:
            head = fp.read(132)
            if not strict and sniff_dicom(head) is None:
                return ScanProblem(Path(path), "skipped: not a DICOM file", kind="skipped")
            try:
                return header_from_fileobj(fp, path, check_pixels=True)
            except DicomReadError as exc:
                if not strict and _not_dicom_after_all(exc, head):
                    return ScanProblem(Path(path), "skipped: not a DICOM file", kind="skipped")
                return ScanProblem(Path(path), exc.problem, kind=exc.kind)
    except OSError as exc:
        return ScanProblem(
            Path(path), f"the file cannot be opened ({exc.strerror or exc})", kind="cannot open"
        )


def scan_folder(
    folder: str | os.PathLike, *, recursive: bool = True
) -> Iterator[StudyEntry | ScanProblem]:
    """Walk a folder and yield its DICOM images (header only) and problems as found.

    Parameters
    ----------
    folder : str or os.PathLike
        Folder to scan. A missing or unreadable folder yields a single ScanProblem.
    recursive : bool
        Descend into sub-folders (default). Symbolic links to folders are followed once
        (a second link to a folder already scanned, or a loop, is listed as skipped).

    Yields
    ------
    StudyEntry or ScanProblem
        See the module docstring. Never raises for a bad file.

    """
    root = os.fspath(folder)
    if not os.path.isdir(root):
        yield ScanProblem(Path(root), "not a folder (or it does not exist)", kind="folder")
        return
    seen_ids: dict[str, StudyEntry] = {}
    seen_dirs: set[tuple[int, int]] = set()
    stack = [root]
    while stack:
        current = stack.pop()
        try:
            st = os.stat(current)
            key = (st.st_dev, st.st_ino)
        except OSError:
            key = None
        if key is not None:
            if key in seen_dirs:
                yield ScanProblem(
                    Path(current),
                    "skipped: a link to a folder already scanned (a loop or a second link)",
                    kind="skipped",
                )
                continue
            seen_dirs.add(key)
        files, dirs, problem = _list_dir(current, recursive)
        if problem is not None:
            yield problem
        for name, path, skip in files:
            if skip is not None:
                yield ScanProblem(Path(path), skip, kind="skipped")
                continue
            result = _read_one(path, name)
            if result is None:
                continue
            if isinstance(result, ScanProblem):
                yield result
                continue
            image_id, metadata = result
            first = seen_ids.get(image_id)
            if first is not None:
                first.alternates.append(Path(path))
                yield ScanProblem(
                    Path(path),
                    f"duplicate: the same image (id {image_id}) as {first.path.name}, "
                    "which is listed instead",
                    kind="duplicate",
                    image_id=image_id,
                    duplicate_of=first.path,
                )
                continue
            entry = StudyEntry(image_id=image_id, path=Path(path), metadata=metadata)
            seen_ids[image_id] = entry
            yield entry
        stack.extend(reversed(dirs))


def load_entry(entry: StudyEntry, *, failures: list[DicomReadError] | None = None) -> XrayImage:
    """Decode a scanned image, falling back to its duplicates when a file does not decode.

    Parameters
    ----------
    entry : StudyEntry
        From :func:`scan_folder`.
    failures : list or None
        When given and a copy decodes, the errors of the files tried before it are
        appended (so a caller can list them: "damaged copy, another one was used").

    Returns
    -------
    XrayImage
        Its ``path`` is the file actually decoded (``entry.path`` unless it failed).

    Raises
    ------
    DicomReadError
        The error of ``entry.path`` when no copy decodes.

    """
    return load_any(entry.paths, failures=failures)


def load_any(
    paths: Sequence[str | os.PathLike], *, failures: list[DicomReadError] | None = None
) -> XrayImage:
    """Decode the first of ``paths`` that decodes (the copies of one image, listed file first).

    Parameters
    ----------
    paths : sequence of path-like
        At least one file; e.g. ``(entry.path, *entry.alternates)``.
    failures : list or None
        See :func:`load_entry`.

    Returns
    -------
    XrayImage

    Raises
    ------
    DicomReadError
        The first file's error when none decodes.

    """
    errors: list[DicomReadError] = []
    for path in paths:
        try:
            image = load_xray(path)
        except DicomReadError as exc:
            errors.append(exc)
            continue
        if failures is not None:
            failures.extend(errors)
        return image
    if not errors:
        raise ValueError("load_any needs at least one path")
    raise errors[0]

"""Streaming, header-only folder scans that feed the study list.

:func:`scan_folder` yields one :class:`StudyEntry` per readable single-frame grayscale
DICOM image and one :class:`ScanProblem` per file that claims to be DICOM but cannot be
used, as it walks (a GUI shows the first rows at once).

Which files are looked at:

* hidden files and folders (name starts with ``.``) are skipped silently;
* files with a well-known non-DICOM suffix (``.csv``, ``.png``, ``.json``...) and
  ``DICOMDIR`` media indexes are skipped silently without being opened;
* files named ``*.dcm`` / ``*.dicom`` / ``*.dic`` must be readable images, else they are
  reported as problems (empty, text, truncated, SR...);
* any other file (no suffix, UID-like names such as ``1.2.840...878027``) is opened and its
  first 132 bytes checked for the ``DICM`` marker (or a bare data set start); files that
  are not DICOM are skipped silently, DICOM files that fail are reported.

Order: within a folder, files first, then sub-folders, each sorted by name.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pneumoviewer.core.dicom_io import XrayMetadata, header_from_fileobj, sniff_dicom
from pneumoviewer.core.errors import DicomReadError

__all__ = ["DICOM_SUFFIXES", "IGNORED_SUFFIXES", "ScanProblem", "StudyEntry", "scan_folder"]

#: Files with these suffixes must be DICOM; failures are reported.
DICOM_SUFFIXES = frozenset({".dcm", ".dicom", ".dic"})
#: Files with these suffixes are never opened.
IGNORED_SUFFIXES = frozenset(
    {
        ".csv", ".tsv", ".txt", ".md", ".rst", ".json", ".yaml", ".yml", ".xml", ".html",
        ".htm", ".pdf", ".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp",
        ".svg", ".gz", ".zip", ".tar", ".bz2", ".xz", ".7z", ".npy", ".npz", ".pt", ".pth",
        ".safetensors", ".onnx", ".py", ".pyc", ".ini", ".log", ".db", ".sqlite", ".exe",
        ".dll", ".so", ".lnk", ".ds_store",
    }
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class StudyEntry:
    """One image found by a scan: id (SOPInstanceUID, else file stem), file, header."""

    image_id: str
    path: Path
    metadata: XrayMetadata


@dataclass(frozen=True, slots=True)
class ScanProblem:
    """A file that looks like DICOM but cannot be used; ``message`` says why."""

    path: Path
    message: str


# Problems that, for a file without a DICOM suffix and without the DICM marker, mean "this
# is simply not a DICOM file" (skipped silently) rather than "a broken DICOM file".
_NOT_DICOM = ("not a DICOM file", "unreadable DICOM header", "not an image (no Rows/Columns)")


def _suffix(name: str) -> str:
    dot = name.rfind(".")
    return name[dot:].lower() if dot > 0 else ""


def _list_dir(
    path: str, recursive: bool
) -> tuple[list[tuple[str, str]], list[str], ScanProblem | None]:
    """Sorted (name, path) of candidate files and sorted sub-folder paths of ``path``."""
    files: list[tuple[str, str]] = []
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
                        files.append((name, entry.path))
                except OSError:
                    continue
    except OSError as exc:
        return [], [], ScanProblem(Path(path), f"cannot list folder ({exc.strerror or exc})")
    files.sort()
    dirs.sort()
    return files, [p for _, p in dirs], None


def _read_one(path: str, name: str) -> tuple[str, XrayMetadata] | str | None:
    """Header of one file: ``(id, metadata)``, a problem message, or None (skip silently)."""
    suffix = _suffix(name)
    if suffix in IGNORED_SUFFIXES or name.upper() == "DICOMDIR":
        return None  # DICOMDIR: a media index (DICOM, but never an image)
    strict = suffix in DICOM_SUFFIXES
    try:
        with open(path, "rb") as fp:
            head = fp.read(132)
            if not strict and sniff_dicom(head) is None:
                return None
            try:
                return header_from_fileobj(fp, path)
            except DicomReadError as exc:
                if not strict and sniff_dicom(head) == "raw" and exc.problem.startswith(_NOT_DICOM):
                    return None  # looked like a bare data set but is not DICOM
                return exc.problem
    except OSError as exc:
        return f"cannot open file ({exc.strerror or exc})"


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
        (cycles are detected).

    Yields
    ------
    StudyEntry or ScanProblem
        Entries for readable single-frame grayscale images; problems for files that claim
        to be DICOM but cannot be used (empty, text named ``.dcm``, truncated, SR/KO/PR,
        colour, multi-frame) and for a second file with an already seen SOPInstanceUID.
        Never raises for a bad file.

    """
    root = os.fspath(folder)
    if not os.path.isdir(root):
        yield ScanProblem(Path(root), "not a folder")
        return
    seen_ids: dict[str, str] = {}
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
                continue
            seen_dirs.add(key)
        files, dirs, problem = _list_dir(current, recursive)
        if problem is not None:
            yield problem
        for name, path in files:
            result = _read_one(path, name)
            if result is None:
                continue
            if isinstance(result, str):
                yield ScanProblem(Path(path), result)
                continue
            image_id, metadata = result
            first = seen_ids.get(image_id)
            if first is not None:
                yield ScanProblem(
                    Path(path),
                    f"duplicate image id (SOPInstanceUID) {image_id}, first seen in {first}",
                )
                continue
            seen_ids[image_id] = path
            yield StudyEntry(image_id=image_id, path=Path(path), metadata=metadata)
        stack.extend(reversed(dirs))

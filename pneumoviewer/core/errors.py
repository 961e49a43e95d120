"""Errors a user can cause: each names the file (or image id) and the problem.

Two texts travel with every error:

* ``message`` (and ``str(error)``, which prefixes the file or image): plain language for
  people: the Problems panel, the canvas, ``problems.csv``. It never contains the text of
  a library exception ("the JPEG data in this file is damaged", not a decoder's traceback
  line);
* ``detail``: the technical text (the library's own exception message, byte offsets...),
  or None. It is written to the log (logger ``pneumoviewer.core``, level INFO) when the
  error is created and is available to a developer, never shown in the interface.
"""

from __future__ import annotations

import logging
from pathlib import Path

__all__ = [
    "DicomReadError",
    "GroundTruthError",
    "ModelLoadError",
    "PneumoviewerError",
    "RLEError",
]

_log = logging.getLogger("pneumoviewer.core")


class PneumoviewerError(Exception):
    """Base class for errors caused by user input (files, CSVs, model folders).

    Parameters
    ----------
    message : str
        What is wrong, in plain language (no library error text).
    detail : str or None
        Technical detail for the log only (e.g. the library's exception text).

    """

    def __init__(self, message: str = "", *, detail: str | None = None) -> None:
        self.message = message
        self.detail = detail
        super().__init__(message)
        if detail:
            _log.info("%s [detail: %s]", self, detail)


class DicomReadError(PneumoviewerError):
    """A file could not be read as a displayable X-ray image.

    Parameters
    ----------
    path : Path
        The offending file.
    problem : str
        What is wrong with it, in words a user understands (``message``).
    detail : str or None
        The library's own error text, for the log only.
    kind : str
        A stable tag for grouping: ``"unreadable"`` (default), ``"truncated"``,
        ``"not dicom"``, ``"not an image"``, ``"unsupported"``, ``"cannot open"``.

    Notes
    -----
    ``str(error) == f"{path}: {problem}"``; ``error.problem == error.message``.

    """

    def __init__(
        self,
        path: str | Path,
        problem: str,
        *,
        detail: str | None = None,
        kind: str = "unreadable",
    ) -> None:
        self.path = Path(path)
        self.problem = problem
        self.kind = kind
        Exception.__init__(self, f"{self.path}: {problem}")
        self.message = problem
        self.detail = detail
        if detail:
            _log.info("%s [detail: %s]", self, detail)


class RLEError(PneumoviewerError):
    """A run-length string is malformed.

    Parameters
    ----------
    problem : str
        What is wrong.
    image_id : str or None
        The image the string belongs to, when known.

    """

    def __init__(self, problem: str, image_id: str | None = None) -> None:
        self.image_id = image_id
        self.problem = problem
        where = f"image {image_id}: " if image_id else ""
        super().__init__(f"{where}{problem}")
        self.message = problem


class GroundTruthError(PneumoviewerError):
    """A ground-truth CSV (or one of its lines) cannot be used.

    Parameters
    ----------
    path : Path
        The CSV file.
    problem : str
        What is wrong.
    line : int or None
        1-based line number, when the problem is on one line.
    detail : str or None
        Technical detail for the log only.

    """

    def __init__(
        self, path: str | Path, problem: str, line: int | None = None, *, detail: str | None = None
    ) -> None:
        self.path = Path(path)
        self.line = line
        self.problem = problem
        where = f"{self.path}, line {line}" if line is not None else f"{self.path}"
        super().__init__(f"{where}: {problem}", detail=detail)
        self.message = problem


class ModelLoadError(PneumoviewerError):
    """A model directory cannot be loaded (manifest, hash, missing key, shape...).

    Parameters
    ----------
    path : Path
        The model directory or the offending file in it.
    problem : str
        What is wrong.
    detail : str or None
        Technical detail for the log only.

    """

    def __init__(self, path: str | Path, problem: str, *, detail: str | None = None) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}", detail=detail)
        self.message = problem

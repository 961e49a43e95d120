"""Errors a user can cause: each names the file (or image id) and the problem."""

from __future__ import annotations

from pathlib import Path


class PneumoviewerError(Exception):
    """Base class for errors caused by user input (files, CSVs, model folders)."""


class DicomReadError(PneumoviewerError):
    """A file could not be read as a displayable X-ray image.

    Parameters
    ----------
    path : Path
        The offending file.
    problem : str
        What is wrong with it, in words a user understands.
    """

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


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


class GroundTruthError(PneumoviewerError):
    """A ground-truth CSV cannot be used.

    Parameters
    ----------
    path : Path
        The CSV file.
    problem : str
        What is wrong.
    line : int or None
        1-based line number, when the problem is on one line.
    """

    def __init__(self, path: str | Path, problem: str, line: int | None = None) -> None:
        self.path = Path(path)
        self.line = line
        self.problem = problem
        where = f"{self.path}, line {line}" if line is not None else f"{self.path}"
        super().__init__(f"{where}: {problem}")


class ModelLoadError(PneumoviewerError):
    """A model directory cannot be loaded (manifest, hash, missing key, shape...).

    Parameters
    ----------
    path : Path
        The model directory or the offending file in it.
    problem : str
        What is wrong.
    """

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")

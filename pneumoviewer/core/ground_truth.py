"""Ground-truth tables: SIIM ``ImageId,EncodedPixels`` run-length CSVs.

Accepted layout: UTF-8 (with or without a byte-order mark; ``.csv.gz`` is read too), an
optional header whose first field is ``ImageId`` (``ImageId,EncodedPixels`` or
``ImageId, EncodedPixels``), then one ``image id, run-length string`` per line; ``-1``
(or an empty string) for an image without pneumothorax; several lines for one image are
several regions, OR'd into one mask; blank lines are ignored.

One bad line or row never makes a table unusable:

* a line that is not ``id,rle`` (wrong number of fields) or has an empty image id is
  skipped and listed in :attr:`GroundTruth.problems` (a
  :class:`~pneumoviewer.core.errors.GroundTruthError` with the file and line each). Only
  a file that cannot be read at all (missing, not UTF-8) or has no usable line raises;
* run-length strings are kept as text and decoded lazily: :meth:`GroundTruth.lookup`
  returns an image's mask, or, when one of its rows is malformed, no ground truth for that
  image and the problem (an :class:`~pneumoviewer.core.errors.RLEError` naming the image,
  file and line); :meth:`GroundTruth.mask` raises it instead. :meth:`GroundTruth.validate`
  checks every string at once (without building masks) for a report.
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pneumoviewer.core import rle
from pneumoviewer.core.errors import GroundTruthError, RLEError

__all__ = ["GroundTruth", "ImageTruth", "find_ground_truth_csv", "read_rle_csv"]

_EMPTY = ("", "-1")


@dataclass(frozen=True, slots=True)
class ImageTruth:
    """The ground truth of one image, or why it has none (see :meth:`GroundTruth.lookup`).

    Attributes
    ----------
    image_id : str
        The image.
    mask : np.ndarray or None
        bool (H, W), the union of the image's regions (all False for ``-1``); None when
        a row is malformed (the image's ground truth is blanked).
    positive : bool or None
        Whether the image has a region; None when blanked.
    problem : RLEError or None
        The malformed row (image, file and line in its message), else None.

    """

    image_id: str
    mask: np.ndarray | None
    positive: bool | None
    problem: RLEError | None = None


class GroundTruth:
    """Image id -> run-length strings (several rows are OR'd into one mask).

    Parameters
    ----------
    rows : iterable of (str, str, int or None)
        ``(image_id, run_length_string, line_number)`` in file order.
    path : Path or None
        The CSV the rows come from (named in errors).
    relative : bool
        SIIM relative run-length starts (default) or 1-based absolute starts.

    """

    def __init__(
        self,
        rows: Iterable[tuple[str, str, int | None]],
        *,
        path: str | os.PathLike | None = None,
        relative: bool = True,
    ) -> None:
        self.path = Path(path) if path is not None else None
        self.relative = relative
        #: Lines of the CSV that were skipped (wrong field count, empty id), in file order.
        self.problems: list[GroundTruthError] = []
        self._rows: dict[str, list[tuple[str, int | None]]] = {}
        for image_id, encoded, line in rows:
            self._rows.setdefault(image_id, []).append((encoded, line))

    def __contains__(self, image_id: object) -> bool:
        return image_id in self._rows

    def __len__(self) -> int:
        return len(self._rows)

    def __repr__(self) -> str:
        return f"GroundTruth({len(self)} images, path={self.path})"

    def ids(self) -> list[str]:
        """Return the image ids in order of first appearance."""
        return list(self._rows)

    def rows(self, image_id: str) -> list[str]:
        """Return the raw run-length strings of one image (empty list when unknown)."""
        return [encoded for encoded, _ in self._rows.get(image_id, [])]

    def is_positive(self, image_id: str) -> bool | None:
        """Whether the image has at least one region (any row other than ``-1``).

        Returns
        -------
        bool or None
            None when the image is not in the table. A malformed (non-empty) string
            counts as positive; :meth:`mask` reports it.

        """
        rows = self._rows.get(image_id)
        if rows is None:
            return None
        return any(encoded not in _EMPTY for encoded, _ in rows)

    def _where(self, line: int | None) -> str:
        if self.path is None:
            return ""
        return f" ({self.path}, line {line})" if line is not None else f" ({self.path})"

    def mask(self, image_id: str, shape: tuple[int, int] = (1024, 1024)) -> np.ndarray | None:
        """Decode the union of an image's regions.

        Parameters
        ----------
        image_id : str
            The image (SOPInstanceUID).
        shape : tuple of int
            ``(H, W)`` of the image.

        Returns
        -------
        np.ndarray or None
            bool (H, W); all False for ``-1``; None when the image is not in the table.

        Raises
        ------
        RLEError
            A row of this image is malformed or does not fit ``shape``; the message names
            the image, the file and the line.

        """
        rows = self._rows.get(image_id)
        if rows is None:
            return None
        out: np.ndarray | None = None
        for encoded, line in rows:
            if encoded in _EMPTY:
                continue
            try:
                region = rle.decode(encoded, shape, relative=self.relative, image_id=image_id)
            except RLEError as exc:
                raise RLEError(f"{exc.problem}{self._where(line)}", image_id) from None
            if out is None:
                out = region
            else:
                out |= region
        return np.zeros(shape, dtype=bool) if out is None else out

    def lookup(self, image_id: str, shape: tuple[int, int] = (1024, 1024)) -> ImageTruth | None:
        """Return one image's ground truth without raising for a malformed row.

        Parameters
        ----------
        image_id : str
            The image (SOPInstanceUID).
        shape : tuple of int
            ``(H, W)`` of the image.

        Returns
        -------
        ImageTruth or None
            None when the image is not in the table. A malformed row (or one that does
            not fit ``shape``) blanks this image's ground truth only: ``mask`` and
            ``positive`` are None and ``problem`` says what is wrong.

        """
        if image_id not in self._rows:
            return None
        try:
            mask = self.mask(image_id, shape)
        except RLEError as exc:
            return ImageTruth(image_id=image_id, mask=None, positive=None, problem=exc)
        if mask is None:  # not reached: the id is in the table
            return None
        return ImageTruth(image_id=image_id, mask=mask, positive=bool(mask.any()))

    def check(self, image_id: str, shape: tuple[int, int] = (1024, 1024)) -> RLEError | None:
        """Check one image's rows without building its mask (microseconds per row).

        Parameters
        ----------
        image_id : str
            The image.
        shape : tuple of int
            ``(H, W)`` of the image.

        Returns
        -------
        RLEError or None
            The first malformed row (image, file and line in the message); None when the
            rows are fine or the image is not in the table.

        """
        n_pixels = int(shape[0]) * int(shape[1])
        for encoded, line in self._rows.get(image_id, ()):
            if encoded in _EMPTY:
                continue
            try:
                rle.parse_runs(encoded, n_pixels, relative=self.relative, image_id=image_id)
            except RLEError as exc:
                return RLEError(f"{exc.problem}{self._where(line)}", image_id)
        return None

    def validate(self, shape: tuple[int, int] = (1024, 1024)) -> list[RLEError]:
        """Check every run-length string without building masks.

        Parameters
        ----------
        shape : tuple of int
            Image size the runs must fit in (the SIIM images are 1024x1024).

        Returns
        -------
        list of RLEError
            One per malformed row (image id, file and line in the message); empty when
            the table is fine.

        """
        n_pixels = int(shape[0]) * int(shape[1])
        problems: list[RLEError] = []
        for image_id, rows in self._rows.items():
            for encoded, line in rows:
                if encoded in _EMPTY:
                    continue
                try:
                    rle.parse_runs(encoded, n_pixels, relative=self.relative, image_id=image_id)
                except RLEError as exc:
                    problems.append(RLEError(f"{exc.problem}{self._where(line)}", image_id))
        return problems


def _read_text(path: Path) -> str:
    try:
        if path.name.lower().endswith(".gz"):
            with gzip.open(path, "rb") as fh:
                data = fh.read()
        else:
            data = path.read_bytes()
    except FileNotFoundError:
        raise GroundTruthError(path, "file not found") from None
    except (gzip.BadGzipFile, EOFError) as exc:
        raise GroundTruthError(
            path, "the compressed file is damaged or incomplete", detail=repr(exc)
        ) from exc
    except OSError as exc:
        raise GroundTruthError(
            path, f"the file cannot be read ({exc.strerror or 'read error'})", detail=repr(exc)
        ) from exc
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise GroundTruthError(
            path, f"not UTF-8 text (byte {exc.start})", detail=repr(exc)
        ) from None


def _unquote(field: str) -> str:
    field = field.strip()
    if len(field) >= 2 and field[0] == field[-1] == '"':
        field = field[1:-1].strip()
    return field


def read_rle_csv(path: str | os.PathLike, *, relative: bool = True) -> GroundTruth:
    """Read a SIIM run-length CSV (see the module docstring for the accepted layout).

    Parameters
    ----------
    path : str or os.PathLike
        The CSV (``.csv`` or ``.csv.gz``).
    relative : bool
        SIIM relative starts (default) or 1-based absolute starts.

    Returns
    -------
    GroundTruth
        Masks are decoded lazily. Lines that are not ``id,rle`` (wrong number of fields)
        or have an empty image id are skipped and listed in ``.problems`` (one
        :class:`GroundTruthError` each, naming the file and the 1-based line).

    Raises
    ------
    GroundTruthError
        Missing or unreadable file, not UTF-8, or no usable line at all while some lines
        are bad (e.g. a file that is not a run-length table).

    """
    path = Path(path)
    text = _read_text(path)
    rows: list[tuple[str, str, int]] = []
    problems: list[GroundTruthError] = []
    seen_content = False
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split(",")
        if not seen_content:
            seen_content = True
            if _unquote(fields[0]).lower() == "imageid":
                continue  # header
        if len(fields) != 2:
            problems.append(
                GroundTruthError(
                    path,
                    f"line skipped: expected 2 fields 'ImageId,EncodedPixels', found "
                    f"{len(fields)}: {line[:60]!r}",
                    number,
                )
            )
            continue
        image_id = _unquote(fields[0])
        if not image_id:
            problems.append(GroundTruthError(path, "line skipped: empty ImageId", number))
            continue
        rows.append((image_id, _unquote(fields[1]), number))
    if problems and not rows:
        first = problems[0]
        more = f" (and {len(problems) - 1} more bad lines)" if len(problems) > 1 else ""
        raise GroundTruthError(
            path,
            f"no usable line: this is not an 'ImageId,EncodedPixels' table; line "
            f"{first.line}: {first.problem.removeprefix('line skipped: ')}{more}",
        )
    truth = GroundTruth(rows, path=path, relative=relative)
    truth.problems = problems
    return truth


def _candidates(folder: str) -> list[str]:
    plain: list[str] = []
    gzipped: list[str] = []
    try:
        with os.scandir(folder) as it:
            for entry in it:
                name = entry.name.lower()
                if name.startswith(".") or "rle" not in name:
                    continue
                if name.endswith(".csv") and entry.is_file():
                    plain.append(entry.path)
                elif name.endswith(".csv.gz") and entry.is_file():
                    gzipped.append(entry.path)
    except OSError:
        return []
    return sorted(plain) + sorted(gzipped)


def find_ground_truth_csv(folder: str | os.PathLike, *, levels: int = 3) -> Path | None:
    """Find a run-length CSV next to a study folder.

    Parameters
    ----------
    folder : str or os.PathLike
        The study folder (a file's folder is used when given a file).
    levels : int
        How many parent folders to search above ``folder`` (default 3).

    Returns
    -------
    Path or None
        The nearest ``*rle*.csv`` (case-insensitive; ``*rle*.csv.gz`` when no plain CSV),
        the first by name when a folder holds several; None when there is none.

    """
    current = Path(folder).absolute()
    if current.is_file():
        current = current.parent
    for _ in range(levels + 1):
        found = _candidates(str(current))
        if found:
            return Path(found[0])
        if current.parent == current:
            break
        current = current.parent
    return None

"""Editing a reader's mask: brush, eraser, polygon fill, and undo/redo of whole edits.

All functions draw in place on a C-contiguous ``bool`` (H, W) mask through its ``uint8``
view with OpenCV (thick lines have round ends, so a stroke is a chain of round-capped
segments), and return the bounding box they may have changed. Coordinates are (x, y) =
(column, row) in image pixels, floats allowed. A brush step at 1024 x 1024 costs tens of
microseconds (``benchmarks/bench_brush.py``).

:class:`MaskHistory` keeps undo/redo as the changed rectangles only (before and after), so
a long reading session holds kilobytes, not megabytes, per edit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

__all__ = ["Box", "MaskHistory", "brush_stroke", "fill_polygon", "replace_mask"]

#: (row0, row1, col0, col1), half-open; empty when row0 >= row1 or col0 >= col1.
Box = tuple[int, int, int, int]
_SHIFT = 4  # OpenCV fixed-point bits: 1/16 pixel precision for float points


def _check(mask: np.ndarray) -> np.ndarray:
    if mask.dtype != bool or mask.ndim != 2 or not mask.flags.c_contiguous:
        raise ValueError(
            f"mask must be a C-contiguous 2-D bool array, got {mask.dtype} {mask.shape}"
        )
    return mask.view(np.uint8)


def _fixed(points: Sequence[tuple[float, float]]) -> np.ndarray:
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if not np.isfinite(pts).all():
        raise ValueError("points must be finite")
    return np.round(pts * (1 << _SHIFT)).astype(np.int32)


def _clip_box(pts: np.ndarray, pad: float, shape: tuple[int, int]) -> Box:
    lo = np.floor(pts.min(0) - pad).astype(int)
    hi = np.ceil(pts.max(0) + pad).astype(int) + 1
    return (
        max(0, lo[1]),
        min(shape[0], hi[1]),
        max(0, lo[0]),
        min(shape[1], hi[0]),
    )


def brush_stroke(
    mask: np.ndarray,
    points: Sequence[tuple[float, float]],
    radius: float,
    *,
    erase: bool = False,
) -> Box:
    """Paint (or erase) a round brush along a polyline, in place.

    Parameters
    ----------
    mask : numpy.ndarray
        bool (H, W), C-contiguous; modified in place.
    points : sequence of (x, y)
        One point (a dab) or more (the segments between consecutive points).
    radius : float
        Brush radius in pixels (>= 0.5).
    erase : bool
        Clear instead of set.

    Returns
    -------
    Box
        The rectangle that may have changed (clipped to the image).
    """
    canvas = _check(mask)
    if radius < 0.5:
        raise ValueError(f"brush radius must be >= 0.5 pixel, got {radius}")
    pts = _fixed(points)
    if len(pts) == 0:
        return (0, 0, 0, 0)
    value = 0 if erase else 1
    r = int(round(radius))
    if len(pts) == 1:
        cv2.circle(
            canvas, tuple(int(v) for v in pts[0]), r << _SHIFT, value, -1, cv2.LINE_8, _SHIFT
        )
    else:
        cv2.polylines(canvas, [pts], False, value, 2 * r + 1, cv2.LINE_8, _SHIFT)
    return _clip_box(np.asarray(points, float).reshape(-1, 2), radius + 1, mask.shape)


def fill_polygon(
    mask: np.ndarray, points: Sequence[tuple[float, float]], *, erase: bool = False
) -> Box:
    """Fill (or clear) the inside of a closed polygon, in place.

    Parameters
    ----------
    mask : numpy.ndarray
        bool (H, W), C-contiguous; modified in place.
    points : sequence of (x, y)
        At least three vertices; the polygon is closed automatically.
    erase : bool
        Clear instead of set.

    Returns
    -------
    Box
        The rectangle that may have changed.
    """
    canvas = _check(mask)
    pts = _fixed(points)
    if len(pts) < 3:
        raise ValueError(f"a polygon needs at least 3 points, got {len(pts)}")
    cv2.fillPoly(canvas, [pts], 0 if erase else 1, cv2.LINE_8, _SHIFT)
    return _clip_box(np.asarray(points, float).reshape(-1, 2), 1, mask.shape)


def replace_mask(mask: np.ndarray, new: np.ndarray | None) -> Box:
    """Overwrite the whole mask (``None``: clear it), in place; return the full box."""
    _check(mask)
    if new is None:
        mask[...] = False
    else:
        if new.shape != mask.shape:
            raise ValueError(f"mask shape {new.shape} != {mask.shape}")
        np.copyto(mask, new.astype(bool, copy=False))
    return (0, mask.shape[0], 0, mask.shape[1])


@dataclass(frozen=True, slots=True, eq=False)
class _Edit:
    box: Box
    before: np.ndarray
    after: np.ndarray


def _changed_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Return the rows that differ, comparing 8 pixels at a time where rows allow."""
    width = a.shape[1]
    if width % 8 == 0 and a.flags.c_contiguous and b.flags.c_contiguous:
        a, b = a.view(np.uint64), b.view(np.uint64)
    return np.flatnonzero((a != b).any(axis=1))


def _changed_box(a: np.ndarray, b: np.ndarray) -> Box | None:
    rows = _changed_rows(a, b)
    if rows.size == 0:
        return None
    r0, r1 = int(rows[0]), int(rows[-1]) + 1
    cols = np.flatnonzero((a[r0:r1] != b[r0:r1]).any(axis=0))
    return (r0, r1, int(cols[0]), int(cols[-1]) + 1)


@dataclass
class MaskHistory:
    """Undo/redo of whole edits (a stroke, a polygon, a clear) on one mask.

    Call :meth:`begin` before an edit and :meth:`commit` after it; an edit that changed
    nothing is not recorded. Only the changed rectangle is kept (before and after).

    Parameters
    ----------
    limit : int
        Most edits kept for undo (oldest dropped first).
    """

    limit: int = 200
    _undo: list[_Edit] = field(default_factory=list)
    _redo: list[_Edit] = field(default_factory=list)
    _snapshot: np.ndarray | None = None

    def begin(self, mask: np.ndarray) -> None:
        """Remember the mask before an edit (a copy, about 0.1 ms at 1024 x 1024)."""
        self._snapshot = mask.copy()

    def commit(self, mask: np.ndarray) -> bool:
        """Record the edit since :meth:`begin`; return whether anything changed."""
        before, self._snapshot = self._snapshot, None
        if before is None:
            raise RuntimeError("commit() without begin()")
        box = _changed_box(before, mask)
        if box is None:
            return False
        r0, r1, c0, c1 = box
        self._undo.append(_Edit(box, before[r0:r1, c0:c1].copy(), mask[r0:r1, c0:c1].copy()))
        del self._undo[: -self.limit]
        self._redo.clear()
        return True

    @property
    def can_undo(self) -> bool:
        """Whether there is an edit to undo."""
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        """Whether there is an undone edit to redo."""
        return bool(self._redo)

    def undo(self, mask: np.ndarray) -> Box | None:
        """Undo the last edit in place; return its box (None when there is none)."""
        if not self._undo:
            return None
        edit = self._undo.pop()
        r0, r1, c0, c1 = edit.box
        mask[r0:r1, c0:c1] = edit.before
        self._redo.append(edit)
        return edit.box

    def redo(self, mask: np.ndarray) -> Box | None:
        """Redo the last undone edit in place; return its box (None when there is none)."""
        if not self._redo:
            return None
        edit = self._redo.pop()
        r0, r1, c0, c1 = edit.box
        mask[r0:r1, c0:c1] = edit.after
        self._undo.append(edit)
        return edit.box

    def clear(self) -> None:
        """Forget every edit (a new image)."""
        self._undo.clear()
        self._redo.clear()
        self._snapshot = None
